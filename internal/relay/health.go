package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/redisinfo"
)

// safePolicy is the only maxmemory_policy under which Redis never drops a
// key by itself: with any other, a full Redis evicts inboxes (every relay
// key has a TTL, so even the volatile-* policies pick them), i.e. acked
// envelopes. Memorystore's default is volatile-lru.
const safePolicy = "noeviction"

// nodeHealth is what the health loop and the resolver learnt about a Redis,
// for /ready.
type nodeHealth struct {
	mu         sync.Mutex
	lastErr    string    // the last failed health check, "" once it answers
	resolveErr string    // the last failed resolution while unresolved
	policy     string    // maxmemory_policy, "" until read
	checked    time.Time // when policy was last read
}

func (h *nodeHealth) setErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr = ""
	if err != nil {
		h.lastErr = err.Error()
	}
}

// evictionUnsafe reports whether the last read policy could evict keys.
func (n *node) evictionUnsafe() (string, bool) {
	n.health.mu.Lock()
	defer n.health.mu.Unlock()
	return n.health.policy, n.health.policy != "" && n.health.policy != safePolicy
}

// checkEviction reads maxmemory_policy from INFO memory (CONFIG GET may be
// disabled, as on Memorystore) when the last read is older than the
// interval, or always with force. A policy that could evict keys makes the
// relay not ready, with a log line when it changes.
func (n *node) checkEviction(ctx context.Context, force bool) {
	n.health.mu.Lock()
	due := force || time.Since(n.health.checked) >= n.s.cfg.EvictionCheckInterval
	n.health.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// On a cluster every primary is asked: one evicting is enough to lose
	// the inboxes of its shard.
	var mu sync.Mutex
	var policy string
	err := n.eachPrimary(ctx, func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "memory").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if p := redisinfo.Field(info, "maxmemory_policy"); policy == "" || policy == safePolicy {
			policy = p
		}
		return nil
	})
	if err != nil {
		n.s.m.redisErrors.WithLabelValues(n.name, "info").Inc()
		return
	}
	n.health.mu.Lock()
	old := n.health.policy
	n.health.policy, n.health.checked = policy, time.Now()
	n.health.mu.Unlock()
	if policy == old {
		return
	}
	n.s.updateEvictionMetric()
	if policy != safePolicy {
		n.s.log.Warn("redis can evict acknowledged envelopes: relay not ready",
			"redis", n.name, "role", n.role, "maxmemory_policy", policy,
			"why", "a full Redis under this policy deletes keys, and every inbox key has a TTL; set maxmemory-policy to noeviction")
	} else if old != "" {
		n.s.log.Info("redis eviction policy safe again", "redis", n.name, "role", n.role, "maxmemory_policy", policy)
	}
}

// updateEvictionMetric sets relay_redis_eviction_unsafe for the local Redis
// and for the peers (1 when any peer is unsafe).
func (s *Server) updateEvictionMetric() {
	peer := 0.0
	for _, n := range s.nodes {
		v := 0.0
		if _, bad := n.evictionUnsafe(); bad {
			v = 1
		}
		if n.idx == 0 {
			s.m.evictionUnsafe.WithLabelValues("local").Set(v)
		} else {
			peer = max(peer, v)
		}
	}
	if len(s.nodes) > 1 {
		s.m.evictionUnsafe.WithLabelValues("peer").Set(peer)
	}
}

