// Package memorystore emulates Memorystore for Redis
// (google.cloud.redis.v1.CloudRedis) for localcloud.
//
// Every instance is a real redis-server process listening on its own
// loopback port, with its own data folder under <DataDir>/memorystore. The
// accepted redis_version values REDIS_6_X, REDIS_7_0 and REDIS_7_2 all run
// the locally installed redis-server (Redis 7.0, RDB format 10); an RDB
// snapshot in a newer format is refused on import with FAILED_PRECONDITION.
//
// Implemented methods: CreateInstance, GetInstance, ListInstances,
// UpdateInstance (update_mask paths display_name, labels, memory_size_gb,
// redis_configs, persistence_config), DeleteInstance, ExportInstance and
// ImportInstance. The others return UNIMPLEMENTED. Mutating methods return
// long-running operations served by package operations; an operation is
// Done only when the redis-server really answers PING with its dataset
// loaded (create, import) or when the work has finished (export, delete).
//
// ExportInstance runs BGSAVE and hard-links the new dump.rdb into the Cloud
// Storage folder (its CRC32C and MD5 computed while the save writes it).
// ImportInstance never touches the instance before the snapshot is known to
// be good: it is loaded by a redis-server of its own, in a folder next to
// the instance's (<folder>.import), while its RDB header, EOF marker and
// CRC64 are verified; only then is the instance's redis-server stopped
// without saving (its data is being replaced), and the new one takes over
// its port and, by swapping the two folders, its folder. A snapshot that is
// refused leaves the instance running untouched, with all its data.
//
// Instances are supervised: if a redis-server exits unexpectedly the
// instance goes to REPAIRING and is restarted from its last saved dump.rdb
// after the configured repair delay (data written since the last save is
// lost, as on a BASIC tier instance).
package memorystore

import (
	"context"
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
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	methodPrefix = "google.cloud.redis.v1.CloudRedis."
	apiVersion   = "v1"
	instancesDoc = "instances"

	readyTimeout = 3 * time.Minute
	// quickAnswer is how long a mutating call waits for its operation to
	// finish before it answers with a running operation.
	quickAnswer = time.Second
	stopTimeout = 2 * time.Minute
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
}

type instance struct {
	name string
	dir  string

	// guarded by Service.mu
	pb       *redispb.Instance
	proc     *process
	port     int
	restarts int
	held     bool
	busy     string // name of the running mutating operation
	// opOwnsProcess is set while an operation stops and starts the
	// process itself; the supervisor leaves such exits alone.
	opOwnsProcess bool
	lastExit      string
	repairTimer   *time.Timer

	// launchMu serialises repairs, imports and deletion, the only things
	// that stop and start the process outside of create and restore.
	launchMu sync.Mutex
}

type record struct {
	Name     string          `json:"name"`
	Instance json.RawMessage `json:"instance"`
	Dir      string          `json:"dir"`
	Port     int             `json:"port"`
	PID      int             `json:"pid"`
	Restarts int             `json:"restarts"`
	Held     bool            `json:"held,omitempty"`
	Busy     string          `json:"busy,omitempty"`
	LastExit string          `json:"last_exit,omitempty"`
}

