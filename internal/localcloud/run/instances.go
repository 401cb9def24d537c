package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/regions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func protoreflectName(p string) protoreflect.Name { return protoreflect.Name(p) }

// reconcile brings svc to its settings: it deploys the latest created
// revision if it does not serve yet, else adjusts the number of instances
// of the serving revision and restarts stopped ones. It updates the status
// fields of the Service.
func (s *Service) reconcile(ctx context.Context, svc *service) error {
	svc.deployMu.Lock()
	defer svc.deployMu.Unlock()
	s.mu.Lock()
	if svc.deleted {
		s.mu.Unlock()
		return status.Errorf(codes.NotFound, "service %q was deleted", svc.name)
	}
	if svc.regionDown {
		s.mu.Unlock()
		return regions.Unavailable(svc.region, svc.name)
	}
	spec := proto.CloneOf(svc.pb)
	serving := svc.serving
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	svc.supersede = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		svc.supersede = nil
		s.mu.Unlock()
	}()
	gen := spec.Generation
	target := spec.LatestCreatedRevision
	count := instanceCount(spec)
	var err error
	deploying := target != serving
	if deploying {
		err = s.deploy(ctx, svc, target, spec.Template, count)
	} else {
		err = s.scale(ctx, svc, count)
	}
	s.mu.Lock()
	if err != nil && svc.regionDown {
		err = regions.Unavailable(svc.region, svc.name)
	}
	pb := svc.pb
	if err != nil && pb.Generation != gen && ctx.Err() != nil {
		s.mu.Unlock()
		return status.Errorf(codes.Aborted, "superseded: the service was updated again (generation %d) before revision %s was ready", pb.Generation, target)
	}
	if pb.Generation == gen {
		pb.Reconciling = false
		pb.ObservedGeneration = gen
	}
	if svc.serving != "" {
		pb.LatestReadyRevision = svc.serving
		pb.TrafficStatuses = []*runpb.TrafficTargetStatus{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Revision: svc.serving, Percent: 100}}
	}
	if err == nil {
		if pb.Generation == gen {
			pb.TerminalCondition = cond("Ready", runpb.Condition_CONDITION_SUCCEEDED, "")
			pb.Conditions = []*runpb.Condition{
				cond("RoutesReady", runpb.Condition_CONDITION_SUCCEEDED, ""),
				cond("ConfigurationsReady", runpb.Condition_CONDITION_SUCCEEDED, ""),
			}
		}
	} else {
		msg := status.Convert(err).Message()
		if deploying {
			msg = fmt.Sprintf("Revision '%s' is not ready and cannot serve traffic. %s", target, msg)
		}
		if pb.Generation == gen {
			tc := cond("Ready", runpb.Condition_CONDITION_FAILED, msg)
			tc.Reasons = &runpb.Condition_Reason{Reason: runpb.Condition_REVISION_FAILED}
			routes := cond("RoutesReady", runpb.Condition_CONDITION_SUCCEEDED, "")
			if svc.serving == "" {
				routes = cond("RoutesReady", runpb.Condition_CONDITION_FAILED, "no revision is ready to serve traffic")
			}
			pb.TerminalCondition = tc
			pb.Conditions = []*runpb.Condition{routes, cond("ConfigurationsReady", runpb.Condition_CONDITION_FAILED, msg)}
		}
		switch code := status.Code(err); {
		case parent.Err() != nil:
			err = status.Errorf(codes.Canceled, "cancelled: %s", msg)
		case code == codes.Unknown, code == codes.Internal, code == codes.DeadlineExceeded, code == codes.Canceled, code == codes.OK:
			err = status.Error(codes.FailedPrecondition, msg)
		default:
			err = status.Error(code, msg)
		}
	}
	s.mu.Unlock()
	s.persist()
	return err
}

// reloadServing restarts the instances of the serving revision (after a
// localcloud restart), without touching a pending rollout.
func (s *Service) reloadServing(ctx context.Context, svc *service) error {
	svc.deployMu.Lock()
	defer svc.deployMu.Unlock()
	s.mu.Lock()
	if svc.deleted || svc.regionDown || svc.serving == "" {
		s.mu.Unlock()
		return nil
	}
	count := instanceCount(svc.pb)
	if svc.pb.LatestCreatedRevision != svc.serving && len(svc.instances) > 0 {
		// The settings are those of the pending revision; keep the
		// number of instances the serving one had.
		count = len(svc.instances)
	}
	s.mu.Unlock()
	err := s.scale(ctx, svc, count)
	s.persist()
	return err
}

