package statuspage

import (
	"encoding/json"
	"fmt"
	"slices"
)

// MaxHistory is how many past incidents (no longer declared) a page keeps:
// enough for a year of incidents, small enough for one fast page.
const MaxHistory = 50

// Merge returns the incidents of the next publication: the declared ones,
// in their order, then the incidents of the previous publication's JSON
// feed (previous; nil for a first publication) that configuration no longer
// declares, newest first, at most MaxHistory of them. A declared incident
// replaces its earlier version, so editing one never duplicates it, and
// removing one from configuration moves it to history instead of losing it.
func Merge(declared []Incident, previous []byte) ([]Incident, error) {
	out := slices.Clone(declared)
	if len(previous) == 0 {
		return out, nil
	}
	var f jsonFeed
	if err := json.Unmarshal(previous, &f); err != nil {
		return nil, fmt.Errorf("the previous JSON feed is not JSON (%v)", err)
	}
	if f.Status == nil {
		return nil, fmt.Errorf("the previous JSON feed has no \"_agentnet_status\" record: it was not written by a status page")
	}
	if f.Status.Version > recordVersion {
		return nil, fmt.Errorf("the previous JSON feed's record is version %d, newer than this provider's %d", f.Status.Version, recordVersion)
	}
	var history []Incident
	for _, inc := range f.Status.Incidents {
		if !slices.ContainsFunc(declared, func(d Incident) bool { return d.ID == inc.ID }) {
			history = append(history, inc)
		}
	}
	slices.SortStableFunc(history, func(a, b Incident) int { return b.LastChange().Compare(a.LastChange()) })
	if len(history) > MaxHistory {
		history = history[:MaxHistory]
	}
	return append(out, history...), nil
}