// New creates the service and brings back every instance saved in the state
// (stopping redis-servers left over by a previous localcloud first). It
// returns once every restored instance answers PING.
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
	if err := s.restore(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

func (s *Service) restore() error {
	var recs []record
	if _, err := s.cfg.State.Load(instancesDoc, &recs); err != nil {
		return err
	}
	pending := map[string][]*operations.Op{}
	for _, op := range s.cfg.Ops.Pending() {
		pending[op.Resource()] = append(pending[op.Resource()], op)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, r := range recs {
		pb := &redispb.Instance{}
		if err := protojson.Unmarshal(r.Instance, pb); err != nil {
			return fmt.Errorf("memorystore: decode saved instance %s: %w", r.Name, err)
		}
		inst := &instance{name: r.Name, dir: r.Dir, pb: pb, port: r.Port, restarts: r.Restarts, held: r.Held, lastExit: r.LastExit}
		s.instances[r.Name] = inst
		ops := pending[r.Name]
		delete(pending, r.Name)
		wg.Add(1)
		go func(oldPID int) {
			defer wg.Done()
			if err := s.restoreInstance(inst, oldPID, ops); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(r.PID)
	}
	wg.Wait()
	for res, ops := range pending {
		for _, op := range ops {
			if strings.HasSuffix(op.Method(), "DeleteInstance") {
				op.Finish(nil, s.meta(op, "delete", res, true), nil)
				continue
			}
			op.Finish(nil, nil, status.Errorf(codes.Aborted, "localcloud stopped while %s of %s was running; the instance no longer exists", op.Method(), res))
		}
	}
	s.persist()
	return errors.Join(errs...)
}

func (s *Service) restoreInstance(inst *instance, oldPID int, ops []*operations.Op) error {
	if killed, err := stopStale(oldPID, stopTimeout); err != nil {
		s.log.Warn("stale redis-server", "instance", inst.name, "err", err)
	} else if killed {
		s.log.Info("stopped redis-server left by the previous localcloud", "instance", inst.name, "pid", oldPID)
	}
	var deleting bool
	for _, op := range ops {
		if strings.HasSuffix(op.Method(), "DeleteInstance") {
			deleting = true
		}
	}
	if deleting || inst.pb.State == redispb.Instance_DELETING {
		os.RemoveAll(inst.dir)
		s.mu.Lock()
		delete(s.instances, inst.name)
		s.mu.Unlock()
		for _, op := range ops {
			if strings.HasSuffix(op.Method(), "DeleteInstance") {
				op.Finish(nil, s.meta(op, "delete", inst.name, true), nil)
			} else {
				op.Finish(nil, nil, status.Errorf(codes.Aborted, "localcloud stopped while %s was running; the instance has been deleted", op.Method()))
			}
		}
		return nil
	}
	// An interrupted import left the instance's folder either as it was or
	// swapped with the imported one (complete), except in the middle of a
	// swap without an atomic exchange.
	recoverImportFolders(inst.dir)

	s.mu.Lock()
	held := inst.held
	prevState := inst.pb.State
	s.mu.Unlock()
	var err error
	if held {
		s.setState(inst, redispb.Instance_REPAIRING, "redis-server is held down by a redis-kill fault; send redis-restore to bring it back")
	} else {
		err = s.launch(s.ctx, inst)
		if err != nil {
			s.setState(inst, redispb.Instance_REPAIRING, "restart after localcloud restart failed: "+err.Error())
			s.scheduleRepair(inst)
			err = fmt.Errorf("memorystore: restore %s: %w", inst.name, err)
		} else {
			s.setState(inst, redispb.Instance_READY, "")
		}
	}
	for _, op := range ops {
		switch {
		case strings.HasSuffix(op.Method(), "CreateInstance") && err == nil && !held:
			op.Finish(s.snapshot(inst), s.meta(op, "create", inst.name, true), nil)
		case strings.HasSuffix(op.Method(), "CreateInstance"):
			op.Finish(nil, s.meta(op, "create", inst.name, true), status.Errorf(codes.Unavailable, "localcloud stopped while the instance was being created and it could not be started again: %v", err))
		default:
			op.Finish(nil, s.meta(op, verbOf(op.Method()), inst.name, true),
				status.Errorf(codes.Aborted, "localcloud stopped while %s was running (instance was %s); the instance was restarted from its last saved data with its previous settings", op.Method(), prevState))
		}
	}
	return err
}

func verbOf(method string) string {
	m := strings.TrimPrefix(method, methodPrefix)
	m = strings.TrimSuffix(m, "Instance")
	return strings.ToLower(m)
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
	s.persist()
	return errors.Join(errs...)
}

// persist saves every instance to the state store.
func (s *Service) persist() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	recs := make([]record, 0, len(s.instances))
	for _, inst := range s.instances {
		b, err := protojson.Marshal(inst.pb)
		if err != nil {
			continue
		}
		r := record{Name: inst.name, Instance: b, Dir: inst.dir, Port: inst.port, Restarts: inst.restarts,
			Held: inst.held, Busy: inst.busy, LastExit: inst.lastExit}
		if inst.proc != nil && inst.proc.Alive() {
			r.PID = inst.proc.Pid
		}
		recs = append(recs, r)
	}
	s.mu.Unlock()
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	if err := s.cfg.State.Save(instancesDoc, recs); err != nil {
		s.log.Error("persist instances", "err", err)
	}
}

func (s *Service) snapshot(inst *instance) *redispb.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(inst.pb).(*redispb.Instance)
}

func (s *Service) setState(inst *instance, st redispb.Instance_State, msg string) {
	s.mu.Lock()
	inst.pb.State = st
	inst.pb.StatusMessage = msg
	s.mu.Unlock()
	s.persist()
}

func (s *Service) meta(op *operations.Op, verb, target string, done bool) *redispb.OperationMetadata {
	m := &redispb.OperationMetadata{
		CreateTime: timestamppb.New(opCreated(op)),
		Target:     target,
		Verb:       verb,
		ApiVersion: apiVersion,
	}
	if done {
		m.EndTime = timestamppb.Now()
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

func (s *Service) release(inst *instance) {
	s.mu.Lock()
	inst.busy = ""
	s.mu.Unlock()
	s.persist()
}

// begin starts an operation for inst and runs work in the background. If
// next is not STATE_UNSPECIFIED the instance moves to that state first.
func (s *Service) begin(parent, method, verb string, inst *instance, next redispb.Instance_State, work func(op *operations.Op) (proto.Message, error)) (*longrunningpb.Operation, error) {
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
	op, err := s.cfg.Ops.Begin(parent, methodPrefix+method, inst.name, m)
	if err != nil {
		s.work.Done()
		s.release(inst)
		return nil, status.Errorf(codes.Internal, "start operation: %v", err)
	}
	s.mu.Lock()
	inst.busy = op.Name()
	s.mu.Unlock()
	s.persist()
	go func() {
		defer s.work.Done()
		resp, err := work(op)
		s.release(inst)
		if err == nil && resp == nil {
			resp = s.snapshot(inst)
		}
		op.Finish(resp, s.meta(op, verb, inst.name, true), err)
	}()
	// Work that finishes quickly (most creates, updates and deletes) is
	// answered with a Done operation, which clients never need to poll.
	select {
	case <-op.Finished():
	case <-time.After(quickAnswer):
	}
	return op.Proto(), nil
}

// args builds the redis-server command line.
func (s *Service) args(inst *instance) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	maxmem := fmt.Sprintf("%dgb", inst.pb.MemorySizeGb)
	if v, ok := inst.pb.RedisConfigs["maxmemory-gb"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			maxmem = strconv.FormatInt(int64(f*(1<<30)), 10)
		}
	}
	args := []string{
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(inst.port),
		"--dir", inst.dir,
		"--dbfilename", "dump.rdb",
		"--daemonize", "no",
		"--appendonly", "no",
		"--maxmemory", maxmem,
		"--shutdown-on-sigterm", "save",
		"--logfile", filepath.Join(inst.dir, "redis.log"),
		"--save", saveArg(inst.pb.PersistenceConfig),
	}
	keys := make([]string, 0, len(inst.pb.RedisConfigs))
	for k := range inst.pb.RedisConfigs {
		if k != "maxmemory-gb" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--"+k, inst.pb.RedisConfigs[k])
	}
	return args
}

// launch starts the instance's redis-server (keeping its port when it is
// still free) and waits until it is ready. The new process is supervised.
func (s *Service) launch(ctx context.Context, inst *instance) error {
	if err := os.MkdirAll(inst.dir, 0o755); err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return status.Error(codes.Unavailable, "localcloud is shutting down")
		}
		if attempt > 0 || !localproc.PortFree(inst.port) {
			p, err := localproc.FreePort()
			if err != nil {
				s.mu.Unlock()
				return err
			}
			inst.port = p
		}
		port := inst.port
		s.mu.Unlock()
		started := time.Now()
		p, err := spawn(s.cfg.RedisServerPath, s.args(inst), inst.dir, port)
		if err != nil {
			return fmt.Errorf("start %s: %w", s.cfg.RedisServerPath, err)
		}
		s.mu.Lock()
		inst.proc = p
		inst.pb.Host = "127.0.0.1"
		inst.pb.Port = int32(port)
		s.mu.Unlock()
		s.persist()
		s.watch.Add(1)
		go func() {
			defer s.watch.Done()
			<-p.Exited()
			s.onExit(inst, p)
		}()
		err = p.waitReady(ctx, readyTimeout)
		if err == nil {
			s.log.Info("redis-server ready", "instance", inst.name, "pid", p.Pid, "port", port, "took", time.Since(started))
			return nil
		}
		p.kill()
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") && !strings.Contains(err.Error(), "another redis-server") {
			return err
		}
	}
	return lastErr
}

