// Package run emulates Cloud Run Admin API v2 services
// (google.cloud.run.v2.Services) for localcloud.
//
// Image mapping: localcloud runs no container engine. A service's single
// container must use the agentnet relay image: any image whose last path
// element, without tag or digest, is "agentnet-relay"
// (us-docker.pkg.dev/PROJECT/agentnet/agentnet-relay:1.4, agentnet-relay:dev,
// ...@sha256:...). Each instance of such a service is a relay process
// started from the relay binary (Config.RelayBinary). Any other image is
// refused with INVALID_ARGUMENT on template.containers[0].image.
//
// Each instance gets the container's env plus what Cloud Run sets: PORT (a
// free loopback port; container_port is echoed but not used), K_SERVICE,
// K_REVISION, K_CONFIGURATION, and LISTEN_HOST=127.0.0.1 and INSTANCE_ID
// (the instance id shown by GET /_localcloud/services). It is ready when its
// /readyz answers 200.
//
// Each service has a front door, its URL http://127.0.0.1:PORT (the port is
// chosen at creation and kept across localcloud restarts when it is still
// free): a reverse proxy (WebSocket upgrades included) that sends each new
// connection or request to the next ready instance of the serving revision,
// round robin, and answers 503 when none is ready. Responses carry the
// instance in the header X-Localcloud-Instance; the last connections routed
// are listed by Statuses.
//
// Instances: service-level scaling (scaling.manual_instance_count in MANUAL
// mode, else scaling.min_instance_count) if set, else
// template.scaling.min_instance_count; at least 1; at most the service-level
// or revision max_instance_count (default 100). A change of the template (or
// force_new_revision) creates a new revision: its instances are started,
// once all are ready the front door switches to them, then the old ones get
// SIGTERM (the relay closes its agents with 1001 and they reconnect through
// the front door). The operation is done only when the new revision serves.
// If the new revision does not become ready the old one keeps serving and
// the operation fails with FAILED_PRECONDITION. A change of the service-level
// scaling only adds or removes instances of the serving revision. A crashed
// instance is restarted after the repair delay.
//
// Faults (registered by localcloud): Kill (service-kill) SIGKILLs every
// instance, restarted after the repair delay unless held; Restore
// (service-restore) ends a hold, as does the next UpdateService. In a region
// outage (RegionDown) every instance of the region's services is SIGKILLed
// and held down and their front doors are closed: connecting to the service
// URL is refused (ECONNREFUSED) until RegionUp reopens it on the same port
// and restarts the instances.
//
// State (package state, document run-services): each Service, its URL
// port, its serving revision and its instances with their pids. New loads it
// and claims the interrupted Cloud Run operations; Start terminates relays
// left by a previous localcloud (recognised by the LOCALCLOUD_RUN_INSTANCE
// variable in their environment), reopens the front doors and restarts the
// instances, then finishes those operations.
package run

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/regions"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// MethodPrefix prefixes the operation log's method names.
	MethodPrefix = "google.cloud.run.v2.Services."
	servicesDoc  = "run-services"

	quickAnswer  = time.Second
	stopTimeout  = 15 * time.Second
	probeEvery   = 500 * time.Millisecond
	probeFailMax = 3
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
	Ops          *operations.Manager
	State        *state.Store
	Regions      *regions.Controller
	Logger       *slog.Logger
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
}

type service struct {
	name, project, region, id string
	dir                       string

	// deployMu serialises reconciliations (deploy, scale, restore, delete).
	deployMu sync.Mutex

	// guarded by Service.mu
	pb              *runpb.Service
	revCount        int
	serving         string
	servingTemplate *runpb.RevisionTemplate
	instances       []*instance
	frontPort       int
	front           *front
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
	port       int
	proc       *process
	ready      bool
	launching  bool
	retired    bool
	restarts   int
	lastExit   string
	probeFails int
	timer      *time.Timer
	stalePID   int

	conns  atomic.Int64
	active atomic.Int64
}

