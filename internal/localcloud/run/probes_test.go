package run

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
)

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func sleeper(t *testing.T) *process {
	t.Helper()
	dir := t.TempDir()
	p, err := spawn("sleep", []string{"60"}, nil, dir, filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill(true) })
	return p
}

// Without a startup probe Cloud Run's default TCP probe applies; declared
// probes get Cloud Run's defaults for the fields left at zero.
func TestContainerProbesDefaults(t *testing.T) {
	tmpl := withDefaults(&runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: "agentnet-relay",
		LivenessProbe: &runpb.Probe{ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/live"}}}}}})
	c := tmpl.Containers[0]
	if sp := c.GetStartupProbe(); sp.GetTcpSocket().GetPort() != 8080 || sp.GetPeriodSeconds() != 240 || sp.GetTimeoutSeconds() != 240 || sp.GetFailureThreshold() != 1 {
		t.Errorf("default startup probe = %v", sp)
	}
	if lp := c.GetLivenessProbe(); lp.GetPeriodSeconds() != 10 || lp.GetTimeoutSeconds() != 1 || lp.GetFailureThreshold() != 3 || lp.GetHttpGet().GetPort() != 8080 {
		t.Errorf("liveness probe defaults = %v", lp)
	}
	startup, liveness, readiness := containerProbes(tmpl)
	if startup.kind != "tcp" || startup.budget() != 240*time.Second {
		t.Errorf("startup = %+v", startup)
	}
	if liveness.kind != "http" || liveness.path != "/live" || liveness.failures != 3 || liveness.period != 10*time.Second {
		t.Errorf("liveness = %+v", liveness)
	}
	if readiness != nil {
		t.Errorf("readiness = %+v, want none", readiness)
	}
}

// An HTTP probe passes on 200-399 and fails otherwise; a TCP probe passes
// when the port accepts.
func TestProbeCheck(t *testing.T) {
	var code atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" || r.Header.Get("X-Probe") != "yes" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	p := probeOf(&runpb.Probe{TimeoutSeconds: 1, PeriodSeconds: 1, FailureThreshold: 1, ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{
		Path: "/ready", HttpHeaders: []*runpb.HTTPHeader{{Name: "X-Probe", Value: "yes"}}}}})
	for c, ok := range map[int32]bool{200: true, 204: true, 302: true, 399: true, 400: false, 404: false, 503: false} {
		code.Store(c)
		if err := p.check(context.Background(), port); (err == nil) != ok {
			t.Errorf("HTTP %d: check = %v, want pass %v", c, err, ok)
		}
	}
	code.Store(503)
	if err := p.check(context.Background(), port); err == nil || !strings.Contains(err.Error(), "GET /ready answered 503") {
		t.Errorf("failure not described: %v", err)
	}
	tcp := probeOf(defaultStartupProbe())
	if err := tcp.check(context.Background(), port); err != nil {
		t.Errorf("TCP probe on a listening port: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := portOf(t, ln.Addr().String())
	ln.Close()
	if err := tcp.check(context.Background(), closed); err == nil {
		t.Error("TCP probe passed on a closed port")
	}
}

// An instance is ready only once its startup probe passes; a probe that
// never passes fails the start within failure_threshold periods.
func TestWaitStartup(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" && ready.Load() {
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	p := probeOf(&runpb.Probe{TimeoutSeconds: 1, PeriodSeconds: 1, FailureThreshold: 2, ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/ready"}}})
	proc := sleeper(t)

	time.AfterFunc(300*time.Millisecond, func() { ready.Store(true) })
	start := time.Now()
	if err := p.waitStartup(context.Background(), proc, port, time.Minute); err != nil {
		t.Fatalf("startup probe that passes after 300ms: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("ready after %s, before the probe passed", d)
	}

	ready.Store(false)
	start = time.Now()
	err := p.waitStartup(context.Background(), proc, port, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "startup probe (HTTP GET /ready)") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("probe that never passes: %v", err)
	}
	if d := time.Since(start); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("gave up after %s, want failure_threshold x period_seconds = 2s", d)
	}

	dir := t.TempDir()
	quick, err := spawn("true", nil, nil, dir, filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.waitStartup(context.Background(), quick, port, time.Minute); err == nil || !strings.Contains(err.Error(), "exited before") {
		t.Errorf("exited container: %v", err)
	}
}

// Google's front end rules on the service URL, in order: reserved paths,
// ingress (and the disabled default URL), invoker IAM. The load balancer's
// mark counts only with the right secret and never reaches an instance.
func TestAccessRules(t *testing.T) {
	s := &Service{cfg: Config{LoadBalancerSecret: "s3cret"}}
	const (
		all  = runpb.IngressTraffic_INGRESS_TRAFFIC_ALL
		lb   = runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER
		intl = runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_ONLY
	)
	for _, c := range []struct {
		name   string
		a      access
		path   string
		header string
		want   int // 0: proxied
	}{
		{"private service", access{ingress: all}, "/ws", "", 403},
		{"private service through the load balancer", access{ingress: all}, "/ws", "s3cret", 403},
		{"public service", access{ingress: all, invokerIAMDisabled: true}, "/ws", "", 0},
		{"reserved path", access{ingress: all, invokerIAMDisabled: true}, "/readyz", "", 404},
		{"reserved path through the load balancer", access{ingress: lb, invokerIAMDisabled: true}, "/healthz", "s3cret", 404},
		{"internal and LB, direct", access{ingress: lb, invokerIAMDisabled: true}, "/ws", "", 404},
		{"internal and LB, wrong secret", access{ingress: lb, invokerIAMDisabled: true}, "/ws", "guess", 404},
		{"internal and LB, through the load balancer", access{ingress: lb, invokerIAMDisabled: true}, "/ws", "s3cret", 0},
		{"internal only, through the external load balancer", access{ingress: intl, invokerIAMDisabled: true}, "/ws", "s3cret", 404},
		{"default URL disabled, direct", access{ingress: all, invokerIAMDisabled: true, defaultURIDisabled: true}, "/ws", "", 404},
		{"default URL disabled, through the load balancer", access{ingress: all, invokerIAMDisabled: true, defaultURIDisabled: true}, "/ws", "s3cret", 0},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+c.path, nil)
		if c.header != "" {
			r.Header.Set(LoadBalancerHeader, c.header)
		}
		w := httptest.NewRecorder()
		refused := c.a.refused(w, r, s.fromLoadBalancer(r))
		switch {
		case c.want == 0 && refused:
			t.Errorf("%s: refused with %d, want proxied", c.name, w.Code)
		case c.want != 0 && (!refused || w.Code != c.want):
			t.Errorf("%s: refused %v with %d, want %d", c.name, refused, w.Code, c.want)
		}
		if r.Header.Get(LoadBalancerHeader) != "" {
			t.Errorf("%s: the load balancer header would reach the instance", c.name)
		}
	}
	// Without a secret configured nothing counts as the load balancer.
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/ws", nil)
	r.Header.Set(LoadBalancerHeader, "")
	if (&Service{}).fromLoadBalancer(r) {
		t.Error("an empty secret matched")
	}
}

func TestEgressNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"":                                     "",
		"relays":                               "projects/p1/global/networks/relays",
		"projects/host/global/networks/shared": "projects/host/global/networks/shared",
		"https://www.googleapis.com/compute/v1/projects/p1/global/networks/relays": "projects/p1/global/networks/relays",
	} {
		tmpl := &runpb.RevisionTemplate{}
		if in != "" {
			tmpl.VpcAccess = &runpb.VpcAccess{NetworkInterfaces: []*runpb.VpcAccess_NetworkInterface{{Network: in}}}
		}
		if got := egressNetwork("p1", tmpl); got != want {
			t.Errorf("egressNetwork(%q) = %q, want %q", in, got, want)
		}
	}
}
