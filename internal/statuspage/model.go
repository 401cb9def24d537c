// Package statuspage renders the public status page of the AI Agent
// Network: one small HTML file readable without JavaScript, a JSON Feed and
// an Atom feed for subscribers. Everything on it comes from configuration
// (components, incidents and their updates); it never carries user data.
// The JSON feed also carries the page's own record (components and every
// incident) so that the next publication keeps past incidents: see Merge.
package statuspage

import "time"

// Component states, in order of severity.
const (
	Operational = "operational"
	Degraded    = "degraded"
	Outage      = "outage"
)

// States are the accepted component states.
var States = []string{Operational, Degraded, Outage}

// Component groups: a region of the relay, or an external dependency
// (identity provider, calendar, language model API).
const (
	GroupRegion     = "region"
	GroupDependency = "dependency"
)

// Groups are the accepted component groups.
var Groups = []string{GroupRegion, GroupDependency}

// Incident statuses, as status pages word them.
const (
	Investigating = "investigating"
	Identified    = "identified"
	Monitoring    = "monitoring"
	Resolved      = "resolved"
)

// Statuses are the accepted incident statuses.
var Statuses = []string{Investigating, Identified, Monitoring, Resolved}

// Component is one line of the page.
type Component struct {
	Name    string `json:"name"`
	Group   string `json:"group"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

// Update is one communication about an incident, written from one of the
// plan's templates; Text is what the page and the feeds show.
type Update struct {
	Template string    `json:"template"`
	At       time.Time `json:"at"`
	Message  string    `json:"message,omitempty"`
	Text     string    `json:"text"`
}

// Incident is declared in configuration and kept in the page's history
// once it leaves it.
type Incident struct {
	ID                  string     `json:"id"`
	Title               string     `json:"title"`
	Status              string     `json:"status"`
	Components          []string   `json:"components"`
	StartedAt           time.Time  `json:"started_at"`
	EstimatedResolution *time.Time `json:"estimated_resolution,omitempty"`
	Updates             []Update   `json:"updates"`
}

// Open reports whether the incident is not resolved.
func (i Incident) Open() bool { return i.Status != Resolved }

// LastChange is the time of the incident's newest update, or its start.
func (i Incident) LastChange() time.Time {
	t := i.StartedAt
	for _, u := range i.Updates {
		if u.At.After(t) {
			t = u.At
		}
	}
	return t
}

// Page is everything one publication shows.
type Page struct {
	Title string
	// BaseURL is the public URL of the folder holding the page (ending in
	// "/"): the feeds' links are absolute.
	BaseURL    string
	Components []Component
	// Incidents are the declared ones followed by the history, as Merge
	// returns them.
	Incidents []Incident
	Published time.Time
}

// Object names of a publication, under the page's prefix.
const (
	HTMLObject     = "index.html"
	JSONFeedObject = "feed.json"
	AtomFeedObject = "feed.atom"
)

// Content types of the objects, as Cloud Storage serves them.
const (
	HTMLContentType     = "text/html; charset=utf-8"
	JSONFeedContentType = "application/feed+json"
	AtomFeedContentType = "application/atom+xml"
)

// Overall is the page's headline: the worst component state.
func (p Page) Overall() string {
	worst := Operational
	for _, c := range p.Components {
		if severity(c.State) > severity(worst) {
			worst = c.State
		}
	}
	return worst
}

func severity(state string) int {
	for i, s := range States {
		if s == state {
			return i
		}
	}
	return 0
}

// open and past split the incidents for the page.
func (p Page) open() []Incident { return filter(p.Incidents, true) }
func (p Page) past() []Incident { return filter(p.Incidents, false) }

func filter(in []Incident, open bool) []Incident {
	var out []Incident
	for _, i := range in {
		if i.Open() == open {
			out = append(out, i)
		}
	}
	return out
}
