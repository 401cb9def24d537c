package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
)

// The plan's objectives that apply to every scenario.
const (
	rtoTarget = time.Hour
	rpoTarget = 5 * time.Minute
)

// Report is one drilled scenario.
type Report struct {
	Scenario     string    `json:"scenario"`
	Title        string    `json:"title"`
	SeedScenario string    `json:"seed_scenario"`
	Runbook      string    `json:"runbook"`
	Fault        string    `json:"fault"`
	Scope        string    `json:"scope"`
	Started      time.Time `json:"started"`
	Passed       bool      `json:"passed"`
	Failures     []string  `json:"failures,omitempty"`
	Metrics      []Metric  `json:"metrics"`

	Plan      planInfo     `json:"plan"`
	ApplyS    float64      `json:"apply_s,omitempty"`
	Messages  messageStats `json:"messages"`
	Downtime  gapJSON      `json:"longest_delivery_gap"`
	RedisLoss []rpoResult  `json:"redis_writes"`
	Events    []Event      `json:"events"`
	Series    series       `json:"deliveries"`
	Notes     []string     `json:"notes,omitempty"`
	// Explanation of a plan that found nothing to change.
	NoChange string `json:"no_change,omitempty"`
	// Flags against the previous runs in the history (history.go).
	Flags []string `json:"history_flags,omitempty"`

	// Profile is localcloud's timing profile (default: no modelled delay)
	// and TimeScale the factor its delays were shortened by; Prediction,
	// with a profile that models delays, is what to expect on Google Cloud
	// (predict.go).
	Profile    string      `json:"profile"`
	TimeScale  float64     `json:"time_scale"`
	Prediction *Prediction `json:"prediction,omitempty"`
	// Record is where the scenario's recovery record went (record.go).
	Record *RecordPlace `json:"recovery_record,omitempty"`
}

// Metric is one measurement next to its target, as every recovery record
// has them.
type Metric = recoveryrecord.Metric

// The records' formats of durations and ratios.
var (
	human   = recoveryrecord.Human
	percent = recoveryrecord.Percent
)

// Event is a point of the timeline.
type Event struct {
	Name   string    `json:"name"`
	At     time.Time `json:"at"`
	T      float64   `json:"t_s"` // seconds since the traffic started
	Detail string    `json:"detail,omitempty"`
}

type gapJSON struct {
	Pair   string  `json:"pair"`
	FromS  float64 `json:"from_s"`
	ToS    float64 `json:"to_s"`
	WidthS float64 `json:"width_s"`
}

// series counts deliveries per bin of BinS seconds since the traffic
// started, by the region of the receiver's relay.
type series struct {
	BinS    float64          `json:"bin_s"`
	Regions map[string][]int `json:"regions"`
}

const chartBin = 500 * time.Millisecond

