package memorystore

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"sort"
	"strings"
	"sync"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// record is an instance as saved in state/instances.json. AUTH strings are
// saved apart, in state/instance-auth.json, readable by the owner only.
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

func (s *Service) reload() error {
	var recs []record
	if _, err := s.cfg.State.Load(instancesDoc, &recs); err != nil {
		return err
	}
	auths := map[string]string{}
	if _, err := s.cfg.State.Load(authDoc, &auths); err != nil {
		return err
	}
	pending := s.cfg.Ops.PendingFor(methodPrefix)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, r := range recs {
		pb := &redispb.Instance{}
		if err := protojson.Unmarshal(r.Instance, pb); err != nil {
			return fmt.Errorf("memorystore: decode saved instance %s: %w", r.Name, err)
		}
		inst := &instance{name: r.Name, dir: r.Dir, pb: pb, port: r.Port, restarts: r.Restarts, held: r.Held, lastExit: r.LastExit,
			auth: auths[r.Name]}
		s.instances[r.Name] = inst
		ops := pending[r.Name]
		delete(pending, r.Name)
		wg.Add(1)
		go func(oldPID int) {
			defer wg.Done()
			if err := s.reloadInstance(inst, oldPID, ops); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(r.PID)
	}
	wg.Wait()
	operations.FinishGone(pending, "instance", "DeleteInstance", func(op *operations.Op) (proto.Message, proto.Message) {
		return nil, s.meta(op, "delete", op.Resource())
	})
	s.persist()
	return errors.Join(errs...)
}

func (s *Service) reloadInstance(inst *instance, oldPID int, ops []*operations.Op) error {
	if killed, err := localproc.StopStaleRedis(oldPID, stopTimeout); err != nil {
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
				op.Finish(nil, s.meta(op, "delete", inst.name), nil)
			} else {
				op.Finish(nil, nil, status.Errorf(codes.Aborted, "localcloud stopped while %s was running; the instance has been deleted", op.Method()))
			}
		}
		return nil
	}
	// An interrupted import left the instance's folder either as it was or
	// swapped with the imported one (complete), except in the middle of a
	// swap without an atomic exchange.
	if err := recoverImportFolders(inst.dir); err != nil {
		return fmt.Errorf("memorystore: reload %s: %w", inst.name, err)
	}
	if inst.pb.TransitEncryptionMode == redispb.Instance_SERVER_AUTHENTICATION {
		if err := s.useInstanceCA(inst); err != nil {
			return fmt.Errorf("memorystore: reload %s: %w", inst.name, err)
		}
	}
	// The endpoint stays, even while redis-server is held down.
	if err := s.openGate(inst); err != nil {
		return fmt.Errorf("memorystore: reload %s: %w", inst.name, err)
	}

	s.mu.Lock()
	held := inst.held
	prevState := inst.pb.State
	s.mu.Unlock()
	var err error
	if held {
		s.setState(inst, redispb.Instance_REPAIRING, "redis-server is held down by a redis-kill fault; send redis-release to bring it back")
	} else {
		err = s.launch(s.ctx, inst)
		if err != nil {
			s.setState(inst, redispb.Instance_REPAIRING, "restart after localcloud restart failed: "+err.Error())
			s.scheduleRepair(inst)
			err = fmt.Errorf("memorystore: reload %s: %w", inst.name, err)
		} else {
			s.setState(inst, redispb.Instance_READY, "")
		}
	}
	for _, op := range ops {
		switch {
		case strings.HasSuffix(op.Method(), "CreateInstance") && err == nil && !held:
			op.Finish(s.snapshot(inst), s.meta(op, "create", inst.name), nil)
		case strings.HasSuffix(op.Method(), "CreateInstance"):
			op.Finish(nil, s.meta(op, "create", inst.name), status.Errorf(codes.Unavailable, "localcloud stopped while the instance was being created and it could not be started again: %v", err))
		default:
			op.Finish(nil, s.meta(op, verbOf(op.Method()), inst.name),
				status.Errorf(codes.Aborted, "localcloud stopped while %s was running (instance was %s); the instance was restarted from its last saved data with its previous settings", op.Method(), prevState))
		}
	}
	return err
}

// persist saves every instance to the state store.
func (s *Service) persist() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	recs := make([]record, 0, len(s.instances))
	auths := map[string]string{}
	for _, inst := range s.instances {
		if inst.auth != "" {
			auths[inst.name] = inst.auth
		}
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
	if s.savedAuths != nil && maps.Equal(auths, s.savedAuths) {
		return
	}
	b, err := json.Marshal(auths)
	if err == nil {
		err = state.WriteFileAtomic(s.cfg.State.Path(authDoc), b, 0o600)
	}
	if err != nil {
		s.log.Error("persist AUTH strings", "err", err)
		return
	}
	s.savedAuths = auths
}
