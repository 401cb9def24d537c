package drill

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
)

// Prediction is what a drilled scenario should take on Google Cloud, from a
// run with a timing profile: each phase split into local work and the
// modelled delays it waited on (slept × the time scale), and the predicted
// times against the plan's targets.
type Prediction struct {
	Profile   string  `json:"profile"`
	TimeScale float64 `json:"time_scale"`
	// Scaling says how the time scale was chosen.
	Scaling string       `json:"scaling"`
	Phases  []PhaseSplit `json:"phases"`
	// Metrics are the predicted times against the plan's targets.
	Metrics []Metric `json:"metrics"`
	// Delays are every modelled delay applied during the scenario, each
	// with its source.
	Delays []ModelledDelay `json:"delays"`
}

// PhaseSplit is one phase of a drill: its measured time, the part of it
// spent sleeping modelled delays, the rest (local work), and the
// prediction: local work plus those delays at full length.
type PhaseSplit struct {
	Name       string   `json:"name"`
	MeasuredS  float64  `json:"measured_s"`
	LocalS     float64  `json:"local_s"`
	SleptS     float64  `json:"slept_s"`
	ModelledS  float64  `json:"modelled_s"`
	PredictedS float64  `json:"predicted_s"`
	Kinds      []string `json:"delays,omitempty"`
}

// ModelledDelay is one delay applied during a drill, by localcloud or by
// the drill itself (the alert that detects a failed region).
type ModelledDelay struct {
	profile.Applied
	T  float64 `json:"t_s"` // since the traffic started
	By string  `json:"applied_by"`
}

// restoredPhase is the phase from the fault to the service restored.
const restoredPhase = "fault to service restored"

// phase is the phase named name, nil when the drill did not reach it.
func (p *Prediction) phase(name string) *PhaseSplit {
	if i := slices.IndexFunc(p.Phases, func(ph PhaseSplit) bool { return ph.Name == name }); i >= 0 {
		return &p.Phases[i]
	}
	return nil
}

func sortDelays(ds []ModelledDelay) {
	slices.SortStableFunc(ds, func(a, b ModelledDelay) int { return a.Start.Compare(b.Start) })
}

// clip cuts the delays at t: what they slept after it is left out.
func clip(delays []ModelledDelay, t time.Time) []ModelledDelay {
	out := make([]ModelledDelay, 0, len(delays))
	for _, d := range delays {
		if end := d.Start.Add(d.Slept.D()); end.After(t) {
			d.Slept = profile.Duration(max(0, t.Sub(d.Start)))
		}
		out = append(out, d)
	}
	return out
}

// split is the time between from and to spent sleeping at least one of the
// delays that ended by then (overlapping delays count once: Google Cloud
// runs them side by side too), and the kinds of those delays. A delay still
// running at the end of the phase did not hold it up and does not count; one
// that ran beside local work counts whole, so a prediction errs long.
func split(from, to time.Time, delays []ModelledDelay) (slept time.Duration, kinds []string) {
	type span struct{ a, b time.Time }
	var spans []span
	for _, d := range delays {
		a, b := d.Start, d.Start.Add(d.Slept.D())
		if b.After(to) {
			continue
		}
		if a.Before(from) {
			a = from
		}
		if b.After(a) {
			spans = append(spans, span{a, b})
			if !slices.Contains(kinds, string(d.Kind)) {
				kinds = append(kinds, string(d.Kind))
			}
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return x.a.Compare(y.a) })
	var end time.Time
	for _, s := range spans {
		if s.a.Before(end) {
			s.a = end
		}
		if s.b.After(s.a) {
			slept += s.b.Sub(s.a)
			end = s.b
		}
	}
	return slept, kinds
}

// predict adds the prediction to a report of a run with a profile that
// models delays: the phases, the predicted times against the targets (a
// target the prediction misses is a failure: the plan would miss it on
// Google Cloud), and every delay with its source.
func (r *run) predict(rep *Report, end time.Time) {
	t := r.env.timing
	delays, err := t.applied(r.env.lc, r.start, end)
	if err != nil {
		rep.Failures = append(rep.Failures, "no prediction: "+err.Error())
		return
	}
	for i := range delays {
		delays[i].T = delays[i].Start.Sub(r.start).Seconds()
	}
	scale := t.profile.Scale
	p := &Prediction{Profile: t.profile.Name, TimeScale: scale, Scaling: t.scaling, Delays: delays}
	phase := func(name string, from, to time.Time) time.Duration {
		slept, kinds := split(from, to, delays)
		local := to.Sub(from) - slept
		modelled := time.Duration(float64(slept) * scale)
		p.Phases = append(p.Phases, PhaseSplit{Name: name, MeasuredS: to.Sub(from).Seconds(), LocalS: local.Seconds(),
			SleptS: slept.Seconds(), ModelledS: modelled.Seconds(), PredictedS: (local + modelled).Seconds(), Kinds: kinds})
		return local + modelled
	}
	scTarget, scLabel := r.sc.targets()
	phaseTarget := "part of " + scLabel
	against := func(name string, d, target time.Duration, label string) {
		p.Metrics = append(p.Metrics, recoveryrecord.Against("Predicted "+name, d, target, label))
	}
	if !r.detected.IsZero() {
		name := "time to detect (fault → plan exit 2)"
		if r.sc.alerted {
			name = "time to detect (fault → alert → plan exit 2)"
		}
		against(name, phase("detect", r.fault, r.detected), scTarget, phaseTarget)
	}
	if !r.applyStart.IsZero() {
		phase("respond", r.detected, r.applyStart)
	}
	if !r.recovered.IsZero() {
		from := r.fault
		if !r.applyStart.IsZero() {
			from = r.applyStart
		}
		against("time to recover (→ new connections served, messages flowing)", phase("recover", from, r.recovered), scTarget, phaseTarget)
		restored := phase(restoredPhase, r.fault, r.recovered)
		against("fault to service restored", restored, scTarget, scLabel)
		against("RTO: fault to service restored", restored, rtoTarget, "< 1 h (RTO)")
	}
	if g := rep.Downtime; r.traffic != nil && g.WidthS > 0 {
		at := func(s float64) time.Time { return r.start.Add(seconds(s)) }
		against("total downtime (longest gap between deliveries of a pair)", phase("longest delivery gap", at(g.FromS), at(g.ToS)), scTarget, scLabel)
	}
	if slices.ContainsFunc(rep.RedisLoss, func(l rpoResult) bool { return l.Lost > 0 }) {
		// Writes are lost up to the fault: a delay after it (the alert, a
		// repair) adds nothing to the data lost.
		worst := slices.MaxFunc(rep.RedisLoss, func(a, b rpoResult) int { return int(a.Span - b.Span) })
		before := delays
		delays = clip(delays, r.fault)
		against("Redis writes lost (RPO)", phase("Redis writes lost", worst.FirstLost, worst.FirstLost.Add(worst.Span)), rpoTarget, "< 5 min (RPO)")
		delays = before
	}
	if !r.normalAt.IsZero() && !r.recovered.IsZero() {
		phase("return to normal", r.recovered.Add(r.opts.Settle), r.normalAt)
	}
	for _, m := range p.Metrics {
		if m.Met != nil && !*m.Met {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s on Google Cloud (profile %s): %s, target %s", m.Name, p.Profile, m.Measured, m.Target))
		}
	}
	rep.Prediction = p
}

