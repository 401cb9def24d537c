package moduletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"golang.org/x/mod/sumdb/dirhash"
)

// mirrorAddr is how OpenTofu records agentnet in a lock file.
const mirrorAddr = "registry.opentofu.org/agentnet/agentnet"

// TestMirrorInstall runs scripts/mirror.sh (make mirror) and then
// `tofu init` with the CLI configuration it wrote, in a configuration that
// needs agentnet and has no dev_overrides: agentnet is installed from the
// mirror (never from a registry: this machine reaches none), the lock file
// records its version and the hash of the mirrored archive, and the
// installed provider serves its schema to `tofu validate`.
func TestMirrorInstall(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	work := t.TempDir()
	mirror, rc := filepath.Join(work, "mirror"), filepath.Join(work, "mirror.tofurc")

	out, code := mirrorScript(t, tf, mirror, "0.0.1", rc)
	if code != 0 {
		t.Fatalf("mirror.sh: exit %d\n%s", code, out)
	}
	for _, want := range []string{"filesystem_mirror", "direct {", `exclude = ["` + mirrorAddr + `"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("mirror.sh printed no %q in its CLI configuration:\n%s", want, out)
		}
	}
	archive := filepath.Join(mirror, mirrorAddr, "terraform-provider-agentnet_0.0.1_"+platform(t)+".zip")
	want, err := dirhash.HashZip(archive, dirhash.Hash1)
	if err != nil {
		t.Fatalf("hashing the mirrored archive: %v", err)
	}

	dir := t.TempDir()
	main := "terraform {\n  required_providers {\n    agentnet = { source = \"agentnet/agentnet\" }\n  }\n}\n\nprovider \"agentnet\" {}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(tf.env(t), "TF_CLI_CONFIG_FILE="+rc)
	out = tf.run(t, env, "-chdir="+dir, "init", "-input=false", "-no-color")
	if strings.Contains(out, "overrides") {
		t.Fatalf("init ran with development overrides:\n%s", out)
	}
	version, hashes := lockedProvider(t, filepath.Join(dir, ".terraform.lock.hcl"), mirrorAddr)
	if version != "0.0.1" || !slices.Contains(hashes, want) {
		t.Fatalf("lock file: %s %s with hashes %v, want 0.0.1 with %s", mirrorAddr, version, hashes, want)
	}
	tf.run(t, env, "-chdir="+dir, "validate", "-no-color")
	t.Logf("%s %s locked with %v", mirrorAddr, version, hashes)
}

// TestMirrorRefusesVersions: versions `tofu init` would not select without
// a configuration naming them (a pre-release), or at all from a mirror
// (0.0.0), are refused by name and nothing is written.
func TestMirrorRefusesVersions(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	for _, version := range []string{"0.1.0-dev", "0.0.0", "v1.0.0"} {
		work := t.TempDir()
		mirror, rc := filepath.Join(work, "mirror"), filepath.Join(work, "mirror.tofurc")
		out, code := mirrorScript(t, tf, mirror, version, rc)
		if code == 0 || !strings.Contains(out, "MIRROR_VERSION="+version) || !strings.Contains(out, "MAJOR.MINOR.PATCH") {
			t.Fatalf("mirror.sh %s: exit %d, want a refusal naming MIRROR_VERSION and the accepted form\n%s", version, code, out)
		}
		for _, p := range []string{mirror, rc} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("%s exists after refusing %s (%v)", p, version, err)
			}
		}
	}
}

// mirrorScript runs scripts/mirror.sh on the provider the tests use.
func mirrorScript(t *testing.T, tf *tofu, mirror, version, rc string) (string, int) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(tf.root, "scripts", "mirror.sh"), tf.provider, mirror, version, rc)
	return combinedOutput(t, cmd)
}

// platform is Go's OS_ARCH, as provider archives are named.
func platform(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOOS", "GOARCH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	return strings.Join(strings.Fields(string(out)), "_")
}

// lockedProvider reads the version and hashes a lock file records for addr.
func lockedProvider(t *testing.T, path, addr string) (string, []string) {
	t.Helper()
	file, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		t.Fatalf("lock file: %v", diags)
	}
	content, diags := file.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "provider", LabelNames: []string{"source"}}}})
	if diags.HasErrors() {
		t.Fatalf("lock file: %v", diags)
	}
	for _, block := range content.Blocks {
		if block.Labels[0] != addr {
			continue
		}
		attrs, diags := block.Body.JustAttributes()
		if diags.HasErrors() {
			t.Fatalf("lock file: %v", diags)
		}
		var version string
		var hashes []string
		if a, ok := attrs["version"]; ok {
			v, _ := a.Expr.Value(nil)
			version = v.AsString()
		}
		if a, ok := attrs["hashes"]; ok {
			v, _ := a.Expr.Value(nil)
			for _, h := range v.AsValueSlice() {
				hashes = append(hashes, h.AsString())
			}
		}
		return version, hashes
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("lock file has no provider %q:\n%s", addr, b)
	return "", nil
}
