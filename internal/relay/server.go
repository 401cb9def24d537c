// Package relay is the agents' WebSocket relay.
//
// Agents connect with a bearer token, send envelopes addressed to other agents
// and receive theirs. The relay routes by the envelope header only: payloads
// are ciphertext the agents encrypted end to end, passed through unread and
// never logged.
//
// # Delivery guarantee
//
// The relay acks an envelope to its sender only after it is durably queued in
// the recipient address's inbox stream on Config.AckCopies Redis servers
// (default 2 with peers: this region's and a peer region's), or on every
// reachable one when fewer answer, at least one (a degraded ack, counted in a
// metric). Every instance in every region with a connection for that address
// is subscribed to the address's wake channel on all Redis servers it knows
// (local and peers), and reads the inbox streams of all of them. An entry is deleted, on every Redis holding a
// copy, only when the recipient acknowledges it (delivery ack) or when it
// expires (MESSAGE_TTL). So an acked envelope survives the crash of any relay
// instance, the sender's or the recipient's, a recipient that is offline or
// reconnects to another instance or region at the moment of the send (its
// next connection, anywhere, reads the inboxes from the start), and the loss
// of one Redis's data when it was stored on two.
//
// The relay delivers at least once: after a crash, entries the recipient took
// but whose delivery ack was lost are delivered again, and a sender that lost
// an ack resends. Receivers drop duplicates by (sender, envelope id), which the
// client package does: at-least-once delivery plus dedup by id is
// exactly-once at the application. The loss of every Redis holding an
// envelope (its one Redis, for a degraded ack or without peers) is outside
// the guarantee unless WAIT_REPLICAS makes acks wait for Redis replicas.
package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
)

// Server is one relay instance.
type Server struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	nodes []*node

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	connWG sync.WaitGroup
	quota  *connQuota
	rates  *rateQuota
	// notices is nil without a notice source.
	notices *notices

	mu      sync.RWMutex
	addrs   map[string]*addrEntry
	conns   map[*conn]struct{}
	stripes [128]sync.Mutex
	seed    maphash.Seed

	closing  atomic.Bool
	stopMu   sync.Mutex
	httpMu   sync.Mutex
	httpSrvs []*http.Server
	mux      *http.ServeMux
	opsMux   *http.ServeMux
}

type addrEntry struct {
	conns []*conn
	// ready[i] is closed once the wake channel on node i is subscribed
	// (or not, after a timeout or while the node is down).
	ready []chan struct{}
}

// New creates a relay instance and starts its Redis connections.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.Verifier == nil {
		return nil, errors.New("relay: a token verifier is required")
	}
	var names []string
	var targets []*RedisTarget
	switch {
	case cfg.RedisInstance != "" && cfg.RedisAddr != "":
		return nil, errors.New("relay: set a Memorystore instance or a Redis address, not both")
	case cfg.RedisInstance != "":
		if cfg.Resolver == nil {
			return nil, errors.New("relay: Memorystore instances need a resolver")
		}
		names = append([]string{cfg.RedisInstance}, cfg.PeerRedisInstances...)
		targets = make([]*RedisTarget, len(names))
	case cfg.RedisAddr != "":
		names = append([]string{cfg.RedisAddr}, cfg.PeerRedisAddrs...)
		targets = make([]*RedisTarget, len(names))
		for i, a := range names {
			targets[i] = &RedisTarget{Addr: a, Password: cfg.RedisPassword, CAs: cfg.RedisCAs}
		}
	default:
		return nil, errors.New("relay: a Redis address or Memorystore instance is required")
	}
	if len(names) > 64 {
		return nil, fmt.Errorf("relay: %d Redis servers, at most 64", len(names))
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger.With("region", cfg.Region, "instance", cfg.InstanceID),
		m:     newMetrics(cfg.Region, cfg.InstanceID),
		addrs: map[string]*addrEntry{},
		conns: map[*conn]struct{}{},
		seed:  maphash.MakeSeed(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	setRedisLogger(s.log)
	for i, name := range names {
		cluster := cfg.RedisCluster && cfg.RedisAddr != "" || cfg.RedisInstance != "" && isClusterName(name)
		s.nodes = append(s.nodes, newNode(s, i, name, targets[i], cluster))
	}
	s.updateEvictionMetric()
	s.quota = newConnQuota(s)
	s.rates = newRateQuota(s)
	// Know whether this region's Redis answers, and whether it could evict
	// keys, before the first connection arrives. The start does not wait
	// for the peers: they count as down until their health loop's first
	// ping, at once, finds them up (and resyncs).
	if s.nodes[0].target.Load() != nil {
		up := s.nodes[0].ping(s.ctx) == nil
		if up {
			s.nodes[0].checkEviction(s.ctx, true)
		}
		s.nodes[0].up.Store(up)
	}
	for _, n := range s.nodes {
		n.start(s.ctx, &s.wg)
		if n.target.Load() == nil {
			s.wg.Add(1)
			go func() { defer s.wg.Done(); n.resolveLoop(s.ctx) }()
		}
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.pollLoop() }()
	if cfg.Notices != nil {
		s.notices = newNotices(s)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.notices.run(s.ctx) }()
	}

	// Cloud Run reserves paths ending in z (/healthz, /readyz): the
	// serving port has /ready and /live, and the detail (addresses,
	// metrics) is only on the operations port, which it never routes to.
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("live\n")) // a failed write means the prober left
	})
	s.mux.HandleFunc("GET /ready", s.handleReady)
	s.mux.HandleFunc("GET /ws", s.handleWS)
	s.opsMux = http.NewServeMux()
	s.opsMux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	s.opsMux.HandleFunc("GET /ready", s.handleReadyDetail)
	s.log.Info("relay started", "redis", names[0], "peers", names[1:])
	return s, nil
}

