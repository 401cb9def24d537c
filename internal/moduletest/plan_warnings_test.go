package moduletest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

// A change that replaces Redis instances says, at plan, that each one's data
// is deleted, naming the instance and its region, how many regions lose
// their data at once, and how to keep it.
func TestPlanWarnsRedisReplacementDeletesData(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	lc := localcloudtest.Start(t)
	env := tf.reattached(t, append(tf.env(t), "AGENTNET_EMULATOR_HOST="+lc.Addr()))
	dir := t.TempDir()
	write := func(tier string) {
		t.Helper()
		cfg := `
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

provider "agentnet" {
  project = "` + project + `"
}

resource "agentnet_redis_instance" "us" {
  name           = "relay-us"
  region         = "us-central1"
  memory_size_gb = 1
  tier           = "` + tier + `"
}

resource "agentnet_redis_instance" "eu" {
  name           = "relay-eu"
  region         = "europe-west1"
  memory_size_gb = 1
  tier           = "` + tier + `"
}
`
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("BASIC")
	tf.run(t, env, "-chdir="+dir, "apply", "-auto-approve", "-no-color")
	write("STANDARD_HA")
	out := tf.run(t, env, "-chdir="+dir, "plan", "-no-color")
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"Warning: Redis instance relay-us in us-central1 will be replaced: its data is deleted",
		"Warning: Redis instance relay-eu in europe-west1 will be replaced: its data is deleted",
		"This plan replaces 2 instances so far, all at once",
		"take an agentnet_redis_snapshot of the instance first",
		"replace one region per apply",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	tf.run(t, env, "-chdir="+dir, "destroy", "-auto-approve", "-no-color")
}

// During a region outage the plan says "failing over" once, on the plan
// that moves the region; after the failover the plan is empty and says at
// most that the region is still unhealthy at weight 0.
func TestPlanOutageMessagesSayWhatHappens(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	lc, env, dir := localExample(t, tf)
	chdir := "-chdir=" + dir
	tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color")

	lc.FaultRegion(t, "region-down", "europe-west1")
	flat := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	out := flat(tf.run(t, env, chdir, "plan", "-input=false", "-no-color"))
	for _, want := range []string{"Warning: Region europe-west1 is unhealthy: failing over", "plans it from weight 100 to 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan that fails over lacks %q:\n%s", want, out)
		}
	}
	tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color")

	raw, code := tf.exec(t, env, chdir, "plan", "-detailed-exitcode", "-input=false", "-no-color")
	out = flat(raw)
	if code != 0 {
		t.Errorf("after the failover, with the region still down, the plan is not empty (exit %d):\n%s", code, raw)
	}
	if strings.Contains(out, "failing over") || !strings.Contains(out, "Warning: Region europe-west1 is still unhealthy: stays at weight 0") {
		t.Errorf("after the failover the plan should only say the region stays at weight 0:\n%s", raw)
	}
	lc.FaultRegion(t, "region-up", "europe-west1")
}
