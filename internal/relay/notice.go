package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/statuspage"
)

// Dependency notices: the external dependencies' states, declared once in
// configuration on the status page (agentnet_status_page) and published in
// its JSON feed, are read by every relay instance and pushed to every
// connected agent as a notice frame, and to each new connection after its
// hello. The relay polls the published object, asking only its generation
// while it is unchanged, so an apply reaches the agents within a poll
// interval without a redeploy or a reconnect.

// NoticeSource reads the published status document.
type NoticeSource interface {
	// Read returns the document and its generation, or a nil document when
	// the generation is still known.
	Read(ctx context.Context, known int64) (doc []byte, generation int64, err error)
	// String names the source in logs.
	String() string
}

// noticeStates maps the status page's component states to a notice's.
var noticeStates = map[string]string{
	statuspage.Operational: envelope.DependencyOK,
	statuspage.Degraded:    envelope.DependencyDegraded,
	statuspage.Outage:      envelope.DependencyDown,
}

// statusDocument is the part of the status page's JSON feed a relay reads.
type statusDocument struct {
	Status *struct {
		Components []statuspage.Component `json:"components"`
	} `json:"_agentnet_status"`
}

// noticeFromStatus builds a notice from the dependency components of a
// published status document.
func noticeFromStatus(doc []byte, generation int64) (envelope.DependencyNotice, error) {
	var d statusDocument
	if err := json.Unmarshal(doc, &d); err != nil {
		return envelope.DependencyNotice{}, fmt.Errorf("not a status page JSON feed: %w", err)
	}
	if d.Status == nil {
		return envelope.DependencyNotice{}, fmt.Errorf("not a status page JSON feed: no _agentnet_status")
	}
	n := envelope.DependencyNotice{Generation: generation, Dependencies: []envelope.Dependency{}}
	for _, c := range d.Status.Components {
		if c.Group != statuspage.GroupDependency {
			continue
		}
		state, ok := noticeStates[c.State]
		if !ok {
			return n, fmt.Errorf("dependency %q has state %q, want one of %v", c.Name, c.State, statuspage.States)
		}
		n.Dependencies = append(n.Dependencies, envelope.Dependency{Name: c.Name, State: state, Message: c.Message})
	}
	return n, nil
}

// notices holds the current notice and pushes changes to the connections.
type notices struct {
	s      *Server
	source NoticeSource
	poll   time.Duration
	gen    int64 // generation last read (poller only)

	// mu orders a change against new connections: a connection greeted
	// before a change gets it pushed, one after reads it as current. Only
	// greeted connections (their hello written) get pushes.
	mu      sync.Mutex
	current envelope.DependencyNotice
	frame   []byte // nil until a first notice was read
	conns   map[*conn]struct{}

	stale prometheus.Gauge
}

func newNotices(s *Server) *notices {
	n := &notices{s: s, source: s.cfg.Notices, poll: s.cfg.NoticePoll, conns: map[*conn]struct{}{}}
	n.stale = prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "relay_dependency_notice_stale",
		Help:        "1 while the published status cannot be read and agents keep the last dependency notice.",
		ConstLabels: prometheus.Labels{"region": s.cfg.Region, "instance": s.cfg.InstanceID},
	})
	s.m.reg.MustRegister(n.stale)
	return n
}

// run polls the source until ctx ends. A read that fails keeps the last
// notice (agents are better served by the last known states than by none)
// and is logged once until the source answers again.
func (n *notices) run(ctx context.Context) {
	t := time.NewTicker(n.poll)
	defer t.Stop()
	failing := false
	for {
		err := n.refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			n.s.log.Warn("dependency notice unreadable; agents keep the last one", "source", n.source.String(), "err", err)
			failing = true
			n.stale.Set(1)
		case err == nil && failing:
			n.s.log.Info("dependency notice readable again", "source", n.source.String())
			failing = false
			n.stale.Set(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *notices) refresh(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, max(n.poll, 2*time.Second))
	defer cancel()
	doc, gen, err := n.source.Read(rctx, n.gen)
	if err != nil || doc == nil {
		return err
	}
	notice, err := noticeFromStatus(doc, gen)
	if err != nil {
		return err
	}
	n.gen = gen
	n.set(notice)
	return nil
}

// set makes notice current and pushes it when a dependency changed (a new
// incident on the page alone changes nothing for agents).
func (n *notices) set(notice envelope.DependencyNotice) {
	frame, err := envelope.AppendNotice(nil, &notice)
	if err != nil {
		n.s.log.Warn("dependency notice not sent", "err", err)
		return
	}
	n.mu.Lock()
	if n.frame != nil && slices.Equal(n.current.Dependencies, notice.Dependencies) {
		n.mu.Unlock()
		return
	}
	n.current, n.frame = notice, frame
	for c := range n.conns {
		c.queueFrame(frame)
	}
	conns := len(n.conns)
	n.mu.Unlock()
	n.s.log.Info("dependency notice", "generation", notice.Generation, "dependencies", notice.Dependencies, "connections", conns)
}

// greet queues the current notice, if any, for a connection whose hello
// was written, and pushes it the next changes until forget.
func (n *notices) greet(c *conn) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.conns[c] = struct{}{}
	if n.frame != nil {
		c.queueFrame(n.frame)
	}
}

func (n *notices) forget(c *conn) {
	if n == nil {
		return
	}
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}