type instRecord struct {
	ID       string `json:"id"`
	Revision string `json:"revision"`
	Port     int    `json:"port"`
	PID      int    `json:"pid"`
	Restarts int    `json:"restarts"`
	LastExit string `json:"last_exit,omitempty"`
	Conns    int64  `json:"connections"`
}

type record struct {
	Name            string          `json:"name"`
	Service         json.RawMessage `json:"service"`
	Dir             string          `json:"dir"`
	FrontPort       int             `json:"front_port"`
	RevCount        int             `json:"revision_count"`
	Serving         string          `json:"serving_revision"`
	ServingTemplate json.RawMessage `json:"serving_template,omitempty"`
	Held            bool            `json:"held,omitempty"`
	NextInst        int             `json:"next_instance"`
	Instances       []instRecord    `json:"instances"`
}

// New creates the service and loads the services saved in the state. It
// claims the Cloud Run operations left running by a previous localcloud
// (so call it before other services claim the rest), but starts nothing:
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
// by a previous localcloud first): it opens the front doors on their ports
// and returns once the instances have been started and are ready, or have
// failed to (they are then retried by the supervisor).
func (s *Service) Start() {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return
	}
	s.started = true
	svcs := make([]*service, 0, len(s.services))
	for _, svc := range s.services {
		svcs = append(svcs, svc)
	}
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, svc := range svcs {
		ops := pending[svc.name]
		delete(pending, svc.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.restoreService(svc, ops)
		}()
	}
	wg.Wait()
	for res, ops := range pending {
		for _, op := range ops {
			if strings.HasSuffix(op.Method(), "DeleteService") {
				op.Finish(&runpb.Service{Name: res}, &runpb.Service{Name: res}, nil)
				continue
			}
			op.Finish(nil, nil, status.Errorf(codes.Aborted, "localcloud stopped while %s of %s was running; the service no longer exists", op.Method(), res))
		}
	}
	s.persist()
	s.work.Add(1)
	go s.prober()
}

func splitName(name string) (project, region, id string) {
	p := strings.Split(name, "/")
	if len(p) != 6 {
		return "", "", ""
	}
	return p[1], p[3], p[5]
}

func (s *Service) load() error {
	var recs []record
	if _, err := s.cfg.State.Load(servicesDoc, &recs); err != nil {
		return err
	}
	s.pending = map[string][]*operations.Op{}
	for _, op := range s.cfg.Ops.PendingFor(MethodPrefix) {
		s.pending[op.Resource()] = append(s.pending[op.Resource()], op)
	}
	for _, r := range recs {
		pb := &runpb.Service{}
		if err := protojson.Unmarshal(r.Service, pb); err != nil {
			return fmt.Errorf("run: decode saved service %s: %w", r.Name, err)
		}
		project, region, id := splitName(r.Name)
		svc := &service{name: r.Name, project: project, region: region, id: id, dir: r.Dir, pb: pb,
			revCount: r.RevCount, serving: r.Serving, frontPort: r.FrontPort, held: r.Held, nextInst: r.NextInst}
		if len(r.ServingTemplate) > 0 {
			t := &runpb.RevisionTemplate{}
			if err := protojson.Unmarshal(r.ServingTemplate, t); err == nil {
				svc.servingTemplate = t
			}
		}
		for _, ir := range r.Instances {
			inst := &instance{id: ir.ID, revision: ir.Revision, port: ir.Port, restarts: ir.Restarts, lastExit: ir.LastExit, stalePID: ir.PID}
			inst.conns.Store(ir.Conns)
			inst.template = svc.servingTemplate
			svc.instances = append(svc.instances, inst)
		}
		svc.regionDown = s.cfg.Regions != nil && s.cfg.Regions.IsDown(region)
		s.services[r.Name] = svc
	}
	return nil
}

