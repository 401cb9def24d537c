package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/clusterform"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gate"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// node is one redis-server of a cluster. Fields are guarded by Service.mu.
type node struct {
	dir string
	// port and busPort are the redis-server's own; clients and the other
	// nodes use the gate's port, which the node announces.
	port, busPort int
	gate          *gate.Gate
	gatePort      int
	proc          *localproc.Child
	held          bool
	repair        *time.Timer
}

// addr is where the redis-server itself listens.
func (n *node) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// options are localcloud's client options for node n of c (the
// redis-server itself, not its gate).
func (s *Service) options(c *cluster, n *node) *redis.Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &redis.Options{Addr: n.addr(), TLSConfig: c.tls, Password: c.token, DialTimeout: 2 * time.Second,
		MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true}
}

// nodeTimeout is the cluster-node-timeout: how long a primary stops
// answering before its replica takes over. Under a timing profile it is
// the profile's failover detection (scaled), else 2 s.
func (s *Service) nodeTimeout() time.Duration {
	p := s.cfg.Timing.Profile()
	if d := p.Delay(profile.ClusterFailover).Duration.D(); d > 0 {
		return max(p.Scaled(d), 500*time.Millisecond)
	}
	return 2 * time.Second
}

// args builds node n's command line; the configuration file with the
// token comes first.
func (s *Service) args(c *cluster, n *node) ([]string, error) {
	s.mu.Lock()
	ca := c.ca
	pb := c.pb
	token := c.token
	tlsOn := pb.GetTransitEncryptionMode() == clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION
	policy := pb.GetRedisConfigs()["maxmemory-policy"]
	persistence := pb.GetPersistenceConfig().GetMode()
	port, bus, announce := n.port, n.busPort, n.gatePort
	s.mu.Unlock()
	if policy == "" {
		policy = "volatile-lru" // Memorystore for Redis Cluster's default
	}
	conf, err := authConf(n.dir, token)
	if err != nil {
		return nil, err
	}
	args := []string{conf,
		"--bind", "127.0.0.1", "--dir", n.dir, "--dbfilename", "dump.rdb", "--daemonize", "no",
		"--logfile", filepath.Join(n.dir, "redis.log"),
		"--maxmemory-policy", policy,
		// Every node saves on SIGTERM (a localcloud stopping), whatever
		// the persistence mode, so that a restarted localcloud has the
		// data: a restart is not a failure Memorystore would show.
		"--shutdown-on-sigterm", "save",
		"--cluster-announce-ip", "127.0.0.1",
	}
	switch persistence {
	case clusterpb.ClusterPersistenceConfig_AOF:
		args = append(args, "--appendonly", "yes", "--save", "")
	case clusterpb.ClusterPersistenceConfig_RDB:
		args = append(args, "--appendonly", "no", "--save", "3600 1")
	default:
		args = append(args, "--appendonly", "no", "--save", "")
	}
	if tlsOn {
		targs, err := nodeCert(ca, n.dir)
		if err != nil {
			return nil, err
		}
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port), "--cluster-announce-tls-port", strconv.Itoa(announce))
		args = append(args, targs...)
	} else {
		args = append(args, "--port", strconv.Itoa(port), "--cluster-announce-port", strconv.Itoa(announce))
	}
	args = append(args, "--cluster-announce-bus-port", strconv.Itoa(bus))
	return append(args, clusterform.Args(bus, s.nodeTimeout(), tlsOn)...), nil
}

// openGates opens the gate of every node (on its saved port when free)
// and the discovery endpoint's.
func (s *Service) openGates(c *cluster) error {
	s.mu.Lock()
	network := c.pb.GetPscConfigs()[0].GetNetwork()
	nodes := c.nodes
	s.mu.Unlock()
	for _, n := range nodes {
		if n.gate != nil {
			continue
		}
		g, err := gate.Open(n.gatePort, func() (string, string) { return s.backend(n), network }, s.log.With("cluster", c.name))
		if err != nil {
			return fmt.Errorf("open a node's endpoint: %w", err)
		}
		s.mu.Lock()
		n.gate, n.gatePort = g, g.Port()
		s.mu.Unlock()
	}
	if c.discovery == nil {
		want := 0
		if eps := c.pb.GetDiscoveryEndpoints(); len(eps) > 0 {
			want = int(eps[0].GetPort())
		}
		g, err := gate.Open(want, func() (string, string) { return s.anyNode(c), network }, s.log.With("cluster", c.name))
		if err != nil {
			return fmt.Errorf("open the discovery endpoint: %w", err)
		}
		s.mu.Lock()
		c.discovery = g
		psc := &clusterpb.PscConfig{Network: network}
		c.pb.DiscoveryEndpoints = []*clusterpb.DiscoveryEndpoint{{Address: "127.0.0.1", Port: int32(g.Port()), PscConfig: psc}}
		project, _, _, _ := clusterNames.Parse(c.name)
		c.pb.PscConnections = []*clusterpb.PscConnection{{
			PscConnectionId: c.pb.GetUid() + "-discovery", Address: "127.0.0.1",
			ForwardingRule: fmt.Sprintf("projects/%s/regions/%s/forwardingRules/%s-discovery", project, regionOf(c.name), idOf(c.name)),
			ProjectId:      project, Network: network,
		}}
		s.mu.Unlock()
	}
	return nil
}

