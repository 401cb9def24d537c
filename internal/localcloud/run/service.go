package run

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/regions"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// MethodPrefix prefixes the operation log's method names.
	MethodPrefix = "google.cloud.run.v2.Services."
	servicesDoc  = "run-services"

	stopTimeout = 15 * time.Second
)

// ErrNotFound is returned by the fault helpers for an unknown service.
var ErrNotFound = errors.New("service not found")

// Config configures the service.
type Config struct {
	// DataDir holds one folder per service (instance logs).
	DataDir string
	// RelayBinary runs the agentnet-relay image. If empty, creating a
	// service fails with RelayBinaryErr.
	RelayBinary    string
	RelayBinaryErr error
	// RepairDelay is how long a crashed instance stays down before it is
	// restarted. Default 2s.
	RepairDelay time.Duration
	// ReadyTimeout bounds how long an instance may take to become ready.
	// Default 60s.
	ReadyTimeout time.Duration
	// LoadBalancerSecret is what localcloud's load balancer puts in the
	// LoadBalancerHeader of each request it proxies to a service URL: such a
	// request came through Cloud Load Balancing (ingress). Empty: no request
	// counts as coming from the load balancer.
	LoadBalancerSecret string
	// EmulatorHost is localcloud's own host:port, given to every relay as
	// AGENTNET_EMULATOR_HOST.
	EmulatorHost string
	Ops          *operations.Manager
	State        *state.Store
	Regions      *regions.Controller
	Logger       *slog.Logger
	// Timing models Google Cloud's delays (nil or the default profile: none).
	Timing *profile.Ledger
}

// Service implements runpb.ServicesServer.
type Service struct {
	runpb.UnimplementedServicesServer

	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	services map[string]*service
	closing  bool
	ctx      context.Context
	cancel   context.CancelFunc
	work     sync.WaitGroup
	watch    sync.WaitGroup
	saveMu   sync.Mutex
	started  bool
	pending  map[string][]*operations.Op
	// restarts are the instance restarts after region-up, by region.
	restarts map[string]*regionRestart
}

type service struct {
	name, project, region, id string
	dir                       string

	// deployMu serialises reconciliations (deploy, scale, reload, delete).
	deployMu sync.Mutex

	// guarded by Service.mu
	pb              *runpb.Service
	revCount        int
	serving         string
	servingTemplate *runpb.RevisionTemplate
	instances       []*instance
	urlPort         int
	proxy           *urlProxy
	held            bool
	regionDown      bool
	deleted         bool
	nextInst        int
	recent          []Conn
	// supersede cancels the reconciliation in progress.
	supersede context.CancelFunc
	rr        atomic.Uint64
}

type instance struct {
	id       string
	revision string
	template *runpb.RevisionTemplate

	// guarded by Service.mu
	port      int
	opsPort   int
	proc      *process
	ready     bool
	launching bool
	retired   bool
	restarts  int
	lastExit  string
	timer     *time.Timer
	stalePID  int

	conns  atomic.Int64
	active atomic.Int64
}

// Start brings the services back.
func New(cfg Config) (*Service, error) {
	if cfg.RepairDelay <= 0 {
		cfg.RepairDelay = 2 * time.Second
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, log: cfg.Logger.With("service", "run"), services: map[string]*service{}, ctx: ctx, cancel: cancel}
	if err := s.load(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// Start brings back every loaded service (terminating relay processes left
// by a previous localcloud first): it opens the service URLs on their ports
// and returns once the instances have been started and are ready, or have
// failed to (they are then retried by the supervisor).

func splitName(name string) (project, region, id string) {
	p := strings.Split(name, "/")
	if len(p) != 6 {
		return "", "", ""
	}
	return p[1], p[3], p[5]
}

func markerOf(service, instance string) string { return service + "#" + instance }

func (s *Service) snapshot(svc *service) *runpb.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.CloneOf(svc.pb)
}

func (s *Service) lookup(name string) (*service, error) {
	if _, _, _, err := serviceNames.Parse(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.services[name]
	if !ok || svc.deleted {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' of kind 'SERVICE' in region '%s' in project '%s' does not exist.", svc0(name), regionOfName(name), projectOfName(name))
	}
	return svc, nil
}

func svc0(name string) string         { _, _, id := splitName(name); return id }
func regionOfName(name string) string { _, r, _ := splitName(name); return r }
func projectOfName(name string) string {
	p, _, _ := splitName(name)
	return p
}

func randSuffix(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	if b[0] >= '0' && b[0] <= '9' {
		b[0] = 'a' + b[0] - '0'
	}
	return string(b)
}

func newUID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func etagOf(pb *runpb.Service) string {
	h := sha256.Sum256([]byte(pb.Name + "/" + strconv.FormatInt(pb.Generation, 10) + "/" + pb.GetUpdateTime().AsTime().String()))
	return "\"" + base64.RawURLEncoding.EncodeToString(h[:12]) + "\""
}

// revisionName is {service}-{5-digit revision number}-{3 letters}, or the
// template's revision if set.
func revisionName(id string, n int, t *runpb.RevisionTemplate) string {
	if r := t.GetRevision(); r != "" {
		return r
	}
	return fmt.Sprintf("%s-%05d-%s", id, n, randSuffix(3))
}

func cond(typ string, st runpb.Condition_State, msg string) *runpb.Condition {
	c := &runpb.Condition{Type: typ, State: st, Message: msg, LastTransitionTime: timestamppb.Now()}
	if st == runpb.Condition_CONDITION_FAILED {
		c.Severity = runpb.Condition_ERROR
	}
	return c
}

// setReconciling marks the service as being reconciled (guarded by s.mu).
func setReconciling(pb *runpb.Service) {
	pb.Reconciling = true
	pb.TerminalCondition = cond("Ready", runpb.Condition_CONDITION_RECONCILING, "")
	pb.Conditions = []*runpb.Condition{
		cond("RoutesReady", runpb.Condition_CONDITION_RECONCILING, ""),
		cond("ConfigurationsReady", runpb.Condition_CONDITION_RECONCILING, ""),
	}
}

// URL returns the URL (http://127.0.0.1:PORT) of service id in project and
// region: what a serverless network endpoint group resolves to. It fails
// when the service does not exist or its region is down.
func (s *Service) URL(_ context.Context, project, region, id string) (string, error) {
	name := fmt.Sprintf("projects/%s/locations/%s/services/%s", project, region, id)
	if s.cfg.Regions != nil && s.cfg.Regions.IsDown(region) {
		return "", regions.Unavailable(region, name)
	}
	svc, err := s.lookup(name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return svc.pb.Uri, nil
}
