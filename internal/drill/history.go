package drill

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/stats"
)

// HistoryFile is the file in the reports folder that every drill report
// is appended to, one JSON object a line.
const HistoryFile = "history.jsonl"

// slowerBy is how much slower than the median of its previous runs a drill
// may get before it is flagged, and slowerFloorS the least, in seconds, that
// counts: below it is the drill's own jitter (sends every 50 ms, a
// recovery polled every 200 ms), which would flag a 0.6 s downtime that
// took 0.8 s.
const (
	slowerBy     = 0.20
	slowerFloorS = 0.5
)

// HistoryEntry is one drill run in the history file. Seconds are null when
// the measurement did not apply (not recovered, no traffic).
type HistoryEntry struct {
	Scenario  string    `json:"scenario"`
	Time      time.Time `json:"time"`
	Passed    bool      `json:"passed"`
	RestoredS *float64  `json:"fault_to_restored_s"`
	DowntimeS *float64  `json:"downtime_s"`
	Lost      int       `json:"messages_lost"`
	// RedisLost is recorded, not flagged: a Redis failure may lose writes
	// within the RPO by design.
	RedisLost int    `json:"redis_writes_lost"`
	Commit    string `json:"commit,omitempty"`
	Profile   string `json:"profile"`
	// Scale is the time scale of the profile's delays (absent: 1); with a
	// profile that models delays, PredictedRestoredS is the fault to
	// restored time predicted for Google Cloud.
	Scale              float64  `json:"time_scale,omitempty"`
	PredictedRestoredS *float64 `json:"predicted_fault_to_restored_s,omitempty"`
	Flags              []string `json:"flags,omitempty"`
}

// historyEntry takes the numbers of a report.
func historyEntry(rep *Report, commit string) HistoryEntry {
	e := HistoryEntry{Scenario: rep.Scenario, Time: rep.Started.UTC(), Passed: rep.Passed, Lost: rep.Messages.AckedLost,
		Commit: commit, Profile: reportProfile(rep), Scale: rep.TimeScale}
	if m := rep.metric("Fault to service restored"); m != nil && m.Value != nil {
		v := *m.Value
		e.RestoredS = &v
	}
	if m := rep.metric("Total downtime"); m != nil && m.Value != nil {
		v := *m.Value
		e.DowntimeS = &v
	}
	for _, l := range rep.RedisLoss {
		e.RedisLost += l.Lost
	}
	if p := rep.Prediction; p != nil {
		if ph := p.phase(restoredPhase); ph != nil {
			v := ph.PredictedS
			e.PredictedRestoredS = &v
		}
	}
	return e
}

// reportProfile names the timing profile a report was drilled with.
func reportProfile(rep *Report) string {
	if rep.Profile == "" {
		return "default"
	}
	return rep.Profile
}

// sameRuns reports whether two runs can be compared: the same scenario,
// profile and time scale (another profile models other delays, another
// scale sleeps them for another time).
func sameRuns(a, b HistoryEntry) bool {
	scale := func(e HistoryEntry) float64 {
		if e.Scale == 0 {
			return 1
		}
		return e.Scale
	}
	return a.Scenario == b.Scenario && a.Profile == b.Profile && scale(a) == scale(b)
}

// RegressionFlags compares a run with the previous comparable runs (same
// scenario, profile and time scale): a time more
// than 20 % (and half a second) over the median of the previous ones, or
// anything acknowledged lost. The first run has no median to be slower than.
func RegressionFlags(prev []HistoryEntry, cur HistoryEntry) []string {
	var flags []string
	slower := func(name string, get func(HistoryEntry) *float64) {
		v := get(cur)
		if v == nil {
			return
		}
		var past []float64
		for _, p := range prev {
			if sameRuns(p, cur) && get(p) != nil {
				past = append(past, *get(p))
			}
		}
		if len(past) == 0 {
			return
		}
		if med := stats.Median(past); *v > med*(1+slowerBy) && *v-med >= slowerFloorS {
			flags = append(flags, fmt.Sprintf("%s %s is %s over the median %s of %d previous run(s)",
				name, human(seconds(*v)), percent(*v/med-1), human(seconds(med)), len(past)))
		}
	}
	slower("fault to restored", func(e HistoryEntry) *float64 { return e.RestoredS })
	slower("downtime", func(e HistoryEntry) *float64 { return e.DowntimeS })
	if cur.Lost > 0 {
		flags = append(flags, fmt.Sprintf("%d acknowledged message(s) lost", cur.Lost))
	}
	if cur.RestoredS == nil {
		flags = append(flags, "not restored")
	}
	return flags
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// ReadHistory reads the history file; a missing file is an empty history.
func ReadHistory(path string) ([]HistoryEntry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []HistoryEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e HistoryEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// recordHistory flags the report against the previous runs in dir's
// history file, appends it to that file and redraws the scenario's trend
// chart. It runs before the report is written, so that the report shows
// the flags.
func recordHistory(dir, root string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, HistoryFile)
	prev, err := ReadHistory(path)
	if err != nil {
		return err
	}
	cur := historyEntry(rep, commitOf(root))
	cur.Flags = RegressionFlags(prev, cur)
	rep.Flags = cur.Flags
	line, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, trendFile(rep.Scenario, cur.Profile)), []byte(trendChart(rep.Scenario, cur.Profile, append(prev, cur))), 0o644)
}

// commitOf names the commit drilled: CI's variable when set, else git's
// HEAD of the repository (with "-dirty" for uncommitted changes); empty
// when neither is known.
func commitOf(root string) string {
	for _, v := range []string{"GITHUB_SHA", "CI_COMMIT_SHA"} {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// TrendFile is the name of the report's scenario trend chart in the
// reports folder.
func (rep *Report) TrendFile() string { return trendFile(rep.Scenario, reportProfile(rep)) }
