package moduletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// make readiness on examples/local and examples/gcp: both plan hourly
// snapshots against a 5 minute RPO, which it reports as an error with a
// failing exit status; with one region's max_instances lowered it also
// reports the capacity shortfall of losing another region; with an RPO the
// schedule meets and the capacity restored it exits 0. examples/gcp runs
// as declared, on localcloud: an override file gives the provider the
// emulator and the state a local backend (the google provider is only in
// examples/gcp/foundation, which this does not need).
func TestMakeReadiness(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	lc, env, local := localExample(t, tf)

	work := t.TempDir()
	copyDir(t, filepath.Join(tf.root, "modules"), filepath.Join(work, "modules"))
	copyDir(t, filepath.Join(tf.root, "examples", "gcp"), filepath.Join(work, "examples", "gcp"))
	gcp := filepath.Join(work, "examples", "gcp")
	os.RemoveAll(filepath.Join(gcp, "foundation"))
	write(t, filepath.Join(gcp, "localcloud_override.tf"), `provider "agentnet" {
  emulator_host = "`+lc.Addr()+`"
}
`)
	// State stays local: without the gcs backend block, no tofu init (which
	// would look the dev-overridden provider up in a registry).
	versions := filepath.Join(gcp, "versions.tf")
	b, err := os.ReadFile(versions)
	if err != nil {
		t.Fatal(err)
	}
	backend := regexp.MustCompile(`(?s)\n  backend "gcs" \{.*?\n  \}\n`)
	if !backend.Match(b) {
		t.Fatalf("examples/gcp/versions.tf should declare a gcs backend:\n%s", b)
	}
	write(t, versions, backend.ReplaceAllString(string(b), "\n"))
	gcpEnv := append(append([]string{}, env...),
		"TF_VAR_project=agentnet-local", "TF_VAR_image=agentnet-relay", "TF_VAR_snapshot_bucket=snapshots",
		"TF_VAR_status_bucket=status", "TF_VAR_vpc_network=projects/agentnet-local/global/networks/agentnet",
		"TF_VAR_relay_service_account=relay@agentnet-local.iam.gserviceaccount.com", "TF_VAR_front_door_address=relay",
		"TF_VAR_domain=relay.example.com")
	tf.run(t, gcpEnv, "-chdir="+gcp, "get", "-no-color")

	readiness := func(step, dir string, env []string, wantCode int, want, notWant []string) {
		t.Helper()
		cmd := exec.Command("make", "-s", "-C", tf.root, "readiness", "DIR="+dir, "TOFU="+tf.bin, "TF_CLI_CONFIG_FILE="+envValue(env, "TF_CLI_CONFIG_FILE"))
		cmd.Env = append(append([]string{}, env...), "TOFU="+tf.bin)
		out, code := combinedOutput(t, cmd)
		t.Logf("%s: make readiness exit %d\n%s", step, code, out)
		if code != wantCode {
			t.Fatalf("%s: make readiness exit %d, want %d\n%s", step, code, wantCode, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the output lacks %q", step, w)
			}
		}
		for _, w := range notWant {
			if strings.Contains(out, w) {
				t.Errorf("%s: the output holds %q", step, w)
			}
		}
	}
	const (
		notReady  = "NOT READY"
		rpoGap    = "error   snapshot_schedule: Snapshots every 1h0m0s can lose up to 1h0m0s of Redis data, more than the RPO (5m0s)."
		shortfall = "error   region_loss_capacity: Without asia-east1, europe-west1 must run 3 of total_min_instances (6) but its max_instances is 2"
	)
	const activeLine = `    "europe-west1" = { state = "active" }`
	const lowered = `    "europe-west1" = { state = "active", max_instances = 2 }`

	for _, ex := range []struct {
		name, dir string
		env       []string
	}{{"examples/local", local, env}, {"examples/gcp", gcp, gcpEnv}} {
		readiness(ex.name+" as declared", ex.dir, ex.env, 2, []string{notReady, rpoGap, "Change: take snapshots at least every 5m0s"}, []string{"region_loss_capacity"})
		replaceLine(t, filepath.Join(ex.dir, "main.tf"), activeLine, lowered)
		readiness(ex.name+" with europe-west1's max_instances at 2", ex.dir, ex.env, 2, []string{notReady, rpoGap, shortfall,
			"Change: raise europe-west1's max_instances to at least 3"}, nil)
		replaceLine(t, filepath.Join(ex.dir, "main.tf"), lowered, activeLine)
	}
	// What passes: an RPO the hourly schedule meets.
	replaceLine(t, filepath.Join(local, "readiness.tf"), `    rpo                       = "5m"`, `    rpo                       = "1h"`)
	readiness("examples/local with an RPO of 1h", local, env, 0, []string{"ready"}, []string{notReady, "error "})
}

func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceLine replaces the one whole line from of the file with to.
func replaceLine(t *testing.T, path, from, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	from, to = "\n"+from+"\n", "\n"+to+"\n"
	if strings.Count(string(b), from) != 1 {
		t.Fatalf("%s should hold the line %q once", path, strings.TrimSpace(from))
	}
	write(t, path, strings.Replace(string(b), from, to, 1))
}
