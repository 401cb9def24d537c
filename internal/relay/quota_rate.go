package relay

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
)

// Rates per identity: envelopes and bytes sent per second by one token
// subject, counted in fixed one-second windows on the identity's home Redis
// (quota_home.go) so that every instance, in every region, enforces one
// limit. Sends are checked in batches: one
// pipeline per batch (a script call per subject), so the cost per envelope
// is a share of one round trip. An envelope over either limit is
// nacked (NackQuota, retryable) naming it; other identities' envelopes are
// neither delayed by it nor refused. With no Redis answering, sends go on
// unchecked (availability first).
const (
	rateQuotaPrefix  = "relay:quota:rate:"
	defaultMsgRate   = 1000    // envelopes per second per identity
	defaultByteRate  = 8 << 20 // bytes per second per identity
	rateBatchMax     = 1024
	rateCheckTimeout = 2 * time.Second
)

// rateScript adds to the current window's counts of one identity and
// returns them. One hash per identity, reset when the window changes and
// kept while the identity sends: keys expiring every second would free
// memory on a full Redis and let writes in past its maxmemory.
//
//	KEYS[1] counters; ARGV: window (unix second), envelopes, bytes
var rateScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'w') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'w', ARGV[1], 'n', 0, 'b', 0)
end
local n = redis.call('HINCRBY', KEYS[1], 'n', ARGV[2])
local b = redis.call('HINCRBY', KEYS[1], 'b', ARGV[3])
redis.call('PEXPIRE', KEYS[1], 10000)
return {n, b}
`)

// rateQuota checks sends against the rates of their sender's identity.
type rateQuota struct {
	s           *Server
	msgs, bytes int
	ch          chan *sendReq
}

func newRateQuota(s *Server) *rateQuota {
	q := &rateQuota{s: s, msgs: s.cfg.MaxMsgsPerSecPerIdentity, bytes: s.cfg.MaxBytesPerSecPerIdentity}
	if q.on() {
		q.ch = make(chan *sendReq, rateBatchMax)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); q.loop() }()
	}
	return q
}

func (q *rateQuota) on() bool { return q.msgs > 0 || q.bytes > 0 }

// submit stores r once its identity's rates allow it.
func (q *rateQuota) submit(r *sendReq) {
	if !q.on() {
		q.s.submit(r)
		return
	}
	select {
	case q.ch <- r:
	case <-r.c.ctx.Done():
	}
}

func (q *rateQuota) loop() {
	batch := make([]*sendReq, 0, rateBatchMax)
	for {
		select {
		case <-q.s.ctx.Done():
			return
		case r := <-q.ch:
			batch = append(batch[:0], r)
		}
	fill:
		for len(batch) < rateBatchMax {
			select {
			case r := <-q.ch:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		q.check(batch)
	}
}

// rateGroup is one identity's sends in a batch and its counters' replies.
type rateGroup struct {
	subject string
	reqs    []*sendReq
	bytes   int64
	counts  *redis.Cmd
}

// check counts a batch on its identities' home Redis, one pipeline per
// home, the homes in parallel, and stores or nacks each send.
func (q *rateQuota) check(batch []*sendReq) {
	groups := map[string]*rateGroup{}
	homes := map[*node][]*rateGroup{}
	for _, r := range batch {
		subject, _, _ := strings.Cut(r.c.addr, "/")
		g := groups[subject]
		if g == nil {
			g = &rateGroup{subject: subject}
			groups[subject] = g
			home := q.s.quotaHome(subject)
			homes[home] = append(homes[home], g)
		}
		g.reqs = append(g.reqs, r)
		g.bytes += int64(len(r.frame))
	}
	var wg sync.WaitGroup
	for n, gs := range homes {
		if n == nil {
			q.pass(gs) // no Redis answers: unchecked
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); q.checkOn(n, gs, true) }()
	}
	wg.Wait()
}

// pass stores the groups' sends unchecked.
func (q *rateQuota) pass(gs []*rateGroup) {
	for _, g := range gs {
		for _, r := range g.reqs {
			q.s.submit(r)
		}
	}
}

// checkOn counts groups on their home n (the script by its hash, loaded
// there when missing).
func (q *rateQuota) checkOn(n *node, gs []*rateGroup, retryScript bool) {
	window := strconv.FormatInt(time.Now().Unix(), 10)
	ctx, cancel := context.WithTimeout(q.s.ctx, rateCheckTimeout)
	defer cancel()
	pipe := n.rdb.Pipeline()
	for _, g := range gs {
		g.counts = rateScript.EvalSha(ctx, pipe, []string{rateQuotaPrefix + g.subject}, window, len(g.reqs), g.bytes)
	}
	_, err := pipe.Exec(ctx)
	if err != nil && retryScript && strings.HasPrefix(err.Error(), "NOSCRIPT") && rateScript.Load(ctx, n.rdb).Err() == nil {
		q.checkOn(n, gs, false)
		return
	}
	if err != nil {
		n.s.m.redisErrors.WithLabelValues(n.name, "quota").Inc()
		n.markDown("quota", err)
		q.pass(gs)
		return
	}
	for _, g := range gs {
		counts, _ := g.counts.Int64Slice()
		if len(counts) != 2 {
			counts = []int64{int64(len(g.reqs)), g.bytes}
		}
		msgs := counts[0] - int64(len(g.reqs))
		bytes := counts[1] - g.bytes
		for _, r := range g.reqs {
			msgs++
			bytes += int64(len(r.frame))
			switch {
			case q.msgs > 0 && msgs > int64(q.msgs):
				q.s.m.refused.WithLabelValues("quota_messages").Inc()
				r.c.nack(r.id, envelope.NackQuota, fmt.Sprintf("over quota: MAX_MSGS_PER_SEC_PER_IDENTITY=%d envelopes per second", q.msgs))
			case q.bytes > 0 && bytes > int64(q.bytes):
				q.s.m.refused.WithLabelValues("quota_bytes").Inc()
				r.c.nack(r.id, envelope.NackQuota, fmt.Sprintf("over quota: MAX_BYTES_PER_SEC_PER_IDENTITY=%d bytes per second", q.bytes))
			default:
				q.s.submit(r)
			}
		}
	}
}
