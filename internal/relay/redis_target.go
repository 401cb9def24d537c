package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisTarget is how to reach one Redis: its address, AUTH string and, for
// in-transit encryption, the certificate authorities its server certificate
// must chain to.
type RedisTarget struct {
	Addr     string
	Password string
	// CAs, when set, makes the connection TLS, trusting exactly these roots.
	CAs *x509.CertPool
	// Token, when set, gives the password of each new connection instead
	// of Password: an IAM access token (Memorystore for Redis Cluster's IAM
	// authentication), which expires, so it is asked at every dial.
	Token func(context.Context) (string, error)
}

// String names the target without its AUTH string.
func (t RedisTarget) String() string {
	if t.CAs != nil {
		return "rediss://" + t.Addr
	}
	return "redis://" + t.Addr
}

// Resolver finds a Memorystore instance's target from its full name
// (projects/P/locations/R/instances/I), or a Memorystore for Redis
// Cluster's (projects/P/locations/R/clusters/C: its discovery endpoint).
// MemorystoreResolver is the production one.
type Resolver interface {
	Resolve(ctx context.Context, instance string) (RedisTarget, error)
}

// errNotResolved is the dial error of a Redis whose instance has not been
// resolved yet: it counts as unreachable.
var errNotResolved = errors.New("instance not resolved yet")

// dial opens a connection to t: TLS verified against t.CAs when set.
func (t *RedisTarget) dial(ctx context.Context) (net.Conn, error) { return t.dialAt(ctx, t.Addr) }

// dialAt opens a connection to addr as to t (a node of t's cluster).
func (t *RedisTarget) dialAt(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	if t.CAs == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	td := &tls.Dialer{NetDialer: d, Config: redisTLSConfig(t.CAs, host)}
	c, err := td.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TLS to %s: %w", addr, err)
	}
	return c, nil
}

// redisTLSConfig verifies a Redis server certificate: it must chain to
// roots, and name host in a subject alternative name or, as Memorystore's
// server certificates do, in its common name (Go's own check ignores the
// common name, so the chain and the name are checked here, never skipped).
func redisTLSConfig(roots *x509.CertPool, host string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: host,
		// The built-in verification is replaced by VerifyConnection below,
		// which does the same chain check plus the common-name match.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyRedisCert(cs.PeerCertificates, roots, host)
		},
	}
}

func verifyRedisCert(certs []*x509.Certificate, roots *x509.CertPool, host string) error {
	if len(certs) == 0 {
		return errors.New("redis server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("redis server certificate not trusted by the instance's CA: %w", err)
	}
	// The CA is the instance's own, so the chain already names the
	// instance; the host check guards against a certificate of the same
	// CA moved to another address.
	if err := leaf.VerifyHostname(host); err != nil && leaf.Subject.CommonName != host {
		return fmt.Errorf("redis server certificate: %w", err)
	}
	return nil
}

// Options are go-redis options that reach t as the relay does: TLS verified
// against exactly t.CAs, and t's AUTH string. Tests, drills and operators'
// tools use them so that every client of a Memorystore instance checks its
// certificate the same way.
func (t RedisTarget) Options() *redis.Options {
	return &redis.Options{
		Addr:     t.Addr,
		Password: t.Password,
		Dialer:   func(ctx context.Context, _, _ string) (net.Conn, error) { return t.dial(ctx) },
	}
}

// ClusterOptions are go-redis cluster options for a client of t's cluster
// (tests, drills, tools): t.Addr as the seed, every node CLUSTER SLOTS names
// dialled with t's TLS, and t's password, or a token taken now (the relay
// itself takes one per connection).
func (t RedisTarget) ClusterOptions(ctx context.Context) (*redis.ClusterOptions, error) {
	o := &redis.ClusterOptions{
		Addrs:    []string{t.Addr},
		Password: t.Password,
		Dialer: func(ctx context.Context, _, addr string) (net.Conn, error) {
			n := t
			n.Addr = addr
			return n.dial(ctx)
		},
	}
	if t.Token != nil {
		tok, err := t.Token(ctx)
		if err != nil {
			return nil, err
		}
		o.Password = tok
	}
	return o, nil
}
