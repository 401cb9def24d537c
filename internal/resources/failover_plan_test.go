package resources

import (
	"reflect"
	"strings"
	"testing"
)

func threeRegions() []regionSpec {
	return []regionSpec{
		{Region: "us-central1", State: regionActive, Weight: 100},
		{Region: "europe-west1", State: regionActive, Weight: 100},
		{Region: "asia-east1", State: regionActive, Weight: 100},
	}
}

func weightsAndMins(ts []regionTarget) (map[string]int64, map[string]int64) {
	w, m := map[string]int64{}, map[string]int64{}
	for _, t := range ts {
		w[t.Region], m[t.Region] = t.Weight, t.MinInstances
	}
	return w, m
}

func TestPlanTargets_drainRaisesOthers(t *testing.T) {
	rules := failoverRules{TotalMinInstances: 6, BaselineMinInstances: 1, MinActiveRegions: 1}
	ts, err := planTargets(threeRegions(), rules, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, mins := weightsAndMins(ts)
	if want := map[string]int64{"us-central1": 2, "europe-west1": 2, "asia-east1": 2}; !reflect.DeepEqual(mins, want) {
		t.Errorf("all active: mins %v, want %v", mins, want)
	}

	regions := threeRegions()
	regions[2].State = regionDrained
	ts, err = planTargets(regions, rules, nil)
	if err != nil {
		t.Fatal(err)
	}
	weights, mins := weightsAndMins(ts)
	if want := map[string]int64{"us-central1": 3, "europe-west1": 3, "asia-east1": 1}; !reflect.DeepEqual(mins, want) {
		t.Errorf("one drained: mins %v, want %v", mins, want)
	}
	if weights["asia-east1"] != 0 || weights["us-central1"] != 100 {
		t.Errorf("one drained: weights %v", weights)
	}
}

func TestPlanTargets_unhealthyRegionGetsNoTraffic(t *testing.T) {
	rules := failoverRules{TotalMinInstances: 4, BaselineMinInstances: 0, MinActiveRegions: 1}
	ts, err := planTargets(threeRegions(), rules, map[string]string{"europe-west1": "connection refused"})
	if err != nil {
		t.Fatal(err)
	}
	weights, mins := weightsAndMins(ts)
	if weights["europe-west1"] != 0 || ts[1].Unhealthy != "connection refused" {
		t.Errorf("unhealthy region: weight %d, reason %q", weights["europe-west1"], ts[1].Unhealthy)
	}
	if mins["us-central1"]+mins["asia-east1"] != 4 || mins["europe-west1"] != 0 {
		t.Errorf("capacity %v: the 4 instances belong to the two healthy regions", mins)
	}
}

func TestPlanTargets_safetyRules(t *testing.T) {
	regions := threeRegions()
	regions[0].State, regions[1].State = regionDrained, regionStandby
	_, err := planTargets(regions, failoverRules{MinActiveRegions: 1}, map[string]string{"asia-east1": "timeout"})
	if err == nil || !strings.Contains(err.Error(), "refusing to drain the last healthy region") ||
		!strings.Contains(err.Error(), "asia-east1 is unhealthy (timeout)") {
		t.Errorf("last healthy region drained: err = %v", err)
	}
	_, err = planTargets(threeRegions(), failoverRules{MinActiveRegions: 3}, map[string]string{"asia-east1": "timeout"})
	if err == nil || !strings.Contains(err.Error(), "min_active_regions is 3") {
		t.Errorf("below min_active_regions: err = %v", err)
	}
}

func TestSplitCapacity_byWeight(t *testing.T) {
	got := splitCapacity([]regionSpec{{Region: "a", Weight: 700}, {Region: "b", Weight: 200}, {Region: "c", Weight: 100}}, 1000, 10)
	if want := map[string]int64{"a": 7, "b": 2, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("split 10 by 700/200/100 = %v, want %v", got, want)
	}
	got = splitCapacity([]regionSpec{{Region: "a", Weight: 1}, {Region: "b", Weight: 1}, {Region: "c", Weight: 1}}, 3, 4)
	var total int64
	for _, n := range got {
		total += n
	}
	if total != 4 {
		t.Errorf("split 4 over 3 equal regions = %v, want a total of 4", got)
	}
}

func TestRampWeights(t *testing.T) {
	if got := rampWeights(500, []int64{10, 50, 100}); !reflect.DeepEqual(got, []int64{50, 250, 500}) {
		t.Errorf("ramp of 500 = %v", got)
	}
	if got := rampWeights(5, []int64{1, 10, 100}); !reflect.DeepEqual(got, []int64{1, 5}) {
		t.Errorf("ramp of 5 = %v (steps never go to 0 and never repeat)", got)
	}
}

func TestChangesServingRegions(t *testing.T) {
	if changesServingRegions(nil, threeRegions()) {
		t.Error("a new group changes nothing it served")
	}
	reweighted := threeRegions()
	reweighted[0].Weight = 300
	if changesServingRegions(threeRegions(), reweighted) {
		t.Error("a new weight for a serving region is not a change of serving regions")
	}
	drained := threeRegions()
	drained[1].State = regionDrained
	if !changesServingRegions(threeRegions(), drained) {
		t.Error("draining a region changes the serving regions")
	}
	zeroed := threeRegions()
	zeroed[2].Weight = 0
	if !changesServingRegions(threeRegions(), zeroed) {
		t.Error("weight 0 takes a region out of the serving regions")
	}
}

// Draining the last healthy region by configuration is refused, even with
// min_active_regions 1.
func TestDecide_lastHealthyRegionNeverDrained(t *testing.T) {
	regions := threeRegions()
	regions[0].State, regions[1].State = regionDrained, regionDrained
	_, err := decide(regions, threeRegions(), failoverRules{MinActiveRegions: 1}, true, map[string]string{"asia-east1": "timeout"})
	if err == nil || !strings.Contains(err.Error(), "refusing to drain the last healthy region") || !strings.Contains(err.Error(), "asia-east1 is unhealthy (timeout)") {
		t.Errorf("draining the last healthy region: err = %v", err)
	}
}

// A configuration change that leaves fewer healthy serving regions than
// min_active_regions is refused.
func TestDecide_minActiveRegionsRefusesConfigChange(t *testing.T) {
	regions := threeRegions()
	regions[0].State = regionDrained
	_, err := decide(regions, threeRegions(), failoverRules{MinActiveRegions: 2}, false, map[string]string{"asia-east1": "connection refused"})
	if err == nil || !strings.Contains(err.Error(), "min_active_regions is 2") || !strings.Contains(err.Error(), "us-central1 is drained") {
		t.Errorf("drain below min_active_regions: err = %v", err)
	}
}

// When only health breaks a safety rule, automatic failover is held back:
// the configured weights stay, with the reason.
func TestDecide_healthCausedBreachHoldsBackFailover(t *testing.T) {
	sick := map[string]string{"europe-west1": "timeout", "asia-east1": "timeout"}
	d, err := decide(threeRegions(), threeRegions(), failoverRules{MinActiveRegions: 2}, true, sick)
	if err != nil {
		t.Fatalf("health alone must not refuse the plan: %v", err)
	}
	if !strings.Contains(d.HeldBack, "min_active_regions is 2") {
		t.Errorf("held back = %q, want the broken rule", d.HeldBack)
	}
	weights, _ := weightsAndMins(d.Targets)
	if want := map[string]int64{"us-central1": 100, "europe-west1": 100, "asia-east1": 100}; !reflect.DeepEqual(weights, want) {
		t.Errorf("held back: weights %v, want the configured %v", weights, want)
	}
	if d.Targets[1].Unhealthy != "timeout" || d.Targets[2].Unhealthy != "timeout" {
		t.Errorf("held back: the unhealthy regions are still reported: %+v", d.Targets)
	}
}

// With automatic failover an unhealthy active region is planned to 0 and
// its capacity goes to the others.
func TestDecide_automaticFailoverFollowsHealth(t *testing.T) {
	rules := failoverRules{TotalMinInstances: 6, BaselineMinInstances: 1, MinActiveRegions: 1}
	d, err := decide(threeRegions(), threeRegions(), rules, true, map[string]string{"asia-east1": "503"})
	if err != nil || d.HeldBack != "" {
		t.Fatalf("decide: %v, held back %q", err, d.HeldBack)
	}
	weights, mins := weightsAndMins(d.Targets)
	if weights["asia-east1"] != 0 || mins["asia-east1"] != 1 || mins["us-central1"] != 3 || mins["europe-west1"] != 3 {
		t.Errorf("failover: weights %v, mins %v", weights, mins)
	}
}

// Without automatic failover health never moves traffic, but an unhealthy
// region is reported.
func TestDecide_manualModeOnlyReports(t *testing.T) {
	d, err := decide(threeRegions(), threeRegions(), failoverRules{MinActiveRegions: 1}, false, map[string]string{"asia-east1": "503"})
	if err != nil {
		t.Fatal(err)
	}
	weights, _ := weightsAndMins(d.Targets)
	if weights["asia-east1"] != 100 || d.Targets[2].Unhealthy != "503" {
		t.Errorf("manual mode: weight %d, reported %q", weights["asia-east1"], d.Targets[2].Unhealthy)
	}
}

// A standby or drained region is not "unhealthy": nobody expects traffic
// there.
func TestDecide_unhealthyOnlyForActiveRegions(t *testing.T) {
	regions := threeRegions()
	regions[2].State = regionStandby
	d, err := decide(regions, regions, failoverRules{MinActiveRegions: 1}, true, map[string]string{"asia-east1": "503"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Targets[2].Unhealthy != "" {
		t.Errorf("standby region reported unhealthy: %+v", d.Targets[2])
	}
}

// "failing over" only on the plan that moves the region; afterwards a short
// "stays at weight 0".
func TestHealthNotice_failingOverOnlyWhenMoved(t *testing.T) {
	down := regionTarget{Region: "asia-east1", Weight: 0, Unhealthy: "503"}
	if s, d := healthNotice(down, 100, true, true); s != "Region asia-east1 is unhealthy: failing over" || !strings.Contains(d, "from weight 100 to 0") {
		t.Errorf("moving plan: %q / %q", s, d)
	}
	if s, _ := healthNotice(down, 0, true, true); s != "Region asia-east1 is still unhealthy: stays at weight 0" {
		t.Errorf("after the failover: %q", s)
	}
	if s, _ := healthNotice(down, 0, false, true); strings.Contains(s, "failing over") {
		t.Errorf("new group: %q", s)
	}
	kept := regionTarget{Region: "asia-east1", Weight: 100, Unhealthy: "503"}
	if s, d := healthNotice(kept, 100, true, true); strings.Contains(s, "failing over") || !strings.Contains(d, "keeps weight 100") {
		t.Errorf("held back: %q / %q", s, d)
	}
	if s, d := healthNotice(kept, 100, true, false); s != "Region asia-east1 is unhealthy" || !strings.Contains(d, "automatic_failover is off") {
		t.Errorf("manual: %q / %q", s, d)
	}
}

// A region whose API does not answer keeps the capacity last read from it:
// the apply cannot change it, so state must not claim it did.
func TestKeepCapacityOf_unreachableRegion(t *testing.T) {
	rules := failoverRules{TotalMinInstances: 6, BaselineMinInstances: 1, MinActiveRegions: 1}
	d, err := decide(threeRegions(), threeRegions(), rules, true, map[string]string{"europe-west1": "region down"})
	if err != nil {
		t.Fatal(err)
	}
	keepCapacityOf(d.Targets, map[string]int64{"europe-west1": 2})
	_, mins := weightsAndMins(d.Targets)
	if want := map[string]int64{"us-central1": 3, "europe-west1": 2, "asia-east1": 3}; !reflect.DeepEqual(mins, want) {
		t.Errorf("mins %v, want %v (europe-west1 stays at what it has)", mins, want)
	}
}
