package operations

import "strings"

// PendingFor is Pending restricted to the operations whose method starts
// with methodPrefix (for example "google.cloud.run.v2.Services."), so that
// each emulated API finishes only its own interrupted operations. The
// others stay pending for their owners.
func (m *Manager) PendingFor(methodPrefix string) []*Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	var mine, rest []*Op
	for _, o := range m.pending {
		if strings.HasPrefix(o.method, methodPrefix) {
			mine = append(mine, o)
		} else {
			rest = append(rest, o)
		}
	}
	m.pending = rest
	return mine
}
