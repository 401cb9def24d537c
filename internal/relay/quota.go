package relay

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Quotas per identity (the token subject), counted in Redis so that every
// instance sharing it enforces the same limit.
//
// Connections: each open connection holds a lease, a member of the sorted
// set relay:quota:conns:<subject> scored by its expiry. Instances renew
// their leases every third of CONN_QUOTA_LEASE (default 60s), so the leases
// of a crashed instance age out within it. The count is kept on the first Redis that answers
// (this region's, a peer's while it is down); with none answering, a
// connection is let in uncounted: availability first, as for sends.
const (
	connQuotaPrefix      = "relay:quota:conns:"
	defaultConnsPerIdent = 64
)

// connScript takes a lease unless the subject holds ARGV[2] live ones.
//
//	KEYS[1] lease set
//	ARGV: now ms, limit, lease expiry ms, member, set ttl ms
var connScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// connLeaseRef is a connection's lease: where it is held.
type connLeaseRef struct {
	key, member string
	node        *node
}

// connQuota counts this instance's connections per identity in Redis.
type connQuota struct {
	s     *Server
	limit int
	lease time.Duration
	// Leases are named prefix:seq; the prefix is random so that two
	// instances never share a name, whatever their INSTANCE_ID.
	prefix string
	seq    atomic.Uint64
	mu     sync.Mutex
	held   map[*connLeaseRef]struct{}
}

func newConnQuota(s *Server) *connQuota {
	q := &connQuota{s: s, limit: s.cfg.MaxConnsPerIdentity, lease: s.cfg.ConnQuotaLease, prefix: rand.Text(), held: map[*connLeaseRef]struct{}{}}
	if q.limit > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); q.renewLoop() }()
	}
	return q
}

// admit takes a connection lease for subject. It returns "" and the lease
// (nil when uncounted), or the reason naming the limit that refuses it.
func (q *connQuota) admit(ctx context.Context, subject string) (*connLeaseRef, string) {
	if q.limit <= 0 {
		return nil, ""
	}
	n := q.s.firstUp()
	if n == nil {
		return nil, ""
	}
	now := time.Now()
	l := &connLeaseRef{key: connQuotaPrefix + subject, member: q.prefix + ":" + strconv.FormatUint(q.seq.Add(1), 10), node: n}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ok, err := connScript.Run(ctx, n.rdb, []string{l.key}, now.UnixMilli(), q.limit,
		now.Add(q.lease).UnixMilli(), l.member, 2*q.lease.Milliseconds()).Int()
	if err != nil {
		n.s.m.redisErrors.WithLabelValues(n.name, "quota").Inc()
		n.markDown("quota", err)
		return nil, ""
	}
	if ok == 0 {
		q.s.m.refused.WithLabelValues("quota_connections").Inc()
		return nil, fmt.Sprintf("over quota: MAX_CONNS_PER_IDENTITY=%d connections per identity", q.limit)
	}
	q.mu.Lock()
	q.held[l] = struct{}{}
	q.mu.Unlock()
	return l, ""
}

// release gives a lease back when its connection closes.
func (q *connQuota) release(l *connLeaseRef) {
	if l == nil {
		return
	}
	q.mu.Lock()
	delete(q.held, l)
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(q.s.ctx, 2*time.Second)
	defer cancel()
	l.node.rdb.ZRem(ctx, l.key, l.member) // failing, it expires
}

// renewLoop extends the leases of this instance's open connections, one
// pipeline per Redis.
func (q *connQuota) renewLoop() {
	t := time.NewTicker(q.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-q.s.ctx.Done():
			return
		case <-t.C:
		}
		expiry := time.Now().Add(q.lease).UnixMilli()
		pipes := map[*node]redis.Pipeliner{}
		q.mu.Lock()
		for l := range q.held {
			p := pipes[l.node]
			if p == nil {
				p = l.node.rdb.Pipeline()
				pipes[l.node] = p
			}
			p.ZAddXX(q.s.ctx, l.key, redis.Z{Score: float64(expiry), Member: l.member})
			p.PExpire(q.s.ctx, l.key, 2*q.lease)
		}
		q.mu.Unlock()
		for n, p := range pipes {
			ctx, cancel := context.WithTimeout(q.s.ctx, 5*time.Second)
			if _, err := p.Exec(ctx); err != nil {
				n.s.m.redisErrors.WithLabelValues(n.name, "quota").Inc()
			}
			cancel()
		}
	}
}

// firstUp is the first Redis that answers: this region's, else a peer's.
func (s *Server) firstUp() *node {
	for _, n := range s.nodes {
		if n.up.Load() {
			return n
		}
	}
	return nil
}
