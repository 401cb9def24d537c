// Package relaytest starts real redis-server processes for the relay's tests
// and benchmarks.
package relaytest

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/processtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
)

// Redis is a redis-server child process listening on 127.0.0.1, or a Redis
// Cluster of such processes (see StartCluster).
type Redis struct {
	// Addr is the server's address; of a cluster, its first primary's (the
	// seed a relay is given).
	Addr   string
	Opts   RedisOptions
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	// Nodes are a cluster's servers, primaries first (nil for a single
	// server); busPort is a cluster node's cluster bus port.
	Nodes   []*Redis
	busPort int
}

// RedisOptions start a redis-server as Memorystore runs one.
type RedisOptions struct {
	// Password is the AUTH string (requirepass).
	Password string
	// CA, when set, makes the server TLS only, with a certificate for
	// 127.0.0.1 issued by it.
	CA *pki.CA
	// MaxMemory ("8mb") and Policy ("volatile-lru"); the default policy is
	// redis-server's, noeviction.
	MaxMemory, Policy string
	// Shards > 0 makes a Redis Cluster of that many primaries, each with
	// Replicas replicas (StartCluster).
	Shards, Replicas int
	// Single keeps one server under RELAY_TEST_REDIS=cluster: the Redis of
	// a Memorystore for Redis instance.
	Single bool
}

// Target is how a relay reaches r.
func (r *Redis) Target() relay.RedisTarget {
	t := relay.RedisTarget{Addr: r.Addr, Password: r.Opts.Password}
	if r.Opts.CA != nil {
		t.CAs, _ = pki.Pool(r.Opts.CA.PEM)
	}
	return t
}

// RedisBinary is the redis-server executable, overridable with REDIS_SERVER.
func RedisBinary() string {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	return "/usr/bin/redis-server"
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("free port: a TCP listener has a %T address", l.Addr())
	}
	return a.Port, nil
}

// StartRedis starts a redis-server without persistence in dir and waits
// until it answers PING. A port taken in between is retried.
func StartRedis(dir string) (*Redis, error) { return StartRedisWith(dir, RedisOptions{}) }

// StartRedisWith is StartRedis with AUTH, TLS or a memory limit.
func StartRedisWith(dir string, o RedisOptions) (*Redis, error) {
	if o.Shards > 0 {
		return StartCluster(dir, o)
	}
	return startServer(dir, o, false)
}

// startServer starts one redis-server in dir, with a cluster bus port when
// bus, and waits until it answers PING. A port taken in between is
// retried.
func startServer(dir string, o RedisOptions, bus bool) (*Redis, error) {
	var lastErr error
	for range 3 {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, Opts: o}
		if bus {
			if r.busPort, err = FreePort(); err != nil {
				return nil, err
			}
		}
		if err := r.start(); err != nil {
			return nil, err
		}
		if err := r.waitReady(10 * time.Second); err != nil {
			lastErr = err
			r.Stop()
			continue
		}
		return r, nil
	}
	return nil, lastErr
}

func (r *Redis) start() error {
	_, port, _ := net.SplitHostPort(r.Addr)
	r.exited = make(chan struct{})
	listen := []string{"--port", port}
	if r.Opts.CA != nil {
		listen = []string{"--port", "0", "--tls-port", port}
	}
	args := append(listen, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", r.dir, "--maxclients", "19000", "--loglevel", "warning",
		"--logfile", filepath.Join(r.dir, fmt.Sprintf("redis-%s.log", port)))
	if o := r.Opts; o.CA != nil {
		usages := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if r.busPort != 0 {
			// The cluster bus is mutual TLS: each node is also a client.
			usages = append(usages, x509.ExtKeyUsageClientAuth)
		}
		leaf, err := o.CA.IssueFor(usages, "127.0.0.1")
		if err != nil {
			return err
		}
		tlsDir := filepath.Join(r.dir, "tls-"+port)
		if err := os.MkdirAll(tlsDir, 0o700); err != nil {
			return err
		}
		cert, key, err := leaf.WriteFiles(tlsDir)
		if err != nil {
			return err
		}
		caFile := filepath.Join(tlsDir, "ca.pem")
		if err := os.WriteFile(caFile, o.CA.PEM, 0o644); err != nil {
			return err
		}
		args = append(args, "--tls-cert-file", cert, "--tls-key-file", key,
			"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no")
	}
	if r.Opts.Password != "" {
		args = append(args, "--requirepass", r.Opts.Password, "--masterauth", r.Opts.Password)
	}
	if r.busPort != 0 {
		args = append(args, clusterArgs(r)...)
	}
	if r.Opts.MaxMemory != "" {
		args = append(args, "--maxmemory", r.Opts.MaxMemory)
	}
	if r.Opts.Policy != "" {
		args = append(args, "--maxmemory-policy", r.Opts.Policy)
	}
	r.cmd = exec.Command(RedisBinary(), args...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := r.exited
	cmd := r.cmd
	// Stopped by a kill: the exit status is the kill's, and the server's
	// log says why it exited before that.
	go func() { _ = cmd.Wait(); close(exited) }()
	return nil
}

// Restart starts a stopped (or killed) server again on the same address and
// folder. It loads the folder's dump.rdb, the last snapshot a SAVE wrote, if
// there is one, else starts empty.
func (r *Redis) Restart() error {
	if r.Nodes != nil {
		return r.restartCluster()
	}
	if err := r.start(); err != nil {
		return err
	}
	return r.waitReady(10 * time.Second)
}

func (r *Redis) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("redis-server on %s exited at start", r.Addr)
		default:
		}
		if r.ping() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s did not answer within %s", r.Addr, timeout)
}

// Pid is the server's process id.
func (r *Redis) Pid() int { return r.cmd.Process.Pid }

// Stop kills the server (every server of a cluster) and waits for it to
// exit.
func (r *Redis) Stop() {
	for _, n := range r.Nodes {
		n.Stop()
	}
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill() // our unreaped child: fails only once it has exited, which <-r.exited awaits
	}
	if r.exited != nil {
		<-r.exited
	}
}

// ping sends PING, after AUTH, over a connection dialed as the relay dials
// r (TLS when r has a CA).
func (r *Redis) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	t := r.Target()
	c, err := t.Options().Dialer(ctx, "tcp", t.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	if r.Opts.Password != "" {
		fmt.Fprintf(c, "AUTH %s\r\n", r.Opts.Password)
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("AUTH: %q %v", line, err)
		}
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// NewRedis starts a redis-server for a test or benchmark and stops it at the
// end of it: a three-primary Redis Cluster with RELAY_TEST_REDIS=cluster
// (see Cluster).
func NewRedis(tb testing.TB) *Redis { tb.Helper(); return NewRedisWith(tb, RedisOptions{}) }

// NewRedisWith is NewRedis with options.
func NewRedisWith(tb testing.TB, o RedisOptions) *Redis {
	tb.Helper()
	processtest.Starts(tb)
	if Cluster() && o.Shards == 0 && !o.Single {
		o.Shards = 3
	}
	r, err := StartRedisWith(tb.TempDir(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Stop)
	return r
}

// Client is a go-redis client of r, with its AUTH string and CA, reaching
// it as a relay does: a cluster client for a cluster.
func Client(r *Redis) redis.UniversalClient {
	o := r.Target().Options()
	if r.Nodes == nil {
		return redis.NewClient(o)
	}
	co, err := r.Target().ClusterOptions(context.Background())
	if err != nil {
		panic(err) // a test cluster's target has no token to take
	}
	return redis.NewClusterClient(co)
}
