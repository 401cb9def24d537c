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
