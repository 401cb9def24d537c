package drill

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/kms"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
)

// The three regions of the drill, by the short key used in resource
// addresses.
var (
	regionOf = map[string]string{"us": "us-central1", "eu": "europe-west1", "asia": "asia-east1"}
	regions  = []string{"us-central1", "europe-west1", "asia-east1"}
)

// Names examples/local gives things (its defaults).
const (
	project = "agentnet-local"
	bucket  = "agentnet-demo-snapshots"
	// signingKey is examples/local's default snapshot_signing_key: the
	// Cloud KMS MAC key that signs the snapshots and that restores trust.
	signingKey = "projects/agentnet-local/locations/global/keyRings/agentnet/cryptoKeys/snapshots"
)

func keyOf(region string) string {
	for k, r := range regionOf {
		if r == region {
			return k
		}
	}
	return region
}

func instanceID(region string) string {
	return fmt.Sprintf("projects/%s/locations/%s/instances/relay-%s", project, region, region)
}

// clusterID is the Redis Cluster of a region of redis_cluster_regions.
func clusterID(region string) string {
	return fmt.Sprintf("projects/%s/locations/%s/clusters/relay-%s", project, region, region)
}

func serviceID(region string) string {
	return fmt.Sprintf("projects/%s/locations/%s/services/relay", project, region)
}

// Paths are the binaries a drill runs.
type Paths struct {
	Root       string // repository root (holds go.mod)
	Tofu       string // bin/tofu
	DevRC      string // bin/dev.tofurc (dev_overrides: the provider from bin/)
	Localcloud string // bin/localcloud
	Relay      string // bin/relay
	Provider   string // bin/terraform-provider-agentnet
	Redis      string // redis-server; empty: localcloud looks it up on PATH
}

// DefaultPaths finds the repository root above dir and the binaries in its
// bin/, and says what to build when one is missing.
func DefaultPaths(dir string) (Paths, error) {
	root, err := repoRoot(dir)
	if err != nil {
		return Paths{}, err
	}
	bin := filepath.Join(root, "bin")
	p := Paths{Root: root, Tofu: filepath.Join(bin, "tofu"), DevRC: filepath.Join(bin, "dev.tofurc"),
		Localcloud: filepath.Join(bin, "localcloud"), Relay: filepath.Join(bin, "relay"),
		Provider: filepath.Join(bin, "terraform-provider-agentnet")}
	var missing []string
	for _, f := range []string{p.Tofu, p.DevRC, p.Localcloud, p.Relay, p.Provider} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("missing %s: run `make tools build` first", strings.Join(missing, ", "))
	}
	if r, err := exec.LookPath("redis-server"); err == nil {
		p.Redis = r
	} else if os.Getenv("AGENTNET_REDIS_SERVER") != "" {
		p.Redis = os.Getenv("AGENTNET_REDIS_SERVER")
	} else {
		return p, errors.New("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; or `make redis`)")
	}
	return p, nil
}

func repoRoot(dir string) (string, error) {
	const line = "module github.com/agentnet/terraform-provider-agentnet\n"
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), line) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the repository root (go.mod of github.com/agentnet/terraform-provider-agentnet) is not above the working directory")
		}
		dir = parent
	}
}

// Env is the system under drill: localcloud, examples/local (the three
// regions composed from modules/) applied with tofu from a copy in its own
// working directory, the identity provider's JWKS endpoint, and the dev
// keys agents get tokens from.
type Env struct {
	paths Paths
	dir   string
	lc    *localcloud
	// timing is localcloud's profile and the delays the drill models.
	timing *timing
	keys   *auth.DevKeys
	jwks   *jwksServer
	tfDir  string
	logf   func(format string, args ...any)
	// clusters are the regions whose Redis is a Redis Cluster.
	clusters []string

	// cfg is examples/local's main.tf with the drill's settings and a
	// placeholder for the regions block; regions is that block's content,
	// the one line per region the runbooks change.
	cfg     string
	regions map[string]string
	// dependencies are the declared lines of local.dependencies
	// (dependencies.go); notices what the agents were told.
	dependencies map[string]string
	notices      noticeLog

	front string         // front door URL of the failover group
	roots *x509.CertPool // what agents trust: localcloud's CA

	// redis resolves each region's Memorystore instance (address, AUTH
	// string, CA) through the API, as the relays do.
	redis *relay.MemorystoreResolver
}

