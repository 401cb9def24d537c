package compute

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/run"

	"cloud.google.com/go/compute/apiv1/computepb"
)

// frontDoor is the listener of one forwarding rule.
type frontDoor struct {
	s        *Service
	rule     string // forwarding rule relative name
	port     int
	https    bool // serves TLS (target HTTPS proxy)
	ln       net.Listener
	srv      *http.Server
	ctx      context.Context
	cancel   context.CancelFunc
	proxy    *httputil.ReverseProxy
	wg       sync.WaitGroup
	once     sync.Once
	stopOnce sync.Once

	routingErrors atomic.Int64
	redirects     atomic.Int64
	mu            sync.Mutex
	closing       bool
	counts        map[backendKey]*backendCount
}

type backendKey struct{ backendService, neg string }

type backendCount struct {
	region, service            string
	requests, websockets, errs atomic.Int64
	active                     atomic.Int64
}

// choice is where one request goes.
type choice struct {
	backendService string // relative name
	neg            string // relative name
	project        string
	region         string
	service        string // Cloud Run service name
	// headers are the header actions that apply, most specific first.
	headers []*computepb.HttpHeaderAction
}

type ctxKey struct{}

// routedOf is where ServeHTTP routed the request of ctx.
func routedOf(ctx context.Context) (*routed, bool) {
	rt, ok := ctx.Value(ctxKey{}).(*routed)
	return rt, ok
}

type routed struct {
	target  *url.URL
	count   *backendCount
	headers []*computepb.HttpHeaderAction
}

// openDoorLocked listens on 127.0.0.1:port (a free port when port is 0 or
// taken) and starts serving rule, with TLS when https.
func (s *Service) openDoorLocked(rule string, port int, https bool) (*frontDoor, error) {
	var ln net.Listener
	var err error
	if port > 0 {
		ln, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))) // taken: a free port below
	}
	if ln == nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
	}
	port, err = localproc.PortOf(ln)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("front door of %s: %w", rule, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &frontDoor{s: s, rule: rule, port: port, https: https, ln: ln, ctx: ctx, cancel: cancel,
		counts: map[backendKey]*backendCount{}}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
	}
	d.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rt, ok := routedOf(pr.In.Context())
			if !ok {
				// ServeHTTP routes every request before proxying it.
				s.log.Error("front door: proxying a request that was not routed", "forwardingRule", rule)
				return
			}
			pr.SetURL(rt.target)
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Host", pr.In.Host)
			applyHeaderActions(pr.Out.Header, rt.headers, false)
			pr.Out.Header.Del(run.LoadBalancerHeader)
			if s.cfg.LoadBalancerSecret != "" {
				pr.Out.Header.Set(run.LoadBalancerHeader, s.cfg.LoadBalancerSecret)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			rt, ok := routedOf(resp.Request.Context())
			if !ok {
				return fmt.Errorf("front door of %s: a response to a request that was not routed", rule)
			}
			applyHeaderActions(resp.Header, rt.headers, true)
			return nil
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rt, ok := routedOf(r.Context())
			if !ok {
				s.log.Error("front door: a request that was not routed failed", "forwardingRule", rule, "err", err)
				http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
				return
			}
			if r.Context().Err() != nil {
				// The client went away, or the front door is closing.
				return
			}
			rt.count.errs.Add(1)
			s.log.Debug("front door: backend failed", "forwardingRule", rule, "region", rt.count.region,
				"service", rt.count.service, "err", err)
			http.Error(w, fmt.Sprintf("502 Bad Gateway: Cloud Run service %s in %s: %v",
				rt.count.service, rt.count.region, err), http.StatusBadGateway)
		},
	}
	d.srv = &http.Server{
		Handler:           d,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	served := ln
	if https {
		served = tls.NewListener(ln, s.tlsConfig(rule))
	}
	go func() {
		if err := d.srv.Serve(served); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("front door stopped", "forwardingRule", rule, "err", err)
		}
	}()
	s.doors[rule] = d
	s.log.Info("front door open", "forwardingRule", rule, "addr", ln.Addr().String())
	return d, nil
}