// newInstance adds an instance of rev to svc (guarded by s.mu).
func (s *Service) newInstanceLocked(svc *service, rev string, t *runpb.RevisionTemplate) *instance {
	svc.nextInst++
	inst := &instance{id: rev + "-" + strconv.Itoa(svc.nextInst), revision: rev, template: t, launching: true}
	svc.instances = append(svc.instances, inst)
	return inst
}

// deploy starts count instances of a new revision, and once they are all
// ready switches the service URL to them and stops the previous ones.
func (s *Service) deploy(ctx context.Context, svc *service, rev string, t *runpb.RevisionTemplate, count int) error {
	// The profile's modelled deploy time, before the revision's instances
	// start (each then takes its cold start).
	if _, err := s.cfg.Timing.Wait(ctx, profile.RunRevisionDeploy, svc.name+"/revisions/"+rev, 0); err != nil {
		return err
	}
	s.mu.Lock()
	var insts []*instance
	for range count {
		insts = append(insts, s.newInstanceLocked(svc, rev, t))
	}
	s.mu.Unlock()
	s.persist()
	errs := s.launchAll(ctx, svc, insts)
	if err := errors.Join(errs...); err != nil {
		s.retire(svc, insts, true)
		return status.Errorf(codes.FailedPrecondition, "The user-provided container failed to start and pass its startup probe: %v", err)
	}
	s.mu.Lock()
	var old, kept []*instance
	for _, inst := range svc.instances {
		if inst.revision == rev {
			kept = append(kept, inst)
		} else {
			old = append(old, inst)
		}
	}
	prev := svc.serving
	svc.instances = kept
	svc.serving = rev
	svc.servingTemplate = t
	s.mu.Unlock()
	s.persist()
	s.cfg.Ops.Event("localcloud.Run.TrafficSwitched", svc.name, fmt.Sprintf("OK: revision %s serves 100%% on %d instance(s) (was %q); %d old instance(s) get SIGTERM", rev, len(kept), prev, len(old)))
	s.retire(svc, old, false)
	return nil
}

// retire takes instances out of the service and stops them: SIGKILL if
// kill, else SIGTERM in the background (the relay closes its agents with
// 1001 and exits).
func (s *Service) retire(svc *service, insts []*instance, kill bool) {
	if len(insts) == 0 {
		return
	}
	gone := map[*instance]bool{}
	s.mu.Lock()
	var procs []*process
	var ids []string
	for _, inst := range insts {
		gone[inst] = true
		inst.retired = true
		inst.ready = false
		if inst.timer != nil {
			inst.timer.Stop()
		}
		if inst.proc != nil {
			inst.proc.Expected.Store(true)
			procs = append(procs, inst.proc)
			ids = append(ids, inst.id)
		}
	}
	var rest []*instance
	for _, inst := range svc.instances {
		if !gone[inst] {
			rest = append(rest, inst)
		}
	}
	svc.instances = rest
	s.work.Add(1)
	s.mu.Unlock()
	s.persist()
	stop := func() {
		defer s.work.Done()
		var wg sync.WaitGroup
		for i, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if kill {
					p.kill(true)
				} else {
					s.stopInstance(p, ids[i])
				}
			}()
		}
		wg.Wait()
	}
	if kill {
		stop()
		return
	}
	go stop()
}

// scale sets the number of instances of the serving revision to count and
// restarts the ones that are down (unless the service is held down).
func (s *Service) scale(ctx context.Context, svc *service, count int) error {
	s.mu.Lock()
	var cur []*instance
	for _, inst := range svc.instances {
		if inst.revision == svc.serving && !inst.retired {
			cur = append(cur, inst)
		}
	}
	before := len(cur)
	var remove, added, start []*instance
	if len(cur) > count {
		// Remove stopped instances first, then the newest.
		var up, down []*instance
		for _, inst := range cur {
			if inst.proc != nil && inst.proc.Alive() {
				up = append(up, inst)
			} else {
				down = append(down, inst)
			}
		}
		ordered := append(up, down...)
		cur, remove = ordered[:count], ordered[count:]
	}
	for len(cur)+len(added) < count {
		added = append(added, s.newInstanceLocked(svc, svc.serving, svc.servingTemplate))
	}
	if !svc.held {
		for _, inst := range cur {
			if !inst.launching && (inst.proc == nil || !inst.proc.Alive()) {
				if inst.timer != nil {
					inst.timer.Stop()
				}
				inst.launching = true
				if inst.proc != nil {
					inst.restarts++
				}
				start = append(start, inst)
			}
		}
	}
	s.mu.Unlock()
	if len(remove) > 0 || len(added) > 0 {
		s.cfg.Ops.Event("localcloud.Run.Scaled", svc.name, fmt.Sprintf("OK: %d -> %d instance(s) of revision %s", before, count, svc.serving))
	}
	s.retire(svc, remove, false)
	s.persist()
	if len(added) > 0 {
		// More instances asked for (minimum instances raised): the
		// profile's modelled scale-up time, then each one's cold start.
		if _, err := s.cfg.Timing.Wait(ctx, profile.RunScaleUp, svc.name, 0); err != nil {
			s.retire(svc, added, true)
			return err
		}
	}
	errs := s.launchAll(ctx, svc, append(added, start...))
	var failedAdded []*instance
	for i, err := range errs {
		if err == nil {
			continue
		}
		if i < len(added) {
			failedAdded = append(failedAdded, added[i])
		} else {
			s.scheduleRestart(svc, start[i-len(added)])
		}
	}
	s.retire(svc, failedAdded, true)
	if err := errors.Join(errs...); err != nil {
		return status.Errorf(codes.Unavailable, "instances of revision %s did not become ready: %v", svc.serving, err)
	}
	return nil
}

