package drill

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/processtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
)

// TestDrill runs the region outage, Redis failure and Calendar outage
// drills end to end with the binaries in bin/ (make tools build) and fails
// when a target of the disaster recovery plan is missed or an acknowledged
// message is lost. They run under a profile (drillProfile) that models one
// delay, so that the same run checks the predictions for Google Cloud.
func TestDrill(t *testing.T) {
	out, reports := runDrill(t, Options{Profile: drillProfile(t)}, "region-outage", "redis-failure", "calendar-outage")
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3", len(reports))
	}
	for _, rep := range reports {
		for _, f := range rep.Failures {
			t.Errorf("%s: %s", rep.Scenario, f)
		}
		if rep.Messages.Acked == 0 {
			t.Errorf("%s: no message was acknowledged", rep.Scenario)
		}
		for _, ext := range []string{".json", ".md", ".svg"} {
			if st, err := os.Stat(filepath.Join(out, rep.Scenario+ext)); err != nil || st.Size() == 0 {
				t.Errorf("%s: report %s missing or empty (%v)", rep.Scenario, ext, err)
			}
		}
		checkRecord(t, rep, out)
	}
	if rep := reports[0]; rep.metric("Time to detect").Value == nil {
		t.Errorf("region-outage: the plan did not detect the outage")
	}
	if m := reports[2].metric("Dependency notice Calendar down"); m == nil || m.Value == nil || *m.Value > 1 {
		t.Errorf("calendar-outage: the notice did not reach every agent within 1s of the apply: %+v", m)
	}
	checkProfiledRegionOutage(t, reports[0], out)
}

// TestDrillRedisClusterPrimaryFailure runs the Redis Cluster drill: a
// shard's primary SIGKILLed in us-central1's cluster during traffic, its
// replica promoted, the relay storing in that shard again and nothing
// acknowledged lost.
func TestDrillRedisClusterPrimaryFailure(t *testing.T) {
	out, reports := runDrill(t, Options{}, "redis-cluster-primary-failure")
	if len(reports) != 1 {
		t.Fatalf("%d reports, want 1", len(reports))
	}
	rep := reports[0]
	for _, f := range rep.Failures {
		t.Errorf("%s: %s", rep.Scenario, f)
	}
	if rep.Messages.Acked == 0 || rep.Messages.AckedLost != 0 {
		t.Errorf("%d acked, %d of them lost", rep.Messages.Acked, rep.Messages.AckedLost)
	}
	if m := rep.metric("Time until the relay stores again"); m == nil || m.Value == nil {
		t.Errorf("the relay was not seen storing in the failed shard again: %+v", m)
	}
	checkRecord(t, rep, out)
}

// runDrill runs scenarios with the binaries in bin/, reports in a
// temporary folder (returned), and logs the summary.
func runDrill(t *testing.T, opts Options, scenarios ...string) (string, []*Report) {
	t.Helper()
	processtest.Starts(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Paths, err = DefaultPaths(wd); err != nil {
		t.Fatal(err)
	}
	opts.WorkDir, opts.OutDir, opts.Logf = t.TempDir(), t.TempDir(), t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reports, err := Run(ctx, opts, scenarios...)
	var sum strings.Builder
	Summary(&sum, reports)
	t.Logf("\n%s", sum.String())
	if err != nil {
		t.Fatal(err)
	}
	return opts.OutDir, reports
}

func TestApplyErrors(t *testing.T) {
	out := `
Error: Provider produced inconsistent final plan

When expanding the plan for agentnet_relay_failover_group.global to include
new values learned so far during apply, provider
"registry.opentofu.org/agentnet/agentnet" produced an invalid new value for
.effective_weights["asia-east1"]: was cty.NumberIntVal(0), but now
cty.NumberIntVal(100).

This is a bug in the provider.

Error: Provider produced inconsistent final plan

When expanding the plan for agentnet_relay_failover_group.global to include
new values learned so far during apply, provider
"registry.opentofu.org/agentnet/agentnet" produced an invalid new value for
.unhealthy_regions: element 0 has vanished.

Error: Updating relay service failed

  with agentnet_relay_service.relay["asia"],
  on main.tf line 63, in resource "agentnet_relay_service" "relay":
  63: resource "agentnet_relay_service" "relay" {

UNAVAILABLE: region down
`
	got := applyErrors(out)
	want := []string{
		`Provider produced inconsistent final plan for agentnet_relay_failover_group.global (.effective_weights["asia-east1"]: was cty.NumberIntVal(0), but now cty.NumberIntVal(100); .unhealthy_regions: element 0 has vanished)`,
		`Updating relay service failed (UNAVAILABLE: region down)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("applyErrors:\n got %q\nwant %q", got, want)
	}
}

func TestPlanChanges(t *testing.T) {
	out := `
  # module.global.data.agentnet_relay_health.front_door[0] will be read during apply
  # module.global.agentnet_relay_failover_group.this will be updated in-place
  ~ resource "agentnet_relay_failover_group" "this" {
    }

Plan: 0 to add, 1 to change, 0 to destroy.

Changes to Outputs:
  ~ effective_weights  = {
      ~ "asia-east1"   = 0 -> 100
        # (2 unchanged attributes hidden)
    }
  ~ unhealthy_regions  = [
      - "asia-east1",
    ]
`
	got := strings.Join(planChanges(out), "\n")
	want := "module.global.agentnet_relay_failover_group.this will be updated in-place\noutputs change: effective_weights, unhealthy_regions"
	if got != want {
		t.Errorf("planChanges:\n got %q\nwant %q", got, want)
	}
}

// checkRecord checks the scenario's recovery record: written under
// examples/local's records prefix (and read back from it by the drill),
// and its local copy, a record of kind drill of the scenario.
func checkRecord(t *testing.T, rep *Report, out string) {
	t.Helper()
	if rep.Record == nil || !strings.HasPrefix(rep.Record.URI, "gs://agentnet-demo-snapshots/records/drill/") ||
		!strings.HasPrefix(rep.Record.File, filepath.Join(out, "records", "drill")+"/") {
		t.Errorf("%s: recovery record at %+v, want gs://agentnet-demo-snapshots/records/drill/... and a copy in %s/records/drill/", rep.Scenario, rep.Record, out)
		return
	}
	js, err := os.ReadFile(rep.Record.File)
	if err != nil {
		t.Fatal(err)
	}
	var rec recoveryrecord.Record
	if err := json.Unmarshal(js, &rec); err != nil || rec.Kind != "drill" || rec.Subject != rep.Scenario || rec.Passed != rep.Passed || len(rec.Steps) == 0 {
		t.Errorf("%s: the record's copy is not the scenario's record (%v): %.300s", rep.Scenario, err, js)
	}
}