// NewEnv starts localcloud with the timing tm (nil: the default profile)
// and the JWKS endpoint under dir, copies examples/local and modules/
// there, and applies the three regions, those of clusters on a Redis
// Cluster. keep leaves localcloud running after Close.
func NewEnv(ctx context.Context, paths Paths, dir string, keep bool, tm *timing, clusters []string, logf func(string, ...any)) (*Env, error) {
	if tm == nil {
		var err error
		if tm, err = newTiming("default", 0); err != nil {
			return nil, err
		}
	}
	e := &Env{paths: paths, dir: dir, tfDir: filepath.Join(dir, "config", "examples", "local"), logf: logf, regions: map[string]string{}, timing: tm,
		clusters: clusters}
	if err := os.MkdirAll(filepath.Join(dir, "jwks-cache"), 0o755); err != nil {
		return nil, err
	}
	var err error
	if e.keys, err = auth.LoadOrCreateDevKeys(filepath.Join(dir, "keys")); err != nil {
		return nil, err
	}
	jwks, err := e.keys.JWKS()
	if err != nil {
		return nil, err
	}
	if e.jwks, err = startJWKS(jwks); err != nil {
		return nil, err
	}
	if err := e.copyConfig(); err != nil {
		e.jwks.stop()
		return nil, err
	}
	start := time.Now()
	if e.lc, err = startLocalcloud(paths.Localcloud, paths.Relay, paths.Redis, filepath.Join(dir, "localcloud"), keep, tm.localcloudArgs()); err != nil {
		e.jwks.stop()
		return nil, err
	}
	logf("localcloud on %s (log %s)", e.lc.addr, e.lc.logPath)
	fail := func(err error) (*Env, error) {
		e.Close()
		return nil, err
	}
	if e.roots, err = e.lc.caPool(); err != nil {
		return fail(err)
	}
	if e.redis, err = relay.NewMemorystoreResolver(ctx, e.lc.addr); err != nil {
		return fail(err)
	}
	if err := e.lc.createBucket(project, bucket); err != nil {
		return fail(err)
	}
	if err := createSigningKey(ctx, e.lc.addr); err != nil {
		return fail(err)
	}
	probe, err := e.keys.Token("health-probe", 6*time.Hour)
	if err != nil {
		return fail(err)
	}
	// The health checks read their token from a file: it never goes into state.
	probeFile := filepath.Join(e.tfDir, "probe.token")
	if err := os.WriteFile(probeFile, []byte(probe), 0o600); err != nil {
		return fail(err)
	}
	vars, _ := json.MarshalIndent(map[string]any{"relay_dev_keys": e.keys.Dir, "probe_token_file": probeFile,
		"redis_cluster_regions": append([]string{}, clusters...)}, "", "  ")
	if err := os.WriteFile(filepath.Join(e.tfDir, "terraform.tfvars.json"), vars, 0o600); err != nil {
		return fail(err)
	}
	if res, err := e.tofu(ctx, "get"); err != nil || res.code != 0 {
		return fail(fmt.Errorf("tofu get (modules): %v\n%s", err, tail(res.out, 20)))
	}
	if _, err := e.apply(ctx); err != nil {
		return fail(err)
	}
	out, err := e.tofu(ctx, "output", "-raw", "front_door_url")
	if err != nil {
		return fail(err)
	}
	e.front = strings.TrimSpace(out.out)
	logf("examples/local applied in %s; front door %s", time.Since(start).Round(time.Millisecond), e.front)
	return e, nil
}

// Close stops localcloud (unless kept) and the JWKS endpoint.
func (e *Env) Close() {
	if e.lc != nil && e.keepLocalcloud() {
		e.logf("localcloud keeps running (pid %d). To look around:\n  export AGENTNET_EMULATOR_HOST=%s TF_CLI_CONFIG_FILE=%s\n  %s -chdir=%s plan",
			e.lc.proc.Pid, e.lc.addr, e.paths.DevRC, e.paths.Tofu, e.tfDir)
	} else if e.lc != nil {
		e.lc.stop()
	}
	if e.jwks != nil {
		e.jwks.stop()
	}
	if e.redis != nil {
		e.redis.Close()
	}
}

func (e *Env) keepLocalcloud() bool { return e.lc != nil && e.lc.keep }

// TofuDir is the configuration's working directory.
func (e *Env) TofuDir() string { return e.tfDir }

// LocalcloudAddr is localcloud's host:port.
func (e *Env) LocalcloudAddr() string { return e.lc.addr }

