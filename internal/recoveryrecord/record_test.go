package recoveryrecord

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCurrentRun(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		env  func(string) string
		want string
	}{
		{env("GITHUB_RUN_ID", "42", "GITHUB_SERVER_URL", "https://github.com", "GITHUB_REPOSITORY", "o/r"),
			"GitHub Actions run 42 (https://github.com/o/r/actions/runs/42)"},
		{env("CI_PIPELINE_ID", "7", "CI_PIPELINE_URL", "https://gitlab.example/p/-/pipelines/7"), "GitLab CI run 7 (https://gitlab.example/p/-/pipelines/7)"},
		{env("BUILD_ID", "b-1", "PROJECT_ID", "p"), "Cloud Build run b-1"},
		{env("BUILD_ID", "9", "BUILD_URL", "https://ci/job/9/"), "Jenkins run 9 (https://ci/job/9/)"},
	} {
		if got := CurrentRun(c.env).String(); got != c.want {
			t.Errorf("CurrentRun = %q, want %q", got, c.want)
		}
	}
	if got := CurrentRun(env()).String(); !strings.HasPrefix(got, "local on ") {
		t.Errorf("CurrentRun without CI = %q, want local on HOST", got)
	}
}

func TestCompareWithObjectives(t *testing.T) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r := &Record{Kind: "failover", Subject: "relay", Started: start, Ended: start.Add(90 * time.Second), Passed: true,
		FirstUnhealthy: start.Add(10 * time.Second), ServingAgain: start.Add(70 * time.Second), Objectives: &Objectives{RTO: 30 * time.Second}}
	r.Compare()
	if r.Passed || len(r.Failures) != 1 || r.Metrics[0].Measured != "1 min" || *r.Metrics[0].Met {
		t.Fatalf("a 60 s recovery against a 30 s RTO: passed %t, metrics %+v, failures %v", r.Passed, r.Metrics, r.Failures)
	}
	var back Record
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &back); err != nil || back.Recovery() != time.Minute || back.Name() != "failover/20261126T120000.000Z-relay" {
		t.Errorf("round trip: %v, recovery %s, name %s", err, back.Recovery(), back.Name())
	}
	if md := r.Markdown(); !strings.Contains(md, "**FAILED**") || !strings.Contains(md, "**30.0 s over (200% of the target)**") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestCompareDataLossWithRPO(t *testing.T) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r := &Record{Kind: "restore", Subject: "relay-us", Started: start, Ended: start.Add(time.Minute), Passed: true,
		RestoredTo: start.Add(-7 * time.Minute), DataLossPoint: start.Add(-time.Minute), DataLossPointIs: "created_before",
		Objectives: &Objectives{RTO: time.Hour, RPO: 5 * time.Minute}}
	r.Compare()
	if r.Passed || len(r.Metrics) != 2 || r.Metrics[1].Name != "RPO: data restored to → created_before" || r.Metrics[1].Measured != "6 min" || *r.Metrics[1].Met {
		t.Fatalf("6 min of writes lost against a 5 min RPO: passed %t, metrics %+v", r.Passed, r.Metrics)
	}
	if !*r.Metrics[0].Met || r.Metrics[0].Name != "RTO: recovery started → ended" {
		t.Errorf("a 1 min restore against a 1 h RTO: %+v", r.Metrics[0])
	}
	if md := r.Markdown(); !strings.Contains(md, "data-loss point (created_before) 2026-11-26 11:59:00: 6 min of writes lost at most") {
		t.Errorf("markdown:\n%s", md)
	}
}
