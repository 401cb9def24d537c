// Package operations implements google.longrunning.Operations for localcloud
// and the operation log: an in-order record of every mutating call made to
// the emulated APIs (and of every injected fault), exposed on the admin
// endpoint GET /_localcloud/oplog.
//
// Operations are named projects/{project}/locations/{region}/operations/{id}.
// An operation becomes Done only when the work behind it has really finished;
// a failed operation carries a google.rpc.Status with a canonical code and a
// message that says what went wrong. Operations and the log are persisted
// through package state and survive a restart (even after SIGKILL).
package operations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Phases of an operation log entry.
const (
	PhaseCall  = "call"  // a mutating API call was received (accepted or refused)
	PhaseDone  = "done"  // the operation started by a call finished
	PhaseEvent = "event" // something localcloud did or was told to do (faults, repairs)
)

// LogEntry is one line of the operation log.
type LogEntry struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Phase     string    `json:"phase"`
	Method    string    `json:"method"`
	Resource  string    `json:"resource"`
	Operation string    `json:"operation,omitempty"`
	// Outcome is RUNNING for an accepted call whose operation is still
	// running, OK for success, or "<CODE>: <message>" for a failure.
	Outcome string `json:"outcome"`
}

// Op is a handle on one operation, used by the service doing the work.
type Op struct {
	m        *Manager
	name     string
	method   string
	resource string
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	created  time.Time
	op       *longrunningpb.Operation
}

// Name is the operation's full resource name.
func (o *Op) Name() string { return o.name }

// Method is the API method that started the operation.
func (o *Op) Method() string { return o.method }

// Resource is the resource the operation acts on.
func (o *Op) Resource() string { return o.resource }

// Context is cancelled when a client cancels the operation (or localcloud
// shuts down).
func (o *Op) Context() context.Context { return o.ctx }

// Proto returns a copy of the operation as clients see it now.
func (o *Op) Proto() *longrunningpb.Operation {
	o.m.mu.Lock()
	defer o.m.mu.Unlock()
	return proto.CloneOf(o.op)
}

// Done reports whether the operation has finished.
func (o *Op) Done() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// Finished is closed when the operation is done.
func (o *Op) Finished() <-chan struct{} { return o.done }

// quickAnswer is how long a call that started an operation waits for it to
// finish before it answers with a running operation.
const quickAnswer = time.Second

// Answer is the operation as the call that started it answers: work that
// finishes quickly (most creates, updates and deletes) is answered with a
// Done operation, which clients never need to poll; other work with the
// operation still running after quickAnswer.
func (o *Op) Answer() *longrunningpb.Operation {
	select {
	case <-o.done:
	case <-time.After(quickAnswer):
	}
	return o.Proto()
}

// SetMetadata replaces the operation's metadata.
func (o *Op) SetMetadata(meta proto.Message) {
	a, err := anypb.New(meta)
	if err != nil {
		return
	}
	o.m.mu.Lock()
	o.op.Metadata = a
	o.m.mu.Unlock()
	o.m.persist()
}

// Finish marks the operation done with either a response (err == nil) or an
// error. err is turned into a google.rpc.Status with status.Convert, so a
// status error keeps its code. meta, if not nil, replaces the metadata.
// Finishing twice is a no-op.
func (o *Op) Finish(resp proto.Message, meta proto.Message, err error) {
	m := o.m
	m.mu.Lock()
	if o.Done() {
		m.mu.Unlock()
		return
	}
	if meta != nil {
		if a, aerr := anypb.New(meta); aerr == nil {
			o.op.Metadata = a
		}
	}
	outcome := "OK"
	if err != nil {
		st := status.Convert(err)
		o.op.Result = &longrunningpb.Operation_Error{Error: st.Proto()}
		outcome = outcomeOf(err)
	} else {
		if resp == nil {
			resp = &emptypb.Empty{}
		}
		a, aerr := anypb.New(resp)
		if aerr != nil {
			st := status.New(codes.Internal, "encode response: "+aerr.Error())
			o.op.Result = &longrunningpb.Operation_Error{Error: st.Proto()}
			outcome = outcomeOf(st.Err())
		} else {
			o.op.Result = &longrunningpb.Operation_Response{Response: a}
		}
	}
	o.op.Done = true
	close(o.done)
	o.cancel()
	m.appendLocked(PhaseDone, o.method, o.resource, o.name, outcome)
	m.mu.Unlock()
	m.persist()
	m.log.Info("operation finished", "operation", o.name, "method", o.method, "resource", o.resource, "outcome", outcome)
}

func outcomeOf(err error) string {
	if err == nil {
		return "OK"
	}
	st := status.Convert(err)
	return st.Code().String() + ": " + st.Message()
}

// Manager owns all operations and the operation log.
type Manager struct {
	mu      sync.Mutex
	saveMu  sync.Mutex
	store   *state.Store
	log     *slog.Logger
	ops     map[string]*Op
	oplog   []LogEntry
	seq     int64
	pending []*Op
	baseCtx context.Context
	stop    context.CancelFunc
}

