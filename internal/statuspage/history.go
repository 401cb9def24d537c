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
	published, err := Published(previous)
	if err != nil {
		return nil, err
	}
	var history []Incident
	for _, inc := range published {
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

// Published returns the incidents of a publication's JSON feed (none for
// nil: a first publication).
func Published(feed []byte) ([]Incident, error) {
	if len(feed) == 0 {
		return nil, nil
	}
	var f jsonFeed
	if err := json.Unmarshal(feed, &f); err != nil {
		return nil, fmt.Errorf("the previous JSON feed is not JSON (%v)", err)
	}
	if f.Status == nil {
		return nil, fmt.Errorf("the previous JSON feed has no \"_agentnet_status\" record: it was not written by a status page")
	}
	if f.Status.Version > recordVersion {
		return nil, fmt.Errorf("the previous JSON feed's record is version %d, newer than this provider's %d", f.Status.Version, recordVersion)
	}
	return f.Status.Incidents, nil
}

// Changed returns the declared incidents that are new since the published
// ones, or whose status, estimated resolution or updates changed: those
// subscribers are told about.
func Changed(declared, published []Incident) []Incident {
	var out []Incident
	for _, d := range declared {
		i := slices.IndexFunc(published, func(p Incident) bool { return p.ID == d.ID })
		if i < 0 || !sameNews(d, published[i]) {
			out = append(out, d)
		}
	}
	return out
}

// sameNews reports whether two versions of an incident tell subscribers
// the same: status, estimated resolution and updates.
func sameNews(a, b Incident) bool {
	etaA, etaB := a.EstimatedResolution, b.EstimatedResolution
	sameETA := (etaA == nil) == (etaB == nil) && (etaA == nil || etaA.Equal(*etaB))
	return a.Status == b.Status && sameETA && slices.EqualFunc(a.Updates, b.Updates, func(x, y Update) bool {
		return x.Template == y.Template && x.At.Equal(y.At) && x.Text == y.Text
	})
}

// Latest is the incident's newest update.
func (i Incident) Latest() Update {
	var last Update
	for _, u := range i.Updates {
		if !u.At.Before(last.At) {
			last = u
		}
	}
	return last
}
