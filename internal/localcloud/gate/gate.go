// Package gate is the TCP proxy in front of each redis-server localcloud
// runs for Memorystore (an instance, each node of a cluster): it keeps the
// endpoint's address while the server restarts behind it and enforces the
// endpoint's network.
package gate

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
)

// Gate is an endpoint (host:port): a TCP proxy in front of its
// redis-server, which may restart on another port (repair, import, upgrade)
// while clients keep the address. It is where the endpoint's network is
// enforced: a Cloud Run relay instance reaches it only from the network the
// backend function names (an instance's authorized network, a cluster's
// PSC network), as a VPC does; every other local process is "on the host"
// and passes.
type Gate struct {
	ln      *net.TCPListener
	port    int
	backend func() (addr string, network string) // "" when redis-server is down
	log     *slog.Logger

	mu sync.Mutex
	// conns are the open client and backend connections, each with the
	// redis-server address its pair was made to.
	conns map[net.Conn]string
	// refused is when each refused relay instance was last logged: relays
	// retry quickly, the log says it once in a while.
	refused map[string]time.Time
	done    chan struct{}
}

// refusedLogEvery is how often a relay instance refused again is logged.
const refusedLogEvery = 10 * time.Second

// Open listens on 127.0.0.1:port (a free port when port is 0 or taken).
func Open(port int, backend func() (string, string), log *slog.Logger) (*Gate, error) {
	var ln net.Listener
	var err error
	if port > 0 {
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	if port <= 0 || err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, err
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("memorystore gate: a TCP listener is a %T", ln)
	}
	port, err = localproc.PortOf(ln)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("memorystore gate: %w", err)
	}
	g := &Gate{ln: tl, port: port, backend: backend, log: log,
		conns: map[net.Conn]string{}, refused: map[string]time.Time{}, done: make(chan struct{})}
	go g.serve()
	return g, nil
}

// Port is the endpoint's port on 127.0.0.1.
func (g *Gate) Port() int { return g.port }

func (g *Gate) serve() {
	defer close(g.done)
	for {
		c, err := g.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go g.handle(c)
	}
}

func (g *Gate) handle(c *net.TCPConn) {
	addr, network := g.backend()
	if addr == "" {
		c.Close() // redis-server is down: the connection is reset
		return
	}
	if !g.admit(c, network) {
		c.Close()
		return
	}
	b, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	bc, ok := b.(*net.TCPConn)
	if !ok {
		g.log.Error("memorystore gate: a TCP dial gave a non-TCP connection", "conn", fmt.Sprintf("%T", b))
		b.Close()
		c.Close()
		return
	}
	if !g.track(addr, c, bc) {
		return
	}
	defer g.untrack(c, bc)
	// TCPConn to TCPConn: io.Copy splices in the kernel.
	done := make(chan struct{})
	// A copy ends when either side closes or fails: that is the end of
	// the connection, with nothing to report; so is a half-close of a
	// connection already gone.
	go func() {
		_, _ = io.Copy(bc, c)
		_ = bc.CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(c, bc)
	_ = c.CloseWrite()
	<-done
}

// admit applies the network rule to the connecting process.
func (g *Gate) admit(c net.Conn, network string) bool {
	// Only Cloud Run relay processes are looked for: much cheaper than
	// identifying any process.
	pid, env, err := localproc.PeerEnvWith(c, localproc.RunInstanceEnv)
	if err != nil {
		// Not a relay (or gone already): on the host.
		if !errors.Is(err, localproc.ErrPeerNotFound) {
			g.log.Debug("connecting process not identified", "remote", c.RemoteAddr().String(), "err", err)
		}
		return true
	}
	if env[localproc.VPCNetworkEnv] == network {
		return true
	}
	from := env[localproc.VPCNetworkEnv]
	if from == "" {
		from = "(no VPC egress)"
	}
	g.mu.Lock()
	last := g.refused[env[localproc.RunInstanceEnv]]
	quiet := time.Since(last) < refusedLogEvery
	if !quiet {
		g.refused[env[localproc.RunInstanceEnv]] = time.Now()
	}
	g.mu.Unlock()
	if quiet {
		return false
	}
	g.log.Warn("connection refused: Cloud Run instance is not on the instance's authorized network",
		"run_instance", env[localproc.RunInstanceEnv], "pid", pid, "network", from, "authorized_network", network, "port", g.port)
	return false
}

func (g *Gate) track(backend string, cs ...net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		g.conns[c] = backend
	}
	return true
}

// Drop closes the connections made to backend: a redis-server replaced
// under the instance (import) must not keep answering its old clients, as
// Memorystore drops every connection when an import restarts the instance.
func (g *Gate) Drop(backend string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c, b := range g.conns {
		if b == backend {
			c.Close()
		}
	}
}

// DropAll closes every client connection: the instance stopped serving
// (an import makes it unavailable until it is done).
func (g *Gate) DropAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.Close()
	}
}

func (g *Gate) untrack(cs ...net.Conn) {
	g.mu.Lock()
	for _, c := range cs {
		delete(g.conns, c)
		c.Close()
	}
	g.mu.Unlock()
}

// Close stops listening and closes every connection.
func (g *Gate) Close() {
	g.ln.Close()
	<-g.done
	g.mu.Lock()
	conns := g.conns
	g.conns = nil
	g.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}
