package moduletest

import (
	"fmt"
	"strings"
	"testing"
)

// A new slot's snapshot during an outage of the instance's region: the
// apply exits 0 with a warning and keeps the last snapshot; plans stay
// empty while the region is out; once it is back the next apply takes the
// missed snapshot.
func TestScheduledSnapshotRegionOutage(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	r := newSnapshotRoot(t, tf, snapshotRootHCL+`
variable "slot" { type = string }
`+backupHCL(`triggers = { test_slot = var.slot }`))
	lc, clients, env, chdir := r.lc, r.clients, r.env, r.chdir
	tf.run(t, env, chdir, "get", "-no-color")
	apply := func(slot string) string {
		t.Helper()
		return tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color", "-var", "slot="+slot)
	}
	plan := func(slot string) (string, int) {
		t.Helper()
		return tf.exec(t, env, chdir, "plan", "-detailed-exitcode", "-input=false", "-no-color", "-var", "slot="+slot)
	}
	snapshot := func() string {
		t.Helper()
		uri, _ := outputs(t, tf, env, chdir)["snapshot_uri"].(string)
		return uri
	}

	apply("10:00")
	last := snapshot()

	lc.FaultRegion(t, "region-down", interruptRegion)
	out := apply("11:00") // tf.run fails the test on a non-zero exit
	if !strings.Contains(out, "snapshot of relay-us skipped") {
		t.Errorf("the apply during the outage did not warn that the snapshot was skipped:\n%s", out)
	}
	if got := snapshot(); got != last {
		t.Errorf("during the outage the module's snapshot became %s; want the last one, %s", got, last)
	}
	if out, code := plan("11:00"); code != 0 {
		t.Errorf("while the region is still out the plan is not empty (exit %d):\n%s", code, out)
	}

	lc.FaultRegion(t, "region-up", interruptRegion)
	if out, code := plan("11:00"); code != 2 || !strings.Contains(out, "export_skipped") {
		t.Errorf("once the region is back the plan does not take the missed snapshot (exit %d):\n%s", code, out)
	}
	apply("11:00")
	missed := snapshot()
	if missed == last {
		t.Fatalf("after the region came back the snapshot is still %s", last)
	}
	objects := listObjects(t, clients, "relay-us/")
	for _, want := range []string{last, missed} {
		if !strings.Contains(strings.Join(objects, " "), strings.TrimPrefix(want, fmt.Sprintf("gs://%s/", bucket))) {
			t.Errorf("%s is not under the prefix: %v", want, objects)
		}
	}
	if out, code := plan("11:00"); code != 0 {
		t.Errorf("the plan after the missed snapshot is not empty (exit %d):\n%s", code, out)
	}
}
