package moduletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

// scripts/drift.sh (make drift) against a configuration applied to
// localcloud: exit 0 with nothing to report; exit 2 with the assertion of a
// failed check block though the plan has no changes; exit 2 with the
// attributes changed outside OpenTofu named, and a deleted object said to be
// deleted, after `localcloud edit` made those changes through the APIs.
func TestDriftScript(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	lc := localcloudtest.Start(t)
	const snapshots = "agentnet-drift-snapshots"
	createBucket(t, lc.Addr(), project, snapshots)
	dir := t.TempDir()
	copyDir(t, filepath.Join(tf.root, "internal", "moduletest", "testdata", "drift"), dir)
	env := tf.reattached(t, append(tf.env(t), "AGENTNET_EMULATOR_HOST="+lc.Addr(), "TF_VAR_bucket="+snapshots, "TOFU="+tf.bin))
	tf.run(t, env, "-chdir="+dir, "apply", "-auto-approve", "-input=false", "-no-color")
	applied := time.Now()

	drift := func(extraEnv ...string) (string, int) {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join(tf.root, "scripts", "drift.sh"), dir)
		cmd.Env = append(append([]string{}, env...), extraEnv...)
		return combinedOutput(t, cmd)
	}
	expect := func(what string, out string, code, wantCode int, want ...string) {
		t.Helper()
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\n%s", what, code, wantCode, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: the report lacks %q\n%s", what, w, out)
			}
		}
		t.Logf("%s: exit %d\n%s", what, code, out)
	}

	out, code := drift()
	expect("no drift", out, code, 0, "No drift")

	// The snapshot is older than a 1 second RPO: no change to make, but
	// the check fails, which a drift job must report.
	time.Sleep(time.Until(applied.Add(2 * time.Second)))
	out, code = drift("TF_VAR_rpo_seconds=1")
	expect("failed RPO check", out, code, 2, "No drift", "Failed checks:",
		`check "redis_rpo" (main.tf:`, "The newest Redis snapshot is older than the 1 second RPO.", "var.rpo_seconds is 1")

	// Changes made outside OpenTofu, through the APIs.
	objects, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	uri := regexp.MustCompile(`"uri": "(gs://[^"]+)"`).FindSubmatch(objects)
	if uri == nil {
		t.Fatalf("no snapshot uri in state:\n%s", objects)
	}
	edit := func(args ...string) {
		t.Helper()
		cmd := exec.Command(localcloudtest.Binary(t), append([]string{"edit", "--host", lc.Addr(), "--data-dir", lc.DataDir()}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("localcloud edit %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	edit("instance-size", "drift", "2")
	edit("instance-label", "drift", "team=ops")
	edit("delete-object", string(uri[1]))
	out, code = drift()
	expect("changed outside OpenTofu", out, code, 2, "Drift in",
		`labels["team"]: "ops" -> "messaging"`, "memory_size_gb: 2 -> 1",
		"agentnet_redis_snapshot.this will be created (it was deleted outside OpenTofu)")
	if strings.Contains(out, "Failed checks") {
		t.Fatalf("a check reported as failed while its result is known only after apply:\n%s", out)
	}
}