func (r *run) report() *Report {
	end := time.Now()
	sc := r.sc
	rep := &Report{Scenario: sc.name, Title: sc.title, SeedScenario: sc.seedName, Runbook: sc.runbook, Fault: sc.fault, Scope: sc.scope,
		Started: r.start, Plan: r.plan, ApplyS: r.applyTook.Seconds(), Notes: r.notes,
		Profile: r.env.timing.profile.Name, TimeScale: r.env.timing.profile.Scale}
	if r.plan.Attempts > 0 && r.plan.ExitCode == 0 {
		rep.NoChange = sc.noChange
	}
	if r.traffic != nil {
		rep.Messages = r.traffic.stats()
		// Gaps count until the senders stopped, not while the drill waits
		// for the last envelopes.
		lastDelivery := end
		if !r.stopped.IsZero() {
			lastDelivery = r.stopped
		}
		g := r.traffic.longestGap(lastDelivery)
		rep.Downtime = gapJSON{Pair: g.Pair, FromS: g.From.Sub(r.start).Seconds(), ToS: g.To.Sub(r.start).Seconds(), WidthS: g.Width.Seconds()}
		rep.Series = series{BinS: chartBin.Seconds(), Regions: r.traffic.deliveries(end, chartBin)}
	}
	for _, e := range r.events {
		e.T = e.At.Sub(r.start).Seconds()
		rep.Events = append(rep.Events, e)
	}

	scTarget, scLabel := sc.targets()
	phaseTarget := fmt.Sprintf("part of %s", scLabel)
	add := func(name string, measured time.Duration, ok bool, na string, target time.Duration, targetLabel string) {
		if !ok {
			rep.Metrics = append(rep.Metrics, Metric{Name: name, Measured: na, Target: targetLabel, Margin: "—"})
			return
		}
		rep.Metrics = append(rep.Metrics, recoveryrecord.Against(name, measured, target, targetLabel))
	}
	recovered := !r.recovered.IsZero()
	detected := !r.detected.IsZero()
	applied := !r.applyStart.IsZero()
	notDetected := fmt.Sprintf("n/a: plan exit 0 after %s, nothing to change", human(time.Duration(r.plan.TookS*float64(time.Second))))
	if r.plan.Attempts == 0 {
		notDetected = "no plan ran"
	}
	add("Time to detect (fault → plan exit 2)", r.detected.Sub(r.fault), detected, notDetected, scTarget, phaseTarget)
	add("Time to respond (plan exit 2 → apply started)", r.applyStart.Sub(r.detected), detected && applied, "no apply needed", scTarget, phaseTarget)
	if applied {
		add("Time to recover (apply started → new connections served, messages flowing)", r.recovered.Sub(r.applyStart), recovered, "not recovered", scTarget, phaseTarget)
	} else {
		add("Time to recover (fault → new connections served, messages flowing; no apply)", r.recovered.Sub(r.fault), recovered, "not recovered", scTarget, phaseTarget)
	}
	add("Fault to service restored", r.recovered.Sub(r.fault), recovered, "not recovered", scTarget, scLabel)
	add("RTO: fault to service restored", r.recovered.Sub(r.fault), recovered, "not recovered", rtoTarget, "< 1 h (RTO)")
	if r.traffic != nil {
		g := rep.Downtime
		m := len(rep.Metrics)
		add("Total downtime (longest gap between deliveries of a pair)", time.Duration(g.WidthS*float64(time.Second)), true, "", scTarget, scLabel)
		if g.Pair != "" {
			rep.Metrics[m].Measured += fmt.Sprintf(" (%s, t=%.1f–%.1fs)", g.Pair, g.FromS, g.ToS)
		}
		lost := Metric{Name: "Acknowledged messages lost", Measured: fmt.Sprintf("%d of %d acked", rep.Messages.AckedLost, rep.Messages.Acked),
			Target: "0", Margin: "—"}
		met := rep.Messages.AckedLost == 0
		lost.Met = &met
		if met {
			lost.Margin = "met"
		} else {
			lost.Margin = fmt.Sprintf("%d lost", rep.Messages.AckedLost)
		}
		rep.Metrics = append(rep.Metrics, lost)
	}
	if len(r.counters) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var worst rpoResult
		for _, c := range r.counters {
			res := c.verify(ctx)
			rep.RedisLoss = append(rep.RedisLoss, res)
			if res.Span >= worst.Span {
				worst = res
			}
			if res.Error != "" {
				rep.Failures = append(rep.Failures, fmt.Sprintf("reading back the writes to %s's Redis: %s", res.Region, res.Error))
			}
		}
		cancel()
		m := len(rep.Metrics)
		add("Redis writes lost (RPO: time span of confirmed writes gone after recovery)", worst.Span, true, "", rpoTarget, "< 5 min (RPO)")
		rep.Metrics[m].Measured += fmt.Sprintf(" (%d of %d writes, %s)", worst.Lost, worst.Confirmed, worst.Region)
		if !r.snapshotAt.IsZero() && worst.Lost > 0 {
			rep.Metrics[m].Measured += fmt.Sprintf("; snapshot %s before the fault", human(r.fault.Sub(r.snapshotAt)))
		}
	} else {
		rep.Metrics = append(rep.Metrics, Metric{Name: "Redis writes lost (RPO)", Measured: "n/a: no Redis data at risk", Target: "< 5 min (RPO)", Margin: "—"})
	}
	if !r.normalAt.IsZero() && !r.recovered.IsZero() {
		add("Return to normal (after recovery: region back, plan empty)", r.normalAt.Sub(r.recovered.Add(r.opts.Settle)), true, "", 0, "—")
	}

	rep.Metrics = append(rep.Metrics, r.noticeMetrics()...)
	if sc.metrics != nil {
		rep.Metrics = append(rep.Metrics, sc.metrics(r)...)
	}
	for _, m := range rep.Metrics {
		if m.Met != nil && !*m.Met {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %s, target %s", m.Name, m.Measured, m.Target))
		}
	}
	if !recovered {
		rep.Failures = append(rep.Failures, "the service did not recover")
	}
	if sc.planMustChange && !detected {
		rep.Failures = append(rep.Failures, "the plan did not detect the fault")
	}
	rep.Failures = append(rep.Failures, r.notes...)
	if r.env.timing.models() {
		r.predict(rep, end)
	}
	rep.Passed = len(rep.Failures) == 0
	return rep
}

// targets are the scenario's time target and its label: the plan's
// estimate for the scenario, else the RTO.
func (sc *scenario) targets() (time.Duration, string) {
	if sc.target == 0 {
		return rtoTarget, "< 1 h (RTO; the plan sets no time for this scenario)"
	}
	return sc.target, fmt.Sprintf("< %s (%s)", human(sc.target), sc.seedName)
}