func (s *Service) restoreService(svc *service, ops []*operations.Op) {
	// Relays left running by a previous localcloud (killed without a
	// chance to stop them) are terminated first; instances of a revision
	// that was not serving yet are dropped (the rollout starts again).
	s.mu.Lock()
	insts := svc.instances
	s.mu.Unlock()
	var kept []*instance
	for _, inst := range insts {
		if stopStale(inst.stalePID, markerOf(svc.name, inst.id), stopTimeout) {
			s.log.Info("stopped relay left by the previous localcloud", "service", svc.name, "instance", inst.id, "pid", inst.stalePID)
		}
		inst.stalePID = 0
		if inst.revision == svc.serving {
			kept = append(kept, inst)
		}
	}
	s.mu.Lock()
	svc.instances = kept
	s.mu.Unlock()
	deleting := false
	for _, op := range ops {
		deleting = deleting || strings.HasSuffix(op.Method(), "DeleteService")
	}
	if deleting {
		s.mu.Lock()
		svc.deleted = true
		delete(s.services, svc.name)
		snap := proto.Clone(svc.pb).(*runpb.Service)
		s.mu.Unlock()
		os.RemoveAll(svc.dir)
		for _, op := range ops {
			if strings.HasSuffix(op.Method(), "DeleteService") {
				op.Finish(snap, snap, nil)
			} else {
				op.Finish(nil, snap, status.Errorf(codes.Aborted, "localcloud stopped while %s was running; the service has been deleted", op.Method()))
			}
		}
		return
	}
	if err := s.openFront(svc); err != nil {
		s.log.Error("front door", "service", svc.name, "err", err)
	}
	s.mu.Lock()
	down := svc.regionDown
	s.mu.Unlock()
	if down {
		for _, op := range ops {
			op.Finish(nil, s.snapshot(svc), status.Errorf(codes.Unavailable, "localcloud stopped while %s was running and region %s is down; the operation was abandoned", op.Method(), svc.region))
		}
		return
	}
	// The serving revision comes back before Start returns; a rollout that
	// was interrupted (and any interrupted operation) resumes in the
	// background, so that a revision that never becomes ready does not
	// hold up localcloud's start.
	if err := s.restoreServing(s.ctx, svc); err != nil {
		s.log.Error("restore service", "service", svc.name, "err", err)
	}
	s.mu.Lock()
	resume := svc.pb.LatestCreatedRevision != svc.serving || len(ops) > 0
	if resume {
		s.work.Add(1)
	}
	s.mu.Unlock()
	if !resume {
		return
	}
	go func() {
		defer s.work.Done()
		err := s.reconcile(s.ctx, svc)
		if err != nil {
			s.log.Error("resume service rollout", "service", svc.name, "err", err)
		}
		for _, op := range ops {
			snap := s.snapshot(svc)
			if err != nil {
				op.Finish(nil, snap, status.Errorf(status.Code(err), "localcloud stopped while %s was running; resuming it failed: %s", op.Method(), status.Convert(err).Message()))
			} else {
				op.Finish(snap, snap, nil)
			}
		}
	}()
}

func markerOf(service, instance string) string { return service + "#" + instance }

