package run

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type instRecord struct {
	ID       string `json:"id"`
	Revision string `json:"revision"`
	Port     int    `json:"port"`
	OpsPort  int    `json:"ops_port,omitempty"`
	PID      int    `json:"pid"`
	Restarts int    `json:"restarts"`
	LastExit string `json:"last_exit,omitempty"`
	Conns    int64  `json:"connections"`
}

type record struct {
	Name            string          `json:"name"`
	Service         json.RawMessage `json:"service"`
	Dir             string          `json:"dir"`
	URLPort         int             `json:"url_port"`
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
			s.reloadService(svc, ops)
		}()
	}
	wg.Wait()
	operations.FinishGone(pending, "service", "DeleteService", func(op *operations.Op) (proto.Message, proto.Message) {
		gone := &runpb.Service{Name: op.Resource()}
		return gone, gone
	})
	s.persist()
}

func (s *Service) load() error {
	var recs []record
	if _, err := s.cfg.State.Load(servicesDoc, &recs); err != nil {
		return err
	}
	s.pending = s.cfg.Ops.PendingFor(MethodPrefix)
	for _, r := range recs {
		pb := &runpb.Service{}
		if err := protojson.Unmarshal(r.Service, pb); err != nil {
			return fmt.Errorf("run: decode saved service %s: %w", r.Name, err)
		}
		project, region, id := splitName(r.Name)
		svc := &service{name: r.Name, project: project, region: region, id: id, dir: r.Dir, pb: pb,
			revCount: r.RevCount, serving: r.Serving, urlPort: r.URLPort, held: r.Held, nextInst: r.NextInst}
		if len(r.ServingTemplate) > 0 {
			t := &runpb.RevisionTemplate{}
			if err := protojson.Unmarshal(r.ServingTemplate, t); err == nil {
				svc.servingTemplate = t
			}
		}
		for _, ir := range r.Instances {
			inst := &instance{id: ir.ID, revision: ir.Revision, port: ir.Port, opsPort: ir.OpsPort, restarts: ir.Restarts, lastExit: ir.LastExit, stalePID: ir.PID}
			inst.conns.Store(ir.Conns)
			inst.template = svc.servingTemplate
			svc.instances = append(svc.instances, inst)
		}
		svc.regionDown = s.cfg.Regions != nil && s.cfg.Regions.IsDown(region)
		s.services[r.Name] = svc
	}
	return nil
}

func (s *Service) reloadService(svc *service, ops []*operations.Op) {
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
		snap := proto.CloneOf(svc.pb)
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
	if err := s.openURL(svc); err != nil {
		s.log.Error("service URL", "service", svc.name, "err", err)
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
	if err := s.reloadServing(s.ctx, svc); err != nil {
		s.log.Error("reload service", "service", svc.name, "err", err)
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

// Close closes every service URL, stops every relay (SIGTERM) and persists the
// state.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closing = true
	var procs []*process
	var proxies []*urlProxy
	for _, svc := range s.services {
		for _, inst := range svc.instances {
			if inst.timer != nil {
				inst.timer.Stop()
			}
		}
		if svc.proxy != nil {
			proxies = append(proxies, svc.proxy)
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.work.Wait()
	for _, f := range proxies {
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
		r := record{Name: svc.name, Service: b, Dir: svc.dir, URLPort: svc.urlPort, RevCount: svc.revCount,
			Serving: svc.serving, Held: svc.held, NextInst: svc.nextInst, Instances: []instRecord{}}
		if svc.servingTemplate != nil {
			r.ServingTemplate, _ = protojson.Marshal(svc.servingTemplate)
		}
		for _, inst := range svc.instances {
			ir := instRecord{ID: inst.id, Revision: inst.revision, Port: inst.port, OpsPort: inst.opsPort, Restarts: inst.restarts, LastExit: inst.lastExit, Conns: inst.conns.Load()}
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
