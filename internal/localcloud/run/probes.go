package run

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
)

// probe is one container probe as localcloud runs it.
type probe struct {
	kind         string // "http" or "tcp"
	path         string
	headers      http.Header
	initialDelay time.Duration
	timeout      time.Duration
	period       time.Duration
	failures     int
}

// Cloud Run's values for a probe field left at zero, and its default TCP
// startup probe for a container that declares none.
const (
	defaultProbeTimeout  = 1
	defaultProbePeriod   = 10
	defaultProbeFailures = 3

	defaultStartupTCPSeconds  = 240
	defaultStartupTCPFailures = 1
)

// defaultStartupProbe is the TCP startup probe Cloud Run sets on a container
// without a startup probe.
func defaultStartupProbe() *runpb.Probe {
	return &runpb.Probe{
		TimeoutSeconds: defaultStartupTCPSeconds, PeriodSeconds: defaultStartupTCPSeconds, FailureThreshold: defaultStartupTCPFailures,
		ProbeType: &runpb.Probe_TcpSocket{TcpSocket: &runpb.TCPSocketAction{}},
	}
}

// withProbeDefaults fills in what Cloud Run fills in on a declared probe.
func withProbeDefaults(p *runpb.Probe, port int32) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = defaultProbeTimeout
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = defaultProbePeriod
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = defaultProbeFailures
	}
	switch t := p.ProbeType.(type) {
	case *runpb.Probe_HttpGet:
		if t.HttpGet.Path == "" {
			t.HttpGet.Path = "/"
		}
		if t.HttpGet.Port == 0 {
			t.HttpGet.Port = port
		}
	case *runpb.Probe_TcpSocket:
		if t.TcpSocket.Port == 0 {
			t.TcpSocket.Port = port
		}
	}
}

// probeOf converts a container probe (with defaults filled in); nil for none.
func probeOf(p *runpb.Probe) *probe {
	if p == nil {
		return nil
	}
	out := &probe{
		kind:         "tcp",
		initialDelay: time.Duration(p.GetInitialDelaySeconds()) * time.Second,
		timeout:      time.Duration(max(p.GetTimeoutSeconds(), 1)) * time.Second,
		period:       time.Duration(max(p.GetPeriodSeconds(), 1)) * time.Second,
		failures:     int(max(p.GetFailureThreshold(), 1)),
	}
	if g := p.GetHttpGet(); g != nil {
		out.kind, out.path, out.headers = "http", g.GetPath(), http.Header{}
		for _, h := range g.GetHttpHeaders() {
			out.headers.Add(h.GetName(), h.GetValue())
		}
	}
	return out
}

func (p *probe) String() string {
	if p.kind == "http" {
		return "probe (HTTP GET " + p.path + ")"
	}
	return "probe (TCP)"
}

// containerProbes returns the startup, liveness and readiness probes of a
// revision's container (startup is never nil: Cloud Run's default TCP
// probe applies).
func containerProbes(t *runpb.RevisionTemplate) (startup, liveness, readiness *probe) {
	var c *runpb.Container
	if cs := t.GetContainers(); len(cs) > 0 {
		c = cs[0]
	}
	sp := c.GetStartupProbe()
	if sp == nil {
		sp = defaultStartupProbe()
	}
	return probeOf(sp), probeOf(c.GetLivenessProbe()), probeOf(c.GetReadinessProbe())
}

var probeClient = &http.Client{
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	},
	// A redirect answer is a success; it is not followed.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// check runs the probe once against 127.0.0.1:port; nil means it passed:
// for HTTP an answer from 200 to 399, for TCP an accepted connection.
func (p *probe) check(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if p.kind == "tcp" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+p.path, nil)
	if err != nil {
		return err
	}
	for k, v := range p.headers {
		req.Header[k] = v
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		var b [256]byte
		n, _ := resp.Body.Read(b[:])
		return fmt.Errorf("GET %s answered %s: %s", p.path, resp.Status, strings.TrimSpace(strings.ReplaceAll(string(b[:n]), "\n", "; ")))
	}
	return nil
}

// startupPoll is how often a starting instance is probed: a relay is
// typically ready some tens of milliseconds after it starts, so localcloud
// probes more often than period_seconds, within the same time budget.
const startupPoll = 15 * time.Millisecond

// budget is how long a startup probe may take to pass: initial delay plus
// failure_threshold periods, as on Cloud Run.
func (p *probe) budget() time.Duration {
	return p.initialDelay + time.Duration(p.failures)*p.period
}

// waitStartup waits until the startup probe passes on port, the process
// exits, or the budget (capped by limit) runs out.
func (p *probe) waitStartup(ctx context.Context, proc *process, port int, limit time.Duration) error {
	budget := p.budget()
	if limit > 0 && budget > limit {
		budget = limit
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if p.initialDelay > 0 {
		select {
		case <-time.After(p.initialDelay):
		case <-ctx.Done():
		}
	}
	tick := time.NewTicker(startupPoll)
	defer tick.Stop()
	var lastErr error
	for {
		if ctx.Err() == nil {
			err := p.check(ctx, port)
			if err == nil {
				return nil
			}
			lastErr = err
		}
		select {
		case <-proc.Exited():
			return fmt.Errorf("the container exited before its startup %s passed (%v); last log lines: %s", p, proc.Err(), logTail(proc.logPath))
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return fmt.Errorf("the container (pid %d) did not pass its startup %s on port %d within %s: %v; last log lines: %s", proc.Pid, p, port, budget, lastErr, logTail(proc.logPath))
		case <-tick.C:
		}
	}
}

// watch runs an instance's liveness and readiness probes from the moment
// its startup probe passed until its process exits: a liveness probe
// failing failure_threshold times in a row gets the process SIGKILLed (the
// supervisor restarts it); a readiness probe doing so takes the instance
// out of rotation until it passes again.
func (s *Service) watchProbes(svc *service, inst *instance, proc *process, liveness, readiness *probe) {
	if liveness == nil && readiness == nil {
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.work.Add(1)
	port := inst.port
	s.mu.Unlock()
	go func() {
		defer s.work.Done()
		run := func(p *probe, fail func(error), pass func()) {
			if p == nil {
				return
			}
			t := time.NewTicker(p.period)
			defer t.Stop()
			failures := 0
			for {
				select {
				case <-s.ctx.Done():
					return
				case <-proc.Exited():
					return
				case <-t.C:
				}
				if err := p.check(s.ctx, port); err != nil {
					if failures++; failures >= p.failures {
						fail(err)
						failures = 0
					}
					continue
				}
				failures = 0
				pass()
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			run(readiness, func(error) {
				s.mu.Lock()
				if inst.proc == proc {
					inst.ready = false
				}
				s.mu.Unlock()
			}, func() {
				s.mu.Lock()
				if inst.proc == proc && !inst.launching {
					inst.ready = true
				}
				s.mu.Unlock()
			})
		}()
		run(liveness, func(err error) {
			s.mu.Lock()
			current := inst.proc == proc && !inst.retired
			s.mu.Unlock()
			if !current {
				return
			}
			s.log.Warn("liveness probe failed; restarting the instance", "service", svc.name, "instance", inst.id, "pid", proc.Pid, "err", err)
			s.cfg.Ops.Event("localcloud.Supervisor.LivenessFailed", svc.name,
				fmt.Sprintf("instance %s pid %d failed its liveness probe %d times in a row (%v); restarting it", inst.id, proc.Pid, liveness.failures, err))
			proc.kill(false)
		}, func() {})
		<-done
	}()
}