// Close stops every front door and every relay (SIGTERM) and persists the
// state.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closing = true
	var procs []*process
	var fronts []*front
	for _, svc := range s.services {
		for _, inst := range svc.instances {
			if inst.timer != nil {
				inst.timer.Stop()
			}
		}
		if svc.front != nil {
			fronts = append(fronts, svc.front)
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.work.Wait()
	for _, f := range fronts {
		f.close()
	}
	s.mu.Lock()
	for _, svc := range s.services {
		for _, inst := range svc.instances {
			if inst.proc != nil && inst.proc.Alive() {
				procs = append(procs, inst.proc)
			}
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(stopTimeout)
		}()
	}
	wg.Wait()
	s.watch.Wait()
	s.persist()
	return nil
}

func (s *Service) persist() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	recs := make([]record, 0, len(s.services))
	for _, svc := range s.services {
		b, err := protojson.Marshal(svc.pb)
		if err != nil {
			continue
		}
		r := record{Name: svc.name, Service: b, Dir: svc.dir, FrontPort: svc.frontPort, RevCount: svc.revCount,
			Serving: svc.serving, Held: svc.held, NextInst: svc.nextInst, Instances: []instRecord{}}
		if svc.servingTemplate != nil {
			r.ServingTemplate, _ = protojson.Marshal(svc.servingTemplate)
		}
		for _, inst := range svc.instances {
			ir := instRecord{ID: inst.id, Revision: inst.revision, Port: inst.port, Restarts: inst.restarts, LastExit: inst.lastExit, Conns: inst.conns.Load()}
			if inst.proc != nil && inst.proc.Alive() {
				ir.PID = inst.proc.Pid
			}
			r.Instances = append(r.Instances, ir)
		}
		recs = append(recs, r)
	}
	s.mu.Unlock()
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	if err := s.cfg.State.Save(servicesDoc, recs); err != nil {
		s.log.Error("persist services", "err", err)
	}
}

func (s *Service) snapshot(svc *service) *runpb.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(svc.pb).(*runpb.Service)
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

// ---- Services methods ----

// CreateService validates the request, opens the front door and deploys
// the first revision.
func (s *Service) CreateService(_ context.Context, req *runpb.CreateServiceRequest) (op *longrunningpb.Operation, err error) {
	const method = "CreateService"
	name := req.GetParent() + "/services/" + req.GetServiceId()
	defer func() {
		if err != nil {
			s.cfg.Ops.Record(MethodPrefix+method, name, err)
		}
	}()
	project, region, err := gapi.ParseParent(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	id := req.GetServiceId()
	if err := serviceNames.CheckID(id); err != nil {
		return nil, err
	}
	in := req.GetService()
	if in == nil {
		return nil, gapi.Invalid("service: required")
	}
	if in.GetName() != "" && in.GetName() != name {
		return nil, gapi.Invalid("service.name: %q must be empty on create (the name is parent + service_id: %q)", in.GetName(), name)
	}
	if err := validateSpec(in, id); err != nil {
		return nil, err
	}
	if s.cfg.RelayBinary == "" {
		err := s.cfg.RelayBinaryErr
		if err == nil {
			err = errors.New("no relay binary configured")
		}
		return nil, status.Errorf(codes.FailedPrecondition, "localcloud cannot run the %s image: %v", RelayImage, err)
	}
	now := timestamppb.Now()
	pb := s.spec(in)
	pb.Name = name
	pb.Uid = newUID()
	pb.Generation = 1
	pb.CreateTime = now
	pb.UpdateTime = now
	pb.Creator = "localcloud@" + project + ".iam.gserviceaccount.com"
	pb.LastModifier = pb.Creator
	pb.Etag = etagOf(pb)
	setReconciling(pb)
	port, err := localproc.FreePort()
	if err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "no free loopback port for the service URL: %v", err)
	}
	svc := &service{name: name, project: project, region: region, id: id, dir: filepath.Join(s.cfg.DataDir, project, region, id), pb: pb, frontPort: port}
	svc.revCount = 1
	pb.LatestCreatedRevision = revisionName(id, 1, pb.Template)
	pb.Uri = fmt.Sprintf("http://127.0.0.1:%d", port)
	pb.Urls = []string{pb.Uri}
	if req.GetValidateOnly() {
		return s.doneOp(req.GetParent(), method, name, pb)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	if old, ok := s.services[name]; ok && !old.deleted {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "Resource '%s' already exists.", id)
	}
	s.services[name] = svc
	s.mu.Unlock()
	os.RemoveAll(svc.dir)
	if err := os.MkdirAll(svc.dir, 0o755); err != nil {
		s.mu.Lock()
		delete(s.services, name)
		s.mu.Unlock()
		return nil, status.Errorf(codes.Internal, "service folder: %v", err)
	}
	if err := s.openFront(svc); err != nil {
		s.mu.Lock()
		delete(s.services, name)
		s.mu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted, "service URL: %v", err)
	}
	s.persist()
	return s.begin(req.GetParent(), method, svc, func(op *operations.Op) error {
		return s.reconcile(op.Context(), svc)
	})
}

