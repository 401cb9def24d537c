package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"time"
)

func (s *Service) find(name string) (*service, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.services[name]
	if !ok || svc.deleted {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return svc, nil
}

// KilledInstance is one instance stopped by a fault.
type KilledInstance struct {
	ID  string `json:"id"`
	PID int    `json:"pid"`
}

// KillResult reports a service-kill fault.
type KillResult struct {
	Service string           `json:"service"`
	Held    bool             `json:"held"`
	Killed  []KilledInstance `json:"killed"`
}

// Kill SIGKILLs every instance of a service, as a crash of the WebSocket
// servers would. They are restarted after the repair delay unless hold is
// set: then they stay down until Release or the next UpdateService.
func (s *Service) Kill(name string, hold bool) (KillResult, error) {
	svc, err := s.find(name)
	if err != nil {
		return KillResult{}, err
	}
	res := KillResult{Service: name, Held: hold, Killed: []KilledInstance{}}
	s.mu.Lock()
	svc.held = hold
	var procs []*process
	for _, inst := range svc.instances {
		if inst.proc != nil && inst.proc.Alive() {
			procs = append(procs, inst.proc)
			res.Killed = append(res.Killed, KilledInstance{ID: inst.id, PID: inst.proc.Pid})
		}
	}
	s.mu.Unlock()
	s.persist()
	for _, p := range procs {
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	}
	for _, p := range procs {
		select {
		case <-p.Exited():
		case <-time.After(10 * time.Second):
			return res, fmt.Errorf("relay pid %d did not exit after SIGKILL", p.Pid)
		}
	}
	return res, nil
}

// Release ends a held service-kill: the instances are started now and
// Release returns once they are ready.
func (s *Service) Release(ctx context.Context, name string) (string, error) {
	svc, err := s.find(name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	was := svc.held
	svc.held = false
	s.mu.Unlock()
	s.persist()
	if err := s.reconcile(ctx, svc); err != nil {
		return "", err
	}
	if !was {
		return "service was not held down; every instance is running", nil
	}
	return "instances restarted and ready", nil
}

// RegionDown SIGKILLs every instance of every service of region, holds
// them down, and closes the services' URLs (connections to the
// service URL are refused). It returns the names of the services.
func (s *Service) RegionDown(ctx context.Context, region string) (json.RawMessage, error) {
	s.mu.Lock()
	var names []string
	var proxies []*urlProxy
	var procs []*process
	for _, svc := range s.services {
		if svc.region != region || svc.deleted {
			continue
		}
		names = append(names, svc.name)
		svc.regionDown = true
		if svc.proxy != nil {
			proxies = append(proxies, svc.proxy)
			svc.proxy = nil
		}
		for _, inst := range svc.instances {
			inst.ready = false
			if inst.timer != nil {
				inst.timer.Stop()
			}
			if inst.proc != nil && inst.proc.Alive() {
				procs = append(procs, inst.proc)
			}
		}
	}
	s.mu.Unlock()
	for _, f := range proxies {
		f.ln.Close() // refuse new connections at once
	}
	for _, p := range procs {
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	}
	for _, p := range procs {
		<-p.Exited()
	}
	for _, f := range proxies {
		f.close()
	}
	s.persist()
	sort.Strings(names)
	if names == nil {
		names = []string{}
	}
	b, err := json.Marshal(names)
	return b, err
}

// RegionUp reopens the URLs of the services of region (on the same
// ports) and starts restarting their instances (services held down by a
// service-kill stay down). It returns once the service URLs are open: a
// relay resolves its Memorystore instances through the region's API at
// start, and that API answers only once every subsystem of the region is
// up. WaitRegion waits for the instances.
func (s *Service) RegionUp(_ context.Context, region string, _ json.RawMessage) error {
	s.mu.Lock()
	var svcs []*service
	for _, svc := range s.services {
		if svc.region == region && !svc.deleted {
			svc.regionDown = false
			svcs = append(svcs, svc)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, svc := range svcs {
		if err := s.openURL(svc); err != nil {
			errs = append(errs, fmt.Errorf("%s: service URL: %w", svc.name, err))
		}
	}
	s.persist()
	rr := &regionRestart{done: make(chan struct{})}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.Join(errs...)
	}
	if s.restarts == nil {
		s.restarts = map[string]*regionRestart{}
	}
	s.restarts[region] = rr
	s.work.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.work.Done()
		defer close(rr.done)
		rerrs := make([]error, len(svcs))
		var wg sync.WaitGroup
		for i, svc := range svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.reconcile(s.ctx, svc); err != nil {
					rerrs[i] = fmt.Errorf("%s: %w", svc.name, err)
				}
			}()
		}
		wg.Wait()
		rr.err = errors.Join(rerrs...)
		s.persist()
	}()
	return errors.Join(errs...)
}