// onExit is called when a redis-server exits.
func (s *Service) onExit(inst *instance, p *process) {
	s.mu.Lock()
	if p.Expected.Load() || inst.proc != p || inst.opOwnsProcess || s.closing {
		s.mu.Unlock()
		return
	}
	if _, ok := s.instances[inst.name]; !ok {
		s.mu.Unlock()
		return
	}
	inst.restarts++
	inst.lastExit = fmt.Sprintf("%s: redis-server pid %d exited unexpectedly (%v)", time.Now().UTC().Format(time.RFC3339), p.Pid, p.Err())
	inst.pb.State = redispb.Instance_REPAIRING
	held := inst.held
	if held {
		inst.pb.StatusMessage = "redis-server is down (held by a redis-kill fault); send redis-restore to bring it back"
	} else {
		inst.pb.StatusMessage = fmt.Sprintf("redis-server exited unexpectedly (%v); restarting from the last snapshot", p.Err())
	}
	s.mu.Unlock()
	s.log.Warn("redis-server exited unexpectedly", "instance", inst.name, "pid", p.Pid, "err", p.Err(), "held", held)
	s.cfg.Ops.Event("localcloud.Supervisor.RedisExited", inst.name, fmt.Sprintf("redis-server pid %d exited: %v; state REPAIRING", p.Pid, p.Err()))
	s.persist()
	if !held {
		s.scheduleRepair(inst)
	}
}