// spec copies the user-settable fields of in, with Cloud Run's defaults.
func (s *Service) spec(in *runpb.Service) *runpb.Service {
	in = proto.Clone(in).(*runpb.Service)
	pb := &runpb.Service{
		Description:         in.Description,
		Labels:              in.Labels,
		Annotations:         in.Annotations,
		Client:              in.Client,
		ClientVersion:       in.ClientVersion,
		Ingress:             in.Ingress,
		LaunchStage:         in.LaunchStage,
		BinaryAuthorization: in.BinaryAuthorization,
		Template:            withDefaults(in.Template),
		Traffic:             in.Traffic,
		Scaling:             in.Scaling,
		InvokerIamDisabled:  in.InvokerIamDisabled,
		DefaultUriDisabled:  in.DefaultUriDisabled,
		CustomAudiences:     in.CustomAudiences,
		IapEnabled:          in.IapEnabled,
	}
	if pb.Ingress == runpb.IngressTraffic_INGRESS_TRAFFIC_UNSPECIFIED {
		pb.Ingress = runpb.IngressTraffic_INGRESS_TRAFFIC_ALL
	}
	if pb.LaunchStage == 0 {
		pb.LaunchStage = 3 // GA
	}
	if len(pb.Traffic) == 0 {
		pb.Traffic = []*runpb.TrafficTarget{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Percent: 100}}
	}
	return pb
}

// doneOp answers a validate_only request with a finished operation.
func (s *Service) doneOp(parent, method, name string, pb *runpb.Service) (*longrunningpb.Operation, error) {
	op, err := s.cfg.Ops.Begin(parent, MethodPrefix+method, name, pb)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "start operation: %v", err)
	}
	op.Finish(pb, pb, nil)
	return op.Proto(), nil
}

// begin starts an operation whose metadata and response are the Service
// and runs work in the background; the operation is done when work is.
func (s *Service) begin(parent, method string, svc *service, work func(op *operations.Op) error) (*longrunningpb.Operation, error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	s.work.Add(1)
	s.mu.Unlock()
	op, err := s.cfg.Ops.Begin(parent, MethodPrefix+method, svc.name, s.snapshot(svc))
	if err != nil {
		s.work.Done()
		return nil, status.Errorf(codes.Internal, "start operation: %v", err)
	}
	go func() {
		defer s.work.Done()
		err := work(op)
		snap := s.snapshot(svc)
		if err != nil {
			op.Finish(nil, snap, err)
			return
		}
		op.Finish(snap, snap, nil)
	}()
	select {
	case <-op.Finished():
	case <-time.After(quickAnswer):
	}
	return op.Proto(), nil
}

// GetService returns one service.
func (s *Service) GetService(_ context.Context, req *runpb.GetServiceRequest) (*runpb.Service, error) {
	svc, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return s.snapshot(svc), nil
}

// ListServices lists the services of a region (or every region with "-"),
// newest first.
func (s *Service) ListServices(_ context.Context, req *runpb.ListServicesRequest) (*runpb.ListServicesResponse, error) {
	project, region, err := gapi.ParseParent(req.GetParent(), true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var all []*runpb.Service
	for _, svc := range s.services {
		if svc.deleted || svc.project != project || (region != "-" && svc.region != region) {
			continue
		}
		if region == "-" && s.cfg.Regions != nil && s.cfg.Regions.IsDown(svc.region) {
			continue
		}
		all = append(all, proto.Clone(svc.pb).(*runpb.Service))
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].CreateTime.AsTime(), all[j].CreateTime.AsTime()
		if !a.Equal(b) {
			return a.After(b)
		}
		return all[i].Name < all[j].Name
	})
	page, next, err := gapi.Page(all, req.GetPageToken(), req.GetPageSize(), "ListServices")
	if err != nil {
		return nil, err
	}
	return &runpb.ListServicesResponse{Services: page, NextPageToken: next}, nil
}

