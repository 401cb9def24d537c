package drill

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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

// busiestShard picks the shard of region's cluster that holds the inboxes
// of the most receivers of the traffic, so that killing its primary stalls
// deliveries the drill watches. It says which pairs' receivers are there.
func (r *run) busiestShard(ctx context.Context, region string) (int, string, error) {
	c, err := r.cluster(region)
	if err != nil {
		return 0, "", err
	}
	shards := shardCount(c)
	if shards == 0 {
		return 0, "", fmt.Errorf("%s has no shard serving", c.Name)
	}
	t, err := r.env.redis.Resolve(ctx, clusterID(region))
	if err != nil {
		return 0, "", err
	}
	rc := goredis.NewClient(t.Options())
	defer rc.Close()
	// localcloud forms shard i from slot i × 16384 / shards on (its
	// rediscluster package): the shard of a slot follows.
	on := make([][]string, shards)
	for _, p := range r.traffic.pairs {
		slot, err := rc.ClusterKeySlot(ctx, relay.AddressKey(true, "relay:inbox:", p.toAddr)).Result()
		if err != nil {
			return 0, "", fmt.Errorf("CLUSTER KEYSLOT on %s: %w", c.Name, err)
		}
		i := 0
		for i+1 < shards && int(slot) >= (i+1)*clusterSlots/shards {
			i++
		}
		on[i] = append(on[i], p.name())
	}
	best := 0
	for i := range on {
		if len(on[i]) > len(on[best]) {
			best = i
		}
	}
	return best, fmt.Sprintf("shard %d of %d holds the inboxes of %d of %d receivers (%s)", best, shards, len(on[best]),
		len(r.traffic.pairs), strings.Join(on[best], ", ")), nil
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

// storeStall is how long after since the pair that waited longest got its
// next send acknowledged: the time until the relay stores again for the
// recipients of a shard that lost its primary.
func (t *traffic) storeStall(since, until time.Time) (time.Duration, string) {
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
		wait := until.Sub(since) // no ack since: stalled throughout
		if len(acks) > 0 {
			wait = acks[0].Sub(since)
		}
		if wait > worst {
			worst, who = wait, p.name()
		}
	}
	return worst, who
}

// storeStallMetric measures storeStall from the fault to the recovery.
func (r *run) storeStallMetric() []Metric {
	if r.traffic == nil || r.fault.IsZero() {
		return nil
	}
	until := r.recovered
	if until.IsZero() {
		until = time.Now()
	}
	d, who := r.traffic.storeStall(r.fault, until)
	target, label := r.sc.targets()
	m := recoveryrecord.Against("Time until the relay stores again (fault → next acked send of the pair that waited longest)", d, target, label)
	m.Measured += " (" + who + ")"
	return []Metric{m}
}