func (s *Service) scheduleRepair(inst *instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if inst.repairTimer != nil {
		inst.repairTimer.Stop()
	}
	inst.repairTimer = time.AfterFunc(s.cfg.RepairDelay, func() { s.repair(inst) })
}

// repair restarts a crashed redis-server from its dump.rdb.
func (s *Service) repair(inst *instance) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.work.Add(1)
	s.mu.Unlock()
	defer s.work.Done()
	inst.launchMu.Lock()
	defer inst.launchMu.Unlock()
	s.mu.Lock()
	_, exists := s.instances[inst.name]
	if !exists || s.closing || inst.held || inst.pb.State != redispb.Instance_REPAIRING || (inst.proc != nil && inst.proc.Alive()) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if err := s.launch(s.ctx, inst); err != nil {
		s.log.Error("repair failed; retrying", "instance", inst.name, "err", err)
		s.cfg.Ops.Event("localcloud.Supervisor.Repair", inst.name, "FAILED: "+err.Error())
		s.scheduleRepair(inst)
		return
	}
	// Logged before the state turns READY, so whoever sees READY also finds
	// the repair in the operation log.
	s.cfg.Ops.Event("localcloud.Supervisor.Repair", inst.name, "OK: redis-server restarted from its last snapshot; state READY")
	s.mu.Lock()
	if inst.pb.State == redispb.Instance_REPAIRING {
		inst.pb.State = redispb.Instance_READY
		inst.pb.StatusMessage = ""
	}
	s.mu.Unlock()
	s.persist()
}

// ---- CloudRedis methods ----

