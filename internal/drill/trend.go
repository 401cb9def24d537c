package drill

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// trendFile is the name of a scenario's trend chart for a profile.
func trendFile(scenario, profile string) string {
	if profile == "" || profile == "default" {
		return scenario + "-trend.svg"
	}
	return scenario + "-" + profile + "-trend.svg"
}

// trendChart draws the runs of one scenario and profile from the history,
// oldest first: fault to restored, downtime and acknowledged messages lost,
// one panel each. A flagged run is drawn red, and the latest run's flags
// are written under the title.
func trendChart(scenario, profile string, history []HistoryEntry) string {
	var runs []HistoryEntry
	for _, e := range history {
		if e.Scenario == scenario && e.Profile == profile {
			runs = append(runs, e)
		}
	}
	const (
		W, panelH, gap     = 980, 130, 44
		left, right, top   = 64, 40, 96
		flagColor, okColor = "#d62728", "#1f77b4"
	)
	H := top + 3*(panelH+gap) + 10
	pw := float64(W - left - right)
	n := len(runs)
	x := func(i int) float64 {
		if n <= 1 {
			return float64(left) + pw/2
		}
		return float64(left) + 50 + float64(i)/float64(n-1)*(pw-100)
	}

	var b strings.Builder
	svgStart(&b, W, H)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">Drill trend: %s (%s profile), %d run(s)</text>`+"\n", left, esc(scenario), esc(profile), n)
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#444">Red: a run more than %.0f%% (and %g s) slower than the median of its previous runs, or that lost an acknowledged message.</text>`+"\n", left, slowerBy*100, slowerFloorS)
	if n > 0 {
		last := runs[n-1]
		status, color := "latest run: no flag", "#17a589"
		if len(last.Flags) > 0 {
			status, color = "latest run flagged: "+strings.Join(last.Flags, "; "), flagColor
		}
		fmt.Fprintf(&b, `<text x="%d" y="60" fill="%s" font-weight="bold">%s</text>`+"\n", left, color, esc(status))
	}

	panels := []struct {
		title, unit string
		flag        string // the word of the flags this panel shows
		get         func(HistoryEntry) (float64, bool)
	}{
		{"Fault to service restored", "s", "fault to restored", func(e HistoryEntry) (float64, bool) { return deref(e.RestoredS) }},
		{"Downtime (longest delivery gap of a pair)", "s", "downtime", func(e HistoryEntry) (float64, bool) { return deref(e.DowntimeS) }},
		{"Acknowledged messages lost", "", "lost", func(e HistoryEntry) (float64, bool) { return float64(e.Lost), true }},
	}
	for p, pan := range panels {
		ptop := float64(top + p*(panelH+gap))
		ymax := 1.0
		for _, e := range runs {
			if v, ok := pan.get(e); ok {
				ymax = math.Max(ymax, v)
			}
		}
		ystep := niceStep(ymax / 4)
		ytop := math.Ceil(ymax*1.1/ystep) * ystep
		y := func(v float64) float64 { return ptop + panelH - v/ytop*panelH }
		label := pan.title
		if pan.unit != "" {
			label += " (" + pan.unit + ")"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold" fill="#333">%s</text>`+"\n", left, ptop-8, esc(label))
		gridY(&b, left, pw, ytop, ystep, y)
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#444"/>`+"\n", left, float64(left)+pw, ptop+panelH, ptop+panelH)

		var pts []string
		for i, e := range runs {
			v, ok := pan.get(e)
			if !ok {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"/>`+"\n", strings.Join(pts, " "), okColor)
		}
		for i, e := range runs {
			v, ok := pan.get(e)
			if !ok {
				continue
			}
			color, r := okColor, 4.0
			if flagged(e, pan.flag) {
				color, r = flagColor, 6.5
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>run %d: %g%s</title></circle>`+"\n", x(i), y(v), r, color, i+1, math.Round(v*10)/10, pan.unit)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="%s">%g</text>`+"\n", x(i), y(v)-9, color, math.Round(v*10)/10)
		}
		// Run labels under the panel: number, date and commit.
		for i, e := range runs {
			lbl := fmt.Sprintf("#%d %s", i+1, e.Time.Format("01-02 15:04"))
			if e.Commit != "" {
				lbl += " " + e.Commit[:min(7, len(e.Commit))]
			}
			if e.Scale > 1 {
				lbl += fmt.Sprintf(" ×%g", e.Scale)
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="#666">%s</text>`+"\n", x(i), ptop+panelH+14, esc(lbl))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// flagged tells whether a run's flags name what a panel shows.
func flagged(e HistoryEntry, word string) bool {
	return slices.ContainsFunc(e.Flags, func(f string) bool { return strings.Contains(f, word) })
}

func deref(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}