// launchAll launches instances in parallel; errs[i] is the error of insts[i].
func (s *Service) launchAll(ctx context.Context, svc *service, insts []*instance) []error {
	errs := make([]error, len(insts))
	var wg sync.WaitGroup
	for i, inst := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.launch(ctx, svc, inst)
		}()
	}
	wg.Wait()
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return errs
}

// env builds an instance's environment: a minimal base, the container's
// env, then what Cloud Run and localcloud set (see doc.go).
func (s *Service) env(svc *service, inst *instance, port, opsPort int) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if c := inst.template.GetContainers(); len(c) > 0 {
		for _, e := range c[0].GetEnv() {
			env = append(env, e.GetName()+"="+e.GetValue())
		}
	}
	// What localcloud sets comes last: for a name set twice, exec uses the
	// last value.
	return append(env,
		"PORT="+strconv.Itoa(port),
		"K_SERVICE="+svc.id,
		"K_REVISION="+inst.revision,
		"K_CONFIGURATION="+svc.id,
		"LISTEN_HOST=127.0.0.1",
		"INSTANCE_ID="+inst.id,
		"OPS_PORT="+strconv.Itoa(opsPort),
		"AGENTNET_EMULATOR_HOST="+s.cfg.EmulatorHost,
		// Its metadata server: the service identity's access token.
		"GCE_METADATA_HOST="+s.cfg.EmulatorHost,
		localproc.VPCNetworkEnv+"="+egressNetwork(svc.project, inst.template),
		localproc.RunInstanceEnv+"="+markerOf(svc.name, inst.id),
	)
}

// egressNetwork is the Direct VPC egress network of a revision as
// projects/P/global/networks/N ("" without one). A bare name or a URL is
// normalised as Cloud Run accepts them.
func egressNetwork(project string, t *runpb.RevisionTemplate) string {
	nis := t.GetVpcAccess().GetNetworkInterfaces()
	if len(nis) == 0 || nis[0].GetNetwork() == "" {
		return ""
	}
	n := nis[0].GetNetwork()
	if i := strings.Index(n, "projects/"); i >= 0 {
		return n[i:]
	}
	return "projects/" + project + "/global/networks/" + n
}

