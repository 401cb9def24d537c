package memorystore

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"syscall"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
)

func (s *Service) find(name string) (*instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return inst, nil
}

// KillResult reports a redis-kill fault.
type KillResult struct {
	PID       int    `json:"pid"`
	Port      int    `json:"port"`
	Held      bool   `json:"held"`
	WasAlive  bool   `json:"was_alive"`
	StateNext string `json:"state"`
}

// Kill SIGKILLs the instance's redis-server, as a Redis failure would. The
// supervisor repairs it after the repair delay, unless hold is set: then it
// stays down until Release.
func (s *Service) Kill(name string, hold bool) (KillResult, error) {
	inst, err := s.find(name)
	if err != nil {
		return KillResult{}, err
	}
	s.mu.Lock()
	inst.held = hold
	p := inst.proc
	port := int(inst.pb.Port)
	s.mu.Unlock()
	res := KillResult{Port: port, Held: hold}
	if p != nil && p.Alive() {
		res.PID = p.Pid
		res.WasAlive = true
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		select {
		case <-p.Exited():
		case <-time.After(10 * time.Second):
			return res, fmt.Errorf("redis-server pid %d did not exit after SIGKILL", p.Pid)
		}
		// Let the supervisor record the exit before reporting.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			s.mu.Lock()
			st := inst.pb.State
			s.mu.Unlock()
			if st == redispb.Instance_REPAIRING || inst.opOwnsProcess {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	s.persist()
	res.StateNext = s.snapshot(inst).State.String()
	return res, nil
}

// Release ends a held redis-kill fault: the instance is repaired now.
func (s *Service) Release(name string) (string, error) {
	inst, err := s.find(name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	inst.held = false
	down := inst.pb.State == redispb.Instance_REPAIRING && (inst.proc == nil || !inst.proc.Alive())
	s.mu.Unlock()
	s.persist()
	if !down {
		return "instance was not down; nothing to release", nil
	}
	s.repair(inst)
	st := s.snapshot(inst).State
	if st != redispb.Instance_READY {
		return "", fmt.Errorf("repair of %s did not bring it back; state %s", name, st)
	}
	return "redis-server restarted from its last snapshot; state READY", nil
}

// CorruptResult reports a redis-corrupt fault.
type CorruptResult struct {
	Keys        int      `json:"keys"`
	Overwritten int      `json:"overwritten"`
	Deleted     int      `json:"deleted"`
	Sample      []string `json:"sample,omitempty"`
}

// Corrupt damages data through the redis protocol: a fraction of the keys
// (default 0.5, at least one) is picked at random; a quarter of those are
// deleted and the rest overwritten with random bytes.
func (s *Service) Corrupt(ctx context.Context, name string, fraction float64) (CorruptResult, error) {
	inst, err := s.find(name)
	if err != nil {
		return CorruptResult{}, err
	}
	if fraction <= 0 || fraction > 1 {
		fraction = 0.5
	}
	s.mu.Lock()
	p := inst.proc
	s.mu.Unlock()
	if p == nil || !p.Alive() {
		return CorruptResult{}, fmt.Errorf("redis-server of %s is not running", name)
	}
	c := p.client()
	defer c.Close()
	var keys []string
	var cursor uint64
	for {
		ks, next, err := c.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			return CorruptResult{}, fmt.Errorf("SCAN: %w", err)
		}
		keys = append(keys, ks...)
		cursor = next
		if cursor == 0 || len(keys) >= 1_000_000 {
			break
		}
	}
	res := CorruptResult{Keys: len(keys)}
	if len(keys) == 0 {
		return res, nil
	}
	mrand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	n := max(1, int(float64(len(keys))*fraction))
	sample := keys[:n]
	del := n / 4
	for i, k := range sample {
		if i < del {
			if err := c.Del(ctx, k).Err(); err != nil {
				return res, fmt.Errorf("DEL %s: %w", k, err)
			}
			res.Deleted++
			continue
		}
		b := make([]byte, 16+mrand.IntN(48))
		rand.Read(b)
		if err := c.Set(ctx, k, b, 0).Err(); err != nil {
			return res, fmt.Errorf("SET %s: %w", k, err)
		}
		res.Overwritten++
	}
	show := append([]string(nil), sample[:min(len(sample), 20)]...)
	sort.Strings(show)
	res.Sample = show
	return res, nil
}

// Status describes an instance's process for the admin endpoint.
type Status struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Port      int    `json:"port"`       // the instance's endpoint (its gate)
	RedisPort int    `json:"redis_port"` // the redis-server's own port, behind the gate
	PID       int    `json:"pid,omitempty"`
	Dir       string `json:"dir"`
	Restarts  int    `json:"restarts"`
	Held      bool   `json:"held,omitempty"`
	Busy      string `json:"busy,omitempty"`
	LastExit  string `json:"last_exit,omitempty"`
}

// Statuses lists every instance with its process details.
func (s *Service) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.instances))
	for _, inst := range s.instances {
		st := Status{Name: inst.name, State: inst.pb.State.String(), Port: int(inst.pb.Port), RedisPort: inst.port, Dir: inst.dir,
			Restarts: inst.restarts, Held: inst.held, Busy: inst.busy, LastExit: inst.lastExit}
		if inst.proc != nil && inst.proc.Alive() {
			st.PID = inst.proc.Pid
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
