package rediscluster

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// NodeStatus is one node as GET /_localcloud/clusters shows it.
type NodeStatus struct {
	Port      int    `json:"port"`       // its address (the gate), as CLUSTER SLOTS gives it
	RedisPort int    `json:"redis_port"` // the redis-server's own, behind the gate
	PID       int    `json:"pid"`        // 0 while down
	Role      string `json:"role"`       // master or replica, as CLUSTER SHARDS says; "" while down
	Shard     int    `json:"shard"`      // index of its shard by slot range (-1 while down)
	Held      bool   `json:"held,omitempty"`
}

// ClusterStatus is one cluster as GET /_localcloud/clusters shows it.
type ClusterStatus struct {
	Name      string       `json:"name"`
	State     string       `json:"state"`
	Discovery int          `json:"discovery_port"`
	Nodes     []NodeStatus `json:"nodes"`
}

// Statuses describes every cluster, sorted by name.
func (s *Service) Statuses(ctx context.Context) []ClusterStatus {
	s.mu.Lock()
	var all []*cluster
	for _, c := range s.clusters {
		all = append(all, c)
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	out := []ClusterStatus{}
	for _, c := range all {
		out = append(out, s.status(ctx, c))
	}
	return out
}

func (s *Service) status(ctx context.Context, c *cluster) ClusterStatus {
	pb := s.snapshot(c)
	st := ClusterStatus{Name: c.name, State: pb.GetState().String()}
	if eps := pb.GetDiscoveryEndpoints(); len(eps) > 0 {
		st.Discovery = int(eps[0].GetPort())
	}
	shards := s.shards(ctx, c)
	for _, n := range c.nodes {
		s.mu.Lock()
		ns := NodeStatus{Port: n.gatePort, RedisPort: n.port, Held: n.held, Shard: -1}
		if n.proc != nil && n.proc.Alive() {
			ns.PID = n.proc.Pid
		}
		s.mu.Unlock()
		if sh, ok := shards[n.gatePort]; ok {
			ns.Shard, ns.Role = sh.index, sh.role
		}
		st.Nodes = append(st.Nodes, ns)
	}
	return st
}

type place struct {
	index int
	role  string
}

// clusterShards is CLUSTER SHARDS as a node up sees it.
func (s *Service) clusterShards(ctx context.Context, c *cluster) ([]redis.ClusterShard, error) {
	addr := s.anyNode(c)
	if addr == "" {
		return nil, fmt.Errorf("no node of %s is up", c.name)
	}
	s.mu.Lock()
	var up *node
	for _, n := range c.nodes {
		if n.addr() == addr {
			up = n
		}
	}
	s.mu.Unlock()
	rc := redis.NewClient(s.options(c, up))
	defer rc.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return rc.ClusterShards(ctx).Result()
}

// shards asks a node up which shard each node (by announced port) serves
// and in which role: shard i is the one whose slots start at
// i × 16384 / shard_count, as the cluster was formed.
func (s *Service) shards(ctx context.Context, c *cluster) map[int]place {
	out := map[int]place{}
	shards, err := s.clusterShards(ctx, c)
	if err != nil {
		return out
	}
	s.mu.Lock()
	count := int(c.pb.GetShardCount())
	s.mu.Unlock()
	for _, sh := range shards {
		idx := -1
		for i := range count {
			for _, r := range sh.Slots {
				if r.Start == int64(i*16384/count) {
					idx = i
				}
			}
		}
		if idx < 0 {
			continue
		}
		for _, n := range sh.Nodes {
			if n.Health == "online" {
				out[nodePort(n)] = place{index: idx, role: n.Role}
			}
		}
	}
	return out
}

// failedOver reports whether the cluster no longer needs n (down) as a
// primary: a node up sees another online primary for n's slots, or n's
// shard has no other node up to promote.
func (s *Service) failedOver(ctx context.Context, c *cluster, n *node) bool {
	shards, err := s.clusterShards(ctx, c)
	if err != nil {
		return false
	}
	s.mu.Lock()
	port := n.gatePort
	s.mu.Unlock()
	for _, sh := range shards {
		mine, others, promoted := false, false, false
		for _, m := range sh.Nodes {
			if nodePort(m) == port {
				mine = m.Role == "master"
			} else if m.Health == "online" {
				others = true
				promoted = promoted || m.Role == "master"
			}
		}
		if mine {
			return promoted || !others
		}
	}
	return true
}

// nodePort is a node's announced port (its gate's), TLS or not.
func nodePort(m redis.Node) int {
	if m.TLSPort != 0 {
		return int(m.TLSPort)
	}
	return int(m.Port)
}

// KillResult says which nodes a fault killed.
type KillResult struct {
	Cluster string `json:"cluster"`
	Shard   int    `json:"shard"`
	Ports   []int  `json:"ports"` // the killed nodes' addresses
	PIDs    []int  `json:"pids"`
	Held    bool   `json:"held"`
}

// KillPrimary SIGKILLs shard's primary: the cluster promotes its replica
// after cluster-node-timeout, and the node comes back after the repair
// delay (as a replica) unless hold.
func (s *Service) KillPrimary(ctx context.Context, name string, shard int, hold bool) (KillResult, error) {
	return s.kill(ctx, name, shard, hold, true)
}

// KillShard SIGKILLs every node of shard.
func (s *Service) KillShard(ctx context.Context, name string, shard int, hold bool) (KillResult, error) {
	return s.kill(ctx, name, shard, hold, false)
}

func (s *Service) kill(ctx context.Context, name string, shard int, hold, primaryOnly bool) (KillResult, error) {
	c, err := s.find(name)
	if err != nil {
		return KillResult{}, err
	}
	if count := int(s.snapshot(c).GetShardCount()); shard < 0 || shard >= count {
		return KillResult{}, fmt.Errorf("%w: \"shard\": %d; the cluster's shards are 0 to %d", ErrInvalid, shard, count-1)
	}
	places := s.shards(ctx, c)
	res := KillResult{Cluster: c.name, Shard: shard, Held: hold}
	killed := time.Now()
	for _, n := range c.nodes {
		s.mu.Lock()
		p, ok := places[n.gatePort]
		proc := n.proc
		s.mu.Unlock()
		if !ok || p.index != shard || (primaryOnly && p.role != "master") || proc == nil || !proc.Alive() {
			continue
		}
		s.mu.Lock()
		n.held = hold
		s.mu.Unlock()
		proc.Signal(syscall.SIGKILL)
		<-proc.Exited()
		res.Ports = append(res.Ports, n.gatePort)
		res.PIDs = append(res.PIDs, proc.Pid)
	}
	if len(res.Ports) == 0 {
		return res, fmt.Errorf("%w: shard %d of %s has no node up to kill", ErrInvalid, shard, c.name)
	}
	if primaryOnly {
		// The nodes' own timeout runs the failover (nodeTimeout); the ledger
		// notes it, so that a drill's prediction counts it at full length.
		s.cfg.Timing.Record(profile.ClusterFailover, fmt.Sprintf("%s shard %d", c.name, shard), killed,
			s.cfg.Timing.Profile().Delay(profile.ClusterFailover).Duration.D())
	}
	s.persist()
	return res, nil
}

// Release starts the held nodes of a cluster again and answers once they
// answer PING.
func (s *Service) Release(ctx context.Context, name string) ([]int, error) {
	c, err := s.find(name)
	if err != nil {
		return nil, err
	}
	var ports []int
	for _, n := range c.nodes {
		s.mu.Lock()
		held := n.held
		n.held = false
		s.mu.Unlock()
		if !held {
			continue
		}
		if err := s.startNode(ctx, c, n); err != nil {
			return ports, err
		}
		ports = append(ports, n.gatePort)
	}
	s.persist()
	return ports, nil
}

// Token is the access token a cluster with IAM authorization accepts.
func (s *Service) Token(name string) (string, error) {
	c, err := s.find(name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.token == "" {
		return "", fmt.Errorf("%w: cluster %s has authorization_mode %s: it takes no token", ErrInvalid, name, c.pb.GetAuthorizationMode())
	}
	return c.token, nil
}

func (s *Service) find(name string) (*cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return c, nil
}