type persistedOp struct {
	Name     string    `json:"name"`
	Method   string    `json:"method"`
	Resource string    `json:"resource"`
	Created  time.Time `json:"created"`
	// Operation is the binary protobuf encoding of the longrunning.Operation.
	Operation []byte `json:"operation"`
}

const (
	opsDoc   = "operations"
	oplogDoc = "oplog"
)

// New loads the operations and the log saved in store. Operations that were
// still running when the previous localcloud stopped are returned by
// PendingFor so their owner can finish them.
func New(store *state.Store, logger *slog.Logger) (*Manager, error) {
	if logger == nil {
		logger = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Manager{store: store, log: logger, ops: map[string]*Op{}, baseCtx: ctx, stop: stop}
	var saved []persistedOp
	if _, err := store.Load(opsDoc, &saved); err != nil {
		return nil, err
	}
	for _, p := range saved {
		op := &longrunningpb.Operation{}
		if err := proto.Unmarshal(p.Operation, op); err != nil {
			return nil, fmt.Errorf("operations: decode %s: %w", p.Name, err)
		}
		o := m.newOp(p.Name, p.Method, p.Resource, p.Created, op)
		if op.Done {
			close(o.done)
			o.cancel()
		} else {
			m.pending = append(m.pending, o)
		}
		m.ops[p.Name] = o
	}
	if _, err := store.Load(oplogDoc, &m.oplog); err != nil {
		return nil, err
	}
	if n := len(m.oplog); n > 0 {
		m.seq = m.oplog[n-1].Seq
	}
	return m, nil
}

func (m *Manager) newOp(name, method, resource string, created time.Time, op *longrunningpb.Operation) *Op {
	ctx, cancel := context.WithCancel(m.baseCtx)
	return &Op{m: m, name: name, method: method, resource: resource, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), created: created, op: op}
}

// Close cancels the context of every running operation.
func (m *Manager) Close() { m.stop() }

// Begin starts a new operation under parent (projects/{p}/locations/{r}),
// records the call in the operation log and persists it.
func (m *Manager) Begin(parent, method, resource string, meta proto.Message) (*Op, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	now := time.Now()
	name := fmt.Sprintf("%s/operations/operation-%d-%s", parent, now.UnixMilli(), hex.EncodeToString(b[:]))
	op := &longrunningpb.Operation{Name: name}
	if meta != nil {
		a, err := anypb.New(meta)
		if err != nil {
			return nil, err
		}
		op.Metadata = a
	}
	o := m.newOp(name, method, resource, now, op)
	m.mu.Lock()
	m.ops[name] = o
	m.appendLocked(PhaseCall, method, resource, name, "RUNNING")
	m.mu.Unlock()
	m.persist()
	m.log.Info("operation started", "operation", name, "method", method, "resource", resource)
	return o, nil
}

// Record logs a mutating call that was answered without an operation (for
// example refused by validation). err == nil records OK.
func (m *Manager) Record(method, resource string, err error) {
	m.mu.Lock()
	m.appendLocked(PhaseCall, method, resource, "", outcomeOf(err))
	m.mu.Unlock()
	m.persistLog()
}

// RecordRefused records a mutating call refused with *err, and nothing when
// *err is nil. A method that starts an operation defers it, so that the log
// has the call however it was refused:
//
//	defer s.cfg.Ops.RecordRefused(MethodPrefix+method, name, &err)
func (m *Manager) RecordRefused(method, resource string, err *error) {
	if *err != nil {
		m.Record(method, resource, *err)
	}
}

// Call logs a mutating call that completed synchronously with the given
// outcome (OK, or "<CODE>: <message>").
func (m *Manager) Call(method, resource, outcome string) {
	m.mu.Lock()
	m.appendLocked(PhaseCall, method, resource, "", outcome)
	m.mu.Unlock()
	m.persistLog()
}

// Event logs something localcloud did or was told to do outside the APIs,
// such as an injected fault or an automatic repair.
func (m *Manager) Event(method, resource, outcome string) {
	m.mu.Lock()
	m.appendLocked(PhaseEvent, method, resource, "", outcome)
	m.mu.Unlock()
	m.persistLog()
}

// BeginEvent logs an event whose outcome is not known yet (outcome
// "RUNNING") and returns its sequence number for EndEvent. The entry keeps
// its place in the log, so whatever the event causes is logged after it.
func (m *Manager) BeginEvent(method, resource string) int64 {
	m.mu.Lock()
	m.appendLocked(PhaseEvent, method, resource, "", "RUNNING")
	seq := m.seq
	m.mu.Unlock()
	m.persistLog()
	return seq
}

// EndEvent sets the outcome of an event started with BeginEvent.
func (m *Manager) EndEvent(seq int64, outcome string) {
	m.mu.Lock()
	for i := len(m.oplog) - 1; i >= 0; i-- {
		if m.oplog[i].Seq == seq {
			m.oplog[i].Outcome = outcome
			break
		}
	}
	m.mu.Unlock()
	m.persistLog()
}