// ListInstances lists instances in a region, or in every region with "-".
func (s *Service) ListInstances(_ context.Context, req *redispb.ListInstancesRequest) (*redispb.ListInstancesResponse, error) {
	project, region, err := gapi.ParseParent(req.GetParent(), true)
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("projects/%s/locations/%s/instances/", project, region)
	if region == "-" {
		prefix = fmt.Sprintf("projects/%s/locations/", project)
	}
	s.mu.Lock()
	var all []*redispb.Instance
	for name, inst := range s.instances {
		if strings.HasPrefix(name, prefix) {
			all = append(all, proto.Clone(inst.pb).(*redispb.Instance))
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	page, next, err := gapi.Page(all, req.GetPageToken(), req.GetPageSize(), "ListInstances")
	if err != nil {
		return nil, err
	}
	return &redispb.ListInstancesResponse{Instances: page, NextPageToken: next}, nil
}

// GetInstance returns one instance; NOT_FOUND if it does not exist.
func (s *Service) GetInstance(_ context.Context, req *redispb.GetInstanceRequest) (*redispb.Instance, error) {
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return s.snapshot(inst), nil
}

// CreateInstance validates the request and starts a redis-server.
func (s *Service) CreateInstance(_ context.Context, req *redispb.CreateInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "CreateInstance"
	name := req.GetParent() + "/instances/" + req.GetInstanceId()
	defer func() {
		if err != nil {
			s.cfg.Ops.Record(methodPrefix+method, name, err)
		}
	}()
	project, region, err := gapi.ParseParent(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	if err := instanceNames.CheckID(req.GetInstanceId()); err != nil {
		return nil, err
	}
	in := req.GetInstance()
	if in == nil {
		return nil, gapi.Invalid("instance: required")
	}
	if err := validateTier(in.GetTier()); err != nil {
		return nil, err
	}
	if err := validateMemory(in.GetMemorySizeGb()); err != nil {
		return nil, err
	}
	version := in.GetRedisVersion()
	if version == "" {
		version = defaultVersion
	}
	if err := validateVersion(version); err != nil {
		return nil, err
	}
	if err := validateConfigs(in.GetRedisConfigs()); err != nil {
		return nil, err
	}
	if err := validatePersistence(in.GetPersistenceConfig()); err != nil {
		return nil, err
	}
	if in.GetName() != "" && in.GetName() != name {
		return nil, gapi.Invalid("instance.name: %q does not match parent and instance_id (%q); leave it empty", in.GetName(), name)
	}
	loc := in.GetLocationId()
	if loc == "" {
		loc = region + "-a"
	} else if !strings.HasPrefix(loc, region+"-") {
		return nil, gapi.Invalid("instance.location_id: %q is not a zone of region %s (for example %s-a)", loc, region, region)
	}
	alt := in.GetAlternativeLocationId()
	if in.GetTier() == redispb.Instance_STANDARD_HA && alt == "" {
		alt = region + "-b"
		if loc == alt {
			alt = region + "-c"
		}
	}
	if alt != "" && !strings.HasPrefix(alt, region+"-") {
		return nil, gapi.Invalid("instance.alternative_location_id: %q is not a zone of region %s", alt, region)
	}
	pc := proto.Clone(in.GetPersistenceConfig())
	var persistence *redispb.PersistenceConfig
	if pc != nil {
		persistence = pc.(*redispb.PersistenceConfig)
	}
	if persistence == nil || persistence.PersistenceMode == redispb.PersistenceConfig_PERSISTENCE_MODE_UNSPECIFIED {
		persistence = &redispb.PersistenceConfig{PersistenceMode: redispb.PersistenceConfig_DISABLED}
	}
	if persistence.PersistenceMode == redispb.PersistenceConfig_RDB && persistence.RdbSnapshotPeriod == redispb.PersistenceConfig_SNAPSHOT_PERIOD_UNSPECIFIED {
		persistence.RdbSnapshotPeriod = redispb.PersistenceConfig_TWENTY_FOUR_HOURS
	}
	network := in.GetAuthorizedNetwork()
	if network == "" {
		network = fmt.Sprintf("projects/%s/global/networks/default", project)
	}
	pb := &redispb.Instance{
		Name:                   name,
		DisplayName:            in.GetDisplayName(),
		Labels:                 in.GetLabels(),
		LocationId:             loc,
		AlternativeLocationId:  alt,
		CurrentLocationId:      loc,
		RedisVersion:           version,
		ReservedIpRange:        "127.0.0.0/8",
		Host:                   "127.0.0.1",
		CreateTime:             timestamppb.Now(),
		State:                  redispb.Instance_CREATING,
		RedisConfigs:           in.GetRedisConfigs(),
		Tier:                   in.GetTier(),
		MemorySizeGb:           in.GetMemorySizeGb(),
		AuthorizedNetwork:      network,
		ConnectMode:            redispb.Instance_DIRECT_PEERING,
		TransitEncryptionMode:  redispb.Instance_DISABLED,
		ReadReplicasMode:       redispb.Instance_READ_REPLICAS_DISABLED,
		PersistenceConfig:      persistence,
		PersistenceIamIdentity: fmt.Sprintf("serviceAccount:service-%s@cloud-redis.iam.gserviceaccount.com", project),
		MaintenanceVersion:     "localcloud-redis-7.0",
	}
	if pb.Tier == redispb.Instance_STANDARD_HA {
		pb.ReplicaCount = 1
	}
	port, err := localproc.FreePort()
	if err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "no free loopback port for the instance: %v", err)
	}
	pb.Port = int32(port)
	inst := &instance{name: name, dir: filepath.Join(s.cfg.DataDir, project, region, req.GetInstanceId()), pb: pb, port: port, busy: "(starting)"}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	if _, ok := s.instances[name]; ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "instance %q already exists", name)
	}
	s.instances[name] = inst
	s.mu.Unlock()
	os.RemoveAll(inst.dir)
	defer func() {
		if err != nil {
			s.mu.Lock()
			delete(s.instances, name)
			s.mu.Unlock()
		}
	}()
	return s.begin(req.GetParent(), method, "create", inst, redispb.Instance_STATE_UNSPECIFIED, func(op *operations.Op) (proto.Message, error) {
		if err := s.launch(op.Context(), inst); err != nil {
			s.mu.Lock()
			if inst.proc != nil {
				inst.proc.Expected.Store(true)
			}
			delete(s.instances, name)
			s.mu.Unlock()
			if inst.proc != nil {
				inst.proc.kill()
			}
			os.RemoveAll(inst.dir)
			s.persist()
			if op.Context().Err() != nil {
				return nil, status.Errorf(codes.Canceled, "creation of %s was cancelled; the instance was removed", name)
			}
			return nil, status.Errorf(codes.Internal, "redis-server for %s did not start: %v", name, err)
		}
		s.setState(inst, redispb.Instance_READY, "")
		return nil, nil
	})
}

