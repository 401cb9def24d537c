package relaytest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
)

// ClusterEnv selects the Redis the relay's tests run on: "cluster" for a
// three-primary Redis Cluster from every NewRedis, unset (or "single") for
// one redis-server.
const ClusterEnv = "RELAY_TEST_REDIS"

// Cluster reports whether NewRedis starts Redis Clusters.
func Cluster() bool { return os.Getenv(ClusterEnv) == "cluster" }

// clusterSeeds are the addresses of the clusters started, for IsCluster.
var clusterSeeds sync.Map

// IsCluster reports whether addr is a cluster StartCluster started, which
// a relay must reach as a cluster (NewRelay does).
func IsCluster(addr string) bool { _, ok := clusterSeeds.Load(addr); return ok }

// Key is the name of addr's key with prefix ("relay:inbox:") on r.
func Key(r *Redis, prefix, addr string) string { return relay.AddressKey(r.Nodes != nil, prefix, addr) }

// ClusterTimeout is the cluster-node-timeout of test clusters: a primary
// that stops answering for that long is failed over to its replica.
const ClusterTimeout = time.Second

func clusterArgs(r *Redis) []string {
	a := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(ClusterTimeout.Milliseconds())),
		"--cluster-port", strconv.Itoa(r.busPort)}
	if r.Opts.CA != nil {
		a = append(a, "--tls-cluster", "yes", "--tls-replication", "yes")
	}
	return a
}

// StartCluster starts o.Shards primaries with o.Replicas replicas each, each
// redis-server in a folder of its own under dir, assigns the 16384 slots
// evenly to the primaries and waits until every node sees the cluster ok
// and every replica is in sync.
func StartCluster(dir string, o RedisOptions) (*Redis, error) {
	c := &Redis{Opts: o, dir: dir}
	for i := range o.Shards * (1 + o.Replicas) {
		n, err := startClusterNode(filepath.Join(dir, fmt.Sprintf("node-%d", i)), o)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	c.Addr = c.Nodes[0].Addr
	if err := c.form(); err != nil {
		c.Stop()
		return nil, err
	}
	clusterSeeds.Store(c.Addr, true)
	return c, nil
}

func startClusterNode(dir string, o RedisOptions) (*Redis, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return startServer(dir, o, true)
}

// nodeClient is a plain client of one node.
func nodeClient(n *Redis) *redis.Client { return redis.NewClient(n.Target().Options()) }

// form introduces the nodes to each other, gives the primaries their slots
// and the replicas their primary, then waits for the cluster to be ok.
func (c *Redis) form() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := nodeClient(c.Nodes[0])
	defer first.Close()
	for _, n := range c.Nodes[1:] {
		if err := first.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", port(n.Addr), n.busPort).Err(); err != nil {
			return fmt.Errorf("CLUSTER MEET %s: %w", n.Addr, err)
		}
	}
	shards := c.Opts.Shards
	for i, n := range c.Nodes[:shards] {
		lo, hi := i*16384/shards, (i+1)*16384/shards-1
		nc := nodeClient(n)
		err := nc.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err()
		nc.Close()
		if err != nil {
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE on %s: %w", n.Addr, err)
		}
	}
	for i, n := range c.Nodes[shards:] {
		primary := c.Nodes[i%shards]
		if err := c.waitFor(ctx, n, func(nc *redis.Client) bool {
			return strings.Count(nc.ClusterNodes(ctx).Val(), "\n") >= len(c.Nodes)
		}); err != nil {
			return fmt.Errorf("node %s does not see the cluster: %w", n.Addr, err)
		}
		pc := nodeClient(primary)
		id, err := pc.Do(ctx, "CLUSTER", "MYID").Text()
		pc.Close()
		if err != nil {
			return err
		}
		nc := nodeClient(n)
		err = nc.Do(ctx, "CLUSTER", "REPLICATE", id).Err()
		nc.Close()
		if err != nil {
			return fmt.Errorf("CLUSTER REPLICATE on %s: %w", n.Addr, err)
		}
	}
	return c.waitOK(ctx)
}

// waitOK waits until every running node reports cluster_state:ok and every
// replica's link to its primary is up.
func (c *Redis) waitOK(ctx context.Context) error {
	for _, n := range c.Nodes {
		if err := c.waitFor(ctx, n, func(nc *redis.Client) bool {
			if !strings.Contains(nc.ClusterInfo(ctx).Val(), "cluster_state:ok") {
				return false
			}
			info := nc.Info(ctx, "replication").Val()
			return strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up")
		}); err != nil {
			return fmt.Errorf("cluster node %s not ok: %w", n.Addr, err)
		}
	}
	return nil
}

func (c *Redis) waitFor(ctx context.Context, n *Redis, ok func(*redis.Client) bool) error {
	nc := nodeClient(n)
	defer nc.Close()
	for !ok(nc) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// restartCluster starts every node again on its address and folder (their
// nodes.conf keeps the cluster's shape) and waits for the cluster to be ok.
func (c *Redis) restartCluster() error {
	for _, n := range c.Nodes {
		if err := n.Restart(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.waitOK(ctx)
}

// Save has every server write its snapshot (SAVE), which Restart loads.
func (r *Redis) Save(ctx context.Context) error {
	if r.Nodes == nil {
		nc := nodeClient(r)
		defer nc.Close()
		return nc.Save(ctx).Err()
	}
	for _, n := range r.Nodes {
		if err := n.Save(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Primary is the node serving addr's keys now.
func (c *Redis) Primary(ctx context.Context, addr string) (*Redis, error) {
	uc := Client(c)
	defer uc.Close()
	cc, ok := uc.(*redis.ClusterClient)
	if !ok {
		return nil, fmt.Errorf("%s is not a Redis Cluster", c.Addr)
	}
	m, err := cc.MasterForKey(ctx, Key(c, "relay:inbox:", addr))
	if err != nil {
		return nil, err
	}
	for _, n := range c.Nodes {
		if n.Addr == m.Options().Addr {
			return n, nil
		}
	}
	return nil, fmt.Errorf("primary %s of %s is no node of the cluster", m.Options().Addr, addr)
}

func port(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}

// Servers are r's redis-server processes: r itself, or a cluster's nodes.
func (r *Redis) Servers() []*Redis {
	if r.Nodes == nil {
		return []*Redis{r}
	}
	return r.Nodes
}

// ServerClient is a plain client of one server (of a cluster node: not
// following redirections), for commands every server must run.
func ServerClient(n *Redis) *redis.Client { return nodeClient(n) }

// Replica is the node that replicated primary when the cluster formed.
func (c *Redis) Replica(primary *Redis) *Redis {
	for i, n := range c.Nodes[:c.Opts.Shards] {
		if n == primary && c.Opts.Replicas > 0 {
			return c.Nodes[c.Opts.Shards+i]
		}
	}
	return nil
}
