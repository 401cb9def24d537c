package relay

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis Cluster (Memorystore for Redis Cluster) is one node of the relay
// like a single Redis: this region's or a peer region's. go-redis's cluster
// client routes each command by its key's slot; an address's keys share a
// hash tag (addrKey), so its scripts are single-slot and run on the shard
// holding the address. What differs from a single Redis is here: each
// envelope batch is split by primary, wake-ups use sharded pub/sub, and
// health checks ask every primary.

// eachPrimary runs f on the Redis, or on every primary of the cluster at
// once (as the client last learnt them).
func (n *node) eachPrimary(ctx context.Context, f func(context.Context, *redis.Client) error) error {
	if n.cluster == nil {
		c, err := n.single()
		if err != nil {
			return err
		}
		return f(ctx, c)
	}
	return n.cluster.ForEachMaster(ctx, f)
}

// single is the client of a Redis that is not a cluster.
func (n *node) single() (*redis.Client, error) {
	c, ok := n.rdb.(*redis.Client)
	if !ok {
		return nil, fmt.Errorf("relay: the Redis client is a %T, neither a single server's nor a cluster's", n.rdb)
	}
	return c, nil
}

// topologyChanged has the cluster client learn the slots again after an
// error that may come from a failover (a primary gone, a slot moved): the
// next writes then go to the promoted replica.
func (n *node) topologyChanged(err error) {
	if n.cluster == nil || err == nil {
		return
	}
	if unreachable(err) || strings.HasPrefix(err.Error(), "MOVED ") || strings.HasPrefix(err.Error(), "CLUSTERDOWN") ||
		strings.HasPrefix(err.Error(), "READONLY") || strings.HasPrefix(err.Error(), "TRYAGAIN") {
		n.cluster.ReloadState(context.Background())
	}
}

// writeBatch stores a batch: in one pipeline on a single Redis; on a
// cluster in one pipeline per primary, in parallel, so that each
// pipeline's WAIT (WAIT_REPLICAS) runs on the connection that wrote, as
// WAIT counts the replicas that have that connection's writes.
func (n *node) writeBatch(batch []*sendReq, retryScript bool) {
	if n.cluster == nil {
		c, err := n.single()
		if err != nil {
			n.markDown("queue", err)
			for _, r := range batch {
				n.s.stored(r, n.idx, outFailed)
			}
			return
		}
		n.writeShard(c, batch, retryScript, false)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	type shard struct {
		c     *redis.Client
		batch []*sendReq
	}
	shards := map[string]*shard{}
	for _, r := range batch {
		c, err := n.cluster.MasterForKey(ctx, n.key(inboxPrefix, r.to))
		if err != nil {
			n.markDown("queue", err)
			n.s.stored(r, n.idx, outFailed)
			continue
		}
		sh := shards[c.Options().Addr]
		if sh == nil {
			sh = &shard{c: c}
			shards[c.Options().Addr] = sh
		}
		sh.batch = append(sh.batch, r)
	}
	var wg sync.WaitGroup
	for _, sh := range shards {
		wg.Go(func() { n.writeShard(sh.c, sh.batch, retryScript, false) })
	}
	wg.Wait()
}

// publishCmd is how addScript publishes an inbox notice: PUBLISH on a
// single Redis, SPUBLISH on a cluster, where a classic PUBLISH would be
// broadcast to every node of every shard (the wake channel hashes to the
// slot of the address's keys, so the script stays on one slot).
func (n *node) publishCmd() string {
	if n.cluster == nil {
		return "PUBLISH"
	}
	return "SPUBLISH"
}

// wakeSubs are a node's subscriptions to wake channels: one pub/sub
// connection on a single Redis; on a cluster one per primary, with
// SSUBSCRIBE (sharded pub/sub, Redis 7), as a shard channel is served by
// the shard owning its slot. On a cluster a connection that fails is not
// left to go-redis's reconnection, which resubscribes every channel in one
// SSUBSCRIBE (refused: CROSSSLOT) to the node it last knew for the first
// one: rehome subscribes its channels afresh where their slots now live
// (after a failover, the promoted replica) and re-reads their inboxes.
type wakeSubs struct {
	n      *node
	single *redis.PubSub

	mu      sync.Mutex
	closed  bool
	shards  map[string]*redis.PubSub // by the primary's address when opened
	byChan  map[string]*redis.PubSub
	reading map[*redis.PubSub]bool
}

func newWakeSubs(n *node) *wakeSubs {
	w := &wakeSubs{n: n, shards: map[string]*redis.PubSub{}, byChan: map[string]*redis.PubSub{}, reading: map[*redis.PubSub]bool{}}
	if n.cluster == nil {
		w.single = n.rdb.Subscribe(context.Background())
	}
	return w
}

func (w *wakeSubs) subscribe(ctx context.Context, chans ...string) error {
	if w.single != nil {
		return w.single.Subscribe(ctx, chans...)
	}
	var first error
	for _, ch := range chans {
		ps, err := w.shardOf(ctx, ch)
		if err == nil {
			// One channel a command: SSUBSCRIBE takes channels of one slot.
			err = ps.SSubscribe(ctx, ch)
		}
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		// The reader starts after the first subscription: a connection
		// opened by a read would go to any node, not the channels' shard.
		w.mu.Lock()
		start := !w.reading[ps] && !w.closed
		w.reading[ps] = true
		w.mu.Unlock()
		if start {
			go w.n.receiveLoop(w.n.s.ctx, ps)
		}
	}
	return first
}

// shardOf is the pub/sub connection for ch: the one already holding it, or
// the one to the primary owning its slot, opened if needed.
func (w *wakeSubs) shardOf(ctx context.Context, ch string) (*redis.PubSub, error) {
	w.mu.Lock()
	ps := w.byChan[ch]
	w.mu.Unlock()
	if ps != nil {
		return ps, nil
	}
	c, err := w.n.cluster.MasterForKey(ctx, ch)
	if err != nil {
		return nil, err
	}
	addr := c.Options().Addr
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, redis.ErrClosed
	}
	ps = w.shards[addr]
	if ps == nil {
		ps = w.n.cluster.SSubscribe(context.Background())
		w.shards[addr] = ps
	}
	w.byChan[ch] = ps
	return ps, nil
}

