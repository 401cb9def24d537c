package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis layout. Each address has an inbox stream in each Redis its senders
// wrote to; entries hold the envelope id ("i"), the deliver frame ("f",
// header plus ciphertext) and the sender ("s"). Next to it an index hash maps
// "sender\nenvelope id" to the entry's stream id(s) in that Redis, so that an
// envelope delivered from one Redis can be deleted from the others, where its
// copies have other stream ids. A PUBLISH on the address's wake channel tells
// the instances holding a connection for it to read the stream.
const (
	inboxPrefix = "relay:inbox:"
	indexPrefix = "relay:index:"
	wakePrefix  = "relay:wake:"
	instPrefix  = "relay:instance:"
)

// indexed is "1" when the index is kept: with peers, where it finds the
// copies of a delivered envelope on the other Redis ("0" with one Redis,
// where it would only spare the redelivery of a resent duplicate, which
// the client drops).
func (s *Server) indexed() string {
	if len(s.nodes) > 1 {
		return "1"
	}
	return "0"
}

// indexField names an envelope in the index hash.
func indexField(from, id string) string { return from + "\n" + id }

// A store outcome on one Redis.
type outcome int

const (
	outStored    outcome = iota
	outFull              // MAX_INBOX entries
	outFullBytes         // MAX_STORED_BYTES_PER_RECIPIENT
	outOverPair          // MAX_STORED_BYTES_PER_PAIR
	outNotReplicated
	outOOM // Redis at maxmemory with noeviction refused the write
	outFailed
)

// sendReq is one envelope being stored. It is written to need Redis servers
// in parallel and acked once that many stored it (see Server.submit).
type sendReq struct {
	c     *conn
	id    string
	to    string
	frame []byte
	start time.Time

	mu       sync.Mutex
	answered uint64 // nodes whose write was answered (or abandoned)
	need     int    // copies to store before the ack
	tried    uint64 // nodes written to or being written to, by index
	pending  int    // writes not answered yet
	stored   int
	full     bool
	fullB    bool // full by its bytes (outFullBytes)
	overPair bool
	oom      bool
	notRepl  bool
	done     bool
}

// others reports whether r has a copy stored or being stored besides the
// write asking.
func (r *sendReq) others() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stored > 0 || r.pending > 1
}

type delReq struct {
	addr string
	args []string // triples of index field, stream id and frame length, see delScript
}

// node is one Redis: this region's (index 0) or a peer region's.
type node struct {
	s    *Server
	idx  int
	role string
	// name is the Memorystore instance, or the address in direct mode: how
	// logs, metrics and /ready name this Redis.
	name string
	// target is where it is reached; nil until its instance is resolved.
	target atomic.Pointer[RedisTarget]
	health nodeHealth
	rdb    redis.UniversalClient
	// cluster is rdb when the Redis is a Redis Cluster, else nil.
	cluster *redis.ClusterClient
	subs    *wakeSubs
	sendCh  chan *sendReq
	delCh   chan delReq
	up      atomic.Bool // the circuit breaker, see markDown
	// checked: the health loop has judged this Redis once. Until then it
	// counts as down, so a send would be acked with fewer copies than
	// ACK_COPIES: the instance is not ready before (see readiness).
	checked atomic.Bool
	kick    chan struct{} // tells healthLoop the breaker just opened
	// downLogged: the failure of a Redis never up yet was logged.
	downLogged atomic.Bool
	oomLogged  atomic.Int64 // unix ns of the last out-of-memory log line

	subMu   sync.Mutex
	waiters map[string][]chan struct{}

	// Batches being written, so that the breaker opening can give up on
	// them at once (abandon) instead of waiting for their timeout.
	batchMu  sync.Mutex
	batchSeq uint64
	batches  map[uint64][]*sendReq
}

func newNode(s *Server, idx int, name string, t *RedisTarget, cluster bool) *node {
	role := "local"
	if idx > 0 {
		role = "peer"
	}
	n := &node{
		s: s, idx: idx, role: role, name: name,
		sendCh:  make(chan *sendReq, 8192),
		delCh:   make(chan delReq, 8192),
		kick:    make(chan struct{}, 1),
		waiters: map[string][]chan struct{}{},
		batches: map[uint64][]*sendReq{},
	}
	n.target.Store(t)
	if cluster {
		n.cluster = redis.NewClusterClient(n.clusterOptions())
		n.rdb = n.cluster
	} else {
		n.rdb = redis.NewClient(n.options())
	}
	n.subs = newWakeSubs(n)
	return n
}

