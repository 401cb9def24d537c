package client

import "github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"

// DependencyNotice is the relay's system notice: the state (ok, degraded,
// down) of each external dependency, with the operators' message.
type DependencyNotice = envelope.DependencyNotice

// Dependency is one dependency of a notice.
type Dependency = envelope.Dependency

// Dependency states.
const (
	DependencyOK       = envelope.DependencyOK
	DependencyDegraded = envelope.DependencyDegraded
	DependencyDown     = envelope.DependencyDown
)

// WithNoticeHandler calls f with each new dependency notice, in the order
// they arrive, from the connection's reader: f must return quickly (switch
// a mode, hand the notice to a goroutine). A relay greets every connection
// with its current notice, so f also runs after each reconnect.
func WithNoticeHandler(f func(DependencyNotice)) Option {
	return func(o *options) { o.onNotice = f }
}

// Notice returns the newest dependency notice received, and false before
// the first one.
func (c *Client) Notice() (DependencyNotice, bool) {
	n := c.notice.Load()
	if n == nil {
		return DependencyNotice{}, false
	}
	return *n, true
}

// handleNotice keeps the newest notice by generation: after a reconnect, a
// relay that could not read the published status for a while may greet
// with an older one.
func (c *Client) handleNotice(doc []byte) {
	n, err := envelope.ParseNotice(doc)
	if err != nil {
		c.o.logger.Warn("malformed dependency notice from relay", "err", err)
		return
	}
	if old := c.notice.Load(); old != nil && old.Generation > n.Generation {
		return
	}
	c.notice.Store(&n)
	if c.o.onNotice != nil {
		c.o.onNotice(n)
	}
}