// resolveLoop resolves a Memorystore instance, retrying with backoff (it
// may be being created or importing), and then makes its node dial it. The
// AUTH string is never logged.
func (n *node) resolveLoop(ctx context.Context) {
	delay := 200 * time.Millisecond
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t, err := n.s.cfg.Resolver.Resolve(rctx, n.name)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			n.target.Store(&t)
			n.health.mu.Lock()
			n.health.resolveErr = ""
			n.health.mu.Unlock()
			n.s.log.Info("memorystore instance resolved", "redis", n.name, "role", n.role, "addr", t.Addr,
				"tls", t.CAs != nil, "auth", t.Password != "")
			n.checkSoon()
			return
		}
		n.health.mu.Lock()
		n.health.resolveErr = err.Error()
		n.health.mu.Unlock()
		n.s.log.Warn("memorystore instance not resolved; retrying", "redis", n.name, "role", n.role, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// readyReport is the detailed readiness served on the operations port.
type readyReport struct {
	Ready   bool          `json:"ready"`
	Status  string        `json:"status"` // ok, degraded (some Redis down) or not ready
	Reasons []string      `json:"reasons,omitempty"`
	Redis   []redisReport `json:"redis"`
}

type redisReport struct {
	Role            string `json:"role"`
	Name            string `json:"name"`
	Addr            string `json:"addr,omitempty"`
	TLS             bool   `json:"tls"`
	Auth            bool   `json:"auth"`
	Resolved        bool   `json:"resolved"`
	Up              bool   `json:"up"`
	MaxmemoryPolicy string `json:"maxmemory_policy,omitempty"`
	Error           string `json:"error,omitempty"`
}

// readiness decides whether this instance should get traffic: every Redis
// has been checked once (a peer not yet judged up would get no copy), some
// Redis answers (this region's down still queues in a peer's: degraded),
// this region's instance is resolved, and no Redis can evict keys. A Redis whose
// breaker is open counts as down without being asked (its health loop asks
// it every 250 ms); the others are pinged, in parallel.
func (s *Server) readiness(ctx context.Context) readyReport {
	rep := readyReport{Redis: make([]redisReport, len(s.nodes))}
	if s.closing.Load() {
		rep.Status, rep.Reasons = "not ready", []string{"shutting down"}
		return rep
	}
	errs := make([]error, len(s.nodes))
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		if !n.up.Load() {
			errs[i] = errBreakerOpen
			continue
		}
		wg.Go(func() {
			errs[i] = n.ping(ctx)
			n.markDown("ping", errs[i])
			if errs[i] == nil {
				n.checkEviction(ctx, false)
			}
		})
	}
	wg.Wait()
	up := 0
	for i, n := range s.nodes {
		t := n.target.Load()
		n.health.mu.Lock()
		r := redisReport{Role: n.role, Name: n.name, Resolved: t != nil, Up: errs[i] == nil, MaxmemoryPolicy: n.health.policy}
		switch {
		case t == nil:
			r.Error = "not resolved: " + n.health.resolveErr
		case errs[i] != nil && n.health.lastErr != "":
			r.Error = n.health.lastErr
		case errs[i] != nil:
			r.Error = errs[i].Error()
		}
		n.health.mu.Unlock()
		if t != nil {
			r.Addr, r.TLS, r.Auth = t.Addr, t.CAs != nil, t.Password != ""
		}
		rep.Redis[i] = r
		if r.Up {
			up++
		}
		if !n.checked.Load() {
			rep.Reasons = append(rep.Reasons, fmt.Sprintf("%s Redis %s not checked yet: envelopes would be acked with fewer copies", n.role, n.name))
		}
		if t == nil && n.idx == 0 {
			rep.Reasons = append(rep.Reasons, fmt.Sprintf("this region's Redis %s is not resolved yet", n.name))
		}
		if policy, bad := n.evictionUnsafe(); bad {
			rep.Reasons = append(rep.Reasons, fmt.Sprintf("%s Redis %s has maxmemory_policy %s: acknowledged envelopes could be evicted (want %s)", n.role, n.name, policy, safePolicy))
		}
	}
	if up == 0 {
		rep.Reasons = append(rep.Reasons, "no Redis reachable")
	}
	switch {
	case len(rep.Reasons) > 0:
		rep.Status = "not ready"
	case up < len(s.nodes):
		rep.Status, rep.Ready = "degraded", true
	default:
		rep.Status, rep.Ready = "ok", true
	}
	return rep
}

// handleReady answers the serving port's /ready: 200 "ready" or 503 "not
// ready", without detail (it is reachable from the internet).
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.readiness(r.Context()).Ready {
		_, _ = w.Write([]byte("ready\n")) // a failed write means the prober left
		return
	}
	http.Error(w, "not ready", http.StatusServiceUnavailable)
}

// handleReadyDetail answers the operations port's /ready: the same status
// code, with each Redis and the reasons as JSON.
func (s *Server) handleReadyDetail(w http.ResponseWriter, r *http.Request) {
	rep := s.readiness(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rep.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The status is already sent: a failed write means the client left.
	_ = enc.Encode(rep)
}

// Checked reports whether every Redis has had its first health check, the
// first condition of readiness: a start that Cloud Run's startup probe
// waits for, and tests with it.
func (s *Server) Checked() bool {
	for _, n := range s.nodes {
		if !n.checked.Load() {
			return false
		}
	}
	return true
}
