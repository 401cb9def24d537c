package resources

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var intentRegions = []regionSpec{
	{Region: "us-central1", State: regionActive, Weight: 100},
	{Region: "asia-east1", State: regionActive, Weight: 100},
}

var allUp = map[string]bool{"us-central1": true, "asia-east1": true}

func TestIntentTravelsInTheURLMapDescription(t *testing.T) {
	m := &failoverGroupModel{Name: types.StringValue("relay")}
	since := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	in := newIntent()
	in.Drains["asia-east1"] = drainIntent{Since: since, GraceUntil: since.Add(5 * time.Second)}
	in.Ramps["us-central1"] = rampIntent{Target: 100, Steps: []int64{10, 50, 100}}
	desc := *m.withIntent(in)
	if !ownedByDescription(desc) || !strings.HasPrefix(desc, *m.description()+"; intent={") {
		t.Fatalf("description %q: want the marker, the group, then the record", desc)
	}
	var diags diag.Diagnostics
	got := intentOf(&computepb.UrlMap{Description: &desc}, &diags)
	if diags.HasError() || !reflect.DeepEqual(got, in) {
		t.Fatalf("read back %+v (%v), wrote %+v", got, diags, in)
	}
	if d := *m.withIntent(newIntent()); d != *m.description() {
		t.Fatalf("an empty record leaves description %q, want the plain %q", d, *m.description())
	}
	bad := *m.description() + "; intent={"
	if got := intentOf(&computepb.UrlMap{Description: &bad}, &diags); got != nil || diags.WarningsCount() != 1 {
		t.Fatalf("a record that does not parse gave %+v and %d warnings; want none and one warning", got, diags.WarningsCount())
	}
	foreign := "someone else's; intent={}"
	if got := intentOf(&computepb.UrlMap{Description: &foreign}, &diags); got != nil {
		t.Fatalf("a URL map without the marker gave record %+v", got)
	}
}

func TestPlanStepsRecordsANewDrainAndRamp(t *testing.T) {
	now := time.Now().UTC()
	_, in, first, ramps := planSteps(intentRegions, map[string]int64{"us-central1": 0, "asia-east1": 100},
		map[string]int64{"us-central1": 100, "asia-east1": 0}, true, allUp, nil, []int64{10, 50, 100}, 5*time.Second, now)
	if d := in.Drains["us-central1"]; !d.Since.Equal(now) || !d.GraceUntil.Equal(now.Add(5*time.Second)) {
		t.Fatalf("drain of us-central1 recorded as %+v", d)
	}
	if want := (rampIntent{Target: 100, Steps: []int64{10, 50, 100}}); !reflect.DeepEqual(in.Ramps["asia-east1"], want) {
		t.Fatalf("ramp of asia-east1 recorded as %+v, want %+v", in.Ramps["asia-east1"], want)
	}
	if want := map[string]int64{"us-central1": 0, "asia-east1": 10}; !reflect.DeepEqual(first, want) {
		t.Fatalf("first weights %v, want %v", first, want)
	}
	if want := []regionRamp{{"asia-east1", []int64{10, 50, 100}}}; !reflect.DeepEqual(ramps, want) {
		t.Fatalf("ramps %v, want %v", ramps, want)
	}
}

func TestPlanStepsResumesTheRampAtTheStepReached(t *testing.T) {
	pending := newIntent()
	pending.Ramps["asia-east1"] = rampIntent{Target: 100, Steps: []int64{10, 50, 100}}
	for _, tc := range []struct {
		live int64
		want []int64
	}{{10, []int64{10, 50, 100}}, {50, []int64{50, 100}}, {100, []int64{100}}, {30, []int64{30, 50, 100}}} {
		carried, in, first, ramps := planSteps(intentRegions, map[string]int64{"us-central1": 100, "asia-east1": 100},
			map[string]int64{"us-central1": 100, "asia-east1": tc.live}, true, allUp, pending, []int64{10, 50, 100}, time.Second, time.Now())
		if _, ok := carried.Ramps["asia-east1"]; !ok {
			t.Fatalf("live %d: the pending ramp was not carried", tc.live)
		}
		if first["asia-east1"] != tc.live || len(ramps) != 1 || !reflect.DeepEqual(ramps[0].Steps, tc.want) {
			t.Fatalf("live %d: first %v ramps %v; want to stay at %d and go through %v", tc.live, first, ramps, tc.live, tc.want)
		}
		if len(in.Drains) != 0 {
			t.Fatalf("live %d: drains %v recorded", tc.live, in.Drains)
		}
	}
}

func TestPlanStepsCarriesAPendingDrain(t *testing.T) {
	since := time.Now().Add(-time.Second).UTC()
	pending := newIntent()
	pending.Drains["asia-east1"] = drainIntent{Since: since, GraceUntil: since.Add(time.Minute)}
	target := map[string]int64{"us-central1": 100, "asia-east1": 0}
	live := map[string]int64{"us-central1": 100, "asia-east1": 0}
	carried, in, _, _ := planSteps(intentRegions, target, live, true, allUp, pending, []int64{10, 100}, time.Second, time.Now())
	if carried.Drains["asia-east1"] != pending.Drains["asia-east1"] || in.Drains["asia-east1"] != pending.Drains["asia-east1"] {
		t.Fatalf("the pending drain was not kept as it was: carried %v, intent %v", carried.Drains, in.Drains)
	}
	// Active again: the drain is moot, and the region ramps back.
	target["asia-east1"] = 100
	_, in, _, ramps := planSteps(intentRegions, target, live, true, allUp, pending, []int64{10, 100}, time.Second, time.Now())
	if len(in.Drains) != 0 || len(ramps) != 1 {
		t.Fatalf("a drained region made active again: drains %v ramps %v; want no drain, one ramp", in.Drains, ramps)
	}
	// Its service does not answer: nothing can be told to reconnect.
	target["asia-east1"] = 0
	_, in, _, _ = planSteps(intentRegions, target, live, true, map[string]bool{"us-central1": true}, pending, []int64{10, 100}, time.Second, time.Now())
	if len(in.Drains) != 0 {
		t.Fatalf("a drain carried for a region whose service does not answer: %v", in.Drains)
	}
}

func TestRedeployedSince(t *testing.T) {
	since := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	svc := func(at string) *runpb.Service {
		return &runpb.Service{Template: &runpb.RevisionTemplate{Annotations: map[string]string{annotationRedeploy: at}}}
	}
	if !redeployedSince(svc(since.Format(time.RFC3339Nano)), since) || !redeployedSince(svc(since.Add(time.Second).Format(time.RFC3339Nano)), since) {
		t.Fatal("a redeploy at or after the drain does not count")
	}
	if redeployedSince(svc(since.Add(-time.Second).Format(time.RFC3339Nano)), since) || redeployedSince(&runpb.Service{}, since) {
		t.Fatal("a redeploy before the drain, or none, counts")
	}
}
