package drill

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The drill runs examples/local, the three regions on localcloud composed
// from modules/, from a copy. The copy differs from the example in three
// settings only, each found by a pattern (the drill fails, saying which,
// when the example no longer has it):
//
//   - the relays verify tokens with keys from the drill's identity
//     provider (JWKS_URL, with a JWKS_CACHE_FILE per region) instead of
//     RELAY_DEV_KEYS, so that its outage can be drilled (the dependency
//     notice's object is kept);
//   - the reintroduction soak is 1s and the drain grace period 300ms, so
//     that a drill takes seconds; under a profile with delays too, since
//     the failover group waits until the front door follows the new
//     weights before it soaks or drains (waitsNote);
//   - the regions block (local.regions) is the drill's: it is what the
//     runbooks change, one line per region.
var (
	envPattern     = regexp.MustCompile(`(?m)^(\s*env\s*=\s*)\{\s*RELAY_DEV_KEYS\s*=\s*var\.relay_dev_keys,\s*DEPENDENCY_NOTICE_OBJECT\s*=\s*local\.dependency_notice_object\s*\}`)
	soakPattern    = regexp.MustCompile(`(?m)^(\s*reintroduction_soak\s*=\s*)"[^"]*"`)
	gracePattern   = regexp.MustCompile(`(?m)^(\s*drain_grace_period\s*=\s*)"[^"]*"`)
	regionsPattern = regexp.MustCompile(`(?m)^(  regions = \{\n)(    "[a-z0-9-]+"\s*=\s*\{[^\n]*\}\n)+(  \}\n)`)
)

const regionsPlaceholder = "@@DRILL_REGIONS@@"

// The soak and grace period of a drill, in real time under every profile.
const (
	drillSoak  = "1s"
	drillGrace = "300ms"
)

// waitsNote says, in a report with modelled delays, why the soak and grace
// are not scaled with them.
const waitsNote = "The ramp's soak (" + drillSoak + ") and the drain's grace period (" + drillGrace + ") are the drill's own, not scaled: " +
	"the failover group starts them only once region-pinned round trips through the front door show the new weights, so they need not cover " +
	"the URL map's propagation, which is modelled; the return to normal predicted here holds each step " + drillSoak + " where examples/local declares its own soak."

// copyConfig copies examples/local and modules/ (without their tests) into
// the drill's folder and prepares main.tf.
func (e *Env) copyConfig() error {
	dst := filepath.Join(e.dir, "config")
	for _, sub := range []string{filepath.Join("examples", "local"), "modules"} {
		if err := copyTree(filepath.Join(e.paths.Root, sub), filepath.Join(dst, sub)); err != nil {
			return fmt.Errorf("copying %s: %w", sub, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(e.tfDir, "main.tf"))
	if err != nil {
		return err
	}
	cfg := string(b)
	env := fmt.Sprintf(`${1}{
    JWKS_URL        = %q
    JWKS_CACHE_FILE = "%s/${each.key}.json"
    JWT_ISSUER      = %q
    JWT_AUDIENCE    = %q
    DEPENDENCY_NOTICE_OBJECT = local.dependency_notice_object
  }`, e.jwks.url(), filepath.Join(e.dir, "jwks-cache"), e.keys.Issuer, e.keys.Audience)
	for _, p := range []struct {
		what string
		re   *regexp.Regexp
		repl string
	}{
		{"the relays' env = { RELAY_DEV_KEYS = var.relay_dev_keys, DEPENDENCY_NOTICE_OBJECT = local.dependency_notice_object }", envPattern, env},
		{"the regions block of locals (  regions = { ... })", regionsPattern, "${1}" + regionsPlaceholder + "${3}"},
	} {
		if n := len(p.re.FindAllStringIndex(cfg, -1)); n != 1 {
			return fmt.Errorf("examples/local/main.tf has %d matches of %s where the drill expects one: update internal/drill/config.go", n, p.what)
		}
		cfg = p.re.ReplaceAllString(cfg, p.repl)
	}
	e.cfg = cfg
	return e.shortenWaits(filepath.Join(e.tfDir, "readiness.tf"))
}

// shortenWaits sets the soak and grace period the example declares (in the
// objectives its readiness check reads too) to a drill's short ones.
func (e *Env) shortenWaits(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg := string(b)
	for _, p := range []struct {
		what string
		re   *regexp.Regexp
		repl string
	}{
		{`reintroduction_soak = "..."`, soakPattern, `${1}"` + drillSoak + `"`},
		{`drain_grace_period = "..."`, gracePattern, `${1}"` + drillGrace + `"`},
	} {
		if n := len(p.re.FindAllStringIndex(cfg, -1)); n != 1 {
			return fmt.Errorf("%s has %d matches of %s where the drill expects one: update internal/drill/config.go", path, n, p.what)
		}
		cfg = p.re.ReplaceAllString(cfg, p.repl)
	}
	return os.WriteFile(path, []byte(cfg), 0o644)
}

// mainTF is the configuration with the current regions block.
func (e *Env) mainTF() string {
	var b strings.Builder
	width := 0
	for _, r := range regions {
		width = max(width, len(r)+2)
	}
	for _, r := range regions {
		line := e.regions[r]
		if line == "" {
			line = `{ state = "active" }`
		}
		fmt.Fprintf(&b, "    %-*s = %s\n", width, `"`+r+`"`, line)
	}
	return strings.Replace(e.cfg, regionsPlaceholder, b.String(), 1)
}

// setRegion changes a region's line of the regions block, as a runbook
// does (`{ state = "drained" }`); an empty line is `{ state = "active" }`.
func (e *Env) setRegion(region, line string) {
	if line == "" {
		delete(e.regions, region)
		return
	}
	e.regions[region] = line
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "tests" || d.Name() == ".terraform" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !strings.HasSuffix(d.Name(), ".tf") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