// Handler serves the agents' and the platform's port: /ws, /ready, /live.
func (s *Server) Handler() http.Handler { return s.mux }

// OpsHandler serves the operations port: /metrics and /ready with detail.
func (s *Server) OpsHandler() http.Handler { return s.opsMux }

// ServeOps serves the operations endpoints on ln until Shutdown.
func (s *Server) ServeOps(ln net.Listener) error { return s.serve(ln, s.opsMux) }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, s.mux) }

func (s *Server) serve(ln net.Listener, h http.Handler) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.httpMu.Lock()
	if s.closing.Load() {
		s.httpMu.Unlock()
		return http.ErrServerClosed
	}
	s.httpSrvs = append(s.httpSrvs, hs)
	s.httpMu.Unlock()
	return hs.Serve(ln)
}

// Run listens on the configured address and serves until ctx is done, then
// shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	if s.cfg.OpsListenAddr != "" {
		ops, err := net.Listen("tcp", s.cfg.OpsListenAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("operations port: %w", err)
		}
		s.log.Info("operations endpoints listening", "addr", ops.Addr().String())
		go func() { errc <- s.ServeOps(ops) }()
	}
	s.log.Info("listening", "addr", ln.Addr().String())
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown stops accepting connections, closes every agent connection with
// 1001 (going away) so agents reconnect to another instance, and stops.
// Envelopes acked before it stay queued in Redis; unacked ones are resent by
// their senders.
func (s *Server) Shutdown(ctx context.Context) error {
	s.httpMu.Lock()
	s.mu.Lock()
	s.closing.Store(true)
	s.mu.Unlock()
	srvs := s.httpSrvs
	s.httpMu.Unlock()
	for _, hs := range srvs {
		go func() {
			// Past ctx's deadline the connections left are cut below.
			if err := hs.Shutdown(ctx); err != nil {
				s.log.Warn("HTTP server shutdown", "err", err)
			}
		}()
	}
	s.mu.RLock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.RUnlock()
	s.log.Info("shutting down", "connections", len(conns))
	for _, c := range conns {
		c.closeWith(envelope.CloseGoingAway, "relay instance shutting down: reconnect")
	}
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop()
	return err
}

// Close stops at once, without the close handshake.
func (s *Server) Close() {
	s.closing.Store(true)
	s.httpMu.Lock()
	for _, hs := range s.httpSrvs {
		hs.Close()
	}
	s.httpMu.Unlock()
	s.mu.RLock()
	for c := range s.conns {
		_ = c.ws.CloseNow() // fails only when already closed, which is the point
	}
	s.mu.RUnlock()
	s.stop()
}

func (s *Server) stop() {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	s.cancel()
	for _, n := range s.nodes {
		n.subs.close() // unblocks the pub/sub readers
	}
	s.wg.Wait()
	for _, n := range s.nodes {
		n.rdb.Close()
	}
}

var errBreakerOpen = errors.New("unreachable at the last check")

