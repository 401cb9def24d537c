package drill

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegressionFlags(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	run := func(restored, downtime float64, lost int) HistoryEntry {
		return HistoryEntry{Scenario: "s", Profile: "default", RestoredS: f(restored), DowntimeS: f(downtime), Lost: lost}
	}
	prev := []HistoryEntry{run(10, 4, 0), run(12, 4, 0), run(11, 4, 0),
		// Other scenarios and profiles do not count.
		{Scenario: "other", Profile: "default", RestoredS: f(1)}, {Scenario: "s", Profile: "gcp", RestoredS: f(1)}}
	for _, c := range []struct {
		name string
		prev []HistoryEntry
		cur  HistoryEntry
		want []string
	}{
		{"first run: no median", nil, run(100, 100, 0), nil},
		{"exactly 20% slower is not flagged", prev, run(13.2, 4.8, 0), nil},
		{"slower than 20% over the median (11 s)", prev, run(13.3, 4, 0),
			[]string{"fault to restored 13.3 s is 21% over the median 11.0 s of 3 previous run(s)"}},
		{"20% over the median but by less than half a second", []HistoryEntry{run(10, 0.6, 0)}, run(10, 0.9, 0), nil},
		{"downtime", prev, run(11, 6, 0), []string{"downtime 6.0 s is 50% over the median 4.0 s of 3 previous run(s)"}},
		{"lost, even when fast", prev, run(5, 1, 2), []string{"2 acknowledged message(s) lost"}},
		{"not restored", prev, HistoryEntry{Scenario: "s", Profile: "default", DowntimeS: f(4)}, []string{"not restored"}},
	} {
		got := RegressionFlags(c.prev, c.cur)
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// TestHistoryOverRecordedReports feeds three reports that the drill wrote
// for websocket-server-failure (testdata/history) through the history and
// the trend chart, with their times and losses set so that the third run
// is 27% slower than the median of the first two and lost one message.
func TestHistoryOverRecordedReports(t *testing.T) {
	dir := t.TempDir()
	restored := []float64{10, 11, 13.4} // 13.4 s > 1.2 × 10.5 s
	downtime := []float64{3, 3.3, 3.4}  // 3.4 s < 1.2 × 3.15 s
	lost := []int{0, 0, 1}
	var reps []*Report
	for i := range 3 {
		data, err := os.ReadFile(filepath.Join("testdata", "history", fmt.Sprintf("websocket-server-failure-%d.json", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		rep := new(Report)
		if err := json.Unmarshal(data, rep); err != nil {
			t.Fatal(err)
		}
		if rep.Scenario != "websocket-server-failure" {
			t.Fatalf("recorded report %d is of %q", i+1, rep.Scenario)
		}
		rep.metric("Fault to service restored").Value = &restored[i]
		rep.metric("Total downtime").Value = &downtime[i]
		rep.Messages.AckedLost = lost[i]
		if err := recordHistory(dir, dir, rep); err != nil {
			t.Fatal(err)
		}
		if err := rep.write(dir); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}

	hist, err := ReadHistory(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 {
		t.Fatalf("%d history lines, want 3", len(hist))
	}
	for i, e := range hist {
		if e.Scenario != "websocket-server-failure" || e.Profile != "default" || !e.Time.Equal(reps[i].Started) ||
			*e.RestoredS != restored[i] || *e.DowntimeS != downtime[i] || e.Lost != lost[i] {
			t.Errorf("history line %d: %+v", i+1, e)
		}
	}
	wantFlags := []string{"fault to restored 13.4 s is 28% over the median 10.5 s of 2 previous run(s)", "1 acknowledged message(s) lost"}
	if len(hist[0].Flags)+len(hist[1].Flags) > 0 {
		t.Errorf("runs 1 and 2 flagged: %q, %q", hist[0].Flags, hist[1].Flags)
	}
	if strings.Join(hist[2].Flags, "\n") != strings.Join(wantFlags, "\n") {
		t.Errorf("run 3 flags in the history:\n got %q\nwant %q", hist[2].Flags, wantFlags)
	}

	// The report of the third run carries the flags, in JSON and Markdown.
	var written Report
	data, err := os.ReadFile(filepath.Join(dir, "websocket-server-failure.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &written); err != nil {
		t.Fatal(err)
	}
	if strings.Join(written.Flags, "\n") != strings.Join(wantFlags, "\n") {
		t.Errorf("report JSON history_flags = %q", written.Flags)
	}
	md, err := os.ReadFile(filepath.Join(dir, "websocket-server-failure.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range wantFlags {
		if !strings.Contains(string(md), "**Flagged against the history:** "+f) {
			t.Errorf("report Markdown lacks the flag %q", f)
		}
	}

	// The trend chart: well-formed SVG, one point per run in each of the
	// three panels, the third run red where it is flagged.
	svg, err := os.ReadFile(filepath.Join(dir, "websocket-server-failure-trend.svg"))
	if err != nil {
		t.Fatal(err)
	}
	var circles []string
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("trend chart is not well-formed SVG: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			for _, a := range se.Attr {
				if a.Name.Local == "fill" {
					circles = append(circles, a.Value)
				}
			}
		}
	}
	red, blue := "#d62728", "#1f77b4"
	want := []string{blue, blue, red, blue, blue, blue, blue, blue, red} // restored, downtime, lost
	if strings.Join(circles, " ") != strings.Join(want, " ") {
		t.Errorf("trend chart points:\n got %v\nwant %v", circles, want)
	}
	for _, s := range []string{"3 run(s)", "latest run flagged: " + strings.Join(wantFlags, "; "), "Fault to service restored (s)", "Acknowledged messages lost"} {
		if !strings.Contains(string(svg), esc(s)) {
			t.Errorf("trend chart lacks %q", s)
		}
	}
}