// UpdateInstance applies the fields named in update_mask.
func (s *Service) UpdateInstance(_ context.Context, req *redispb.UpdateInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "UpdateInstance"
	name := req.GetInstance().GetName()
	defer func() {
		if err != nil {
			s.cfg.Ops.Record(methodPrefix+method, name, err)
		}
	}()
	inst, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, gapi.Invalid("update_mask: required; accepted paths are %s", strings.Join(updatablePaths, ", "))
	}
	in := req.GetInstance()
	set := map[string]bool{}
	for _, p := range paths {
		n := normalizePath(p)
		ok := false
		for _, a := range updatablePaths {
			ok = ok || a == n
		}
		if !ok {
			return nil, gapi.Invalid("update_mask: path %q cannot be updated; accepted paths are %s", p, strings.Join(updatablePaths, ", "))
		}
		set[n] = true
	}
	if set["memory_size_gb"] {
		if err := validateMemory(in.GetMemorySizeGb()); err != nil {
			return nil, err
		}
	}
	if set["redis_configs"] {
		if err := validateConfigs(in.GetRedisConfigs()); err != nil {
			return nil, err
		}
	}
	if set["persistence_config"] {
		if err := validatePersistence(in.GetPersistenceConfig()); err != nil {
			return nil, err
		}
	}
	if err := s.claim(inst, method, redispb.Instance_READY); err != nil {
		return nil, err
	}
	project, region, _, _ := instanceNames.Parse(name)
	parent := fmt.Sprintf("projects/%s/locations/%s", project, region)
	return s.begin(parent, method, "update", inst, redispb.Instance_UPDATING, func(op *operations.Op) (proto.Message, error) {
		next := s.snapshot(inst)
		next.State = redispb.Instance_READY
		if set["display_name"] {
			next.DisplayName = in.GetDisplayName()
		}
		if set["labels"] {
			next.Labels = in.GetLabels()
		}
		if set["memory_size_gb"] {
			next.MemorySizeGb = in.GetMemorySizeGb()
		}
		if set["redis_configs"] {
			next.RedisConfigs = in.GetRedisConfigs()
		}
		if set["persistence_config"] {
			pc := proto.Clone(in.GetPersistenceConfig()).(*redispb.PersistenceConfig)
			if pc == nil || pc.PersistenceMode == redispb.PersistenceConfig_PERSISTENCE_MODE_UNSPECIFIED {
				pc = &redispb.PersistenceConfig{PersistenceMode: redispb.PersistenceConfig_DISABLED}
			}
			if pc.PersistenceMode == redispb.PersistenceConfig_RDB && pc.RdbSnapshotPeriod == redispb.PersistenceConfig_SNAPSHOT_PERIOD_UNSPECIFIED {
				pc.RdbSnapshotPeriod = redispb.PersistenceConfig_TWENTY_FOUR_HOURS
			}
			next.PersistenceConfig = pc
		}
		if err := s.applyConfig(context.WithoutCancel(op.Context()), inst, next); err != nil {
			s.setState(inst, redispb.Instance_READY, "")
			return nil, err
		}
		s.mu.Lock()
		next.Port = inst.pb.Port
		next.Host = inst.pb.Host
		inst.pb = next
		s.mu.Unlock()
		s.persist()
		return nil, nil
	})
}

