package moduletest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// workflow is the part of a GitHub Actions workflow checked here.
type workflow struct {
	On          map[string]yaml.Node `yaml:"on"`
	Concurrency struct {
		Group            string `yaml:"group"`
		CancelInProgress *bool  `yaml:"cancel-in-progress"`
	} `yaml:"concurrency"`
	Jobs map[string]struct {
		Needs       yaml.Node `yaml:"needs"`
		If          string    `yaml:"if"`
		Environment string    `yaml:"environment"`
		Steps       []step    `yaml:"steps"`
	} `yaml:"jobs"`
}

type step struct {
	Name string `yaml:"name"`
	Uses string `yaml:"uses"`
	Run  string `yaml:"run"`
}

// TestCIWorkflowsParse checks that every workflow of examples/ci is YAML
// with jobs, and that recover.yml is what the alert-triggered recovery
// needs: started by an alert (repository_dispatch), by hand and every five
// minutes; one run at a time, never cancelled; a detailed-exitcode plan;
// an apply of that plan only after it, behind an environment (the approval
// gate) and the minimum delay.
func TestCIWorkflowsParse(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "examples", "ci")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	if len(files) < 2 {
		t.Fatalf("examples/ci should hold drift.yml and recover.yml: found %v", files)
	}
	flows := map[string]workflow{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var w workflow
		if err := yaml.Unmarshal(src, &w); err != nil {
			t.Errorf("%s is not a workflow: %v", f, err)
			continue
		}
		if len(w.On) == 0 || len(w.Jobs) == 0 {
			t.Errorf("%s has no triggers (on) or no jobs", f)
		}
		flows[filepath.Base(f)] = w
	}

	w, ok := flows["recover.yml"]
	if !ok {
		t.Fatal("examples/ci/recover.yml is missing")
	}
	for _, trigger := range []string{"repository_dispatch", "workflow_dispatch", "schedule"} {
		if _, ok := w.On[trigger]; !ok {
			t.Errorf("recover.yml is not started by %s", trigger)
		}
	}
	var schedule []struct {
		Cron string `yaml:"cron"`
	}
	if n := w.On["schedule"]; n.Decode(&schedule) != nil || len(schedule) != 1 || schedule[0].Cron != "*/5 * * * *" {
		t.Errorf("recover.yml should run every five minutes (cron \"*/5 * * * *\"): %+v", schedule)
	}
	if w.Concurrency.Group == "" || w.Concurrency.CancelInProgress == nil || *w.Concurrency.CancelInProgress {
		t.Errorf("recover.yml should run one at a time without cancelling a run (concurrency group, cancel-in-progress: false): group %q, cancel-in-progress %v", w.Concurrency.Group, w.Concurrency.CancelInProgress != nil && *w.Concurrency.CancelInProgress)
	}
	plan, apply := w.Jobs["plan"], w.Jobs["apply"]
	if !slices.ContainsFunc(plan.Steps, func(s step) bool {
		return strings.Contains(s.Run, "plan ") && strings.Contains(s.Run, "-detailed-exitcode") && strings.Contains(s.Run, "-out=")
	}) {
		t.Error("recover.yml's plan job should save a `plan -detailed-exitcode -out=...`")
	}
	if !slices.ContainsFunc(plan.Steps, func(s step) bool {
		return strings.Contains(s.Run, "$LAST_APPLY") && strings.Contains(s.Run, "$MIN_INTERVAL")
	}) {
		t.Error("recover.yml's plan job should check the time of the last apply against the minimum interval")
	}
	if apply.Needs.Value != "plan" || !strings.Contains(apply.If, "changes == 'true'") || !strings.Contains(apply.If, "too_soon == 'false'") {
		t.Errorf("recover.yml's apply job should need the plan and run only on changes, not too soon: needs %q, if %q", apply.Needs.Value, apply.If)
	}
	if !strings.Contains(apply.Environment, "'recovery'") {
		t.Errorf("recover.yml's apply job should run in the environment `recovery` (required reviewers) unless unattended: %q", apply.Environment)
	}
	if !slices.ContainsFunc(apply.Steps, func(s step) bool {
		return strings.Contains(s.Run, " apply ") && strings.Contains(s.Run, ".tfplan")
	}) {
		t.Error("recover.yml's apply job should apply the saved plan")
	}
}