func (m *Manager) appendLocked(phase, method, resource, op, outcome string) {
	m.seq++
	m.oplog = append(m.oplog, LogEntry{Seq: m.seq, Time: time.Now().UTC(), Phase: phase, Method: method,
		Resource: resource, Operation: op, Outcome: outcome})
}

// Oplog returns a copy of the operation log, oldest first.
func (m *Manager) Oplog() []LogEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]LogEntry(nil), m.oplog...)
}

// Get returns the operation handle by name.
func (m *Manager) Get(name string) (*Op, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.ops[name]
	return o, ok
}

func (m *Manager) persist() {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	names := make([]string, 0, len(m.ops))
	for n := range m.ops {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := m.ops[names[i]], m.ops[names[j]]
		if !a.created.Equal(b.created) {
			return a.created.Before(b.created)
		}
		return names[i] < names[j]
	})
	saved := make([]persistedOp, 0, len(names))
	for _, n := range names {
		o := m.ops[n]
		b, err := proto.Marshal(o.op)
		if err != nil {
			continue
		}
		saved = append(saved, persistedOp{Name: n, Method: o.method, Resource: o.resource, Created: o.created, Operation: b})
	}
	oplog := append([]LogEntry(nil), m.oplog...)
	m.mu.Unlock()
	if err := m.store.Save(opsDoc, saved); err != nil {
		m.log.Error("persist operations", "err", err)
	}
	if err := m.store.Save(oplogDoc, oplog); err != nil {
		m.log.Error("persist operation log", "err", err)
	}
}

func (m *Manager) persistLog() {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	oplog := append([]LogEntry(nil), m.oplog...)
	m.mu.Unlock()
	if err := m.store.Save(oplogDoc, oplog); err != nil {
		m.log.Error("persist operation log", "err", err)
	}
}

// Server returns the google.longrunning.Operations implementation.
func (m *Manager) Server() longrunningpb.OperationsServer { return &server{m: m} }

type server struct {
	longrunningpb.UnimplementedOperationsServer
	m *Manager
}

func (s *server) lookup(name string) (*Op, error) {
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "name: required, in the form projects/{project}/locations/{region}/operations/{operation}")
	}
	o, ok := s.m.Get(name)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", name)
	}
	return o, nil
}

func (s *server) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	o, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return o.Proto(), nil
}

func (s *server) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	parent := strings.TrimSuffix(req.GetName(), "/operations")
	if parent == "" {
		return nil, status.Error(codes.InvalidArgument, "name: required, in the form projects/{project}/locations/{region} (region may be -)")
	}
	var wantDone *bool
	switch f := strings.ReplaceAll(req.GetFilter(), " ", ""); f {
	case "":
	case "done=true", "done:true":
		t := true
		wantDone = &t
	case "done=false", "done:false":
		f := false
		wantDone = &f
	default:
		return nil, status.Errorf(codes.InvalidArgument, "filter: %q is not supported; accepted filters are \"\", \"done=true\" and \"done=false\"", req.GetFilter())
	}
	prefix := parent + "/operations/"
	wildcard := strings.HasSuffix(parent, "/locations/-")
	projectPrefix := strings.TrimSuffix(parent, "-")
	s.m.mu.Lock()
	var all []*Op
	for name, o := range s.m.ops {
		match := strings.HasPrefix(name, prefix)
		if wildcard {
			match = strings.HasPrefix(name, projectPrefix) && strings.Contains(name, "/operations/")
		}
		if !match {
			continue
		}
		if wantDone != nil && o.op.Done != *wantDone {
			continue
		}
		all = append(all, o)
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].created.Equal(all[j].created) {
			return all[i].created.Before(all[j].created)
		}
		return all[i].name < all[j].name
	})
	page, next, err := gapi.Page(all, req.GetPageToken(), req.GetPageSize(), "ListOperations")
	if err != nil {
		s.m.mu.Unlock()
		return nil, err
	}
	resp := &longrunningpb.ListOperationsResponse{NextPageToken: next}
	for _, o := range page {
		resp.Operations = append(resp.Operations, proto.CloneOf(o.op))
	}
	s.m.mu.Unlock()
	return resp, nil
}

func (s *server) DeleteOperation(_ context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	if _, err := s.lookup(req.GetName()); err != nil {
		return nil, err
	}
	s.m.mu.Lock()
	delete(s.m.ops, req.GetName())
	s.m.mu.Unlock()
	s.m.persist()
	return &emptypb.Empty{}, nil
}

func (s *server) CancelOperation(_ context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	o, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	if !o.Done() {
		s.m.Event("google.longrunning.Operations.CancelOperation", o.resource, "cancel requested for "+o.name)
		o.cancel()
	}
	return &emptypb.Empty{}, nil
}

func (s *server) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	o, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	timeout := time.Minute
	if t := req.GetTimeout(); t != nil {
		timeout = t.AsDuration()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-o.done:
	case <-timer.C:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return o.Proto(), nil
}