// updatable are the update_mask paths accepted by UpdateService.
var updatable = []string{"description", "labels", "annotations", "client", "client_version", "ingress", "launch_stage",
	"binary_authorization", "template", "traffic", "scaling", "invoker_iam_disabled", "default_uri_disabled", "custom_audiences", "iap_enabled"}

// UpdateService replaces the service's settings (all of them, or the
// top-level fields named in update_mask). A template change (or
// force_new_revision) rolls out a new revision; a change of scaling only
// adds or removes instances.
func (s *Service) UpdateService(ctx context.Context, req *runpb.UpdateServiceRequest) (op *longrunningpb.Operation, err error) {
	const method = "UpdateService"
	in := req.GetService()
	name := in.GetName()
	defer func() {
		if err != nil {
			s.cfg.Ops.Record(MethodPrefix+method, name, err)
		}
	}()
	if in == nil {
		return nil, gapi.Invalid("service: required")
	}
	project, region, id, err := serviceNames.Parse(name)
	if err != nil {
		return nil, gapi.Invalid("service.%s", status.Convert(err).Message())
	}
	svc, err := s.lookup(name)
	if status.Code(err) == codes.NotFound && req.GetAllowMissing() {
		return s.CreateService(ctx, &runpb.CreateServiceRequest{Parent: fmt.Sprintf("projects/%s/locations/%s", project, region),
			ServiceId: id, Service: withoutName(in), ValidateOnly: req.GetValidateOnly()})
	}
	if err != nil {
		return nil, err
	}
	cur := s.snapshot(svc)
	if e := in.GetEtag(); e != "" && e != cur.Etag {
		return nil, status.Errorf(codes.Aborted, "service.etag: %s does not match the current etag %s; the service was changed meanwhile: read it again", e, cur.Etag)
	}
	next := proto.Clone(in).(*runpb.Service)
	if paths := req.GetUpdateMask().GetPaths(); len(paths) > 0 {
		next = proto.Clone(cur).(*runpb.Service)
		src := in.ProtoReflect()
		dst := next.ProtoReflect()
		for _, p := range paths {
			ok := false
			for _, u := range updatable {
				ok = ok || u == p
			}
			if !ok {
				return nil, gapi.Invalid("update_mask: path %q cannot be updated; accepted paths are %s", p, strings.Join(updatable, ", "))
			}
			f := dst.Descriptor().Fields().ByName(protoreflectName(p))
			if src.Has(f) {
				dst.Set(f, src.Get(f))
			} else {
				dst.Clear(f)
			}
		}
	}
	if err := validateSpec(next, id); err != nil {
		return nil, err
	}
	spec := s.spec(next)
	if req.GetValidateOnly() {
		merged := proto.Clone(cur).(*runpb.Service)
		mergeSpec(merged, spec)
		return s.doneOp(fmt.Sprintf("projects/%s/locations/%s", project, region), method, name, merged)
	}
	s.mu.Lock()
	if svc.deleted {
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "service %q is being deleted", name)
	}
	newRev := req.GetForceNewRevision() || templateChanged(svc.pb.Template, spec.Template)
	if newRev && spec.Template.GetRevision() != "" && spec.Template.GetRevision() == svc.pb.LatestCreatedRevision {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "template.revision: revision %q already exists; choose a new name or leave it empty", spec.Template.GetRevision())
	}
	mergeSpec(svc.pb, spec)
	svc.pb.Generation++
	svc.pb.UpdateTime = timestamppb.Now()
	svc.pb.LastModifier = "localcloud@" + project + ".iam.gserviceaccount.com"
	if newRev {
		svc.revCount++
		svc.pb.LatestCreatedRevision = revisionName(id, svc.revCount, spec.Template)
	}
	svc.pb.Etag = etagOf(svc.pb)
	setReconciling(svc.pb)
	// An update ends a held service-kill, and supersedes a reconciliation
	// still in progress (such as a rollout waiting for a revision that does
	// not become ready).
	svc.held = false
	if svc.supersede != nil {
		svc.supersede()
	}
	s.mu.Unlock()
	s.persist()
	return s.begin(fmt.Sprintf("projects/%s/locations/%s", project, region), method, svc, func(op *operations.Op) error {
		return s.reconcile(op.Context(), svc)
	})
}

