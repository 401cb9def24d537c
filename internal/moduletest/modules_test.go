// Package moduletest runs the OpenTofu modules in modules/ against
// localcloud: `tofu test` in each module, with real applies, and
// `tofu validate` of the examples that use them.
package moduletest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/processtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
)

// ProviderBinEnv names a terraform-provider-agentnet binary to use instead of
// building one (make test sets it to bin/terraform-provider-agentnet).
const ProviderBinEnv = "AGENTNET_PROVIDER_BIN"

const (
	project = "agentnet-test"
	// bucket is the snapshot bucket the module tests write to
	// (TF_VAR_test_bucket).
	bucket = "agentnet-module-tests"
	// signingKey is the Cloud KMS MAC key that signs the module tests'
	// snapshot manifests (TF_VAR_test_signing_key).
	signingKey = "projects/agentnet-test/locations/global/keyRings/module-tests/cryptoKeys/snapshots"
)

// modules are the folders of modules/ whose tests/*.tftest.hcl run here.
var modules = []string{"redis-backup", "relay-region", "relay-global", "status-page"}

// TestModules runs `tofu test` on each test file of each module, side by
// side, each against a localcloud of its own: real redis-servers, relay
// processes and load balancer front doors, created and destroyed by the
// file's runs.
func TestModules(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	for _, name := range modules {
		dir := filepath.Join(tf.root, "modules", name)
		files, err := filepath.Glob(filepath.Join(dir, "tests", "*.tftest.hcl"))
		if err != nil || len(files) == 0 {
			t.Fatalf("modules/%s has no tests/*.tftest.hcl (%v)", name, err)
		}
		for _, file := range files {
			file = filepath.Join("tests", filepath.Base(file))
			t.Run(name+"/"+strings.TrimSuffix(filepath.Base(file), ".tftest.hcl"), func(t *testing.T) {
				t.Parallel()
				testModuleFile(t, tf, name, file)
			})
		}
	}
}

// testModuleFile runs `tofu test` on one test file of modules/name.
func testModuleFile(t *testing.T, tf *tofu, name, file string) {
	lc := localcloudtest.Start(t)
	createBucket(t, lc.Addr(), project, bucket)
	env := tf.reattached(t, append(tf.env(t),
		"AGENTNET_EMULATOR_HOST="+lc.Addr(),
		"TF_VAR_test_bucket="+bucket,
		"TF_VAR_test_signing_key="+lc.CreateMACKey(t, signingKey),
		"TF_VAR_relay_dev_keys="+tf.keys.Dir,
		"TF_VAR_probe_token_file="+tf.tokenFile,
	))
	dir := filepath.Join(tf.root, "modules", name)
	tf.run(t, env, "-chdir="+dir, "get", "-no-color")
	start := time.Now()
	out := tf.run(t, env, "-chdir="+dir, "test", "-no-color", "-filter="+file)
	t.Logf("tofu test in modules/%s on %s: %s in %v", name, file, lastLine(out), time.Since(start).Round(100*time.Millisecond))
	if strings.Contains(out, " 0 passed") {
		t.Errorf("tofu test in modules/%s ran no run of %s:\n%s", name, file, out)
	}
	if left := leftovers(t, lc); len(left) > 0 {
		t.Errorf("tofu test in modules/%s on %s left behind: %s", name, file, strings.Join(left, ", "))
	}
}

// TestExamplesValidate checks that the example configurations built on the
// modules are valid. examples/gcp has a gcs backend, which validate does
// not need; its modules are installed with `tofu get`.
func TestExamplesValidate(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	for _, name := range []string{"local", "gcp"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(tf.root, "examples", name)
			env := tf.reattached(t, tf.env(t))
			tf.run(t, env, "-chdir="+dir, "get", "-no-color")
			tf.run(t, env, "-chdir="+dir, "validate", "-no-color")
		})
	}
}

// tofu is what every test here needs: OpenTofu, the provider binary, a CLI
// configuration whose dev_overrides select it, and relay dev keys with a
// token they signed for the health checks.
type tofu struct {
	root     string
	bin      string
	provider string
	cliRC    string
	keys     *auth.DevKeys
	token    string
	// tokenFile holds token, for the configurations that read it from a file.
	tokenFile string
}

var (
	setupOnce sync.Once
	shared    *tofu
	setupErr  error
)

func setup(t *testing.T) *tofu {
	t.Helper()
	processtest.Starts(t)
	setupOnce.Do(func() { shared, setupErr = newTofu() })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return shared
}

