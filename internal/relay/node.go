package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
)

// Redis layout. Each address has an inbox stream in each Redis its senders
// wrote to; entries hold the envelope id ("i") and the deliver frame ("f",
// header plus ciphertext). A PUBLISH on the address's wake channel tells the
// instances holding a connection for it to read the stream.
const (
	inboxPrefix = "relay:inbox:"
	wakePrefix  = "relay:wake:"
	instPrefix  = "relay:instance:"
)

// addScript queues one envelope unless the inbox is full. Entries older than
// the TTL are trimmed; the key expires a TTL after the last write.
//
//	KEYS[1] inbox; ARGV: max entries, min id (now - ttl), envelope id, frame, ttl ms
var addScript = redis.NewScript(`
local n = redis.call('XLEN', KEYS[1])
if n >= tonumber(ARGV[1]) then
  redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
  n = redis.call('XLEN', KEYS[1])
  if n >= tonumber(ARGV[1]) then return 0 end
end
redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[2], '*', 'i', ARGV[3], 'f', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

type sendReq struct {
	c     *conn
	id    string
	to    string
	frame []byte
	start time.Time
	tried uint64 // nodes already tried, by index
}

type delReq struct {
	key string
	ids []string
}

// node is one Redis: this region's (index 0) or a peer region's.
type node struct {
	s      *Server
	idx    int
	role   string
	addr   string
	rdb    *redis.Client
	ps     *redis.PubSub
	sendCh chan *sendReq
	delCh  chan delReq
	up     atomic.Bool   // the circuit breaker, see markDown
	kick   chan struct{} // tells healthLoop the breaker just opened

	subMu   sync.Mutex
	waiters map[string][]chan struct{}
}

func newNode(s *Server, idx int, addr string) *node {
	role := "local"
	if idx > 0 {
		role = "peer"
	}
	n := &node{
		s: s, idx: idx, role: role, addr: addr,
		sendCh:  make(chan *sendReq, 8192),
		delCh:   make(chan delReq, 8192),
		kick:    make(chan struct{}, 1),
		waiters: map[string][]chan struct{}{},
	}
	n.rdb = redis.NewClient(&redis.Options{
		Addr:         addr,
		Password:     s.cfg.RedisPassword,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
		PoolSize:     32,
		MaxRetries:   1,
		// One dial per attempt: a refused connection fails at once instead
		// of after go-redis's dial retries (5, 100 ms apart). The relay
		// handles an unreachable Redis itself (markDown, healthLoop).
		DialerRetries: 1,
		// The contexts' deadlines bound each call (a ping 1 s), not only
		// ReadTimeout: a Redis that stopped answering is found in a second.
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
	})
	n.ps = n.rdb.Subscribe(context.Background())
	return n
}

func (n *node) start(ctx context.Context, wg *sync.WaitGroup) {
	for _, f := range []func(context.Context){n.batchLoop, n.batchLoop, n.delLoop, n.receiveLoop, n.healthLoop} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
}

func (n *node) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return n.rdb.Ping(ctx).Err()
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
		n.s.m.redisUp.WithLabelValues(n.addr, n.role).Set(0)
		n.s.log.Warn("redis down", "redis", n.addr, "role", n.role, "op", op, "err", err)
		select {
		case n.kick <- struct{}{}:
		default:
		}
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

func (n *node) healthLoop(ctx context.Context) {
	t := time.NewTimer(healthEvery)
	defer t.Stop()
	for {
		err := n.ping(ctx)
		if ctx.Err() != nil {
			return
		}
		was := n.up.Swap(err == nil)
		if err == nil {
			n.s.m.redisUp.WithLabelValues(n.addr, n.role).Set(1)
			if !was {
				n.s.log.Info("redis up", "redis", n.addr, "role", n.role)
				n.resync(ctx)
			}
		} else {
			n.s.m.redisUp.WithLabelValues(n.addr, n.role).Set(0)
			if was {
				n.s.log.Warn("redis down", "redis", n.addr, "role", n.role, "err", err)
			}
		}
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
				t.Reset(healthDownEvery)
			}
		}
	}
}

// resync subscribes every address connected here and re-reads their inboxes:
// after this Redis was unreachable, wake-ups may have been missed.
func (n *node) resync(ctx context.Context) {
	addrs := n.s.connectedAddrs()
	chans := make([]string, 0, len(addrs))
	for _, a := range addrs {
		chans = append(chans, wakePrefix+a)
	}
	for len(chans) > 0 {
		k := min(len(chans), 1000)
		if err := n.ps.Subscribe(ctx, chans[:k]...); err != nil {
			n.s.log.Warn("resubscribe failed", "redis", n.addr, "err", err)
		}
		chans = chans[k:]
	}
	n.s.wakeAll(n.idx)
}

// subscribeStart issues the subscription of addr's wake channel; the returned
// function waits for Redis to confirm it, so that an inbox read after it
// misses no wake-up.
func (n *node) subscribeStart(ctx context.Context, addr string) func(context.Context) error {
	ch := wakePrefix + addr
	w := make(chan struct{})
	n.subMu.Lock()
	n.waiters[ch] = append(n.waiters[ch], w)
	n.subMu.Unlock()
	err := n.ps.Subscribe(ctx, ch)
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
	if err := n.ps.Unsubscribe(ctx, wakePrefix+addr); err != nil {
		n.s.m.redisErrors.WithLabelValues(n.addr, "unsubscribe").Inc()
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

func (n *node) receiveLoop(ctx context.Context) {
	// Subscribe to the instance channel so the pub/sub connection is always
	// in subscribe mode and ready for per-address channels. (Here rather
	// than in start, so that a Redis that does not answer does not hold up
	// the relay's start.)
	_ = n.ps.Subscribe(ctx, instPrefix+n.s.cfg.InstanceID)
	lost := false
	for {
		msg, err := n.ps.ReceiveTimeout(ctx, 15*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if perr := n.ps.Ping(pctx); perr != nil {
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
			n.s.m.redisErrors.WithLabelValues(n.addr, "pubsub").Inc()
			n.markDown("pubsub", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				n.confirm(m.Channel)
			}
			if lost {
				// Reconnected and resubscribed: wake-ups published in
				// between are gone, so re-read every inbox.
				lost = false
				n.s.wakeAll(n.idx)
			}
		case *redis.Message:
			if strings.HasPrefix(m.Channel, wakePrefix) {
				n.s.wake(m.Channel[len(wakePrefix):], n.idx)
			}
		}
	}
}

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
		n.writeBatch(batch, true)
	}
}

// writeBatch queues envelopes in one pipeline, then acks each one that Redis
// stored, nacks full inboxes and hands failures to the next Redis.
func (n *node) writeBatch(batch []*sendReq, retryScript bool) {
	cfg := &n.s.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	minID := strconv.FormatInt(now.Add(-cfg.MessageTTL).UnixMilli(), 10)
	ttl := cfg.MessageTTL.Milliseconds()
	pipe := n.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	woken := make(map[string]struct{}, len(batch))
	for i, r := range batch {
		cmds[i] = addScript.EvalSha(ctx, pipe, []string{inboxPrefix + r.to}, cfg.MaxInbox, minID, r.id, r.frame, ttl)
	}
	for _, r := range batch {
		if _, ok := woken[r.to]; !ok {
			woken[r.to] = struct{}{}
			pipe.Publish(ctx, wakePrefix+r.to, "")
		}
	}
	var wait *redis.Cmd
	if cfg.WaitReplicas > 0 {
		wait = pipe.Do(ctx, "WAIT", cfg.WaitReplicas, 1000)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		n.markDown("queue", err)
	}
	n.s.m.batchSize.Observe(float64(len(batch)))
	replicated := true
	if wait != nil {
		got, err := wait.Int()
		replicated = err == nil && got >= cfg.WaitReplicas
	}
	var noScript, failed []*sendReq
	for i, r := range batch {
		v, err := cmds[i].Int64()
		switch {
		case err == nil && v == 1 && replicated:
			n.s.m.acceptLatency.Observe(time.Since(r.start).Seconds())
			n.s.m.accepted.Inc()
			r.c.ack(r.id)
		case err == nil && v == 1:
			// Stored but not confirmed by replicas: let the sender retry;
			// the duplicate is dropped by the recipient's id check.
			r.c.nack(r.id, envelope.NackUnavailable, "not replicated")
		case err == nil:
			n.s.m.refused.WithLabelValues("inbox_full").Inc()
			r.c.nack(r.id, envelope.NackInboxFull, "recipient inbox full")
		case retryScript && strings.HasPrefix(err.Error(), "NOSCRIPT"):
			noScript = append(noScript, r)
		default:
			n.s.m.redisErrors.WithLabelValues(n.addr, "queue").Inc()
			failed = append(failed, r)
		}
	}
	if len(noScript) > 0 {
		if err := addScript.Load(ctx, n.rdb).Err(); err != nil {
			failed = append(failed, noScript...)
		} else {
			n.writeBatch(noScript, false)
		}
	}
	for _, r := range failed {
		r.tried |= 1 << n.idx
		n.s.failover(r)
	}
}

func (n *node) delLoop(ctx context.Context) {
	batch := make([]delReq, 0, 256)
	for {
		batch = batch[:0]
		select {
		case r := <-n.delCh:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case r := <-n.delCh:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pipe := n.rdb.Pipeline()
		for _, r := range batch {
			pipe.XDel(dctx, r.key, r.ids...)
		}
		if _, err := pipe.Exec(dctx); err != nil {
			// The entries stay and are delivered again on the recipient's
			// next connection; its id check drops them.
			n.s.m.redisErrors.WithLabelValues(n.addr, "delete").Inc()
			n.markDown("delete", err)
		}
		cancel()
	}
}

// readInbox reads up to count entries after cursor ("" for the start).
func (n *node) readInbox(ctx context.Context, addr, cursor string, count int) ([]redis.XMessage, error) {
	start := "-"
	if cursor != "" {
		start = "(" + cursor
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	entries, err := n.rdb.XRangeN(ctx, inboxPrefix+addr, start, "+", int64(count)).Result()
	n.markDown("read", err)
	return entries, err
}
