// Package recoveryrecord is the record every recovery leaves for audit: a
// failover group's or a restore's apply, or a drill. A record is a JSON
// object and its Markdown rendering, written side by side under a gs://
// prefix.
package recoveryrecord

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Record is one recovery.
type Record struct {
	Kind    string    `json:"kind"`    // failover, restore or drill
	Subject string    `json:"subject"` // the group, instance or scenario
	Title   string    `json:"title"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	Passed  bool      `json:"passed"`
	// Moved says what the recovery changed, one line per region or object.
	Moved    []string `json:"moved,omitempty"`
	Steps    []Step   `json:"steps,omitempty"`
	Health   []Check  `json:"health,omitempty"`
	Metrics  []Metric `json:"metrics,omitempty"`
	Failures []string `json:"failures,omitempty"`
	RanBy    RanBy    `json:"ran_by"`
	// FirstUnhealthy is the first probe that found the service unhealthy,
	// ServingAgain when it served again; zero when unknown. RecoveryFrom
	// says what FirstUnhealthy is when it is not a probe (the apply's
	// start, when no probe saw the service unhealthy).
	FirstUnhealthy time.Time `json:"first_unhealthy,omitzero"`
	ServingAgain   time.Time `json:"serving_again,omitzero"`
	RecoveryFrom   string    `json:"recovery_from,omitempty"`
	// RestoredTo is the point in time the recovery brought the data back
	// to (the snapshot's), DataLossPoint when the data were lost or began
	// to be corrupted, and DataLossPointIs what that time is: the writes
	// in between are lost. Zero when the recovery restored no data.
	RestoredTo      time.Time   `json:"restored_to,omitzero"`
	DataLossPoint   time.Time   `json:"data_loss_point,omitzero"`
	DataLossPointIs string      `json:"data_loss_point_is,omitempty"`
	Objectives      *Objectives `json:"objectives,omitempty"`
}

// FromFirstUnhealthy is the RecoveryFrom of a recovery timed from the
// first unhealthy probe.
const FromFirstUnhealthy = "first unhealthy probe"

// Step is one phase of the recovery with its timing.
type Step struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	TookS   float64   `json:"took_s"`
	Detail  string    `json:"detail,omitempty"`
}

// Check is one health result.
type Check struct {
	Target  string    `json:"target"`
	At      time.Time `json:"at"`
	Healthy bool      `json:"healthy"`
	Detail  string    `json:"detail,omitempty"`
}

// Objectives are the recovery time and point objectives declared for the
// recovery.
type Objectives struct {
	RTO time.Duration `json:"rto_ns,omitempty"`
	RPO time.Duration `json:"rpo_ns,omitempty"`
}

// Metric is one measurement next to its target. Seconds fields are null
// when the measurement does not apply.
type Metric struct {
	Name     string   `json:"name"`
	Measured string   `json:"measured"`
	Value    *float64 `json:"value_s,omitempty"`
	Target   string   `json:"target"`
	TargetS  *float64 `json:"target_s,omitempty"`
	Margin   string   `json:"margin"`
	Met      *bool    `json:"met,omitempty"`
}

// Against measures d against target (no target: target <= 0), labelled
// targetLabel.
func Against(name string, d, target time.Duration, targetLabel string) Metric {
	v := d.Seconds()
	m := Metric{Name: name, Measured: Human(d), Value: &v, Target: targetLabel, Margin: "—"}
	if target <= 0 {
		return m
	}
	t := target.Seconds()
	m.TargetS = &t
	met := d < target
	m.Met = &met
	used := Percent(d.Seconds()/target.Seconds()) + " of the target"
	if met {
		m.Margin = Precise(target-d) + " under (" + used + ")"
	} else {
		m.Margin = Precise(d-target) + " over (" + used + ")"
	}
	return m
}

// Recovery is the time from the first unhealthy probe to serving again,
// zero when either is unknown.
func (r *Record) Recovery() time.Duration {
	if r.FirstUnhealthy.IsZero() || r.ServingAgain.IsZero() {
		return 0
	}
	return r.ServingAgain.Sub(r.FirstUnhealthy)
}

// DataLoss is the window of writes the recovery could not bring back,
// from RestoredTo to DataLossPoint; ok is false when either is unknown.
func (r *Record) DataLoss() (d time.Duration, ok bool) {
	if r.RestoredTo.IsZero() || r.DataLossPoint.IsZero() {
		return 0, false
	}
	return max(r.DataLossPoint.Sub(r.RestoredTo), 0), true
}

// from is what the recovery time counts from.
func (r *Record) from() string {
	if r.RecoveryFrom != "" {
		return r.RecoveryFrom
	}
	return FromFirstUnhealthy
}

// Compare adds the recovery's comparison with its objectives: the recovery
// time against the RTO, the data-loss window against the RPO. A missed
// objective is a failure.
func (r *Record) Compare() {
	if r.Objectives == nil {
		return
	}
	if r.Objectives.RTO > 0 {
		d, what := r.Recovery(), r.from()+" → serving again"
		if d == 0 {
			d, what = r.Ended.Sub(r.Started), "recovery started → ended"
		}
		r.against(Against("RTO: "+what, d, r.Objectives.RTO, "< "+Human(r.Objectives.RTO)+" (RTO)"))
	}
	if loss, ok := r.DataLoss(); ok && r.Objectives.RPO > 0 {
		r.against(Against("RPO: data restored to → "+r.DataLossPointIs, loss, r.Objectives.RPO, "< "+Human(r.Objectives.RPO)+" (RPO)"))
	}
}

func (r *Record) against(m Metric) {
	r.Metrics = append(r.Metrics, m)
	if !*m.Met {
		r.Failures = append(r.Failures, fmt.Sprintf("%s: %s, target %s", m.Name, m.Measured, m.Target))
		r.Passed = false
	}
}

// RanBy is what ran the recovery: a CI run, or a person's machine.
type RanBy struct {
	System string `json:"system"`
	RunID  string `json:"run_id,omitempty"`
	URL    string `json:"url,omitempty"`
	Host   string `json:"host,omitempty"`
}

// CurrentRun reads what runs this process from the CI's environment
// (GitHub Actions, GitLab CI, Cloud Build, Jenkins, Buildkite, CircleCI),
// else the host name.
func CurrentRun(getenv func(string) string) RanBy {
	switch {
	case getenv("GITHUB_RUN_ID") != "":
		url := ""
		if s, repo := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"); s != "" && repo != "" {
			url = s + "/" + repo + "/actions/runs/" + getenv("GITHUB_RUN_ID")
		}
		return RanBy{System: "GitHub Actions", RunID: getenv("GITHUB_RUN_ID"), URL: url}
	case getenv("CI_PIPELINE_ID") != "":
		return RanBy{System: "GitLab CI", RunID: getenv("CI_PIPELINE_ID"), URL: getenv("CI_PIPELINE_URL")}
	case getenv("BUILD_ID") != "" && getenv("PROJECT_ID") != "":
		return RanBy{System: "Cloud Build", RunID: getenv("BUILD_ID")}
	case getenv("BUILD_ID") != "":
		return RanBy{System: "Jenkins", RunID: getenv("BUILD_ID"), URL: getenv("BUILD_URL")}
	case getenv("BUILDKITE_BUILD_ID") != "":
		return RanBy{System: "Buildkite", RunID: getenv("BUILDKITE_BUILD_ID"), URL: getenv("BUILDKITE_BUILD_URL")}
	case getenv("CIRCLE_WORKFLOW_ID") != "":
		return RanBy{System: "CircleCI", RunID: getenv("CIRCLE_WORKFLOW_ID"), URL: getenv("CIRCLE_BUILD_URL")}
	}
	host, _ := os.Hostname()
	return RanBy{System: "local", Host: host}
}

// JSON is the record as indented JSON. It fails only on a value JSON
// cannot hold (a metric that is NaN, a time past year 9999).
func (r *Record) JSON() ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("recovery record %s as JSON: %w", r.Name(), err)
	}
	return []byte(b.String()), nil
}

// Name is the record's object name under a prefix, without extension:
// KIND/START-SUBJECT, so that names sort by time within a kind.
func (r *Record) Name() string {
	return r.Kind + "/" + r.Started.UTC().Format("20060102T150405.000Z") + "-" + strings.ReplaceAll(r.Subject, "/", "_")
}

// String is the run in one line: "GitHub Actions run 123 (URL)", "local on
// HOST".
func (r RanBy) String() string {
	s := r.System
	if r.RunID != "" {
		s += " run " + r.RunID
	}
	if r.URL != "" {
		s += " (" + r.URL + ")"
	}
	if r.Host != "" {
		s += " on " + r.Host
	}
	return s
}