type tofuResult struct {
	out  string
	code int
	took time.Duration
}

// tofu runs bin/tofu in the configuration's directory with the provider
// from bin/ (dev_overrides) pointed at localcloud.
func (e *Env) tofu(ctx context.Context, args ...string) (tofuResult, error) {
	if args[0] == "plan" || args[0] == "apply" {
		if err := os.WriteFile(filepath.Join(e.tfDir, "main.tf"), []byte(e.mainTF()), 0o644); err != nil {
			return tofuResult{}, err
		}
	}
	full := append([]string{"-chdir=" + e.tfDir}, args[0])
	if args[0] == "plan" || args[0] == "apply" {
		full = append(full, "-input=false", "-no-color", "-lock=false")
	}
	full = append(full, args[1:]...)
	cmd := exec.CommandContext(ctx, e.paths.Tofu, full...)
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+e.paths.DevRC, "AGENTNET_EMULATOR_HOST="+e.lc.addr,
		"TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	res := tofuResult{out: string(out), took: time.Since(start)}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		res.code = exit.ExitCode()
		err = nil
	}
	if err != nil {
		return res, fmt.Errorf("tofu %s: %w", args[0], err)
	}
	// A copy for whoever reads the drill's folder afterwards; the output
	// itself is returned, so a failed copy loses nothing the drill needs.
	if err := os.WriteFile(filepath.Join(e.dir, "tofu-last-"+args[0]+".log"), out, 0o644); err != nil {
		e.logf("tofu %s: keeping its output: %v", args[0], err)
	}
	if args[0] == "output" && res.code != 0 {
		return res, fmt.Errorf("tofu %s exited %d:\n%s", strings.Join(args, " "), res.code, tail(res.out, 40))
	}
	return res, nil
}

// apply runs `tofu apply -auto-approve` and fails unless it succeeds.
func (e *Env) apply(ctx context.Context) (tofuResult, error) {
	res, err := e.tofu(ctx, "apply", "-auto-approve")
	if err == nil && res.code != 0 {
		err = fmt.Errorf("tofu apply exited %d:\n%s", res.code, tail(res.out, 40))
	}
	return res, err
}

// plan runs `tofu plan -detailed-exitcode -out=file` and returns its exit
// code: 0 no changes, 2 changes, 1 the plan failed (an error).
func (e *Env) plan(ctx context.Context, file string) (tofuResult, error) {
	res, err := e.tofu(ctx, "plan", "-detailed-exitcode", "-out="+file)
	if err == nil && res.code != 0 && res.code != 2 {
		err = fmt.Errorf("tofu plan exited %d:\n%s", res.code, tail(res.out, 40))
	}
	return res, err
}

// applyPlan applies a saved plan.
func (e *Env) applyPlan(ctx context.Context, file string) (tofuResult, error) {
	res, err := e.tofu(ctx, "apply", file)
	if err == nil && res.code != 0 {
		err = fmt.Errorf("tofu apply %s exited %d:\n%s", file, res.code, tail(res.out, 40))
	}
	return res, err
}

// planWarnings returns the warning titles of a plan's output.
func planWarnings(out string) []string {
	var ws []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "│"))
		if w, ok := strings.CutPrefix(l, "Warning: "); ok && !strings.HasPrefix(w, "Provider development overrides") && !contains(ws, w) {
			ws = append(ws, w)
		}
	}
	return ws
}

// planChanges returns the "# address will be ..." lines of a plan (not the
// data sources read during apply), and the outputs that change.
func planChanges(out string) []string {
	var cs, outputs []string
	inOutputs := false
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "Changes to Outputs:":
			inOutputs = true
		case t == "":
			inOutputs = false
		case inOutputs:
			// Top-level outputs only, not the lines of a changed map.
			if f := strings.Fields(t); len(f) >= 2 && (strings.HasPrefix(l, "  ~ ") || strings.HasPrefix(l, "  + ") || strings.HasPrefix(l, "  - ")) {
				outputs = append(outputs, f[1])
			}
		case strings.HasPrefix(t, "# ") && (strings.Contains(t, " will be ") || strings.Contains(t, " must be ")) && !strings.HasSuffix(t, " will be read during apply"):
			cs = append(cs, strings.TrimPrefix(t, "# "))
		}
	}
	if len(outputs) > 0 {
		cs = append(cs, "outputs change: "+strings.Join(outputs, ", "))
	}
	return cs
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// token returns a token for an agent identity, valid for the drill.
func (e *Env) token(subject string) (string, error) {
	return e.keys.Token(subject, 2*time.Hour)
}