func (rep *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var js strings.Builder
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	base := filepath.Join(dir, rep.Scenario)
	if err := os.WriteFile(base+".json", []byte(js.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".svg", []byte(rep.chart()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".md", []byte(rep.markdown()), 0o644)
}

func (rep *Report) markdown() string {
	var b strings.Builder
	result := "PASSED: every target met, no acknowledged message lost"
	if !rep.Passed {
		result = "FAILED"
	}
	fmt.Fprintf(&b, "# Drill: %s\n\n", rep.Title)
	fmt.Fprintf(&b, "Seed scenario: %s. Runbook: [%s](../%s). Run %s. **%s**\n\n", rep.SeedScenario, rep.Runbook, rep.Runbook,
		rep.Started.UTC().Format("2006-01-02 15:04:05 UTC"), result)
	fmt.Fprintf(&b, "Fault: %s.\n\n%s\n\nTiming: localcloud's profile %s.\n\n", rep.Fault, rep.Scope, reportProfile(rep))
	b.WriteString(recoveryrecord.MetricTable(rep.Metrics))
	if len(rep.Failures) > 0 {
		b.WriteString("\nFailures:\n\n")
		for _, f := range rep.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	for _, f := range rep.Flags {
		fmt.Fprintf(&b, "\n**Flagged against the history:** %s ([trend](%s))\n", f, trendFile(rep.Scenario, reportProfile(rep)))
	}
	if rep.Prediction != nil {
		b.WriteString(rep.Prediction.markdown())
	}
	fmt.Fprintf(&b, "\n![Messages delivered per second by region](%s.svg)\n\n", rep.Scenario)
	ms := rep.Messages
	fmt.Fprintf(&b, "Messages: %d pairs of agents, %d envelopes acked, %d received, %d acked and lost, %d duplicates dropped by the application, %d refused.\n",
		ms.Pairs, ms.Acked, ms.Received, ms.AckedLost, ms.Duplicates, ms.Refused)
	for _, id := range ms.LostIDs {
		fmt.Fprintf(&b, "- lost: %s\n", id)
	}
	for _, l := range rep.RedisLoss {
		fmt.Fprintf(&b, "\nRedis writes to %s: %d confirmed, %d refused while it was down, %d lost", l.Region, l.Confirmed, l.Failed, l.Lost)
		if l.Lost > 0 {
			fmt.Fprintf(&b, " (%s, confirmed between t=%.1fs and t=%.1fs)", l.LostRuns, l.FirstLost.Sub(rep.Started).Seconds(), l.LastLost.Sub(rep.Started).Seconds())
		}
		b.WriteString(".\n")
	}
	fmt.Fprintf(&b, "\nPlan (`tofu plan -detailed-exitcode`, run as soon as the fault is in place): exit %d after %d attempt(s), %.1f s.", rep.Plan.ExitCode, rep.Plan.Attempts, rep.Plan.TookS)
	if rep.ApplyS > 0 {
		fmt.Fprintf(&b, " Apply of the saved plan: %.1f s (started at once: an automated response; a person in the loop adds their reaction time).", rep.ApplyS)
	}
	if rep.NoChange != "" {
		b.WriteString(" " + rep.NoChange)
	}
	b.WriteString("\n")
	for _, c := range rep.Plan.Changes {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	for _, w := range rep.Plan.Warnings {
		fmt.Fprintf(&b, "- warning: %s\n", w)
	}
	b.WriteString("\n## Timeline\n\n| t (s) | Event | Detail |\n| ---: | --- | --- |\n")
	for _, e := range rep.Events {
		fmt.Fprintf(&b, "| %.1f | %s | %s |\n", e.T, e.Name, strings.ReplaceAll(e.Detail, "|", "\\|"))
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// metric returns the measured text of the metric whose name starts with
// prefix.
func (rep *Report) metric(prefix string) *Metric {
	for i := range rep.Metrics {
		if strings.HasPrefix(rep.Metrics[i].Name, prefix) {
			return &rep.Metrics[i]
		}
	}
	return nil
}

// Summary prints one line per report: the times, downtime, losses and the
// result against the targets.
func Summary(w io.Writer, reps []*Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tDETECT\tRESPOND\tRECOVER\tFAULT→RESTORED\tTARGET\tDOWNTIME\tACKED LOST\tREDIS LOST (RPO)\tRESULT")
	for _, rep := range reps {
		restored := rep.metric("Fault to service restored")
		target := "-"
		if restored != nil {
			target = strings.SplitN(restored.Target, " (", 2)[0]
		}
		lost := "-"
		if m := rep.metric("Acknowledged messages lost"); m != nil {
			lost = strings.SplitN(m.Measured, " of ", 2)[0]
		}
		result := "PASS"
		if !rep.Passed {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rep.Scenario,
			short(rep.metric("Time to detect")), short(rep.metric("Time to respond")), short(rep.metric("Time to recover")),
			short(restored), target, short(rep.metric("Total downtime")), lost, short(rep.metric("Redis writes lost")), result)
	}
	tw.Flush()
	predictionSummary(w, reps)
	for _, rep := range reps {
		for _, f := range rep.Failures {
			fmt.Fprintf(w, "%s: %s\n", rep.Scenario, f)
		}
	}
}

// short is a metric's time for the summary.
func short(m *Metric) string {
	if m == nil {
		return "-"
	}
	if m.Value == nil {
		return "n/a"
	}
	return human(time.Duration(*m.Value * float64(time.Second)))
}
