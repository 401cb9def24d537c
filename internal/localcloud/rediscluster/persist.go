package rediscluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
)

// record is a cluster as saved in state/clusters.json; the IAM tokens are
// saved apart, in state/cluster-tokens.json, readable by the owner only.
type record struct {
	Name    string          `json:"name"`
	Cluster json.RawMessage `json:"cluster"`
	Dir     string          `json:"dir"`
	Nodes   []nodeRecord    `json:"nodes"`
}

type nodeRecord struct {
	Dir      string `json:"dir"`
	Port     int    `json:"port"`
	BusPort  int    `json:"bus_port"`
	GatePort int    `json:"gate_port"`
	PID      int    `json:"pid"`
	Held     bool   `json:"held,omitempty"`
}

// persist saves every cluster.
func (s *Service) persist() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	recs := make([]record, 0, len(s.clusters))
	tokens := map[string]string{}
	var err error
	for _, c := range s.clusters {
		r := record{Name: c.name, Dir: c.dir}
		if r.Cluster, err = protojson.Marshal(c.pb); err != nil {
			break
		}
		for _, n := range c.nodes {
			nr := nodeRecord{Dir: n.dir, Port: n.port, BusPort: n.busPort, GatePort: n.gatePort, Held: n.held}
			if n.proc != nil && n.proc.Alive() {
				nr.PID = n.proc.Pid
			}
			r.Nodes = append(r.Nodes, nr)
		}
		recs = append(recs, r)
		if c.token != "" {
			tokens[c.name] = c.token
		}
	}
	s.mu.Unlock()
	if err == nil {
		err = s.cfg.State.Save(clustersDoc, recs)
	}
	if err == nil {
		var b []byte
		if b, err = json.Marshal(tokens); err == nil {
			err = state.WriteFileAtomic(s.cfg.State.Path(tokensDoc), b, 0o600)
		}
	}
	if err != nil {
		s.log.Error("clusters not saved", "err", err)
	}
}

// reload brings back every saved cluster: its interrupted operations are
// finished (a create or a delete as Google would end it), its nodes left
// running by a previous localcloud stopped, then started again on their
// folders and addresses.
func (s *Service) reload() error {
	var recs []record
	if _, err := s.cfg.State.Load(clustersDoc, &recs); err != nil {
		return err
	}
	tokens := map[string]string{}
	if _, err := s.cfg.State.Load(tokensDoc, &tokens); err != nil {
		return err
	}
	pending := s.cfg.Ops.PendingFor(MethodPrefix)
	var errs []error
	for _, r := range recs {
		pb := &clusterpb.Cluster{}
		if err := protojson.Unmarshal(r.Cluster, pb); err != nil {
			return fmt.Errorf("rediscluster: decode saved cluster %s: %w", r.Name, err)
		}
		c := &cluster{name: r.Name, dir: r.Dir, pb: pb, token: tokens[r.Name]}
		for _, nr := range r.Nodes {
			c.nodes = append(c.nodes, &node{dir: nr.Dir, port: nr.Port, busPort: nr.BusPort, gatePort: nr.GatePort, held: nr.Held})
			if _, err := localproc.StopStaleRedis(nr.PID, stopTimeout); err != nil {
				s.log.Warn("stale redis-server", "cluster", r.Name, "err", err)
			}
		}
		ops := pending[r.Name]
		delete(pending, r.Name)
		if err := s.reloadCluster(c, ops); err != nil {
			errs = append(errs, err)
		}
	}
	operations.FinishGone(pending, "cluster", "DeleteCluster", func(op *operations.Op) (proto.Message, proto.Message) {
		return &emptypb.Empty{}, &clusterpb.OperationMetadata{Target: op.Resource(), Verb: "delete", ApiVersion: apiVersion}
	})
	s.persist()
	return errors.Join(errs...)
}

func (s *Service) reloadCluster(c *cluster, ops []*operations.Op) error {
	meta := func(op *operations.Op) *clusterpb.OperationMetadata {
		return &clusterpb.OperationMetadata{Target: c.name, Verb: strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(op.Method(), MethodPrefix), "Cluster")), ApiVersion: apiVersion}
	}
	// A cluster being created or deleted when localcloud stopped is gone:
	// the create failed, the delete is done.
	if st := c.pb.GetState(); st == clusterpb.Cluster_CREATING || st == clusterpb.Cluster_DELETING {
		os.RemoveAll(c.dir)
		for _, op := range ops {
			if strings.HasSuffix(op.Method(), "DeleteCluster") {
				op.Finish(&emptypb.Empty{}, meta(op), nil)
			} else {
				op.Finish(nil, meta(op), status.Errorf(codes.Aborted, "localcloud stopped while %s was running; the cluster was removed", op.Method()))
			}
		}
		return nil
	}
	for _, op := range ops {
		op.Finish(nil, meta(op), status.Errorf(codes.Aborted, "localcloud stopped while %s was running; nothing was changed", op.Method()))
	}
	c.pb.State = clusterpb.Cluster_ACTIVE
	s.clusters[c.name] = c
	if c.pb.GetTransitEncryptionMode() == clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION {
		if err := s.useCA(c); err != nil {
			return fmt.Errorf("rediscluster: reload %s: %w", c.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := s.launch(ctx, c, false); err != nil {
		// The nodes that started are supervised; the cluster is back as far
		// as they make it (a shard held down by a fault stays down).
		s.log.Warn("cluster not ok after reload", "cluster", c.name, "err", err)
	}
	return nil
}
