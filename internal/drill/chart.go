package drill

import (
	"fmt"
	"html"
	"math"
	"strings"
)

var regionColor = map[string]string{
	"us-central1":  "#1f77b4",
	"europe-west1": "#2ca02c",
	"asia-east1":   "#ff7f0e",
}

// markers are the timeline events drawn on the chart, with their label and
// color.
var markers = []struct{ event, label, color string }{
	{"backup", "snapshot", "#7f7f7f"},
	{"fault", "fault", "#d62728"},
	{"corruption found", "damage found", "#e377c2"},
	{"plan exit 2", "plan exit 2", "#9467bd"},
	{"plan exit 0", "plan exit 0", "#9467bd"},
	{"relays crashed", "relays crashed", "#d62728"},
	{"apply started", "apply", "#8c564b"},
	{"apply failed", "apply failed", "#d62728"},
	{"recovered", "recovered", "#17a589"},
	{"region-up", "region up", "#2e86c1"},
	{"identity provider back", "IdP back", "#2e86c1"},
	{"back to normal", "back to normal", "#555555"},
}

// chart draws the deliveries per second of each region as lines, their
// total dashed, the outage shaded from the fault to the recovery, and the
// procedure's steps as labelled vertical lines.
func (rep *Report) chart() string {
	const (
		W, H                 = 980, 420
		left, right, top, bo = 64, 190, 108, 52
	)
	pw, ph := float64(W-left-right), float64(H-top-bo)
	n := 0
	for _, s := range rep.Series.Regions {
		n = max(n, len(s))
	}
	if n > 1 {
		n-- // the last bin is incomplete
	}
	bin := rep.Series.BinS
	if bin <= 0 {
		bin = 1
	}
	total := make([]int, n)
	for _, s := range rep.Series.Regions {
		for i := 0; i < n && i < len(s); i++ {
			total[i] += s[i]
		}
	}
	ymax := 1.0
	for _, v := range total {
		ymax = math.Max(ymax, float64(v)/bin)
	}
	ystep := niceStep(ymax / 5)
	ytop := math.Ceil(ymax*1.08/ystep) * ystep
	xmax := math.Max(float64(n)*bin, 1)
	x := func(t float64) float64 { return float64(left) + t/xmax*pw }
	y := func(v float64) float64 { return float64(top) + ph - v/ytop*ph }

	var b strings.Builder
	svgStart(&b, W, H)
	result, resultColor := "PASSED", "#17a589"
	if !rep.Passed {
		result, resultColor = "FAILED", "#d62728"
	}
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(rep.Title))
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold" fill="%s" text-anchor="end">%s</text>`+"\n", W-16, resultColor, result)
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#444">Envelopes delivered per second (%g s bins), by the region of the receiver's relay; %d pairs of agents</text>`+"\n", left, bin, rep.Messages.Pairs)

	// The outage: fault to recovery.
	var tFault, tRecovered float64 = -1, -1
	for _, e := range rep.Events {
		switch e.Name {
		case "fault":
			tFault = e.T
		case "recovered":
			tRecovered = e.T
		}
	}
	if tFault >= 0 {
		end := tRecovered
		if end < 0 {
			end = xmax
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%.1f" fill="#d62728" fill-opacity="0.08"/>`+"\n",
			x(tFault), top, math.Max(x(math.Min(end, xmax))-x(tFault), 1), ph)
	}

	// Axes and grid.
	gridY(&b, left, pw, ytop, ystep, y)
	xstep := niceStep(xmax / 10)
	for t := 0.0; t <= xmax+1e-9; t += xstep {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#999"/>`+"\n", x(t), x(t), float64(top)+ph, float64(top)+ph+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%g</text>`+"\n", x(t), float64(top)+ph+17, t)
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#444"/>`+"\n", left, float64(left)+pw, float64(top)+ph, float64(top)+ph)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%.1f" stroke="#444"/>`+"\n", left, left, top, float64(top)+ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#444">seconds since the agents started</text>`+"\n", float64(left)+pw/2, H-12)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle" fill="#444">messages / s</text>`+"\n", float64(top)+ph/2)

	// Markers in time order; events less than 0.15 s apart share a label;
	// labels are staggered over four rows so they do not overlap.
	type mark struct {
		t      float64
		labels []string
		color  string
	}
	var marks []mark
	for _, e := range rep.Events {
		for _, m := range markers {
			if e.Name != m.event || e.T > xmax {
				continue
			}
			if k := len(marks) - 1; k >= 0 && e.T-marks[k].t < 0.15 {
				marks[k].labels = append(marks[k].labels, m.label)
				continue
			}
			marks = append(marks, mark{t: e.T, labels: []string{m.label}, color: m.color})
		}
	}
	rowEnd := []float64{-1e9, -1e9, -1e9, -1e9}
	for _, m := range marks {
		px := x(m.t)
		label := fmt.Sprintf("%s %.1fs", strings.Join(m.labels, ", "), m.t)
		row := 0
		for row < len(rowEnd)-1 && px < rowEnd[row]+6 {
			row++
		}
		rowEnd[row] = px + 3 + float64(len(label))*5.8
		ly := float64(top) - 48 + float64(row)*13
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="4 3"/>`+"\n", px, px, ly+3, float64(top)+ph, m.color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s" font-size="11">%s</text>`+"\n", px+3, ly, m.color, esc(label))
	}

	// Lines.
	line := func(vals []int, color, dash string, width float64) {
		var pts []string
		for i := 0; i < n && i < len(vals); i++ {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x((float64(i)+0.5)*bin), y(float64(vals[i])/bin)))
		}
		if len(pts) == 0 {
			return
		}
		extra := ""
		if dash != "" {
			extra = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f" stroke-linejoin="round"%s/>`+"\n", strings.Join(pts, " "), color, width, extra)
	}
	line(total, "#333333", "6 4", 1.5)
	legend := []struct{ name, color string }{}
	for _, r := range regions {
		if s, ok := rep.Series.Regions[r]; ok {
			line(s, regionColor[r], "", 2.2)
			legend = append(legend, struct{ name, color string }{r, regionColor[r]})
		}
	}
	legend = append(legend, struct{ name, color string }{"all regions", "#333333"})
	lx := float64(W-right) + 16
	for i, l := range legend {
		ly := float64(top) + 10 + float64(i)*20
		dash := ""
		if l.name == "all regions" {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2.2"%s/>`+"\n", lx, lx+22, ly, ly, l.color, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+28, ly+4, esc(l.name))
	}
	ly := float64(top) + 10 + float64(len(legend))*20 + 6
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="22" height="10" fill="#d62728" fill-opacity="0.15"/>`+"\n", lx, ly-5)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">fault to recovery</text>`+"\n", lx+28, ly+4)

	// Key numbers under the legend.
	ky := ly + 34
	for _, k := range []struct{ label, prefix string }{
		{"restored", "Fault to service restored"},
		{"downtime", "Total downtime"},
		{"acked lost", "Acknowledged messages lost"},
		{"Redis lost", "Redis writes lost"},
	} {
		m := rep.metric(k.prefix)
		if m == nil {
			continue
		}
		v := m.Measured
		if i := strings.Index(v, " ("); i > 0 {
			v = v[:i]
		}
		if i := strings.Index(v, ":"); i > 0 {
			v = v[:i] // "n/a: why" is told in the report
		}
		color := "#222"
		if m.Met != nil && !*m.Met {
			color = "#d62728"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#666" font-size="11">%s</text>`+"\n", lx, ky, esc(k.label))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s" font-weight="bold">%s</text>`+"\n", lx, ky+14, color, esc(v))
		ky += 34
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// svgStart opens an SVG of w×h on a white background; the caller closes
// it.
func svgStart(b *strings.Builder, w, h int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
}

// gridY draws horizontal grid lines and their labels every step up to top,
// left of a plot width wide starting at x = left.
func gridY(b *strings.Builder, left int, width, top, step float64, y func(float64) float64) {
	for v := 0.0; v <= top+1e-9; v += step {
		fmt.Fprintf(b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", left, float64(left)+width, y(v), y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#444">%g</text>`+"\n", left-6, y(v)+4, v)
	}
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string { return html.EscapeString(s) }
