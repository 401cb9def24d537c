package memorystore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gate"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	methodPrefix = "google.cloud.redis.v1.CloudRedis."
	apiVersion   = "v1"
	instancesDoc = "instances"
	authDoc      = "instance-auth"

	readyTimeout = 3 * time.Minute
	stopTimeout  = 2 * time.Minute
)

// ErrNotFound is returned by the fault helpers for an unknown instance.
var ErrNotFound = errors.New("instance not found")

// Config configures the service.
type Config struct {
	// DataDir holds one folder per instance.
	DataDir         string
	RedisServerPath string
	// RepairDelay is how long a crashed redis-server stays down before it
	// is restarted. Default 2s.
	RepairDelay time.Duration
	Ops         *operations.Manager
	Storage     *storage.Service
	State       *state.Store
	Logger      *slog.Logger
	// Timing models Google Cloud's delays (nil or the default profile: none).
	Timing *profile.Ledger
}

// Service implements redispb.CloudRedisServer.
type Service struct {
	redispb.UnimplementedCloudRedisServer

	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	instances map[string]*instance
	closing   bool
	ctx       context.Context
	cancel    context.CancelFunc
	work      sync.WaitGroup // operations and repairs
	watch     sync.WaitGroup // process exit watchers
	saveMu    sync.Mutex
	// savedAuths are the AUTH strings persist last wrote (nil before its
	// first write), guarded by saveMu: the file changes far less often
	// than the instances do.
	savedAuths map[string]string
}

type instance struct {
	name string
	dir  string

	// guarded by Service.mu
	pb   *redispb.Instance
	proc *process
	// port is the redis-server's own port; clients use the gate's
	// (pb.Port), which stays while redis-server restarts.
	port int
	gate *gate.Gate
	// auth is the AUTH string ("" when AUTH is disabled): kept in
	// localcloud's state, returned by GetInstanceAuthString only.
	auth string
	// tls is how localcloud's own clients reach the redis-server (trusting
	// the instance's certificate authority), with transit encryption.
	tls      *tls.Config
	restarts int
	held     bool
	busy     string // name of the running mutating operation
	// opOwnsProcess is set while an operation stops and starts the
	// process itself; the supervisor leaves such exits alone.
	opOwnsProcess bool
	// importing is set while an import runs: the instance serves no
	// client (its gate closes every connection).
	importing   bool
	lastExit    string
	repairTimer *time.Timer

	// launchMu serialises repairs, imports and deletion, the only things
	// that stop and start the process outside of create and reload.
	launchMu sync.Mutex
}

// New creates the service and brings back every instance saved in the state
// (stopping redis-servers left over by a previous localcloud first). It
// returns once every reloaded instance answers PING.
func New(cfg Config) (*Service, error) {
	if cfg.RepairDelay <= 0 {
		cfg.RepairDelay = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("memorystore: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, log: cfg.Logger.With("service", "memorystore"), instances: map[string]*instance{}, ctx: ctx, cancel: cancel}
	if err := s.reload(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// Close saves and stops every redis-server (SIGTERM; redis-server saves its
// dataset before exiting) and persists the state.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closing = true
	for _, inst := range s.instances {
		if inst.repairTimer != nil {
			inst.repairTimer.Stop()
		}
	}
	s.mu.Unlock()
	s.cancel()
	// Let running operations and repairs end (their contexts are cancelled
	// by the operations manager); no process is started after this.
	s.work.Wait()
	s.mu.Lock()
	var procs []*process
	for _, inst := range s.instances {
		if inst.proc != nil {
			procs = append(procs, inst.proc)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(stopTimeout); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.watch.Wait()
	s.mu.Lock()
	insts := make([]*instance, 0, len(s.instances))
	for _, inst := range s.instances {
		insts = append(insts, inst)
	}
	s.mu.Unlock()
	for _, inst := range insts {
		s.closeGate(inst)
	}
	s.persist()
	return errors.Join(errs...)
}

func (s *Service) snapshot(inst *instance) *redispb.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.CloneOf(inst.pb)
}

func (s *Service) setState(inst *instance, st redispb.Instance_State, msg string) {
	s.mu.Lock()
	inst.pb.State = st
	inst.pb.StatusMessage = msg
	s.mu.Unlock()
	s.persist()
}

func (s *Service) meta(op *operations.Op, verb, target string) *redispb.OperationMetadata {
	m := &redispb.OperationMetadata{
		CreateTime: timestamppb.New(opCreated(op)),
		EndTime:    timestamppb.Now(),
		Target:     target,
		Verb:       verb,
		ApiVersion: apiVersion,
	}
	if op.Context().Err() != nil {
		m.CancelRequested = true
	}
	return m
}

func opCreated(op *operations.Op) time.Time {
	p := op.Proto()
	if p.GetMetadata() != nil {
		m := &redispb.OperationMetadata{}
		if p.GetMetadata().UnmarshalTo(m) == nil && m.CreateTime != nil {
			return m.CreateTime.AsTime()
		}
	}
	return time.Now()
}

func (s *Service) lookup(name string) (*instance, error) {
	if _, _, _, err := instanceNames.Parse(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "instance %q not found", name)
	}
	return inst, nil
}

// claim marks the instance busy with a new operation; it must be in one of
// the given states.
func (s *Service) claim(inst *instance, method string, states ...redispb.Instance_State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	if inst.busy != "" {
		return status.Errorf(codes.FailedPrecondition, "instance %q is busy with operation %s; retry when it is done", inst.name, inst.busy)
	}
	ok := false
	for _, st := range states {
		ok = ok || inst.pb.State == st
	}
	if !ok {
		return status.Errorf(codes.FailedPrecondition, "%s: instance %q is %s; it must be READY", strings.TrimPrefix(method, methodPrefix), inst.name, inst.pb.State)
	}
	inst.busy = "(starting)"
	return nil
}

func (s *Service) unclaim(inst *instance) {
	s.mu.Lock()
	inst.busy = ""
	s.mu.Unlock()
	s.persist()
}

// begin starts an operation for inst, in the instance's location, and runs
// work in the background. If next is not STATE_UNSPECIFIED the instance
// moves to that state first.
func (s *Service) begin(method string, inst *instance, next redispb.Instance_State, work func(op *operations.Op) (proto.Message, error)) (*longrunningpb.Operation, error) {
	verb := verbOf(method)
	project, region, _, _ := instanceNames.Parse(inst.name)
	parent := fmt.Sprintf("projects/%s/locations/%s", project, region)
	s.mu.Lock()
	if s.closing {
		inst.busy = ""
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	s.work.Add(1)
	if next != redispb.Instance_STATE_UNSPECIFIED {
		inst.pb.State = next
		inst.pb.StatusMessage = ""
	}
	s.mu.Unlock()
	m := &redispb.OperationMetadata{CreateTime: timestamppb.Now(), Target: inst.name, Verb: verb, ApiVersion: apiVersion}
	answer, err := s.cfg.Ops.Run(parent, methodPrefix+method, inst.name, m, s.work.Done, func(op *operations.Op) (proto.Message, proto.Message, error) {
		s.mu.Lock()
		inst.busy = op.Name()
		s.mu.Unlock()
		s.persist()
		resp, err := work(op)
		s.unclaim(inst)
		if err == nil && resp == nil {
			resp = s.snapshot(inst)
		}
		return resp, s.meta(op, verb, inst.name), err
	})
	if err != nil {
		s.unclaim(inst)
	}
	return answer, err
}

func verbOf(method string) string {
	m := strings.TrimPrefix(method, methodPrefix)
	m = strings.TrimSuffix(m, "Instance")
	return strings.ToLower(m)
}
