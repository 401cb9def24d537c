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
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
