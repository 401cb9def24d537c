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
	}
	return t.dialAt(ctx, addr)
}

func (n *node) credentials(context.Context) (string, string, error) {
	if t := n.target.Load(); t != nil {
		return "", t.Password, nil
	}
	return "", "", errNotResolved
}

// clusterOptions are options for a cluster of the relay's single-Redis
// options: the node's name is the seed address (the discovery endpoint),
// the other nodes are learnt from CLUSTER SLOTS and reached with the same
// TLS roots and AUTH.
func (n *node) clusterOptions() *redis.ClusterOptions {
	o := n.options()
	return &redis.ClusterOptions{
		Addrs:                      []string{n.name},
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
