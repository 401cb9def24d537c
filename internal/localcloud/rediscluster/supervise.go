package rediscluster

import (
	"context"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
)

// supervise starts n again after the repair delay when p exits without
// localcloud asking (a crash, a kill fault), unless n is held down. Its
// folder's nodes.conf keeps its place in the cluster: a primary whose
// replica was promoted meanwhile comes back as that replica's replica.
func (s *Service) supervise(c *cluster, n *node, p *localproc.Child) {
	go func() {
		<-p.Exited()
		if p.Expected.Load() {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closing || n.proc != p {
			return
		}
		s.log.Warn("cluster node exited", "cluster", c.name, "port", n.gatePort, "err", p.Err(), "held", n.held)
		if n.held {
			return
		}
		n.repair = time.AfterFunc(s.cfg.RepairDelay, func() { s.repair(c, n) })
	}()
}

// awaitFailover waits, up to a few node timeouts, until the cluster no
// longer counts on n as a primary: its replica promoted, or no replica
// left to promote. A primary started again before that would come back
// with the data it last saved (none without persistence) and its replica
// would resynchronise from it, losing what it had; on Memorystore the
// replica is promoted first.
func (s *Service) awaitFailover(ctx context.Context, c *cluster, n *node) {
	ctx, cancel := context.WithTimeout(ctx, 4*s.nodeTimeout()+5*time.Second)
	defer cancel()
	for !s.failedOver(ctx, c, n) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// repair starts n again.
func (s *Service) repair(c *cluster, n *node) {
	s.mu.Lock()
	if s.closing || n.held || (n.proc != nil && n.proc.Alive()) {
		s.mu.Unlock()
		return
	}
	n.repair = nil
	s.work.Add(1)
	s.mu.Unlock()
	defer s.work.Done()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	s.awaitFailover(ctx, c, n)
	if err := s.startNode(ctx, c, n); err != nil {
		s.log.Error("cluster node not repaired", "cluster", c.name, "port", n.gatePort, "err", err)
		return
	}
	s.log.Info("cluster node repaired", "cluster", c.name, "port", n.gatePort)
	s.persist()
}