func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, reason, metric string) {
	s.m.refused.WithLabelValues(metric).Inc()
	s.log.Info("connection refused", "status", status, "reason", reason, s.logClient(r))
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer error=%q, error_description=%q", "invalid_token", reason))
	}
	http.Error(w, reason, status)
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		s.refuse(w, r, http.StatusServiceUnavailable, "relay instance shutting down", "shutting_down")
		return
	}
	claims, err := s.cfg.Verifier.Verify(r.Context(), bearerToken(r))
	if err != nil {
		reason, metric := tokenRefusal(err)
		s.refuse(w, r, http.StatusUnauthorized, reason, metric)
		return
	}
	addr := claims.Subject
	label := r.URL.Query().Get("label")
	if label != "" {
		if !envelope.ValidLabel(label) {
			s.refuse(w, r, http.StatusBadRequest, "invalid label", "bad_label")
			return
		}
		addr += "/" + label
	}
	if !envelope.ValidAddress(addr) {
		s.refuse(w, r, http.StatusBadRequest, "invalid address", "bad_label")
		return
	}
	lease, over := s.quota.admit(r.Context(), claims.Subject, label)
	s.connWG.Add(1)
	ws, err := websocket.Accept(smallBuffers{w, s.cfg.ConnByteBudget}, r, &websocket.AcceptOptions{
		// Agents authenticate with a bearer header, which a browser page of
		// another origin cannot set, so the origin check adds nothing.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.connWG.Done()
		s.quota.release(lease)
		s.m.refused.WithLabelValues("handshake").Inc()
		return
	}
	if over != "" {
		go func() { defer s.connWG.Done(); ws.Close(envelope.CloseQuota, over) }()
		return
	}
	ws.SetReadLimit(int64(s.cfg.MaxFrameBytes))
	c := newConn(s, ws, addr, claims.Expiry)
	// Track the connection before Shutdown can miss it: either Shutdown's
	// snapshot has it, or it sees closing and goes away itself.
	s.mu.Lock()
	closing := s.closing.Load()
	if !closing {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	if closing {
		c.closeWith(envelope.CloseGoingAway, "relay instance shutting down: reconnect")
		s.quota.release(lease)
		s.connWG.Done()
		return
	}
	// The connection is served by a goroutine of its own so that this
	// handler returns and net/http releases the request, its headers and
	// the handshake's deep stack: an idle agent costs little memory.
	go func() {
		defer s.connWG.Done()
		defer s.quota.release(lease)
		c.serve()
	}()
}

// Buffer sizes of a hijacked connection. Frames larger than the write buffer
// go to the socket directly; the read buffer batches small frames.
const (
	connReadBuffer  = 2048
	connWriteBuffer = 1024
)

// smallBuffers hands the WebSocket library smaller buffers than net/http's
// 4 KiB ones when it hijacks the connection, and bounds the socket's send
// buffer by the byte budget (limitSendBuffer).
type smallBuffers struct {
	http.ResponseWriter
	budget int
}

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("relay: response writer cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := limitSendBuffer(nc, w.budget); err != nil {
		nc.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, connReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right after its handshake: keep them
		// buffered in the new reader, ahead of the socket.
		pending := make([]byte, n)
		if _, err := io.ReadFull(brw.Reader, pending); err != nil {
			nc.Close()
			return nil, nil, err
		}
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), nc), max(connReadBuffer, n))
		if _, err := br.Peek(n); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	return nc, bufio.NewReadWriter(br, bufio.NewWriterSize(nc, connWriteBuffer)), nil
}

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) stripe(addr string) *sync.Mutex {
	return &s.stripes[maphash.String(s.seed, addr)%uint64(len(s.stripes))]
}

// register makes c reachable: it subscribes the address's wake channel on
// every Redis (first connection of the address here) and, as soon as a
// Redis confirmed, marks the connection's inbox there to be read, so that
// the read misses no wake-up. Each Redis is waited for on its own: one that
// is slow to confirm does not hold up reading the others.
func (s *Server) register(c *conn) {
	st := s.stripe(c.addr)
	st.Lock()
	s.mu.Lock()
	e := s.addrs[c.addr]
	first := e == nil
	if first {
		e = &addrEntry{ready: make([]chan struct{}, len(s.nodes))}
		for i := range e.ready {
			e.ready[i] = make(chan struct{})
		}
		s.addrs[c.addr] = e
	}
	e.conns = append(e.conns, c)
	s.mu.Unlock()
	if first {
		for i, n := range s.nodes {
			if !n.up.Load() {
				// resync subscribes it when the Redis is back.
				close(e.ready[i])
				continue
			}
			wait := n.subscribeStart(s.ctx, c.addr)
			go func() {
				ctx, cancel := context.WithTimeout(s.ctx, 3*time.Second)
				if err := wait(ctx); err != nil {
					s.log.Warn("wake channel not confirmed; relying on polling", "redis", n.name, "err", err)
				}
				cancel()
				close(e.ready[i])
			}()
		}
	}
	st.Unlock()
	var now uint64
	for i, ready := range e.ready {
		select {
		case <-ready:
			now |= 1 << i
		default:
			go func() {
				select {
				case <-ready:
					c.markDirty(1 << i)
				case <-c.ctx.Done():
				}
			}()
		}
	}
	if now != 0 {
		c.markDirty(now)
	}
}

