package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

// addScript queues a batch of envelopes for one address, each unless the
// inbox is full: MAX_INBOX entries (0), or, when its bytes are counted
// (KEYS[3] given), its bytes at the recipient's or the pair's cap
// (addOverRecipient, addOverPair; quota_stored.go); it returns one outcome
// per envelope, 1 when stored. Entries older than the TTL are trimmed:
// counted, when a limit is reached, one by one and uncounted (at most 1000
// per call: a backlog goes over the next calls), so that entries are only
// ever removed with their bytes; not counted, as XADD's approximate MINID
// trim. The keys expire a TTL after the last write. The index cannot see
// entries trimmed or expired out of the stream: it is dropped when it grows
// past twice the inbox bound (copies elsewhere then stay until the
// recipient's dedup drops their redelivery, or they expire).
//
// It then publishes the notice of what it stored on the wake channel (see
// inbox_notice.go): the id of the stream's last entry before the batch, so
// that a recipient whose cursor is there or past it knows it misses nothing,
// and the entries themselves, so that it delivers them without reading the
// stream; an empty message (a plain wake-up) when they are larger than the
// notice's cap. From inside the script, so that notices reach subscribers
// in stream order.
//
//	KEYS[1] inbox, KEYS[2] index, KEYS[3] stored bytes (optional)
//	ARGV: max entries, min id (now - ttl), ttl ms, recipient cap, pair cap
//	(0: none), wake channel, notice cap (bytes of frames), the publish
//	command (publishCmd), indexed ("1": keep the index, see indexed), then
//	for each envelope its id, frame and sender
var addScript = redis.NewScript(storedLua + `
local max, rcap, pcap = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
local indexed = ARGV[9] == '1'
local prev = '0-0'
if redis.call('XLEN', KEYS[1]) > 0 then
  prev = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1][1]
end
-- take counts an envelope in, unless that puts the inbox over a limit:
-- then it leaves the counts as they were and says which.
local function take(c, pf)
  if redis.call('XLEN', KEYS[1]) >= max then return 0 end
  local p = redis.call('HINCRBY', KEYS[3], pf, c)
  if pcap > 0 and p > pcap then
    redis.call('HINCRBY', KEYS[3], pf, -c)
    return 3
  end
  local t = redis.call('HINCRBY', KEYS[3], 't', c)
  if rcap > 0 and t > rcap then
    redis.call('HINCRBY', KEYS[3], 't', -c)
    redis.call('HINCRBY', KEYS[3], pf, -c)
    return 2
  end
end
local function add(id, frame, sender)
  if KEYS[3] then
    local c, pf = charge(frame), pairField(sender)
    local o = take(c, pf)
    if o then
      local old = redis.call('XRANGE', KEYS[1], '-', '(' .. ARGV[2], 'COUNT', 1000)
      if #old == 0 then return o end
      local t, ids = {}, {}
      for _, e in ipairs(old) do tally(t, e) ids[#ids+1] = e[1] end
      redis.call('XDEL', KEYS[1], unpack(ids))
      uncount(KEYS[3], t)
      o = take(c, pf)
      if o then return o end
    end
    return redis.call('XADD', KEYS[1], '*', 'i', id, 'f', frame, 's', sender)
  end
  if redis.call('XLEN', KEYS[1]) >= max then
    redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
    if redis.call('XLEN', KEYS[1]) >= max then return 0 end
  end
  return redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[2], '*', 'i', id, 'f', frame, 's', sender)
end
if indexed and redis.call('HLEN', KEYS[2]) >= 2 * max then
  redis.call('DEL', KEYS[2])
end
local out, index, notice, room, stored = {}, {}, {prev}, tonumber(ARGV[7]), false
for k = 10, #ARGV, 3 do
  local id, frame, sender = ARGV[k], ARGV[k+1], ARGV[k+2]
  local sid = add(id, frame, sender)
  if type(sid) == 'number' then
    out[#out+1] = sid
  else
    out[#out+1] = 1
    if indexed then
      local field = sender .. '\n' .. id
      local old = index[field] or redis.call('HGET', KEYS[2], field)
      if old then index[field] = old .. ',' .. sid else index[field] = sid end
    end
    stored = true
    room = room - #frame
    if room >= 0 then
      notice[#notice+1] = string.format('%s\n%s\n%s\n%d\n', sid, id, sender, #frame) .. frame
    end
  end
end
if stored then
  if indexed then
    local hset = {'HSET', KEYS[2]}
    for field, sid in pairs(index) do hset[#hset+1] = field hset[#hset+1] = sid end
    redis.call(unpack(hset))
  end
  for i, k in ipairs(KEYS) do
    if i ~= 2 or indexed then redis.call('PEXPIRE', k, ARGV[3]) end
  end
  if room >= 0 then
    redis.call(ARGV[8], ARGV[6], table.concat(notice, '\n'))
  else
    redis.call(ARGV[8], ARGV[6], '')
  end
end
return out
`)