// applyConfig pushes the redis-level settings of next to the running
// redis-server with CONFIG SET.
func (s *Service) applyConfig(ctx context.Context, inst *instance, next *redispb.Instance) error {
	s.mu.Lock()
	p := inst.proc
	s.mu.Unlock()
	if p == nil || !p.Alive() {
		return status.Errorf(codes.Unavailable, "redis-server of %s is not running", inst.name)
	}
	c := p.client()
	defer c.Close()
	maxmem := strconv.FormatInt(int64(next.MemorySizeGb)<<30, 10)
	if v, ok := next.RedisConfigs["maxmemory-gb"]; ok {
		f, _ := strconv.ParseFloat(v, 64)
		maxmem = strconv.FormatInt(int64(f*(1<<30)), 10)
	}
	sets := [][2]string{{"maxmemory", maxmem}, {"save", saveArg(next.PersistenceConfig)}}
	keys := make([]string, 0, len(next.RedisConfigs))
	for k := range next.RedisConfigs {
		if k != "maxmemory-gb" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		sets = append(sets, [2]string{k, next.RedisConfigs[k]})
	}
	for _, kv := range sets {
		if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			return status.Errorf(codes.InvalidArgument, "redis-server refused %s=%q: %v", kv[0], kv[1], err)
		}
	}
	return nil
}

// DeleteInstance stops the redis-server and removes its data.
func (s *Service) DeleteInstance(_ context.Context, req *redispb.DeleteInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "DeleteInstance"
	defer func() {
		if err != nil {
			s.cfg.Ops.Record(methodPrefix+method, req.GetName(), err)
		}
	}()
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.claim(inst, method, redispb.Instance_READY, redispb.Instance_REPAIRING, redispb.Instance_CREATING, redispb.Instance_UPDATING); err != nil {
		return nil, err
	}
	project, region, _, _ := instanceNames.Parse(inst.name)
	s.mu.Lock()
	if inst.repairTimer != nil {
		inst.repairTimer.Stop()
	}
	s.mu.Unlock()
	return s.begin(fmt.Sprintf("projects/%s/locations/%s", project, region), method, "delete", inst, redispb.Instance_DELETING, func(op *operations.Op) (proto.Message, error) {
		inst.launchMu.Lock()
		defer inst.launchMu.Unlock()
		s.mu.Lock()
		p := inst.proc
		s.mu.Unlock()
		if p != nil {
			p.kill()
		}
		if err := os.RemoveAll(inst.dir); err != nil {
			return nil, status.Errorf(codes.Internal, "remove data of %s: %v", inst.name, err)
		}
		s.mu.Lock()
		delete(s.instances, inst.name)
		s.mu.Unlock()
		s.persist()
		return &emptypb.Empty{}, nil
	})
}
