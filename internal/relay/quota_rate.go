package relay

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
)

// Rates per identity: envelopes and bytes sent per second by one token
// subject, counted in fixed one-second windows on the identity's home Redis
// (quota_home.go) so that every instance, in every region, enforces one
// limit. Sends are checked in batches, and a steady sender's home is asked
// for allowance in chunks (see check): most batches are admitted without
// asking Redis, the others cost a share of one round trip. An envelope
// over either limit is
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
	// Allowances per identity for the current window (loop only).
	window int64
	allow  map[string]*allowance
}

func newRateQuota(s *Server) *rateQuota {
	q := &rateQuota{s: s, msgs: s.cfg.MaxMsgsPerSecPerIdentity, bytes: s.cfg.MaxBytesPerSecPerIdentity, allow: map[string]*allowance{}}
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

// allowance is what this instance may still admit for one identity in the
// current window without asking its home: what is left of its grants, which
// the home counted when it granted them.
type allowance struct {
	window            int64
	msgs, bytes       int64 // left to admit
	used, usedBytes   int64 // admitted in window
	chunk, chunkBytes int64 // asked beyond the need: a share of the last window's use
}

// rateGroup is one identity's sends in a batch, what is asked for them and
// the counters' reply.
type rateGroup struct {
	subject           string
	a                 *allowance
	reqs              []*sendReq
	bytes             int64
	askMsgs, askBytes int64
	counts            *redis.Cmd
}

// unlimited stands for a rate that is not limited.
const unlimited = int64(1) << 50

func limitOf(v int) int64 {
	if v <= 0 {
		return unlimited
	}
	return int64(v)
}

// roll moves the allowances to window now: an identity that sent in the
// previous window asks, beyond its need, for up to what it used then (at
// most a sixteenth of its limit); others are forgotten.
func (q *rateQuota) roll(now int64) {
	for subject, a := range q.allow {
		if a.window != now-1 || a.used == 0 {
			delete(q.allow, subject)
			continue
		}
		a.chunk, a.chunkBytes = min(a.used, limitOf(q.msgs)/16), min(a.usedBytes, limitOf(q.bytes)/16)
		a.window, a.msgs, a.bytes, a.used, a.usedBytes = now, 0, 0, 0, 0
	}
	q.window = now
}

// check admits a batch, identity by identity: from what is left of the
// identity's allowance for the window when it covers the identity's sends,
// else by asking the identity's home for them plus a chunk (one pipeline
// per home, the homes in parallel). A home grants what is under the limits
// and counts the whole ask, so that the identity never gets past its limit
// on any number of instances; what an instance leaves unused at the end of
// the window (at most a sixteenth of the limit) is lost to the identity.
func (q *rateQuota) check(batch []*sendReq) {
	now := time.Now().Unix()
	if now != q.window {
		q.roll(now)
	}
	groups := map[string]*rateGroup{}
	var order []*rateGroup
	for _, r := range batch {
		subject, _, _ := strings.Cut(r.c.addr, "/")
		g := groups[subject]
		if g == nil {
			a := q.allow[subject]
			if a == nil {
				a = &allowance{window: now}
				q.allow[subject] = a
			}
			g = &rateGroup{subject: subject, a: a}
			groups[subject] = g
			order = append(order, g)
		}
		g.reqs = append(g.reqs, r)
		g.bytes += int64(len(r.frame))
	}
	homes := map[*node][]*rateGroup{}
	for _, g := range order {
		if g.a.msgs < int64(len(g.reqs)) || g.a.bytes < g.bytes {
			g.askMsgs, g.askBytes = int64(len(g.reqs))+g.a.chunk, g.bytes+g.a.chunkBytes
			home := q.s.quotaHome(g.subject)
			homes[home] = append(homes[home], g)
		}
	}
	var wg sync.WaitGroup
	for n, gs := range homes {
		if n == nil {
			continue // no Redis answers: unchecked
		}
		wg.Add(1)
		go func() { defer wg.Done(); q.ask(n, gs, now, true) }()
	}
	wg.Wait()
	for _, g := range order {
		q.admit(g)
	}
}

// ask counts the groups' asks on their home n (the script by its hash,
// loaded there when missing) and leaves the reply in each group.
func (q *rateQuota) ask(n *node, gs []*rateGroup, window int64, retryScript bool) {
	ctx, cancel := context.WithTimeout(q.s.ctx, rateCheckTimeout)
	defer cancel()
	pipe := n.rdb.Pipeline()
	for _, g := range gs {
		g.counts = rateScript.EvalSha(ctx, pipe, []string{rateQuotaPrefix + g.subject}, window, g.askMsgs, g.askBytes)
	}
	_, err := pipe.Exec(ctx)
	if err != nil && retryScript && strings.HasPrefix(err.Error(), "NOSCRIPT") && rateScript.Load(ctx, n.rdb).Err() == nil {
		q.ask(n, gs, window, false)
		return
	}
	if err != nil {
		n.s.m.redisErrors.WithLabelValues(n.name, "quota").Inc()
		n.markDown("quota", err)
	}
}

// admit adds a group's grant to its allowance, then stores each send the
// allowance covers and nacks the others naming the limit. A group whose
// ask got no answer (no Redis, or an error) is stored unchecked.
func (q *rateQuota) admit(g *rateGroup) {
	a := g.a
	if g.askMsgs > 0 {
		counts, err := []int64(nil), error(nil)
		if g.counts != nil {
			counts, err = g.counts.Int64Slice()
		}
		if g.counts == nil || err != nil || len(counts) != 2 {
			for _, r := range g.reqs {
				q.s.submit(r)
			}
			return
		}
		grant := func(total, ask, limit int64) int64 { return max(0, min(ask, limit-(total-ask))) }
		a.msgs += grant(counts[0], g.askMsgs, limitOf(q.msgs))
		a.bytes += grant(counts[1], g.askBytes, limitOf(q.bytes))
	}
	for _, r := range g.reqs {
		size := int64(len(r.frame))
		switch {
		case a.msgs < 1:
			q.s.m.refused.WithLabelValues("quota_messages").Inc()
			r.c.nack(r.id, envelope.NackQuota, fmt.Sprintf("over quota: MAX_MSGS_PER_SEC_PER_IDENTITY=%d envelopes per second", q.msgs))
		case a.bytes < size:
			q.s.m.refused.WithLabelValues("quota_bytes").Inc()
			r.c.nack(r.id, envelope.NackQuota, fmt.Sprintf("over quota: MAX_BYTES_PER_SEC_PER_IDENTITY=%d bytes per second", q.bytes))
		default:
			a.msgs--
			a.bytes -= size
			a.used++
			a.usedBytes += size
			q.s.submit(r)
		}
	}
}
