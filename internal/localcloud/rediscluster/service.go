package rediscluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gate"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
)

const (
	// MethodPrefix is the gRPC service's full name with a trailing dot.
	MethodPrefix = "google.cloud.redis.cluster.v1.CloudRedisCluster."
	apiVersion   = "v1"
	clustersDoc  = "clusters"
	tokensDoc    = "cluster-tokens"

	readyTimeout = 2 * time.Minute
	stopTimeout  = time.Minute
)

// Errors of the fault helpers: an unknown cluster, a bad parameter.
var (
	ErrNotFound = errors.New("cluster not found")
	ErrInvalid  = errors.New("invalid")
)

// Config configures the service.
type Config struct {
	// DataDir holds one folder per cluster.
	DataDir         string
	RedisServerPath string
	// RepairDelay is how long a node that exited stays down before it is
	// started again. Default 2s.
	RepairDelay time.Duration
	Ops         *operations.Manager
	State       *state.Store
	Logger      *slog.Logger
	// Timing models Google Cloud's delays (nil or the default profile: none).
	Timing *profile.Ledger
	// AccessToken is the IAM access token localcloud gives identities (its
	// metadata server, its admin endpoint); a cluster with IAM
	// authorization accepts it. Empty: each such cluster mints its own.
	AccessToken string
}

// Service implements clusterpb.CloudRedisClusterServer.
type Service struct {
	clusterpb.UnimplementedCloudRedisClusterServer

	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	clusters map[string]*cluster
	closing  bool
	work     sync.WaitGroup // operations and repairs
	saveMu   sync.Mutex
}

// cluster is one Memorystore for Redis Cluster. Fields are guarded by
// Service.mu.
type cluster struct {
	name string
	dir  string
	pb   *clusterpb.Cluster
	// nodes are the redis-servers, primaries as formed first (node i of
	// the first shard_count is shard i's; node shard_count+k replicates
	// node k%shard_count).
	nodes     []*node
	discovery *gate.Gate
	// tls is how localcloud's own clients reach the nodes, with transit
	// encryption; ca is the cluster's own.
	tls *tls.Config
	ca  *pki.CA
	// token is the AUTH password every node requires with IAM
	// authorization ("" without): localcloud's access token.
	token string
	busy  string
}

// New creates the service and brings back every cluster saved in the state.
func New(cfg Config) (*Service, error) {
	if cfg.RepairDelay <= 0 {
		cfg.RepairDelay = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("rediscluster: %w", err)
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("service", "rediscluster"), clusters: map[string]*cluster{}}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops every node (SIGTERM: each saves its data) and saves the
// state.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.work.Wait()
	s.mu.Lock()
	var all []*cluster
	for _, c := range s.clusters {
		all = append(all, c)
	}
	s.mu.Unlock()
	var errs []error
	for _, c := range all {
		errs = append(errs, s.stopNodes(c))
	}
	s.persist()
	return errors.Join(errs...)
}

func (s *Service) snapshot(c *cluster) *clusterpb.Cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.CloneOf(c.pb)
}

func (s *Service) lookup(name string) (*cluster, error) {
	if _, _, _, err := clusterNames.Parse(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "cluster %q not found", name)
	}
	return c, nil
}

// claim marks c busy with a new operation; it must be ACTIVE.
func (s *Service) claim(c *cluster, method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	if c.busy != "" {
		return status.Errorf(codes.FailedPrecondition, "cluster %q is busy with operation %s; retry when it is done", c.name, c.busy)
	}
	if c.pb.State != clusterpb.Cluster_ACTIVE {
		return status.Errorf(codes.FailedPrecondition, "%s: cluster %q is %s; it must be ACTIVE", method, c.name, c.pb.State)
	}
	c.busy = "(starting)"
	return nil
}

// begin starts an operation for c, moving it to next first (unless
// STATE_UNSPECIFIED), and runs work in the background; a nil response is
// the cluster as it is then.
func (s *Service) begin(method string, c *cluster, next clusterpb.Cluster_State, work func(op *operations.Op) (proto.Message, error)) (*longrunningpb.Operation, error) {
	verb := strings.ToLower(strings.TrimSuffix(method, "Cluster"))
	project, region, _, _ := clusterNames.Parse(c.name)
	parent := fmt.Sprintf("projects/%s/locations/%s", project, region)
	s.mu.Lock()
	if s.closing {
		c.busy = ""
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	s.work.Add(1)
	if next != clusterpb.Cluster_STATE_UNSPECIFIED {
		c.pb.State = next
	}
	created := timestamppb.Now()
	s.mu.Unlock()
	meta := func(end bool) *clusterpb.OperationMetadata {
		m := &clusterpb.OperationMetadata{CreateTime: created, Target: c.name, Verb: verb, ApiVersion: apiVersion}
		if end {
			m.EndTime = timestamppb.Now()
		}
		return m
	}
	answer, err := s.cfg.Ops.Run(parent, MethodPrefix+method, c.name, meta(false), s.work.Done, func(op *operations.Op) (proto.Message, proto.Message, error) {
		s.mu.Lock()
		c.busy = op.Name()
		s.mu.Unlock()
		s.persist()
		resp, err := work(op)
		s.mu.Lock()
		c.busy = ""
		s.mu.Unlock()
		s.persist()
		if err == nil && resp == nil {
			resp = s.snapshot(c)
		}
		return resp, meta(true), err
	})
	if err != nil {
		s.mu.Lock()
		c.busy = ""
		s.mu.Unlock()
	}
	return answer, err
}

func (s *Service) setState(c *cluster, st clusterpb.Cluster_State) {
	s.mu.Lock()
	c.pb.State = st
	s.mu.Unlock()
	s.persist()
}

// regionOf and idOf split a cluster's (checked) name.
func regionOf(name string) string { _, r, _, _ := clusterNames.Parse(name); return r }
func idOf(name string) string     { _, _, id, _ := clusterNames.Parse(name); return id }
