package recoveryrecord

import (
	"fmt"
	"strings"
)

// Markdown renders the record for people: the result, the metrics against
// their targets, the steps with their timings and the health results.
func (r *Record) Markdown() string {
	var b strings.Builder
	result := "PASSED"
	if !r.Passed {
		result = "FAILED"
	}
	fmt.Fprintf(&b, "# Recovery record: %s\n\n", r.Title)
	fmt.Fprintf(&b, "%s of %s, %s to %s (%s). **%s**\n\n", r.Kind, r.Subject, r.Started.UTC().Format("2006-01-02 15:04:05 UTC"),
		r.Ended.UTC().Format("15:04:05 UTC"), Human(r.Ended.Sub(r.Started)), result)
	fmt.Fprintf(&b, "Ran by: %s", r.RanBy)
	b.WriteString(".\n\n")
	if d := r.Recovery(); d > 0 {
		fmt.Fprintf(&b, "%s %s, serving again %s: %s.\n\n", capitalized(r.from()), r.FirstUnhealthy.UTC().Format("15:04:05.0"),
			r.ServingAgain.UTC().Format("15:04:05.0"), Human(d))
	}
	if d, ok := r.DataLoss(); ok {
		fmt.Fprintf(&b, "Data restored to %s, data-loss point (%s) %s: %s of writes lost at most.\n\n",
			r.RestoredTo.UTC().Format("2006-01-02 15:04:05"), r.DataLossPointIs, r.DataLossPoint.UTC().Format("2006-01-02 15:04:05"), Human(d))
	}
	for _, m := range r.Moved {
		fmt.Fprintf(&b, "- moved: %s\n", m)
	}
	if len(r.Moved) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(MetricTable(r.Metrics))
	if len(r.Failures) > 0 {
		b.WriteString("\nFailures:\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	if len(r.Steps) > 0 {
		b.WriteString("\n## Steps\n\n| Step | Started | Took | Detail |\n| --- | --- | ---: | --- |\n")
		for _, s := range r.Steps {
			fmt.Fprintf(&b, "| %s | %s | %.1f s | %s |\n", s.Name, s.Started.UTC().Format("15:04:05.0"), s.TookS, cell(s.Detail))
		}
	}
	if len(r.Health) > 0 {
		b.WriteString("\n## Health\n\n| Target | At | Healthy | Detail |\n| --- | --- | --- | --- |\n")
		for _, c := range r.Health {
			fmt.Fprintf(&b, "| %s | %s | %t | %s |\n", c.Target, c.At.UTC().Format("15:04:05.0"), c.Healthy, cell(c.Detail))
		}
	}
	return b.String()
}

// MetricTable is the metrics as a Markdown table, a missed target's margin
// in bold.
func MetricTable(metrics []Metric) string {
	if len(metrics) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| Metric | Measured | Target | Margin |\n| --- | --- | --- | --- |\n")
	for _, m := range metrics {
		margin := m.Margin
		if m.Met != nil && !*m.Met {
			margin = "**" + margin + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", m.Name, m.Measured, m.Target, margin)
	}
	return b.String()
}

func capitalized(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
