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
// instance, in every region, enforces the same limit.
//
// Connections: each open connection holds a lease, a member
// "<label> <lease id>" of the sorted set relay:quota:conns:<subject> scored
// by its expiry. Instances renew their leases every third of
// CONN_QUOTA_LEASE (default 60s), so the leases of a crashed instance age
// out within it. Labels: the distinct labels of an identity's live leases
// (the bare subject is no label) are at most MAX_LABELS_PER_IDENTITY; a
// connection with a label the identity already holds does not count again.
// The set lives on the identity's home Redis (quota_home.go); with none
// answering, a connection is let in uncounted: availability first, as for
// sends.
const (
	connQuotaPrefix       = "relay:quota:conns:"
	defaultConnsPerIdent  = 64
	defaultLabelsPerIdent = 16
)

// connScript takes a lease unless the subject holds ARGV[2] live ones (0
// returned) or its label would be one more than ARGV[6] labels held (2).
//
//	KEYS[1] lease set
//	ARGV: now ms, connection limit, lease expiry ms, member, set ttl ms,
//	label limit, label ("" for none); a limit of 0 is no limit
var connScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local conns, labels = tonumber(ARGV[2]), tonumber(ARGV[6])
if conns > 0 and redis.call('ZCARD', KEYS[1]) >= conns then return 0 end
if labels > 0 and ARGV[7] ~= '' then
  local held, n = {}, 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local l = string.match(m, '^([^ ]+) ')
    if l == ARGV[7] then n = -1 break end
    if l and not held[l] then held[l] = true n = n + 1 end
  end
  if n >= labels then return 2 end
end
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
	s      *Server
	limit  int // connections, 0: none
	labels int // labels, 0: none
	lease  time.Duration
	// Leases are named prefix:seq; the prefix is random so that two
	// instances never share a name, whatever their INSTANCE_ID.
	prefix string
	seq    atomic.Uint64
	mu     sync.Mutex
	held   map[*connLeaseRef]struct{}
}

func newConnQuota(s *Server) *connQuota {
	q := &connQuota{s: s, limit: max(s.cfg.MaxConnsPerIdentity, 0), labels: max(s.cfg.MaxLabelsPerIdentity, 0),
		lease: s.cfg.ConnQuotaLease, prefix: rand.Text(), held: map[*connLeaseRef]struct{}{}}
	if q.on() {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); q.renewLoop() }()
	}
	return q
}

func (q *connQuota) on() bool { return q.limit > 0 || q.labels > 0 }

// admit takes a connection lease for subject and label ("" for none). It
// returns "" and the lease (nil when uncounted), or the reason naming the
// limit that refuses it.
func (q *connQuota) admit(ctx context.Context, subject, label string) (*connLeaseRef, string) {
	if !q.on() {
		return nil, ""
	}
	n := q.s.quotaHome(subject)
	if n == nil {
		return nil, ""
	}
	now := time.Now()
	l := &connLeaseRef{key: connQuotaPrefix + subject, member: label + " " + q.prefix + ":" + strconv.FormatUint(q.seq.Add(1), 10), node: n}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ok, err := connScript.Run(ctx, n.rdb, []string{l.key}, now.UnixMilli(), q.limit,
		now.Add(q.lease).UnixMilli(), l.member, 2*q.lease.Milliseconds(), q.labels, label).Int()
	if err != nil {
		n.s.m.redisErrors.WithLabelValues(n.name, "quota").Inc()
		n.markDown("quota", err)
		return nil, ""
	}
	switch ok {
	case 0:
		q.s.m.refused.WithLabelValues("quota_connections").Inc()
		return nil, fmt.Sprintf("over quota: MAX_CONNS_PER_IDENTITY=%d connections per identity", q.limit)
	case 2:
		q.s.m.refused.WithLabelValues("quota_labels").Inc()
		return nil, fmt.Sprintf("over quota: MAX_LABELS_PER_IDENTITY=%d labels per identity", q.labels)
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