// markdown is the report's section on Google Cloud.
func (p *Prediction) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Predicted on Google Cloud (profile %s)\n\n", p.Profile)
	fmt.Fprintf(&b, "Every modelled delay slept 1/%g of its length here (%s). A phase's prediction is its local work "+
		"(measured, minus the time spent sleeping delays) plus the delays it waited on at full length: delays running side by side count once, "+
		"a delay still running when the phase ended did not hold it up and does not count, and one running beside local work counts whole, so the prediction errs long. %s\n\n", p.TimeScale, p.Scaling, waitsNote)
	fmt.Fprintf(&b, "| Phase | Measured here | Local work | Modelled delays (slept × %g) | Predicted | Delays |\n| --- | ---: | ---: | ---: | ---: | --- |\n", p.TimeScale)
	for _, ph := range p.Phases {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", ph.Name, human(seconds(ph.MeasuredS)), human(seconds(ph.LocalS)),
			human(seconds(ph.ModelledS)), human(seconds(ph.PredictedS)), orDash(strings.Join(ph.Kinds, ", ")))
	}
	b.WriteString("\n" + recoveryrecord.MetricTable(p.Metrics))
	b.WriteString("\n### Modelled delays\n\n| t (s) | Delay | Subject | Modelled | Slept | Applied by | Source |\n| ---: | --- | --- | ---: | ---: | --- | --- |\n")
	for _, d := range p.Delays {
		fmt.Fprintf(&b, "| %.1f | %s | %s | %s | %s | %s | %s |\n", d.T, d.Kind, d.Subject, human(d.Modelled.D()), human(d.Slept.D()), d.By,
			strings.ReplaceAll(d.Source, "|", "\\|"))
	}
	if len(p.Delays) == 0 {
		b.WriteString("| | none | | | | | |\n")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// predictionSummary prints, for the reports with a prediction, the local
// work and modelled delays of fault to restored and the predicted times
// against the targets.
func predictionSummary(w io.Writer, reps []*Report) {
	var with []*Report
	for _, rep := range reps {
		if rep.Prediction != nil {
			with = append(with, rep)
		}
	}
	if len(with) == 0 {
		return
	}
	p := with[0].Prediction
	fmt.Fprintf(w, "\nPredicted on Google Cloud (profile %s, %s):\n", p.Profile, p.Scaling)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMEASURED\tLOCAL\tMODELLED\tDETECT\tRECOVER\tFAULT→RESTORED\tTARGET\tDOWNTIME\tRPO\tDELAYS\tRESULT")
	for _, rep := range with {
		p := rep.Prediction
		measured, local, modelled := "-", "-", "-"
		if ph := p.phase(restoredPhase); ph != nil {
			measured, local, modelled = human(seconds(ph.MeasuredS)), human(seconds(ph.LocalS)), human(seconds(ph.ModelledS))
		}
		get := func(prefix string) *Metric {
			i := slices.IndexFunc(p.Metrics, func(m Metric) bool { return strings.HasPrefix(m.Name, "Predicted "+prefix) })
			if i < 0 {
				return nil
			}
			return &p.Metrics[i]
		}
		target := "-"
		if m := get("fault to service restored"); m != nil {
			target = strings.SplitN(m.Target, " (", 2)[0]
		}
		result := "MEETS TARGETS"
		for _, m := range p.Metrics {
			if m.Met != nil && !*m.Met {
				result = "MISSES " + strings.TrimPrefix(m.Name, "Predicted ")
				break
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", rep.Scenario, measured, local, modelled,
			short(get("time to detect")), short(get("time to recover")), short(get("fault to service restored")), target,
			short(get("total downtime")), short(get("Redis writes lost")), len(p.Delays), result)
	}
	tw.Flush()
}
