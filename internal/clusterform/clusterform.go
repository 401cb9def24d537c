// Package clusterform makes a Redis Cluster of running redis-servers: the
// relay's test clusters (relaytest) and localcloud's Memorystore for Redis
// Cluster (localcloud/rediscluster) are formed by the same code.
package clusterform

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/redisinfo"
)

// Node is one redis-server started in cluster mode (Args).
type Node struct {
	// Options reach the server itself (its address, TLS, AUTH).
	Options *redis.Options
	// BusPort is its cluster bus port.
	BusPort int
}

// Args are the redis-server options of a cluster node whose bus listens on
// busPort; a primary that stops answering for timeout is failed over to
// its replica. With tls the bus and replication use TLS too (the node's
// certificate must then also be good for client authentication: the bus
// is mutual TLS).
func Args(busPort int, timeout time.Duration, tls bool) []string {
	a := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10),
		"--cluster-port", strconv.Itoa(busPort)}
	if tls {
		a = append(a, "--tls-cluster", "yes", "--tls-replication", "yes")
	}
	return a
}

// Form introduces the nodes to each other, gives the first shards nodes an
// even part of the 16384 slots each, makes every other node a replica of
// one of them in turn (node shards+i replicates node i%shards), then waits
// for the cluster to be ok (WaitOK).
func Form(ctx context.Context, nodes []Node, shards int) error {
	if shards <= 0 || shards > len(nodes) {
		return fmt.Errorf("cluster of %d nodes cannot have %d shards", len(nodes), shards)
	}
	first := redis.NewClient(nodes[0].Options)
	defer first.Close()
	for _, n := range nodes[1:] {
		host, port, err := hostPort(n.Options.Addr)
		if err != nil {
			return err
		}
		if err := first.Do(ctx, "CLUSTER", "MEET", host, port, n.BusPort).Err(); err != nil {
			return fmt.Errorf("CLUSTER MEET %s: %w", n.Options.Addr, err)
		}
	}
	for i, n := range nodes[:shards] {
		lo, hi := i*16384/shards, (i+1)*16384/shards-1
		if err := Do(ctx, n, "CLUSTER", "ADDSLOTSRANGE", lo, hi); err != nil {
			return err
		}
	}
	for i, n := range nodes[shards:] {
		pc := redis.NewClient(nodes[i%shards].Options)
		id, err := pc.Do(ctx, "CLUSTER", "MYID").Text()
		pc.Close()
		if err != nil {
			return err
		}
		// The replica must know its primary by its id: while the handshake
		// runs, the primary is listed under a temporary name, and REPLICATE
		// answers "Unknown node".
		if err := waitFor(ctx, n, func(nc *redis.Client) bool {
			return strings.Contains(nc.ClusterNodes(ctx).Val(), id)
		}); err != nil {
			return fmt.Errorf("node %s does not see its primary %s: %w", n.Options.Addr, id, err)
		}
		if err := Do(ctx, n, "CLUSTER", "REPLICATE", id); err != nil {
			return err
		}
	}
	return WaitOK(ctx, nodes)
}

// Do runs one command on node n itself.
func Do(ctx context.Context, n Node, args ...any) error {
	c := redis.NewClient(n.Options)
	defer c.Close()
	if err := c.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("%v on %s: %w", args[:2], n.Options.Addr, err)
	}
	return nil
}

// WaitOK waits until every node reports cluster_state:ok and every
// replica's link to its primary is up.
func WaitOK(ctx context.Context, nodes []Node) error {
	for _, n := range nodes {
		// seen is what the node said last, for the error: which of the two
		// it never reached.
		var seen string
		if err := waitFor(ctx, n, func(nc *redis.Client) bool {
			cluster, err := nc.ClusterInfo(ctx).Result()
			if err != nil {
				seen = "CLUSTER INFO: " + err.Error()
				return false
			}
			if state := redisinfo.Field(cluster, "cluster_state"); state != "ok" {
				seen = "cluster_state:" + state + " cluster_known_nodes:" + redisinfo.Field(cluster, "cluster_known_nodes")
				return false
			}
			info := nc.Info(ctx, "replication").Val()
			role, link := redisinfo.Field(info, "role"), redisinfo.Field(info, "master_link_status")
			seen = "role:" + role + " master_link_status:" + link
			return role == "master" || link == "up"
		}); err != nil {
			return fmt.Errorf("cluster node %s not ok (last seen: %s): %w", n.Options.Addr, seen, err)
		}
	}
	return nil
}

func waitFor(ctx context.Context, n Node, ok func(*redis.Client) bool) error {
	nc := redis.NewClient(n.Options)
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

func hostPort(addr string) (string, string, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", fmt.Errorf("cluster node address %q has no port", addr)
	}
	return addr[:i], addr[i+1:], nil
}
