package relaytest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/clusterform"
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
	return clusterform.Args(r.busPort, ClusterTimeout, r.Opts.CA != nil)
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

// formNodes are c's nodes as clusterform takes them.
func (c *Redis) formNodes() []clusterform.Node {
	ns := make([]clusterform.Node, len(c.Nodes))
	for i, n := range c.Nodes {
		ns[i] = clusterform.Node{Options: n.Target().Options(), BusPort: n.busPort}
	}
	return ns
}

// form makes the cluster of c's nodes (clusterform.Form).
func (c *Redis) form() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return clusterform.Form(ctx, c.formNodes(), c.Opts.Shards)
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
	return clusterform.WaitOK(ctx, c.formNodes())
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
