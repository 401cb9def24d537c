package drill

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/rediscluster"
	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
)

// The drill of a region whose Redis is a Redis Cluster: a shard's primary
// killed under traffic, its replica promoted by the cluster itself.

// clusterSlots is Redis Cluster's hash slot count.
const clusterSlots = 16384

// cluster reads a region's cluster as localcloud shows it: every node with
// its shard and role.
func (r *run) cluster(region string) (rediscluster.ClusterStatus, error) {
	ctx, cancel := r.env.lc.ctx()
	defer cancel()
	all, err := r.env.lc.admin.Clusters(ctx)
	if err != nil {
		return rediscluster.ClusterStatus{}, err
	}
	for _, c := range all {
		if c.Name == clusterID(region) {
			return c, nil
		}
	}
	return rediscluster.ClusterStatus{}, errors.New(clusterID(region) + " not found")
}

// shardCount is the number of shards of c (each has a slot range, whether
// its nodes are up or not).
func shardCount(c rediscluster.ClusterStatus) int {
	n := 0
	for _, node := range c.Nodes {
		n = max(n, node.Shard+1)
	}
	return n
}

// clusterClient connects to region's cluster as a client does (the
// discovery endpoint, then every node CLUSTER SLOTS names), with the TLS
// and authentication the clusters API gives.
func (e *Env) clusterClient(ctx context.Context, region string) (*goredis.ClusterClient, error) {
	// The drill reaches a cluster as an operator does on localcloud, with the
	// access token its admin endpoint gives (relays take theirs from the
	// metadata server).
	id := clusterID(region)
	res := *e.redis
	res.IAMToken = func(ctx context.Context) (string, error) { return e.lc.admin.ClusterToken(ctx, id) }
	t, err := res.Resolve(ctx, id)
	if err != nil {
		return nil, err
	}
	o, err := t.ClusterOptions(ctx)
	if err != nil {
		return nil, err
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	o.MaxRedirects, o.MaxRetries = 1, -1 // the callers poll
	return goredis.NewClusterClient(o), nil
}

// busiestShard picks the shard of region's cluster that holds the inboxes
// of the most receivers of the pairs sending from region: a relay stores
// every envelope it accepts in its own region's Redis, so killing that
// shard's primary stops stores the drill watches. It returns the shard, the
// inbox keys there, and which pairs they are.
func (r *run) busiestShard(ctx context.Context, region string) (int, []string, string, error) {
	c, err := r.cluster(region)
	if err != nil {
		return 0, nil, "", err
	}
	shards := shardCount(c)
	if shards == 0 {
		return 0, nil, "", fmt.Errorf("%s has no shard serving", c.Name)
	}
	rc, err := r.env.clusterClient(ctx, region)
	if err != nil {
		return 0, nil, "", err
	}
	defer rc.Close()
	// localcloud forms shard i from slot i × 16384 / shards on (its
	// rediscluster package): the shard of a slot follows.
	keys, names := make([][]string, shards), make([][]string, shards)
	for _, p := range r.traffic.pairs {
		if p.from != region {
			continue
		}
		key := relay.AddressKey(true, "relay:inbox:", p.toAddr)
		slot, err := rc.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			return 0, nil, "", fmt.Errorf("CLUSTER KEYSLOT on %s: %w", c.Name, err)
		}
		i := 0
		for i+1 < shards && int(slot) >= (i+1)*clusterSlots/shards {
			i++
		}
		keys[i], names[i] = append(keys[i], key), append(names[i], p.name())
	}
	best := 0
	for i := range keys {
		if len(keys[i]) > len(keys[best]) {
			best = i
		}
	}
	if len(keys[best]) == 0 {
		return 0, nil, "", fmt.Errorf("no pair sends from %s", region)
	}
	return best, keys[best], fmt.Sprintf("shard %d of %d holds the inboxes of %s (sent from %s)", best, shards,
		strings.Join(names[best], ", "), region), nil
}

// storeWatch finds when the relay stores again in inboxes of a shard that
// lost its primary: the first stream id generated there after the kill
// (stream ids are the storing server's milliseconds, and the promoted
// replica goes on from the ids its primary replicated). Deliveries delete
// entries, never the last generated id.
type storeWatch struct {
	killed atomic.Int64 // unix ms once the primary is dead; 0 before
	at     time.Time    // zero until a store after the kill is seen
	done   chan struct{}
	cancel context.CancelFunc
}