// closeGates closes every endpoint of c.
func (s *Service) closeGates(c *cluster) {
	s.mu.Lock()
	var gs []*gate.Gate
	for _, n := range c.nodes {
		if n.gate != nil {
			gs = append(gs, n.gate)
			n.gate = nil
		}
	}
	if c.discovery != nil {
		gs = append(gs, c.discovery)
		c.discovery = nil
	}
	s.mu.Unlock()
	for _, g := range gs {
		g.Close()
	}
}

// backend is where n's gate sends a connection ("" while it is down).
func (s *Service) backend(n *node) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.proc == nil || !n.proc.Alive() {
		return ""
	}
	return n.addr()
}

// anyNode is the first node up: the discovery endpoint answers as any node
// of the cluster (CLUSTER SLOTS names them all).
func (s *Service) anyNode(c *cluster) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range c.nodes {
		if n.proc != nil && n.proc.Alive() {
			return n.addr()
		}
	}
	return ""
}

// startNode starts n's redis-server (on its port when still free, else
// another) and waits until it answers PING; it is supervised from then on.
func (s *Service) startNode(ctx context.Context, c *cluster, n *node) error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	var lastErr error
	for attempt := range 3 {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return errors.New("localcloud is shutting down")
		}
		s.mu.Unlock()
		if attempt > 0 || n.port == 0 || !localproc.PortFree(n.port) {
			p, err := localproc.FreePort()
			if err != nil {
				return err
			}
			s.mu.Lock()
			n.port = p
			s.mu.Unlock()
		}
		if n.busPort == 0 || !localproc.PortFree(n.busPort) {
			p, err := localproc.FreePort()
			if err != nil {
				return err
			}
			s.mu.Lock()
			n.busPort = p
			s.mu.Unlock()
		}
		args, err := s.args(c, n)
		if err != nil {
			return err
		}
		cmd := exec.Command(s.cfg.RedisServerPath, args...)
		cmd.Dir = n.dir
		p, err := localproc.Start(cmd)
		if err != nil {
			return fmt.Errorf("start %s: %w", s.cfg.RedisServerPath, err)
		}
		s.mu.Lock()
		n.proc = p
		s.mu.Unlock()
		s.supervise(c, n, p)
		if lastErr = s.waitPing(ctx, c, n, p); lastErr == nil {
			return nil
		}
		p.Expected.Store(true)
		p.Signal(syscall.SIGKILL)
		<-p.Exited()
	}
	return lastErr
}

// waitPing waits until p answers PING.
func (s *Service) waitPing(ctx context.Context, c *cluster, n *node, p *localproc.Child) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc := redis.NewClient(s.options(c, n))
	defer rc.Close()
	for {
		err := rc.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("redis-server exited at start (%v): %s", p.Err(), localproc.LogTail(filepath.Join(n.dir, "redis.log"), "no redis.log"))
		case <-ctx.Done():
			return fmt.Errorf("redis-server on port %d did not answer: %v", n.port, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// formNodes are c's nodes as clusterform takes them.
func (s *Service) formNodes(c *cluster) []clusterform.Node {
	out := make([]clusterform.Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = clusterform.Node{Options: s.options(c, n), BusPort: n.busPort}
	}
	return out
}

// stopNodes stops every node of c (SIGTERM: each saves its data) and
// waits.
func (s *Service) stopNodes(c *cluster) error {
	s.mu.Lock()
	var procs []*localproc.Child
	for _, n := range c.nodes {
		if n.repair != nil {
			n.repair.Stop()
			n.repair = nil
		}
		if n.proc != nil {
			n.proc.Expected.Store(true)
			procs = append(procs, n.proc)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, p := range procs {
		p.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.Exited():
		case <-time.After(stopTimeout):
			p.Signal(syscall.SIGKILL)
			<-p.Exited()
			errs = append(errs, fmt.Errorf("redis-server pid %d did not exit within %s after SIGTERM and was killed", p.Pid, stopTimeout))
		}
	}
	return errors.Join(errs...)
}
