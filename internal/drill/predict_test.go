package drill

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// drillProfile writes the profile the drills of TestDrill run under: the
// default profile's (none) but for the uptime alert, modelled at 90 s and
// slept at a time scale of 100.
func drillProfile(t *testing.T) string {
	t.Helper()
	prof := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(prof, []byte(`{"name": "drilltest", "base": "default", "scale": 100,
		"delays": {"monitoring.uptime_alert": {"duration": "90s", "source": "`+drillAlertSource+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return prof
}

const drillAlertSource = "drill test: a 90 s alert"

// checkProfiledRegionOutage checks the region outage's report under
// drillProfile: the detection split into local work and the alert at full
// length, every delay's source cited, the times predicted against the
// targets, and the profile recorded in the history.
func checkProfiledRegionOutage(t *testing.T, rep *Report, out string) {
	t.Helper()
	p := rep.Prediction
	if rep.Profile != "drilltest" || rep.TimeScale != 100 || p == nil {
		t.Fatalf("profile %q, scale %g, prediction %+v", rep.Profile, rep.TimeScale, p)
	}
	if !strings.Contains(p.Scaling, "the profile's own") {
		t.Errorf("scaling: %q", p.Scaling)
	}
	alerts := 0
	for _, d := range p.Delays {
		if strings.TrimSpace(d.Source) == "" {
			t.Errorf("delay %+v has no source", d)
		}
		if d.Kind == profile.UptimeAlert && d.By == "drill" && d.Source == drillAlertSource && d.Modelled.D() == 90*time.Second && d.Slept.D() == 900*time.Millisecond {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d uptime alerts of 90 s slept 900 ms in %+v, want 1", alerts, p.Delays)
	}
	detect := p.phase("detect")
	if detect == nil {
		t.Fatalf("no detect phase in %+v", p.Phases)
	}
	// The alert slept 0.9 s of the detection, modelled 90 s; the plan is
	// local work.
	if detect.SleptS < 0.85 || detect.SleptS > 1 || detect.ModelledS < 85 || detect.LocalS <= 0 ||
		!near(detect.LocalS+detect.SleptS, detect.MeasuredS) || !near(detect.PredictedS, detect.LocalS+detect.ModelledS) ||
		!strings.Contains(strings.Join(detect.Kinds, ","), string(profile.UptimeAlert)) {
		t.Errorf("detect phase: %+v", detect)
	}
	restored := p.phase(restoredPhase)
	if restored == nil || restored.PredictedS < detect.PredictedS || restored.ModelledS < detect.ModelledS {
		t.Errorf("fault to service restored: %+v (detect %+v)", restored, detect)
	}
	if m := p.Metrics[0]; !strings.HasPrefix(m.Name, "Predicted time to detect") || m.Value == nil || *m.Value < 90 || m.Met == nil || !*m.Met {
		t.Errorf("predicted detection against the target: %+v", m)
	}
	md, err := os.ReadFile(filepath.Join(out, "region-outage.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Timing: localcloud's profile drilltest.", "## Predicted on Google Cloud (profile drilltest)", "time scale 100, the profile's own", drillAlertSource} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the report does not say %q:\n%s", want, md)
		}
	}
	hist, err := ReadHistory(filepath.Join(out, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	var entry *HistoryEntry
	for i := range hist {
		if hist[i].Scenario == rep.Scenario {
			entry = &hist[i]
		}
	}
	if entry == nil || entry.Profile != "drilltest" || entry.Scale != 100 || entry.PredictedRestoredS == nil {
		t.Errorf("history of %s: %+v", rep.Scenario, hist)
	}
	if _, err := os.Stat(filepath.Join(out, "region-outage-drilltest-trend.svg")); err != nil {
		t.Errorf("trend chart: %v", err)
	}
}

func near(a, b float64) bool { return a-b < 0.01 && b-a < 0.01 }

// TestSplit: delays overlapping one another count once, only their part
// inside the phase, and not when they were still running at its end.
func TestSplit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(seconds(s)) }
	d := func(kind string, start, slept float64) ModelledDelay {
		return ModelledDelay{Applied: profile.Applied{Kind: profile.Kind(kind), Start: at(start), Slept: profile.Duration(seconds(slept))}}
	}
	delays := []ModelledDelay{d("a", -1, 2), d("b", 0, 4), d("c", 8, 5), d("d", 20, 1), d("e", 6, 2)}
	slept, kinds := split(at(0), at(10), delays)
	// a and b cover 0–4 (4 s), e 6–8 (2 s); c still runs at 10, d is after.
	if slept != 6*time.Second || strings.Join(kinds, ",") != "a,b,e" {
		t.Errorf("split: %v %v, want 6s a,b,e", slept, kinds)
	}
	if slept, kinds := split(at(14), at(19), delays); slept != 0 || kinds != nil {
		t.Errorf("no delay: %v %v", slept, kinds)
	}
}

// TestHistoryComparesSameScale: runs at another time scale of the same
// profile are not compared (their delays slept for another time).
func TestHistoryComparesSameScale(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	prev := []HistoryEntry{{Scenario: "s", Profile: "gcp", Scale: 40, RestoredS: f(10)}}
	if flags := RegressionFlags(prev, HistoryEntry{Scenario: "s", Profile: "gcp", Scale: 20, RestoredS: f(20)}); len(flags) != 0 {
		t.Errorf("another scale flagged: %q", flags)
	}
	if flags := RegressionFlags(prev, HistoryEntry{Scenario: "s", Profile: "gcp", Scale: 40, RestoredS: f(20)}); len(flags) != 1 {
		t.Errorf("same scale not flagged: %q", flags)
	}
}