func withoutName(in *runpb.Service) *runpb.Service {
	c := proto.Clone(in).(*runpb.Service)
	c.Name = ""
	c.Etag = ""
	return c
}

// mergeSpec copies the user-settable fields of spec into pb.
func mergeSpec(pb, spec *runpb.Service) {
	pb.Description = spec.Description
	pb.Labels = spec.Labels
	pb.Annotations = spec.Annotations
	pb.Client = spec.Client
	pb.ClientVersion = spec.ClientVersion
	pb.Ingress = spec.Ingress
	pb.LaunchStage = spec.LaunchStage
	pb.BinaryAuthorization = spec.BinaryAuthorization
	pb.Template = spec.Template
	pb.Traffic = spec.Traffic
	pb.Scaling = spec.Scaling
	pb.InvokerIamDisabled = spec.InvokerIamDisabled
	pb.DefaultUriDisabled = spec.DefaultUriDisabled
	pb.CustomAudiences = spec.CustomAudiences
	pb.IapEnabled = spec.IapEnabled
}

// DeleteService closes the front door, stops every instance and removes
// the service.
func (s *Service) DeleteService(_ context.Context, req *runpb.DeleteServiceRequest) (op *longrunningpb.Operation, err error) {
	const method = "DeleteService"
	defer func() {
		if err != nil {
			s.cfg.Ops.Record(MethodPrefix+method, req.GetName(), err)
		}
	}()
	svc, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	cur := s.snapshot(svc)
	if e := req.GetEtag(); e != "" && e != cur.Etag {
		return nil, status.Errorf(codes.Aborted, "etag: %s does not match the current etag %s", e, cur.Etag)
	}
	parent := fmt.Sprintf("projects/%s/locations/%s", svc.project, svc.region)
	if req.GetValidateOnly() {
		return s.doneOp(parent, method, svc.name, cur)
	}
	s.mu.Lock()
	svc.pb.DeleteTime = timestamppb.Now()
	svc.pb.Reconciling = true
	s.mu.Unlock()
	return s.begin(parent, method, svc, func(op *operations.Op) error {
		s.deleteService(svc)
		return nil
	})
}

func (s *Service) deleteService(svc *service) {
	s.mu.Lock()
	svc.deleted = true
	s.mu.Unlock()
	svc.deployMu.Lock()
	defer svc.deployMu.Unlock()
	s.mu.Lock()
	f := svc.front
	svc.front = nil
	insts := svc.instances
	svc.instances = nil
	for _, inst := range insts {
		inst.retired = true
		inst.ready = false
		if inst.timer != nil {
			inst.timer.Stop()
		}
	}
	s.mu.Unlock()
	if f != nil {
		f.close()
	}
	var wg sync.WaitGroup
	for _, inst := range insts {
		s.mu.Lock()
		p := inst.proc
		s.mu.Unlock()
		if p != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.stop(stopTimeout)
			}()
		}
	}
	wg.Wait()
	s.mu.Lock()
	delete(s.services, svc.name)
	s.mu.Unlock()
	os.RemoveAll(svc.dir)
	s.persist()
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