// redisTarget is how to reach a region's Redis now: its address, AUTH
// string and CA, from the Memorystore API.
func (e *Env) redisTarget(ctx context.Context, region string) (relay.RedisTarget, error) {
	return e.redis.Resolve(ctx, instanceID(region))
}

// jwksServer is the identity provider's JWKS endpoint: the relays fetch
// their token signing keys from it. It can be stopped and started again on
// the same address.
type jwksServer struct {
	body []byte
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func startJWKS(body []byte) (*jwksServer, error) {
	j := &jwksServer{body: body}
	if err := j.start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *jwksServer) url() string { return "http://" + j.addr + "/jwks.json" }

func (j *jwksServer) start(listen string) error {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", listen); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("JWKS endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(j.body) // a failed write means the relay left; it fetches again
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	j.mu.Lock()
	j.srv, j.addr = srv, ln.Addr().String()
	j.mu.Unlock()
	go func() {
		// ErrServerClosed once stop takes the endpoint down. Anything else
		// takes it down too, as an outage the drill did not ask for: said.
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "drill: JWKS endpoint on %s stopped: %v\n", ln.Addr(), err)
		}
	}()
	return nil
}

// stop takes the endpoint down: connections are refused.
func (j *jwksServer) stop() {
	j.mu.Lock()
	srv := j.srv
	j.srv = nil
	j.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart brings it back on the same address.
func (j *jwksServer) restart() error { return j.start(j.addr) }

// applyErrors returns the error titles of tofu's output, each with the
// first line of its detail.
func applyErrors(out string) []string {
	lines := strings.Split(out, "\n")
	var titles []string
	details := map[string][]string{}
	for i, l := range lines {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "│"))
		title, ok := strings.CutPrefix(l, "Error: ")
		if !ok {
			continue
		}
		// The first paragraph of the detail that is not the "with ..."
		// and "on ..." location lines.
		var para []string
		for _, next := range lines[i+1 : min(i+30, len(lines))] {
			next = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(next), "│"))
			if next == "" {
				if len(para) > 0 && !strings.HasPrefix(para[0], "with ") && !strings.HasPrefix(para[0], "on ") {
					break
				}
				para = nil
				continue
			}
			para = append(para, next)
		}
		detail := strings.Join(para, " ")
		// "When expanding the plan for X ... produced an invalid new value
		// for .attr: ..." says the one thing that differs: keep that.
		if i := strings.Index(detail, "produced an invalid new value for "); i >= 0 {
			detail = strings.TrimSuffix(detail[i+len("produced an invalid new value for "):], ".")
			if j := strings.Index(para[0], "expanding the plan for "); j >= 0 {
				title += " for " + strings.Fields(para[0][j+len("expanding the plan for "):])[0]
			}
		}
		if len(detail) > 300 {
			detail = detail[:300] + "..."
		}
		if _, seen := details[title]; !seen {
			titles = append(titles, title)
		}
		if detail != "" && !contains(details[title], detail) {
			details[title] = append(details[title], detail)
		} else if details[title] == nil {
			details[title] = []string{}
		}
	}
	var errs []string
	for _, t := range titles {
		if len(details[t]) > 0 {
			t += " (" + strings.Join(details[t], "; ") + ")"
		}
		errs = append(errs, t)
	}
	if len(errs) == 0 {
		errs = []string{firstLine(strings.TrimSpace(tail(out, 5)))}
	}
	return errs
}

// relayLogLines returns the log lines of a region's relay instances, since
// a time, that contain text (relays log JSON lines with a "time" field).
func (e *Env) relayLogLines(region, text string, since time.Time) []string {
	files, _ := filepath.Glob(filepath.Join(e.dir, "localcloud", "run", project, region, "*", "*.log"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, text) {
				continue
			}
			var rec struct {
				Time time.Time `json:"time"`
			}
			if json.Unmarshal([]byte(l), &rec) == nil && !rec.Time.Before(since) {
				out = append(out, l)
			}
		}
	}
	return out
}

// createSigningKey creates the snapshots' signing key through localcloud's
// Cloud KMS API, as the foundation does on Google Cloud.
func createSigningKey(ctx context.Context, addr string) error {
	c, err := kms.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = kms.EnsureMACKey(ctx, c, signingKey)
	return err
}
