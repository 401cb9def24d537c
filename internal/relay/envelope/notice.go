package envelope

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Dependency states in a notice.
const (
	DependencyOK       = "ok"
	DependencyDegraded = "degraded"
	DependencyDown     = "down"
)

// DependencyStates are the states a notice names.
var DependencyStates = []string{DependencyOK, DependencyDegraded, DependencyDown}

// Dependency is one external dependency in a notice: the identity provider,
// the calendar or the language model API, as the status page names them.
type Dependency struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

// DependencyNotice is the relay's system notice to every connected agent:
// the state of each external dependency, so that agents switch to their
// fallbacks (offline calendar, queued calendar operations, fallback
// responses) while one is degraded or down. Generation orders notices: it is
// the generation of the published status object it was read from.
type DependencyNotice struct {
	Generation   int64        `json:"generation"`
	Dependencies []Dependency `json:"dependencies"`
}

// State returns the named dependency's state, or "" when the notice does
// not name it.
func (n DependencyNotice) State(name string) string {
	i := slices.IndexFunc(n.Dependencies, func(d Dependency) bool { return d.Name == name })
	if i < 0 {
		return ""
	}
	return n.Dependencies[i].State
}

// AppendNotice appends a notice frame.
func AppendNotice(b []byte, n *DependencyNotice) ([]byte, error) {
	doc, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	if len(doc) > MaxNoticeLen {
		return nil, fmt.Errorf("dependency notice of %d bytes, at most %d", len(doc), MaxNoticeLen)
	}
	return append(append(b, byte(TypeNotice)), doc...), nil
}

// ParseNotice reads the JSON document of a notice frame.
func ParseNotice(doc []byte) (DependencyNotice, error) {
	var n DependencyNotice
	if err := json.Unmarshal(doc, &n); err != nil {
		return n, malformed("notice: %v", err)
	}
	return n, nil
}