func newTofu() (*tofu, error) {
	root, err := acctest.RepoRoot()
	if err != nil {
		return nil, err
	}
	bin := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if bin == "" {
		bin = filepath.Join(root, "bin", "tofu")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("OpenTofu is not built at %s: run `make tools` (make test does it) or set TF_ACC_TERRAFORM_PATH", bin)
	}
	work, err := os.MkdirTemp("", "agentnet-moduletest-")
	if err != nil {
		return nil, err
	}
	provider, err := providerBinary(root, work)
	if err != nil {
		return nil, err
	}
	// dev_overrides take a folder holding terraform-provider-agentnet.
	rc := filepath.Join(work, "dev.tofurc")
	dir := filepath.Dir(provider)
	cfg := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"agentnet/agentnet\" = %q\n    \"registry.terraform.io/agentnet/agentnet\" = %q\n  }\n  direct {}\n}\n", dir, dir)
	if err := os.WriteFile(rc, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	keys, err := auth.LoadOrCreateDevKeys(filepath.Join(work, "relay-dev-keys"))
	if err != nil {
		return nil, err
	}
	token, err := keys.Token("health-probe", 2*time.Hour)
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(work, "probe.token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return nil, err
	}
	return &tofu{root: root, bin: bin, provider: provider, cliRC: rc, keys: keys, token: token, tokenFile: tokenFile}, nil
}

// providerBinary is $AGENTNET_PROVIDER_BIN, or the provider built from this
// tree into work.
func providerBinary(root, work string) (string, error) {
	if p := os.Getenv(ProviderBinEnv); p != "" {
		if filepath.Base(p) != "terraform-provider-agentnet" {
			return "", fmt.Errorf("%s=%s: dev_overrides need a file named terraform-provider-agentnet", ProviderBinEnv, p)
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %v", ProviderBinEnv, err)
		}
		return filepath.Abs(p)
	}
	out := filepath.Join(work, "provider", "terraform-provider-agentnet")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the provider: %v\n%s", err, b)
	}
	return out, nil
}

// env is the environment of a tofu command: this test's own data folder
// (.terraform stays out of the source tree) and CLI configuration.
func (tf *tofu) env(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		// The caller's OpenTofu settings and emulator do not apply here.
		name, _, _ := strings.Cut(kv, "=")
		if name == "TF_CLI_CONFIG_FILE" || name == "TF_DATA_DIR" || name == "TF_WORKSPACE" || name == "AGENTNET_EMULATOR_HOST" ||
			strings.HasPrefix(name, "TF_VAR_") || strings.HasPrefix(name, "TF_CLI_ARGS") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"TF_CLI_CONFIG_FILE="+tf.cliRC,
		"TF_DATA_DIR="+filepath.Join(t.TempDir(), ".terraform"),
		"TF_IN_AUTOMATION=1",
		"CHECKPOINT_DISABLE=1",
	)
}

// run runs tofu and fails the test with its output when it exits non-zero.
func (tf *tofu) run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, code := tf.exec(t, env, args...)
	if code != 0 {
		t.Fatalf("tofu %s: exit status %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// exec runs tofu and returns its output and exit code.
func (tf *tofu) exec(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tf.bin, args...)
	cmd.Env = env
	return combinedOutput(t, cmd)
}

// combinedOutput runs cmd and returns its output and exit code; a command
// that cannot be started fails the test.
func combinedOutput(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return out.String(), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return out.String(), 0
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// createBucket makes a Cloud Storage bucket through localcloud's JSON API.
func createBucket(t *testing.T, addr, project, name string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	resp, err := http.Post(fmt.Sprintf("http://%s/storage/v1/b?project=%s", addr, project), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("creating bucket %s: %s", name, resp.Status)
	}
}

// leftovers lists the Memorystore instances and Cloud Run services created
// and not deleted, from localcloud's operation log.
func leftovers(t *testing.T, lc *localcloudtest.Instance) []string {
	live := map[string]bool{}
	for _, e := range lc.Oplog(t) {
		if e.Phase != "done" || e.Outcome != "OK" {
			continue
		}
		switch {
		case strings.HasSuffix(e.Method, ".CreateInstance"), strings.HasSuffix(e.Method, ".CreateService"):
			live[e.Resource] = true
		case strings.HasSuffix(e.Method, ".DeleteInstance"), strings.HasSuffix(e.Method, ".DeleteService"):
			delete(live, e.Resource)
		}
	}
	var out []string
	for r := range live {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