// watchStores polls keys' last generated ids until one is later than the
// kill (killedAt), or timeout.
func (r *run) watchStores(ctx context.Context, region string, keys []string, timeout time.Duration) (*storeWatch, error) {
	rc, err := r.env.clusterClient(ctx, region)
	if err != nil {
		return nil, err
	}
	w := &storeWatch{done: make(chan struct{})}
	wctx, cancel := context.WithTimeout(context.Background(), timeout)
	w.cancel = cancel
	go func() {
		defer close(w.done)
		defer rc.Close()
		for wctx.Err() == nil {
			for _, k := range keys {
				// A node killed behind its gate may hold a call: each one
				// gets a short deadline, and an error reloads the slots.
				cctx, cancel := context.WithTimeout(wctx, 300*time.Millisecond)
				info, err := rc.XInfoStream(cctx, k).Result()
				cancel()
				if err != nil {
					rc.ReloadState(wctx)
					continue
				}
				ms, _, _ := strings.Cut(info.LastGeneratedID, "-")
				if at, perr := strconv.ParseInt(ms, 10, 64); perr == nil && w.killed.Load() > 0 && at > w.killed.Load() {
					w.at = time.UnixMilli(at)
					return
				}
			}
			sleep(wctx, 20*time.Millisecond)
		}
	}()
	return w, nil
}

// killedAt says the primary is dead from t on.
func (w *storeWatch) killedAt(t time.Time) { w.killed.Store(t.UnixMilli()) }

// storedAgain returns the kill and the first store after it (zero: none
// within the watch).
func (w *storeWatch) storedAgain() (killed, stored time.Time) {
	<-w.done
	w.cancel()
	return time.UnixMilli(w.killed.Load()), w.at
}

// clusterPrimaries reports whether every shard of region's cluster has a
// primary that runs: after a primary's loss, that its replica was promoted.
func (r *run) clusterPrimaries(region string) (bool, string) {
	c, err := r.cluster(region)
	if err != nil {
		return false, err.Error()
	}
	serving := map[int]int{}
	for _, n := range c.Nodes {
		if n.Role == "master" && n.PID != 0 {
			serving[n.Shard] = n.Port
		}
	}
	for i := range shardCount(c) {
		if _, ok := serving[i]; !ok {
			return false, fmt.Sprintf("shard %d of %s has no primary serving", i, c.Name)
		}
	}
	return true, ""
}

// clusterWhole reports whether every node of region's cluster runs again
// (the killed one back, as a replica).
func (r *run) clusterWhole(region string) (bool, string) {
	c, err := r.cluster(region)
	if err != nil {
		return false, err.Error()
	}
	var down []string
	for _, n := range c.Nodes {
		if n.PID == 0 || n.Role == "" {
			down = append(down, fmt.Sprint(n.Port))
		}
	}
	if len(down) > 0 {
		return false, fmt.Sprintf("%s: node(s) %s not back", c.Name, strings.Join(down, ", "))
	}
	return true, ""
}

// awaitClusterWhole waits until clusterWhole, at most within timeout.
func (r *run) awaitClusterWhole(ctx context.Context, region string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := r.clusterWhole(region)
		if ok {
			r.mark("cluster whole", clusterID(region)+": every node up again")
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not within %s: %s", timeout, why)
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// ackWait is how long after since the pair that waited longest got its
// next send acknowledged.
func (t *traffic) ackWait(since, until time.Time) (time.Duration, string) {
	var worst time.Duration
	var who string
	for _, p := range t.pairs {
		p.mu.Lock()
		var acks []time.Time
		for _, at := range p.acked {
			if !at.Before(since) {
				acks = append(acks, at)
			}
		}
		p.mu.Unlock()
		sort.Slice(acks, func(i, j int) bool { return acks[i].Before(acks[j]) })
		wait := until.Sub(since) // no ack since: waited throughout
		if len(acks) > 0 {
			wait = acks[0].Sub(since)
		}
		if wait > worst {
			worst, who = wait, p.name()
		}
	}
	return worst, who
}

// clusterFailoverMetrics are the time until the relay stored again in the
// shard that lost its primary, and the longest any sender waited for an
// acknowledgement meanwhile (the copies go to the other Redis of the set).
func (r *run) clusterFailoverMetrics() []Metric {
	if r.traffic == nil || r.fault.IsZero() || r.stores == nil {
		return nil
	}
	target, label := r.sc.targets()
	var out []Metric
	const stored = "Time until the relay stores again in the failed shard (primary killed → an envelope stored in one of its inboxes)"
	if killed, at := r.stores.storedAgain(); at.IsZero() {
		no := false
		out = append(out, Metric{Name: stored, Measured: "never, within the drill", Target: label, Margin: "—", Met: &no})
	} else {
		out = append(out, recoveryrecord.Against(stored, at.Sub(killed), target, label))
	}
	until := r.recovered
	if until.IsZero() {
		until = time.Now()
	}
	d, who := r.traffic.ackWait(r.fault, until)
	m := recoveryrecord.Against("Longest wait for an acknowledgement after the fault", d, target, label)
	m.Measured += " (" + who + ")"
	return append(out, m)
}
