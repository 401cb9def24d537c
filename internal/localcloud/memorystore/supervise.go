package memorystore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gate"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxmemory is the instance's memory limit in bytes: memory_size_gb, or
// the maxmemory-gb redis_config when set.
func maxmemory(pb *redispb.Instance) string {
	if v, ok := pb.RedisConfigs["maxmemory-gb"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return strconv.FormatInt(int64(f*(1<<30)), 10)
		}
	}
	return strconv.FormatInt(int64(pb.MemorySizeGb)<<30, 10)
}

// args builds the command line of a redis-server for inst working in dir
// and listening on port (TLS only with transit encryption). It writes the
// configuration file with the AUTH string into dir first.
func (s *Service) args(inst *instance, dir string, port int, extra ...string) ([]string, error) {
	s.mu.Lock()
	pb := inst.pb
	auth := inst.auth
	tlsOn := pb.TransitEncryptionMode == redispb.Instance_SERVER_AUTHENTICATION
	args := []string{
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--dbfilename", "dump.rdb",
		"--daemonize", "no",
		"--appendonly", "no",
		"--maxmemory", maxmemory(pb),
		"--shutdown-on-sigterm", "save",
		"--logfile", filepath.Join(inst.dir, "redis.log"),
		"--save", saveArg(pb.PersistenceConfig),
	}
	configs := redisConfigs(pb.RedisConfigs)
	s.mu.Unlock()
	if tlsOn {
		args = append(args, tlsArgs(dir, port)...)
	} else {
		args = append(args, "--port", strconv.Itoa(port))
	}
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--"+k, configs[k])
	}
	// Later options win.
	args = append(args, extra...)
	conf, err := writeAuthConf(dir, auth)
	if err != nil {
		return nil, err
	}
	// The configuration file comes first on redis-server's command line.
	return append([]string{conf}, args...), nil
}

// start starts a redis-server for inst in dir on a free port (its previous
// port when still free), tied to localcloud's life. It does not wait for it.
func (s *Service) start(inst *instance, dir string, port int, extra ...string) (*process, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s.mu.Lock()
	tlsConf := inst.tls
	auth := inst.auth
	s.mu.Unlock()
	args, err := s.args(inst, dir, port, extra...)
	if err != nil {
		return nil, err
	}
	p, err := spawn(s.cfg.RedisServerPath, args, dir, port, tlsConf, auth)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.cfg.RedisServerPath, err)
	}
	return p, nil
}

// launch starts the instance's redis-server behind its gate (keeping its
// port when it is still free) and waits until it is ready. The new process
// is supervised.
func (s *Service) launch(ctx context.Context, inst *instance) error {
	if err := s.openGate(inst); err != nil {
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
		p, err := s.start(inst, inst.dir, port)
		if err != nil {
			return err
		}
		s.mu.Lock()
		inst.proc = p
		s.mu.Unlock()
		s.persist()
		s.supervise(inst, p)
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

// supervise watches p, a redis-server of inst, for an unexpected exit.
func (s *Service) supervise(inst *instance, p *process) {
	s.watch.Add(1)
	go func() {
		defer s.watch.Done()
		<-p.Exited()
		s.onExit(inst, p)
	}()
}

// openGate opens the instance's endpoint if it is not open: on the port
// the instance reports when it is free (a restarted localcloud keeps
// addresses), else on a new one.
func (s *Service) openGate(inst *instance) error {
	s.mu.Lock()
	if inst.gate != nil {
		s.mu.Unlock()
		return nil
	}
	want := int(inst.pb.Port)
	s.mu.Unlock()
	g, err := gate.Open(want, func() (string, string) { return s.backend(inst) }, s.log.With("instance", inst.name))
	if err != nil {
		return fmt.Errorf("open the instance's endpoint: %w", err)
	}
	s.mu.Lock()
	inst.gate = g
	inst.pb.Host = "127.0.0.1"
	inst.pb.Port = int32(g.Port())
	s.mu.Unlock()
	if want != 0 && g.Port() != want {
		s.log.Warn("the instance's port was taken; its endpoint moved", "instance", inst.name, "was", want, "port", g.Port())
	}
	s.persist()
	return nil
}

// closeGate closes the instance's endpoint.
func (s *Service) closeGate(inst *instance) {
	s.mu.Lock()
	g := inst.gate
	inst.gate = nil
	s.mu.Unlock()
	if g != nil {
		g.Close()
	}
}

// backend is where the gate of inst sends a connection now ("" while its
// redis-server is down or an import runs), and the instance's authorized
// network.
func (s *Service) backend(inst *instance) (string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	network := inst.pb.AuthorizedNetwork
	if inst.proc == nil || !inst.proc.Alive() || inst.importing {
		return "", network
	}
	return inst.proc.addr(), network
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
		inst.pb.StatusMessage = "redis-server is down (held by a redis-kill fault); send redis-release to bring it back"
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

// takeProcess is for an operation that stops and starts the instance's
// redis-server itself (import, upgrade): it holds inst.launchMu, so that no
// repair runs meanwhile, sets opOwnsProcess, so that the supervisor leaves
// the exits it causes alone, and returns the process running now. handBack
// undoes both.
func (s *Service) takeProcess(inst *instance) (old *process, handBack func()) {
	inst.launchMu.Lock()
	s.mu.Lock()
	inst.opOwnsProcess = true
	old = inst.proc
	s.mu.Unlock()
	return old, func() {
		s.mu.Lock()
		inst.opOwnsProcess = false
		s.mu.Unlock()
		inst.launchMu.Unlock()
	}
}