func (n *node) start(ctx context.Context, wg *sync.WaitGroup) {
	fs := []func(context.Context){n.batchLoop, n.delLoop, n.healthLoop}
	if n.subs.single != nil {
		fs = append(fs, func(ctx context.Context) {
			// The instance channel keeps the connection in subscribe mode,
			// ready for per-address channels. (Here rather than in start,
			// so that a Redis that does not answer does not hold up the
			// relay's start.)
			_ = n.subs.single.Subscribe(ctx, instPrefix+n.s.cfg.InstanceID)
			n.receiveLoop(ctx, n.subs.single)
		})
	}
	for _, f := range fs {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
}

func (n *node) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return n.eachPrimary(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
}

// Health check cadence: while a Redis answers, and while it does not (a
// Redis coming back is noticed quickly).
const (
	healthEvery     = time.Second
	healthDownEvery = 250 * time.Millisecond
)

// The up flag is a circuit breaker. While it is off the relay leaves the
// Redis alone (no inbox reads, subscriptions or queueing unless no other
// Redis is left): only healthLoop pings it. It goes off when a ping fails or
// an operation finds the Redis unreachable (markDown), and back on only in
// healthLoop, which then resubscribes and re-reads every inbox there
// (resync), so nothing that was skipped meanwhile is lost.

// markDown opens the breaker after an operation found the Redis
// unreachable.
func (n *node) markDown(op string, err error) {
	if !unreachable(err) || n.s.ctx.Err() != nil {
		return
	}
	if n.up.Swap(false) {
		n.s.m.redisUp.WithLabelValues(n.name, n.role).Set(0)
		n.s.log.Warn("redis down", "redis", n.name, "role", n.role, "op", op, "err", err)
		select {
		case n.kick <- struct{}{}:
		default:
		}
		n.abandon()
	}
}

// abandon counts the writes in progress on this Redis as failed, once its
// breaker opened: their envelopes are stored elsewhere (or acked degraded)
// without waiting for the write's timeout. A write that lands later is one
// more copy, deleted like the others after delivery.
func (n *node) abandon() {
	n.batchMu.Lock()
	var rs []*sendReq
	for _, b := range n.batches {
		rs = append(rs, b...)
	}
	n.batchMu.Unlock()
	for _, r := range rs {
		n.s.stored(r, n.idx, outFailed)
	}
}

// checkSoon asks healthLoop to ping now.
func (n *node) checkSoon() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// unreachable reports whether err says that the Redis could not be reached
// or dropped the connection, as opposed to an error reply, a cancellation or
// a slow answer (the health check judges those).
func unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrClosed) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		return false
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func (n *node) logDownOnce() bool { return !n.downLogged.Swap(true) }

func (n *node) healthLoop(ctx context.Context) {
	t := time.NewTimer(healthEvery)
	defer t.Stop()
	for {
		err := n.ping(ctx)
		if ctx.Err() != nil {
			return
		}
		n.health.setErr(err)
		n.topologyChanged(err)
		if err == nil {
			// The policy first: a Redis that could evict keys must not
			// count as ready for a moment.
			n.checkEviction(ctx, !n.up.Load())
		}
		was := n.up.Swap(err == nil)
		if err == nil {
			n.s.m.redisUp.WithLabelValues(n.name, n.role).Set(1)
			if !was {
				n.s.log.Info("redis up", "redis", n.name, "role", n.role)
				n.resync(ctx)
			}
		} else {
			n.s.m.redisUp.WithLabelValues(n.name, n.role).Set(0)
			if was {
				n.s.log.Warn("redis down", "redis", n.name, "role", n.role, "err", err)
				n.abandon()
			} else if !errors.Is(err, errNotResolved) && n.logDownOnce() {
				// Never up since the start: say why once (a wrong AUTH
				// string or CA shows here).
				n.s.log.Warn("redis unreachable", "redis", n.name, "role", n.role, "err", err)
			}
		}
		n.checked.Store(true)
		next := healthEvery
		if err != nil {
			next = healthDownEvery
		}
		t.Reset(next)
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				break wait
			case <-n.kick:
				if n.up.Load() {
					break wait // a write is slow: ask now
				}
				t.Reset(healthDownEvery)
			}
		}
	}
}