// delScript deletes delivered envelopes, uncounting their bytes when they
// are counted (KEYS[3] given): the entries read from this Redis by stream
// id, and every other entry the index lists for the envelope. An entry read
// from here is uncounted by the frame length the relay read with it, the
// others by their frame read in the script; either only if the entry was
// still there.
//
//	KEYS[1] inbox, KEYS[2] index, KEYS[3] stored bytes (optional)
//	ARGV: indexed ("1": delete through the index too), then triples of index field ("sender\nid", or "" for an entry without
//	a sender), stream id ("" when the envelope was not read from this
//	Redis) and frame length (of the entry read)
var delScript = redis.NewScript(storedLua + `
local n, t, others, seen = 0, {}, {}, {}
local indexed = ARGV[1] == '1'
for i = 2, #ARGV, 3 do
  local field, sid = ARGV[i], ARGV[i+1]
  if sid ~= '' and not seen[sid] then
    seen[sid] = true
    if redis.call('XDEL', KEYS[1], sid) == 1 then
      n = n + 1
      if KEYS[3] then tallyLen(t, tonumber(ARGV[i+2]), field:match('^[^\n]*')) end
    end
  end
  if indexed and field ~= '' then
    local v = redis.call('HGET', KEYS[2], field)
    if v then
      for id in string.gmatch(v, '[^,]+') do others[#others+1] = id end
      redis.call('HDEL', KEYS[2], field)
    end
  end
end
-- Copies found through the index (peer copies, resends) are rarer: their
-- frame and sender are read here to say what they count.
local ids = {}
for _, id in ipairs(others) do
  if not seen[id] then
    seen[id] = true
    if KEYS[3] then
      local e = redis.call('XRANGE', KEYS[1], id, id)[1]
      if e then tally(t, e) end
    end
    ids[#ids+1] = id
  end
end
for i = 1, #ids, 500 do
  n = n + redis.call('XDEL', KEYS[1], unpack(ids, i, math.min(i + 499, #ids)))
end
if KEYS[3] then uncount(KEYS[3], t) end
return n
`)

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
	up      atomic.Bool   // the circuit breaker, see markDown
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
	fs := []func(context.Context){n.batchLoop, n.batchLoop, n.delLoop, n.healthLoop}
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
		// A Redis whose breaker is open gets only the envelopes that have
		// no other copy stored or being stored.
		if !n.up.Load() {
			k := 0
			for _, r := range batch {
				if r.others() {
					n.s.stored(r, n.idx, outFailed)
				} else {
					batch[k] = r
					k++
				}
			}
			batch = batch[:k]
			if k == 0 {
				continue
			}
		}
		n.writeBatch(batch, true)
	}
}

// slowWrite is how long a write may take before the health check is asked
// to ping its Redis: a Redis that hangs opens its breaker within about this
// plus the ping timeout (1 s), and the acks waiting for a copy there go on.
const slowWrite = 200 * time.Millisecond

// writeShard queues envelopes in one pipeline on rdb (the Redis, or the
// cluster primary storing them), then acks each one that Redis stored,
// nacks full inboxes and hands failures to the next Redis.
func (n *node) writeShard(rdb *redis.Client, batch []*sendReq, retryScript bool) {
	cfg := &n.s.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	minID := strconv.FormatInt(now.Add(-cfg.MessageTTL).UnixMilli(), 10)
	ttl := cfg.MessageTTL.Milliseconds()
	recipientCap, pairCap := cfg.storedCaps()
	// One script call per recipient address: its envelopes in one go.
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
	cmds := make([]*redis.Cmd, len(groups))
	for g, rs := range groups {
		args := make([]any, 0, 9+3*len(rs))
		args = append(args, cfg.MaxInbox, minID, ttl, recipientCap, pairCap, n.key(wakePrefix, rs[0].to), n.s.noticeCap(), n.publishCmd(), n.s.indexed())
		for _, r := range rs {
			args = append(args, r.id, r.frame, r.c.addr)
		}
		cmds[g] = addScript.EvalSha(ctx, pipe, n.inboxKeys(rs[0].to), args...)
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
	var noScript []*sendReq
	for g, rs := range groups {
		vs, err := cmds[g].Int64Slice()
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
			n.writeShard(rdb, noScript, false)
		}
	}
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
// and script calls. Nothing waits on a delete (the recipient has its
// envelope), so a few milliseconds cost nothing and spare Redis a round
// trip per delivery ack at moderate rates.
const delLinger = 20 * time.Millisecond

func (n *node) delLoop(ctx context.Context) {
	batch := make([]delReq, 0, 256)
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
				n.deleteBatch(fctx, batch, true)
				cancel()
				return
			}
		}
		linger.Stop()
		n.deleteBatch(ctx, batch, true)
	}
}

// deleteBatch runs delScript once per address in one pipeline.
func (n *node) deleteBatch(ctx context.Context, batch []delReq, retryScript bool) {
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
	cmds := make([]*redis.Cmd, len(merged))
	for i, r := range merged {
		args := make([]any, 0, 1+len(r.args))
		args = append(args, n.s.indexed())
		for _, a := range r.args {
			args = append(args, a)
		}
		cmds[i] = delScript.EvalSha(dctx, pipe, n.inboxKeys(r.addr), args...)
	}
	_, err := pipe.Exec(dctx)
	if err == nil {
		return
	}
	var noScript []delReq
	for i, r := range merged {
		if e := cmds[i].Err(); e != nil && retryScript && strings.HasPrefix(e.Error(), "NOSCRIPT") {
			noScript = append(noScript, r)
		}
	}
	if len(noScript) > 0 && delScript.Load(dctx, n.rdb).Err() == nil {
		n.deleteBatch(ctx, noScript, false)
		if len(noScript) == len(merged) {
			return
		}
	}
	// The entries stay and are delivered again on the recipient's next
	// connection; its id check drops them.
	n.s.m.redisErrors.WithLabelValues(n.name, "delete").Inc()
	n.markDown("delete", err)
}
