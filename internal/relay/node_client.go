package relay

import (
	"context"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// How a node's go-redis client reaches its Redis: one client for a single
// Redis, a cluster client for a Redis Cluster, both dialling through the
// node's target.

// options are the go-redis options of a single Redis: the target, TLS and
// AUTH string are read at each dial, as a Memorystore instance is resolved
// after the start.
func (n *node) options() *redis.Options {
	return &redis.Options{
		Addr: n.name,
		Dialer: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return n.dial(ctx, addr)
		},
		CredentialsProviderContext: n.credentials,
		DialTimeout:                2 * time.Second,
		ReadTimeout:                3 * time.Second,
		WriteTimeout:               3 * time.Second,
		PoolSize:                   32,
		MaxRetries:                 1,
		// One dial per attempt: a refused connection fails at once instead
		// of after go-redis's dial retries (5, 100 ms apart). The relay
		// handles an unreachable Redis itself (markDown, healthLoop).
		DialerRetries: 1,
		// The contexts' deadlines bound each call (a ping 1 s), not only
		// ReadTimeout: a Redis that stopped answering is found in a second.
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
	}
}

// dial reaches addr: the target's address for the node's own name, else a
// node of its cluster, with the target's TLS either way.
func (n *node) dial(ctx context.Context, addr string) (net.Conn, error) {
	t := n.target.Load()
	if t == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errNotResolved}
	}
	if addr == n.name {
		addr = t.Addr
	} else if host, port, err := net.SplitHostPort(addr); err == nil && host == discoveryAlias {
		// A node go-redis named after the seed (see clusterSeed).
		h, p, _ := net.SplitHostPort(t.Addr)
		if port == "0" {
			port = p
		}
		addr = net.JoinHostPort(h, port)
	}
	return t.dialAt(ctx, addr)
}

func (n *node) credentials(ctx context.Context) (string, string, error) {
	t := n.target.Load()
	switch {
	case t == nil:
		return "", "", errNotResolved
	case t.Token != nil:
		tok, err := t.Token(ctx)
		return "", tok, err
	}
	return "", t.Password, nil
}

// clusterOptions are options for a cluster of the relay's single-Redis
// options: the node's name is the seed address (the discovery endpoint),
// the other nodes are learnt from CLUSTER SLOTS and reached with the same
// TLS roots and AUTH.
func (n *node) clusterOptions() *redis.ClusterOptions {
	o := n.options()
	return &redis.ClusterOptions{
		Addrs:                      []string{n.clusterSeed()},
		Dialer:                     o.Dialer,
		CredentialsProviderContext: o.CredentialsProviderContext,
		DialTimeout:                o.DialTimeout,
		ReadTimeout:                o.ReadTimeout,
		WriteTimeout:               o.WriteTimeout,
		PoolSize:                   o.PoolSize,
		MaxRetries:                 o.MaxRetries,
		DialerRetries:              o.DialerRetries,
		ContextTimeoutEnabled:      o.ContextTimeoutEnabled,
		DisableIdentity:            o.DisableIdentity,
	}
}

// discoveryAlias stands for a Memorystore cluster's discovery endpoint,
// known only once resolved, as the cluster client's seed.
const discoveryAlias = "memorystore-discovery-endpoint"

// clusterSeed is the cluster client's first address: the node's name in
// direct mode (host:port); for a Memorystore cluster, whose name is a
// resource name, an alias that dial maps to the resolved discovery
// endpoint. It parses as host:port because go-redis replaces a loopback
// node address by the seed's host when the seed is not loopback: the
// alias's host then comes back to dial too.
func (n *node) clusterSeed() string {
	if _, _, err := net.SplitHostPort(n.name); err == nil {
		return n.name
	}
	return net.JoinHostPort(discoveryAlias, "0")
}