// resync subscribes every address connected here and re-reads their inboxes:
// after this Redis was unreachable, wake-ups may have been missed.
func (n *node) resync(ctx context.Context) {
	n.subs.reset()
	addrs := n.s.connectedAddrs()
	chans := make([]string, 0, len(addrs))
	for _, a := range addrs {
		chans = append(chans, n.key(wakePrefix, a))
	}
	for len(chans) > 0 {
		k := min(len(chans), 1000)
		if err := n.subs.subscribe(ctx, chans[:k]...); err != nil {
			n.s.log.Warn("resubscribe failed", "redis", n.name, "err", err)
		}
		chans = chans[k:]
	}
	n.s.wakeAll(n.idx)
}

// subscribeStart issues the subscription of addr's wake channel; the returned
// function waits for Redis to confirm it, so that an inbox read after it
// misses no wake-up.
func (n *node) subscribeStart(ctx context.Context, addr string) func(context.Context) error {
	ch := n.key(wakePrefix, addr)
	w := make(chan struct{})
	n.subMu.Lock()
	n.waiters[ch] = append(n.waiters[ch], w)
	n.subMu.Unlock()
	err := n.subs.subscribe(ctx, ch)
	n.markDown("subscribe", err)
	return func(ctx context.Context) error {
		if err == nil {
			select {
			case <-w:
				return nil
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		n.subMu.Lock()
		ws := n.waiters[ch]
		for i, x := range ws {
			if x == w {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(n.waiters, ch)
		} else {
			n.waiters[ch] = ws
		}
		n.subMu.Unlock()
		return err
	}
}

func (n *node) unsubscribe(ctx context.Context, addr string) {
	if err := n.subs.unsubscribe(ctx, n.key(wakePrefix, addr)); err != nil {
		n.s.m.redisErrors.WithLabelValues(n.name, "unsubscribe").Inc()
	}
}

func (n *node) confirm(ch string) {
	n.subMu.Lock()
	ws := n.waiters[ch]
	delete(n.waiters, ch)
	n.subMu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// receiveLoop reads one pub/sub connection's wake-ups until it is closed.
func (n *node) receiveLoop(ctx context.Context, ps *redis.PubSub) {
	lost := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, 15*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if perr := ps.Ping(pctx); perr != nil {
					lost = true
					n.markDown("pubsub", perr)
				}
				cancel()
				continue
			}
			if errors.Is(err, redis.ErrClosed) {
				return
			}
			lost = true
			n.s.m.redisErrors.WithLabelValues(n.name, "pubsub").Inc()
			n.markDown("pubsub", err)
			if n.cluster != nil {
				n.subs.rehome(ctx, ps)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" || m.Kind == "ssubscribe" {
				n.confirm(m.Channel)
			}
			if lost {
				// Reconnected and resubscribed: wake-ups published in
				// between are gone, so re-read every inbox.
				lost = false
				n.s.wakeAll(n.idx)
			}
		case *redis.Message:
			if addr, ok := n.channelAddr(m.Channel); ok {
				if nt, ok := parseNotice(m.Payload); ok {
					n.s.notice(addr, n.idx, &nt)
				} else {
					n.s.wake(addr, n.idx)
				}
			}
		}
	}
}

// batchLoop writes what was sent for this Redis, one batch at a time: an
// envelope that comes alone is written at once, and those that come while
// a write is on its way go together in the next one, so that at moderate
// rates Redis reads and answers one pipeline for several envelopes instead
// of one each.
func (n *node) batchLoop(ctx context.Context) {
	batch := make([]*sendReq, 0, 512)
	for {
		batch = batch[:0]
		select {
		case r := <-n.sendCh:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case r := <-n.sendCh:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		// A Redis whose breaker is open holds up no ack of an envelope
		// with another copy stored or being stored: its copy here is given
		// up on (what is queued behind too, at once). It is still written:
		// a Redis found down for being slow or hanging stores it late, so
		// that losing the other copy's Redis later does not lose it.
		w := batch
		if !n.up.Load() {
			w = slices.Clip(batch) // the rest in an array of its own: batch keeps its size
			for more := true; more; {
				select {
				case r := <-n.sendCh:
					w = append(w, r)
				default:
					more = false
				}
			}
			for _, r := range w {
				if r.others() {
					n.s.stored(r, n.idx, outFailed)
				}
			}
		}
		n.writeBatch(w, true)
	}
}

// slowWrite is how long a write may take before the health check is asked
// to ping its Redis: a Redis that hangs opens its breaker within about this
// plus the ping timeout (1 s), and the acks waiting for a copy there go on.
const slowWrite = 200 * time.Millisecond

// writeShard queues envelopes in one pipeline on rdb (the Redis, or the
// cluster primary storing them), then acks each one that Redis stored,
// nacks full inboxes and hands failures to the next Redis. retryScript: a
// NOSCRIPT answer loads the script and writes again; alone: one script
// call per address (see addrGroups).
func (n *node) writeShard(rdb *redis.Client, batch []*sendReq, retryScript, alone bool) {
	cfg := &n.s.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	minID := strconv.FormatInt(now.Add(-cfg.MessageTTL).UnixMilli(), 10)
	ttl := cfg.MessageTTL.Milliseconds()
	recipientCap, pairCap := cfg.storedCaps()
	// An address's envelopes go in one group, and the groups in as few
	// script calls as the Redis allows (addrGroups).
	byAddr := make(map[string]int, len(batch))
	var groups [][]*sendReq
	for _, r := range batch {
		g, ok := byAddr[r.to]
		if !ok {
			g = len(groups)
			byAddr[r.to] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], r)
	}
	pipe := rdb.Pipeline()
	calls := n.addrGroups(len(groups), alone)
	cmds := make([]*redis.Cmd, len(calls))
	callReqs := make([][]*sendReq, len(calls))
	for c, span := range calls {
		var keys []string
		args := []any{cfg.MaxInbox, minID, ttl, recipientCap, pairCap, n.s.noticeCap(), n.publishCmd(), n.s.indexed(), n.inboxKeyCount()}
		for _, rs := range groups[span[0]:span[1]] {
			keys = append(keys, n.inboxKeys(rs[0].to)...)
			args = append(args, n.key(wakePrefix, rs[0].to), len(rs))
			for _, r := range rs {
				args = append(args, r.id, r.frame, r.c.addr)
			}
			callReqs[c] = append(callReqs[c], rs...)
		}
		cmds[c] = addScript.EvalSha(ctx, pipe, keys, args...)
	}
	var wait *redis.Cmd
	if cfg.WaitReplicas > 0 {
		wait = pipe.Do(ctx, "WAIT", cfg.WaitReplicas, 1000)
	}
	n.batchMu.Lock()
	n.batchSeq++
	seq := n.batchSeq
	n.batches[seq] = batch
	n.batchMu.Unlock()
	slow := time.AfterFunc(slowWrite, n.checkSoon)
	_, err := pipe.Exec(ctx)
	slow.Stop()
	n.batchMu.Lock()
	delete(n.batches, seq)
	n.batchMu.Unlock()
	if err != nil {
		n.markDown("queue", err)
		n.topologyChanged(err)
	}
	n.s.m.batchSize.Observe(float64(len(batch)))
	replicated := true
	if wait != nil {
		got, err := wait.Int()
		replicated = err == nil && got >= cfg.WaitReplicas
	}
	var noScript, split []*sendReq
	for c, rs := range callReqs {
		vs, err := cmds[c].Int64Slice()
		if err == nil && len(vs) != len(rs) {
			err = fmt.Errorf("queue: %d outcomes for %d envelopes", len(vs), len(rs))
		}
		for i, r := range rs {
			switch {
			case err == nil:
				n.s.stored(r, n.idx, addOutcome(vs[i], replicated))
			case retryScript && strings.HasPrefix(err.Error(), "NOSCRIPT"):
				noScript = append(noScript, r)
			case strings.HasPrefix(err.Error(), "OOM "):
				n.s.m.redisErrors.WithLabelValues(n.name, "queue_oom").Inc()
				n.logOOM()
				n.s.stored(r, n.idx, outOOM)
			case calls[c][1]-calls[c][0] > 1 && replyError(err):
				split = append(split, r)
			default:
				n.s.m.redisErrors.WithLabelValues(n.name, "queue").Inc()
				n.s.stored(r, n.idx, outFailed)
			}
		}
	}
	if len(noScript) > 0 {
		if err := addScript.Load(ctx, rdb).Err(); err != nil {
			for _, r := range noScript {
				n.s.stored(r, n.idx, outFailed)
			}
		} else {
			n.writeShard(rdb, noScript, false, alone)
		}
	}
	if len(split) > 0 {
		// Another address's error: each address again on its own. (What the
		// failed call stored before the error is stored twice; the
		// recipient's dedup drops the second.)
		n.writeShard(rdb, split, retryScript, true)
	}
}

// replyError reports whether err is an error answer of Redis (a script's
// error, a key of the wrong type), not one of the connection.
func replyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// addOutcome is the outcome of addScript's answer v for one envelope.
func addOutcome(v int64, replicated bool) outcome {
	switch {
	case v == 1 && replicated:
		return outStored
	case v == 1:
		// Stored but not confirmed by replicas: unless the other copies
		// suffice, the sender retries; the duplicate is dropped by the
		// recipient's id check.
		return outNotReplicated
	case v == addOverPair:
		return outOverPair
	case v == addOverRecipient:
		return outFullBytes
	default:
		return outFull
	}
}

// logOOM says, at most once a minute, that this Redis refuses writes for
// lack of memory: sends are nacked until deliveries free room.
func (n *node) logOOM() {
	now := time.Now().UnixNano()
	last := n.oomLogged.Load()
	if now-last > int64(time.Minute) && n.oomLogged.CompareAndSwap(last, now) {
		n.s.log.Warn("redis out of memory: envelopes nacked until deliveries free room", "redis", n.name, "role", n.role)
	}
}

// delLinger is how long a delete waits for others to share its pipeline
// and script call. Nothing waits on a delete (the recipient has its
// envelope): the entries only stay that much longer in Redis, counted in
// their inbox's bounds, and a relay that dies meanwhile leaves them to be
// delivered again and dropped by the client's dedup. In exchange a Redis
// gets one call per window for every delivery ack of the instance, not
// about one per ack at moderate rates.
const delLinger = 200 * time.Millisecond

// delBatchMax bounds the delete requests (each a connection's acks) that
// share one pipeline.
const delBatchMax = 1024

func (n *node) delLoop(ctx context.Context) {
	batch := make([]delReq, 0, delBatchMax)
	linger := time.NewTimer(delLinger)
	linger.Stop()
	for {
		batch = batch[:0]
		select {
		case r := <-n.delCh:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
		linger.Reset(delLinger)
	fill:
		for len(batch) < cap(batch) {
			select {
			case r := <-n.delCh:
				batch = append(batch, r)
			case <-linger.C:
				break fill
			case <-ctx.Done():
				// Shutting down: the deletes collected so far still go.
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				n.deleteBatch(fctx, batch, true, false)
				cancel()
				return
			}
		}
		linger.Stop()
		n.deleteBatch(ctx, batch, true, false)
	}
}

// deleteBatch runs delScript in one pipeline: once for every address on a
// single Redis, once per address on a cluster or when alone (addrGroups).
func (n *node) deleteBatch(ctx context.Context, batch []delReq, retryScript, alone bool) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	byAddr := make(map[string]int, len(batch))
	var merged []delReq
	for _, r := range batch {
		k, ok := byAddr[r.addr]
		if !ok {
			k = len(merged)
			byAddr[r.addr] = k
			merged = append(merged, delReq{addr: r.addr})
		}
		merged[k].args = append(merged[k].args, r.args...)
	}
	pipe := n.rdb.Pipeline()
	calls := n.addrGroups(len(merged), alone)
	cmds := make([]*redis.Cmd, len(calls))
	for c, span := range calls {
		var keys []string
		args := []any{n.s.indexed(), n.inboxKeyCount()}
		for _, r := range merged[span[0]:span[1]] {
			keys = append(keys, n.inboxKeys(r.addr)...)
			args = append(args, len(r.args)/3)
			for _, a := range r.args {
				args = append(args, a)
			}
		}
		cmds[c] = delScript.EvalSha(dctx, pipe, keys, args...)
	}
	_, err := pipe.Exec(dctx)
	if err == nil {
		return
	}
	var noScript, split []delReq
	for c, span := range calls {
		e := cmds[c].Err()
		switch {
		case e == nil:
		case retryScript && strings.HasPrefix(e.Error(), "NOSCRIPT"):
			noScript = append(noScript, merged[span[0]:span[1]]...)
		case span[1]-span[0] > 1 && replyError(e):
			// Another address's error: each address again on its own.
			split = append(split, merged[span[0]:span[1]]...)
		}
	}
	if len(noScript) > 0 && delScript.Load(dctx, n.rdb).Err() == nil {
		n.deleteBatch(ctx, noScript, false, alone)
		if len(noScript) == len(merged) {
			return
		}
	}
	if len(split) > 0 {
		n.deleteBatch(ctx, split, retryScript, true)
		if len(split) == len(merged) {
			return
		}
	}
	// The entries stay and are delivered again on the recipient's next
	// connection; its id check drops them.
	n.s.m.redisErrors.WithLabelValues(n.name, "delete").Inc()
	n.markDown("delete", err)
}