// launch starts an instance's relay and waits until it is ready. The
// process is supervised from then on.
func (s *Service) launch(ctx context.Context, svc *service, inst *instance) (err error) {
	defer func() {
		s.mu.Lock()
		inst.launching = false
		if err == nil {
			inst.ready = true
		}
		s.mu.Unlock()
		s.persist()
	}()
	if err := os.MkdirAll(svc.dir, 0o755); err != nil {
		return err
	}
	// The profile's modelled cold start: the instance is starting and
	// gets no traffic meanwhile.
	if _, err := s.cfg.Timing.Wait(ctx, profile.RunColdStart, inst.id, 0); err != nil {
		return err
	}
	var args []string
	if c := inst.template.GetContainers(); len(c) > 0 {
		args = c[0].GetArgs()
	}
	logPath := filepath.Join(svc.dir, inst.id+".log")
	startup, liveness, readiness := containerProbes(inst.template)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s.mu.Lock()
		if s.closing || svc.deleted || inst.retired {
			s.mu.Unlock()
			return status.Error(codes.Unavailable, "the instance was stopped before it was ready")
		}
		port, opsPort := inst.port, inst.opsPort
		s.mu.Unlock()
		if attempt > 0 || !localproc.PortFree(port) {
			p, err := localproc.FreePort()
			if err != nil {
				return err
			}
			port = p
		}
		// The kernel may hand the port just freed to the next FreePort too:
		// pick again until the two differ.
		for attempt > 0 || opsPort == 0 || opsPort == port || !localproc.PortFree(opsPort) {
			p, err := localproc.FreePort()
			if err != nil {
				return err
			}
			opsPort = p
			if opsPort != port {
				break
			}
		}
		p, err := spawn(s.cfg.RelayBinary, args, s.env(svc, inst, port, opsPort), svc.dir, logPath)
		if err != nil {
			return fmt.Errorf("start %s: %w", s.cfg.RelayBinary, err)
		}
		s.mu.Lock()
		inst.proc = p
		inst.port = port
		inst.opsPort = opsPort
		inst.ready = false
		s.mu.Unlock()
		s.persist()
		s.watch.Add(1)
		go func() {
			defer s.watch.Done()
			<-p.Exited()
			s.onExit(svc, inst, p)
		}()
		err = startup.waitStartup(ctx, p, port, s.cfg.ReadyTimeout)
		if err == nil {
			s.log.Info("relay instance ready", "service", svc.name, "instance", inst.id, "pid", p.Pid, "port", port, "ops_port", opsPort)
			s.watchProbes(svc, inst, p, liveness, readiness)
			return nil
		}
		p.kill(true)
		lastErr = fmt.Errorf("instance %s: %w", inst.id, err)
		if ctx.Err() != nil || !strings.Contains(strings.ToLower(err.Error()), "address already in use") {
			return lastErr
		}
	}
	return lastErr
}

// onExit is called when a relay process exits.
func (s *Service) onExit(svc *service, inst *instance, p *process) {
	s.mu.Lock()
	if p.Expected.Load() || inst.proc != p || s.closing || inst.retired || svc.deleted || inst.launching {
		s.mu.Unlock()
		return
	}
	inst.ready = false
	inst.lastExit = fmt.Sprintf("%s: relay pid %d exited unexpectedly (%v)", time.Now().UTC().Format(time.RFC3339Nano), p.Pid, p.Err())
	held, regionDown := svc.held, svc.regionDown
	s.mu.Unlock()
	var next string
	switch {
	case regionDown:
		next = fmt.Sprintf("held down: region %s is down", svc.region)
	case held:
		next = "held down by a service-kill fault until service-release or the next update"
	default:
		next = fmt.Sprintf("restarting in %s", s.cfg.RepairDelay)
	}
	s.log.Warn("relay instance exited", "service", svc.name, "instance", inst.id, "pid", p.Pid, "err", p.Err(), "next", next)
	s.cfg.Ops.Event("localcloud.Supervisor.RelayExited", svc.name, fmt.Sprintf("instance %s pid %d exited: %v; %s", inst.id, p.Pid, p.Err(), next))
	s.persist()
	if !held && !regionDown {
		s.scheduleRestart(svc, inst)
	}
}

func (s *Service) scheduleRestart(svc *service, inst *instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || inst.retired || svc.deleted {
		return
	}
	if inst.timer != nil {
		inst.timer.Stop()
	}
	inst.timer = time.AfterFunc(s.cfg.RepairDelay, func() { s.restart(svc, inst) })
}

// restart starts a crashed instance again.
func (s *Service) restart(svc *service, inst *instance) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.work.Add(1)
	s.mu.Unlock()
	defer s.work.Done()
	svc.deployMu.Lock()
	defer svc.deployMu.Unlock()
	s.mu.Lock()
	if s.closing || svc.deleted || inst.retired || svc.held || svc.regionDown || inst.launching || (inst.proc != nil && inst.proc.Alive()) {
		s.mu.Unlock()
		return
	}
	inst.launching = true
	inst.restarts++
	s.mu.Unlock()
	if err := s.launch(s.ctx, svc, inst); err != nil {
		s.log.Error("restart of relay instance failed; retrying", "service", svc.name, "instance", inst.id, "err", err)
		s.cfg.Ops.Event("localcloud.Supervisor.RelayRestart", svc.name, fmt.Sprintf("FAILED: instance %s: %v", inst.id, err))
		s.scheduleRestart(svc, inst)
		return
	}
	s.mu.Lock()
	pid := 0
	if inst.proc != nil {
		pid = inst.proc.Pid
	}
	s.mu.Unlock()
	s.cfg.Ops.Event("localcloud.Supervisor.RelayRestart", svc.name, fmt.Sprintf("OK: instance %s restarted (pid %d)", inst.id, pid))
}