// regionRestart is the restart of a region's instances after region-up.
type regionRestart struct {
	done chan struct{}
	err  error
}

// WaitRegion waits until the instances restarted by the last RegionUp of
// region are ready (or failed to be), or ctx ends.
func (s *Service) WaitRegion(ctx context.Context, region string) error {
	s.mu.Lock()
	rr := s.restarts[region]
	s.mu.Unlock()
	if rr == nil {
		return nil
	}
	select {
	case <-rr.done:
		return rr.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InstanceStatus describes one instance for GET /_localcloud/services.
type InstanceStatus struct {
	ID       string `json:"id"`
	Revision string `json:"revision"`
	PID      int    `json:"pid"`
	Port     int    `json:"port"`
	// OpsPort serves the relay's /metrics and detailed /ready; the
	// service URL never routes to it.
	OpsPort           int    `json:"ops_port"`
	Ready             bool   `json:"ready"`
	State             string `json:"state"`
	Restarts          int    `json:"restarts"`
	Connections       int64  `json:"connections"`
	ActiveConnections int64  `json:"active_connections"`
	LastExit          string `json:"last_exit,omitempty"`
}

// ServiceStatus describes one service for GET /_localcloud/services.
type ServiceStatus struct {
	Name                  string           `json:"name"`
	Region                string           `json:"region"`
	URI                   string           `json:"uri"`
	Port                  int              `json:"port"`
	URLOpen               bool             `json:"url_open"`
	ServingRevision       string           `json:"serving_revision"`
	LatestCreatedRevision string           `json:"latest_created_revision"`
	DesiredInstances      int              `json:"desired_instances"`
	Held                  bool             `json:"held"`
	RegionDown            bool             `json:"region_down"`
	Reconciling           bool             `json:"reconciling"`
	Instances             []InstanceStatus `json:"instances"`
	// RecentConnections are the last connections and requests the service
	// URL routed (at most 200), oldest first.
	RecentConnections []Conn `json:"recent_connections"`
}

// Statuses lists every service with its instances.
func (s *Service) Statuses() []ServiceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceStatus, 0, len(s.services))
	for _, svc := range s.services {
		if svc.deleted {
			continue
		}
		st := ServiceStatus{Name: svc.name, Region: svc.region, URI: svc.pb.Uri, Port: svc.urlPort, URLOpen: svc.proxy != nil,
			ServingRevision: svc.serving, LatestCreatedRevision: svc.pb.LatestCreatedRevision, DesiredInstances: instanceCount(svc.pb),
			Held: svc.held, RegionDown: svc.regionDown, Reconciling: svc.pb.Reconciling, Instances: []InstanceStatus{},
			RecentConnections: append([]Conn{}, svc.recent...)}
		for _, inst := range svc.instances {
			is := InstanceStatus{ID: inst.id, Revision: inst.revision, Port: inst.port, OpsPort: inst.opsPort, Ready: inst.ready, Restarts: inst.restarts,
				Connections: inst.conns.Load(), ActiveConnections: inst.active.Load(), LastExit: inst.lastExit}
			alive := inst.proc != nil && inst.proc.Alive()
			if alive {
				is.PID = inst.proc.Pid
			}
			switch {
			case inst.launching:
				is.State = "starting"
			case alive && inst.ready:
				is.State = "ready"
			case alive:
				is.State = "unready"
			case svc.regionDown:
				is.State = "down (region)"
			case svc.held:
				is.State = "down (held)"
			default:
				is.State = "down (restarting)"
			}
			st.Instances = append(st.Instances, is)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