func (w *wakeSubs) unsubscribe(ctx context.Context, ch string) error {
	if w.single != nil {
		return w.single.Unsubscribe(ctx, ch)
	}
	w.mu.Lock()
	ps := w.byChan[ch]
	delete(w.byChan, ch)
	w.mu.Unlock()
	if ps == nil {
		return nil
	}
	return ps.SUnsubscribe(ctx, ch)
}

// rehome moves the channels of ps, a cluster connection that failed, to
// the primaries now owning their slots, retrying while the cluster fails
// over, then has their connections read their inboxes: wake-ups published
// meanwhile are lost.
func (w *wakeSubs) rehome(ctx context.Context, ps *redis.PubSub) {
	w.mu.Lock()
	var chans []string
	for ch, p := range w.byChan {
		if p == ps {
			chans = append(chans, ch)
			delete(w.byChan, ch)
		}
	}
	for a, p := range w.shards {
		if p == ps {
			delete(w.shards, a)
		}
	}
	delete(w.reading, ps)
	w.mu.Unlock()
	_ = ps.Close() // a failed connection: closing only frees it
	for len(chans) > 0 {
		err := w.subscribe(ctx, chans...)
		if err == nil {
			break
		}
		w.n.cluster.ReloadState(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	for _, ch := range chans {
		if a, ok := w.n.channelAddr(ch); ok {
			w.n.s.wake(a, w.n.idx)
		}
	}
}

// reset closes a cluster's pub/sub connections and forgets their
// channels, before resync subscribes every connected address again: after
// a failover a connection may have been dialled again to a node that no
// longer owns its channels' slots (the old primary back as a replica), and
// go-redis does not report a resubscription refused with MOVED.
func (w *wakeSubs) reset() {
	if w.single != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ps := range w.shards {
		_ = ps.Close() // its reader ends; the channels are subscribed again or were wanted no more
	}
	clear(w.shards)
	clear(w.byChan)
	clear(w.reading)
}

// close closes every pub/sub connection, ending their readers.
func (w *wakeSubs) close() {
	if w.single != nil {
		_ = w.single.Close() // at shutdown: its reader ends
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for _, ps := range w.shards {
		_ = ps.Close() // its reader ends; the channels are subscribed again or were wanted no more
	}
}