// stop closes the listener and every connection, WebSockets included,
// without waiting for their handlers.
func (d *frontDoor) stop() {
	d.stopOnce.Do(func() {
		d.mu.Lock()
		d.closing = true
		d.mu.Unlock()
		d.cancel()
		_ = d.srv.Close()
	})
}

// close stops the front door and waits for its handlers (which may need
// s.mu: never call it with s.mu held).
func (d *frontDoor) close() {
	d.once.Do(func() {
		d.stop()
		done := make(chan struct{})
		go func() { d.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.s.log.Warn("front door: handlers still running after close", "forwardingRule", d.rule)
		}
		d.s.log.Info("front door closed", "forwardingRule", d.rule, "port", d.port)
	})
}

func (d *frontDoor) counter(c choice) *backendCount {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := backendKey{c.backendService, c.neg}
	bc := d.counts[k]
	if bc == nil {
		bc = &backendCount{region: c.region, service: c.service}
		d.counts[k] = bc
	}
	return bc
}

func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

func (d *frontDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		http.Error(w, "503 Service Unavailable: the forwarding rule is being deleted", http.StatusServiceUnavailable)
		return
	}
	d.wg.Add(1)
	d.mu.Unlock()
	defer d.wg.Done()
	c, redirect, err := d.s.pick(d.rule, r)
	if err != nil {
		d.routingErrors.Add(1)
		http.Error(w, "503 Service Unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if redirect != nil {
		d.redirects.Add(1)
		w.Header().Set("Location", d.s.redirectURL(d.rule, redirect, r))
		w.WriteHeader(redirectCode(redirect.GetRedirectResponseCode()))
		return
	}
	bc := d.counter(c)
	bc.requests.Add(1)
	if isUpgrade(r) {
		bc.websockets.Add(1)
	}
	if err := d.s.regionErr(c.region); err != nil {
		bc.errs.Add(1)
		http.Error(w, fmt.Sprintf("503 Service Unavailable: backend service %s: %s",
			c.backendService, apiMessage(err)), http.StatusServiceUnavailable)
		return
	}
	target, err := d.s.resolve(r.Context(), c)
	if err != nil {
		bc.errs.Add(1)
		http.Error(w, "503 Service Unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	bc.active.Add(1)
	defer bc.active.Add(-1)
	ctx := context.WithValue(r.Context(), ctxKey{}, &routed{target: target, count: bc, headers: c.headers})
	d.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// resolve asks for the URL of the chosen Cloud Run service.
func (s *Service) resolve(ctx context.Context, c choice) (*url.URL, error) {
	name := fmt.Sprintf("projects/%s/locations/%s/services/%s", c.project, c.region, c.service)
	if s.cfg.ResolveRunService == nil {
		return nil, fmt.Errorf("Cloud Run service %s: no Cloud Run emulator to resolve it", name) //nolint:staticcheck // ST1005: "Cloud Run" is a name
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := s.cfg.ResolveRunService(ctx, c.project, c.region, c.service)
	if err != nil {
		return nil, fmt.Errorf("Cloud Run service %s: %s", name, errMessage(err)) //nolint:staticcheck // ST1005: "Cloud Run" is a name
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("Cloud Run service %s: bad URL %q", name, raw) //nolint:staticcheck // ST1005: "Cloud Run" is a name
	}
	return u, nil
}

// weightedService is one entry of a route: a backend service and its weight.
type weightedService struct {
	backendService string // relative name
	weight         int
	headers        *computepb.HttpHeaderAction
}

// defaultRoute returns the default route of a URL map.
func defaultRoute(m *computepb.UrlMap) []weightedService {
	return actionOf("default", m.GetDefaultService(), m.GetDefaultRouteAction(), nil).services
}

func relOrSelf(u string) string {
	if r, ok := parseRef(u, ""); ok {
		return r.rel()
	}
	return u
}

// wrrState is the smooth weighted round robin of one route; it starts over
// when the weights change.
type wrrState struct {
	sig     string
	current []int
}

func pickWRR(st *wrrState, ws []weightedService) int {
	total, best := 0, -1
	for i, w := range ws {
		if w.weight <= 0 {
			continue
		}
		total += w.weight
		st.current[i] += w.weight
		if best < 0 || st.current[i] > st.current[best] {
			best = i
		}
	}
	if best >= 0 {
		st.current[best] -= total
	}
	return best
}

// pick routes one new request of a forwarding rule: a backend, or a
// redirect.
func (s *Service) pick(rule string, r *http.Request) (choice, *computepb.HttpRedirectAction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	frm, ok := s.res[rule]
	if !ok {
		return choice{}, nil, fmt.Errorf("forwarding rule %s does not exist", rule)
	}
	fr, err := typed[*computepb.ForwardingRule](frm)
	if err != nil {
		return choice{}, nil, err
	}
	proxyRel := relOrSelf(fr.GetTarget())
	var umRel string
	switch p := s.res[proxyRel].(type) {
	case *computepb.TargetHttpProxy:
		umRel = relOrSelf(p.GetUrlMap())
	case *computepb.TargetHttpsProxy:
		umRel = relOrSelf(p.GetUrlMap())
	default:
		return choice{}, nil, fmt.Errorf("target proxy %s does not exist", proxyRel)
	}
	um, ok := s.servedURLMapLocked(umRel)
	if !ok {
		return choice{}, nil, fmt.Errorf("URL map %s does not exist", umRel)
	}
	act := selectAction(um, r)
	if act.redirect != nil {
		return choice{}, act.redirect, nil
	}
	ws := act.services
	var sig strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&sig, "%s=%d;", w.backendService, w.weight)
	}
	routes := s.wrr[umRel]
	if routes == nil {
		routes = map[string]*wrrState{}
		s.wrr[umRel] = routes
	}
	st := routes[act.key]
	if st == nil || st.sig != sig.String() {
		st = &wrrState{sig: sig.String(), current: make([]int, len(ws))}
		routes[act.key] = st
	}
	i := pickWRR(st, ws)
	if i < 0 {
		return choice{}, nil, fmt.Errorf("URL map %s has no backend service with a weight above 0 for this request", umRel)
	}
	bsRel := ws[i].backendService
	bsm, ok := s.res[bsRel]
	if !ok {
		return choice{}, nil, fmt.Errorf("backend service %s does not exist", bsRel)
	}
	bs, err := typed[*computepb.BackendService](bsm)
	if err != nil {
		return choice{}, nil, err
	}
	backends := bs.GetBackends()
	if len(backends) == 0 {
		return choice{}, nil, fmt.Errorf("backend service %s has no backends", bsRel)
	}
	negRel := relOrSelf(backends[0].GetGroup())
	negm, ok := s.res[negRel]
	if !ok {
		return choice{}, nil, fmt.Errorf("network endpoint group %s does not exist", negRel)
	}
	neg, err := typed[*computepb.NetworkEndpointGroup](negm)
	if err != nil {
		return choice{}, nil, err
	}
	nr, _ := parseRel(negRel)
	headers := act.headers
	if h := ws[i].headers; h != nil {
		headers = append([]*computepb.HttpHeaderAction{h}, headers...)
	}
	return choice{backendService: bsRel, neg: negRel, project: nr.project, region: nr.region,
		service: neg.GetCloudRun().GetService(), headers: headers}, nil, nil
}

// Status is what AdminHandler serves.
type Status struct {
	URLMaps    []URLMapStatus    `json:"urlMaps"`
	FrontDoors []FrontDoorStatus `json:"frontDoors"`
}

// URLMapStatus is the default route of one URL map.
type URLMapStatus struct {
	Name        string `json:"name"` // projects/p/global/urlMaps/n
	Fingerprint string `json:"fingerprint"`
	// DefaultService is set when the URL map routes everything to one
	// backend service; Weights otherwise.
	DefaultService string         `json:"defaultService,omitempty"`
	Weights        []WeightStatus `json:"weights,omitempty"`
}

// WeightStatus is one weighted backend service of a default route.
type WeightStatus struct {
	BackendService string `json:"backendService"`
	Weight         int    `json:"weight"`
	// Region is the region of the backend service's first NEG (where its
	// traffic goes), "" when it has none.
	Region string `json:"region"`
}

// FrontDoorStatus is one open front door.
type FrontDoorStatus struct {
	ForwardingRule string `json:"forwardingRule"`
	// TargetHTTPProxy is the target HTTP proxy, or HTTPS proxy when HTTPS.
	TargetHTTPProxy string `json:"targetHttpProxy"`
	HTTPS           bool   `json:"https"`
	URLMap          string `json:"urlMap"`
	Address         string `json:"address"` // 127.0.0.1:PORT
	URL             string `json:"url"`     // http(s)://127.0.0.1:PORT
	// Redirects counts requests answered with a URL map redirect.
	Redirects int64 `json:"redirects"`
	// RoutingErrors counts requests answered 503 before a backend was
	// chosen (no URL map, no backend with weight above 0, ...).
	RoutingErrors int64           `json:"routingErrors"`
	Backends      []BackendStatus `json:"backends"`
}

// BackendStatus counts what one front door sent to one backend.
type BackendStatus struct {
	BackendService       string `json:"backendService"`
	NetworkEndpointGroup string `json:"networkEndpointGroup"`
	Region               string `json:"region"`
	Service              string `json:"service"` // Cloud Run service name
	// Requests routed to this backend (a WebSocket is one request).
	Requests   int64 `json:"requests"`
	WebSockets int64 `json:"websockets"`
	// Active requests and open WebSockets.
	Active int64 `json:"active"`
	// Errors: answered 502 (backend failed) or 503 (region down, service
	// not resolved).
	Errors int64 `json:"errors"`
}

// Status returns the URL maps' default routes and the front doors with their
// per-backend counts.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{URLMaps: []URLMapStatus{}, FrontDoors: []FrontDoorStatus{}}
	regionOf := func(bsRel string) string {
		if bs, ok := s.res[bsRel].(*computepb.BackendService); ok && len(bs.GetBackends()) > 0 {
			r, _ := parseRef(bs.GetBackends()[0].GetGroup(), "")
			return r.region
		}
		return ""
	}
	for _, n := range s.namesLocked("urlMaps", "", "") {
		m, ok := s.res[n].(*computepb.UrlMap)
		if !ok {
			continue // only URL maps are listed as such
		}
		us := URLMapStatus{Name: n, Fingerprint: m.GetFingerprint()}
		if m.GetDefaultService() != "" {
			us.DefaultService = relOrSelf(m.GetDefaultService())
		} else {
			for _, w := range defaultRoute(m) {
				us.Weights = append(us.Weights, WeightStatus{BackendService: w.backendService, Weight: w.weight, Region: regionOf(w.backendService)})
			}
		}
		st.URLMaps = append(st.URLMaps, us)
	}
	rules := make([]string, 0, len(s.doors))
	for r := range s.doors {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, rule := range rules {
		d := s.doors[rule]
		scheme := "http://"
		if d.https {
			scheme = "https://"
		}
		fs := FrontDoorStatus{ForwardingRule: rule, HTTPS: d.https, Address: d.ln.Addr().String(), URL: scheme + d.ln.Addr().String(),
			RoutingErrors: d.routingErrors.Load(), Redirects: d.redirects.Load(), Backends: []BackendStatus{}}
		if fr, ok := s.res[rule].(*computepb.ForwardingRule); ok {
			fs.TargetHTTPProxy = relOrSelf(fr.GetTarget())
			switch p := s.res[fs.TargetHTTPProxy].(type) {
			case *computepb.TargetHttpProxy:
				fs.URLMap = relOrSelf(p.GetUrlMap())
			case *computepb.TargetHttpsProxy:
				fs.URLMap = relOrSelf(p.GetUrlMap())
			}
		}
		d.mu.Lock()
		for k, c := range d.counts {
			fs.Backends = append(fs.Backends, BackendStatus{BackendService: k.backendService, NetworkEndpointGroup: k.neg,
				Region: c.region, Service: c.service, Requests: c.requests.Load(), WebSockets: c.websockets.Load(),
				Active: c.active.Load(), Errors: c.errs.Load()})
		}
		d.mu.Unlock()
		sort.Slice(fs.Backends, func(i, j int) bool {
			a, b := fs.Backends[i], fs.Backends[j]
			if a.BackendService != b.BackendService {
				return a.BackendService < b.BackendService
			}
			return a.NetworkEndpointGroup < b.NetworkEndpointGroup
		})
		st.FrontDoors = append(st.FrontDoors, fs)
	}
	return st
}