func (s *Server) unregister(c *conn) {
	st := s.stripe(c.addr)
	st.Lock()
	defer st.Unlock()
	s.mu.Lock()
	delete(s.conns, c)
	e := s.addrs[c.addr]
	last := false
	if e != nil {
		for i, x := range e.conns {
			if x == c {
				e.conns = append(e.conns[:i], e.conns[i+1:]...)
				break
			}
		}
		if len(e.conns) == 0 {
			delete(s.addrs, c.addr)
			last = true
		}
	}
	s.mu.Unlock()
	if last && s.ctx.Err() == nil {
		for _, n := range s.nodes {
			if n.up.Load() {
				n.unsubscribe(s.ctx, c.addr)
			}
		}
	}
}

func (s *Server) connectedAddrs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.addrs))
	for a := range s.addrs {
		out = append(out, a)
	}
	return out
}

// connsOf are the connections of addr here.
func (s *Server) connsOf(addr string) []*conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e := s.addrs[addr]; e != nil {
		return slices.Clone(e.conns)
	}
	return nil
}

// wake tells the connections of addr to read its inbox on node idx.
func (s *Server) wake(addr string, idx int) {
	for _, c := range s.connsOf(addr) {
		c.markDirty(1 << idx)
	}
}

func (s *Server) wakeAll(idx int) {
	s.mu.RLock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.RUnlock()
	for i, c := range conns {
		c.markDirty(1 << idx)
		if i%200 == 199 {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// pollLoop re-reads every inbox now and then: a safety net for wake-ups lost
// in ways the relay cannot see.
func (s *Server) pollLoop() {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		for _, n := range s.nodes {
			if n.up.Load() {
				s.wakeAll(n.idx)
			}
		}
	}
}

// submit stores an envelope: on cfg.AckCopies Redis servers at once, or on
// as many as are reachable when fewer are (at least one). The first copy goes
// to the first reachable Redis in the configured order (this region's, then
// the peers'), the others to reachable Redis picked by a hash of the
// recipient address. The ack waits for all of them (see stored).
func (s *Server) submit(r *sendReq) {
	up := 0
	for _, n := range s.nodes {
		if n.up.Load() {
			up++
		}
	}
	r.mu.Lock()
	r.need = max(1, min(s.cfg.AckCopies, up))
	targets := s.pickLocked(r, r.need)
	r.pending = len(targets)
	r.mu.Unlock()
	if len(targets) == 0 {
		s.m.refused.WithLabelValues("unavailable").Inc()
		r.c.nack(r.id, envelope.NackUnavailable, "no queue reachable")
		return
	}
	for _, n := range targets {
		select {
		case n.sendCh <- r:
		case <-r.c.ctx.Done():
			return
		}
	}
}

// pickLocked picks up to k Redis servers not tried yet for r and marks them
// tried. Reachable ones only, except that an envelope with no copy stored or
// being stored falls back to one whose breaker is open (it may be back).
func (s *Server) pickLocked(r *sendReq, k int) []*node {
	var out []*node
	var cand []*node
	for _, n := range s.nodes {
		if r.tried&(1<<n.idx) == 0 && n.up.Load() {
			cand = append(cand, n)
		}
	}
	if len(cand) > 0 && r.stored+r.pending == 0 {
		// The first copy: the first reachable Redis in order.
		out = append(out, cand[0])
		cand = cand[1:]
	}
	if len(cand) > 0 && len(out) < k {
		h := int(maphash.String(s.seed, r.to) % uint64(len(cand)))
		for i := 0; i < len(cand) && len(out) < k; i++ {
			out = append(out, cand[(h+i)%len(cand)])
		}
	}
	if len(out) == 0 && r.stored+r.pending == 0 {
		for _, n := range s.nodes {
			if r.tried&(1<<n.idx) == 0 {
				out = append(out, n)
				break
			}
		}
	}
	for _, n := range out {
		r.tried |= 1 << n.idx
	}
	return out
}

// stored takes the outcome of one write of r. r is acked once need copies
// are stored. A failed write is replaced by one to another reachable Redis;
// when none is left, an envelope stored at least once is acked anyway
// (degraded: counted in relay_envelopes_acked_degraded_total), else nacked.
// A full inbox or a missing replica confirmation nacks an envelope whose
// other copies do not suffice: the sender retries.
func (s *Server) stored(r *sendReq, idx int, o outcome) {
	r.mu.Lock()
	if r.answered&(1<<idx) != 0 {
		r.mu.Unlock()
		return // abandoned before
	}
	r.answered |= 1 << idx
	r.pending--
	switch o {
	case outStored:
		r.stored++
	case outFull:
		r.full = true
	case outFullBytes:
		r.fullB = true
	case outOverPair:
		r.overPair = true
	case outOOM:
		r.oom = true
	case outNotReplicated:
		r.notRepl = true
	}
	var retry []*node
	if !r.done && o == outFailed && r.stored+r.pending < r.need {
		retry = s.pickLocked(r, r.need-r.stored-r.pending)
		r.pending += len(retry)
	}
	act := 0 // 1 ack, 2 nack full, 3 nack not replicated, 4 nack unavailable, 5 nack out of memory, 6 nack over the pair's cap, 7 nack full by bytes
	if !r.done {
		switch {
		case r.stored >= r.need:
			act = 1
		case r.pending > 0:
		case r.oom:
			// Never a degraded ack: the Redis is reachable but full, and
			// storing elsewhere only would weaken the copies for as long
			// as it stays full.
			act = 5
		case r.overPair:
			act = 6
		case r.fullB:
			act = 7
		case r.full:
			act = 2
		case r.notRepl:
			act = 3
		case r.stored > 0:
			act = 1
		default:
			act = 4
		}
		r.done = act != 0
	}
	copies := r.stored
	r.mu.Unlock()
	for _, n := range retry {
		go func() {
			select {
			case n.sendCh <- r:
			case <-r.c.ctx.Done():
			}
		}()
	}
	switch act {
	case 1:
		if copies < s.cfg.AckCopies {
			s.m.degradedAcks.Inc()
		}
		s.m.acceptLatency.Observe(time.Since(r.start).Seconds())
		s.m.accepted.Inc()
		r.c.ack(r.id)
	case 2:
		s.m.refused.WithLabelValues("inbox_full").Inc()
		r.c.nack(r.id, envelope.NackInboxFull, "recipient inbox full")
	case 3:
		r.c.nack(r.id, envelope.NackUnavailable, "not replicated")
	case 4:
		s.m.refused.WithLabelValues("unavailable").Inc()
		r.c.nack(r.id, envelope.NackUnavailable, "no queue reachable")
	case 5:
		s.m.refused.WithLabelValues("redis_oom").Inc()
		r.c.nack(r.id, envelope.NackUnavailable, "queue out of memory: retry later")
	case 6:
		s.m.refused.WithLabelValues("quota_stored_pair").Inc()
		r.c.nack(r.id, envelope.NackQuota, s.cfg.overPairReason())
	case 7:
		s.m.refused.WithLabelValues("inbox_full_bytes").Inc()
		r.c.nack(r.id, envelope.NackInboxFull, s.cfg.overRecipientReason())
	}
}

var redisLoggerOnce sync.Once

// setRedisLogger sends go-redis's own messages (dial failures and the like)
// to the structured log at debug level; relay_redis_up reports outages.
func setRedisLogger(l *slog.Logger) {
	redisLoggerOnce.Do(func() { redis.SetLogger(redisLogger{l}) })
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.Debug("redis client", "detail", fmt.Sprintf(format, v...))
}

// tokenRefusals say why a token was refused, to the client and in the
// refusal metric; a token error not listed is "invalid token".
var tokenRefusals = []struct {
	err            error
	reason, metric string
}{
	{auth.ErrMissingToken, "missing bearer token", "auth_missing"},
	{auth.ErrExpired, "token expired", "auth_expired"},
	{auth.ErrIssuer, "wrong token issuer", "auth_issuer"},
	{auth.ErrAudience, "wrong token audience", "auth_audience"},
	{auth.ErrUnknownKey, "unknown signing key id", "auth_unknown_key"},
	{auth.ErrSubject, "token subject is not a valid agent identity", "auth_subject"},
	{auth.ErrIssuedAt, "token issued in the future", "auth_issued_at"},
	{auth.ErrLifetime, "token lifetime over the maximum", "auth_lifetime"},
	{auth.ErrDateFormat, "token dates must be numbers", "auth_date_format"},
	{auth.ErrStaleKeys, "signing keys too old: identity provider unreachable", "auth_stale_keys"},
}

func tokenRefusal(err error) (reason, metric string) {
	for _, r := range tokenRefusals {
		if errors.Is(err, r.err) {
			return r.reason, r.metric
		}
	}
	return "invalid token", "auth_invalid"
}
