package run

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
)

// Conn is one connection or request a service URL sent to an instance.
type Conn struct {
	Time      time.Time `json:"time"`
	Instance  string    `json:"instance"`
	Remote    string    `json:"remote"`
	Path      string    `json:"path"`
	WebSocket bool      `json:"websocket"`
}

// recentConns is how many routed connections each service remembers.
const recentConns = 200

func (s *Service) recordConn(svc *service, c Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc.recent = append(svc.recent, c)
	if n := len(svc.recent); n > recentConns {
		svc.recent = append(svc.recent[:0:0], svc.recent[n-recentConns:]...)
	}
}

// urlProxy serves a service's URL: a reverse proxy to the ready instances
// of the serving revision, which applies Google's front end rules.
type urlProxy struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

func (f *urlProxy) close() {
	f.srv.Close()
	<-f.done
}

var proxyTransport = &http.Transport{
	DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	MaxIdleConnsPerHost: 16,
	IdleConnTimeout:     30 * time.Second,
}

// openURL starts serving the service URL on its port. If the port is
// taken by another process for more than a few seconds, a new port is
// chosen and the Service's uri changes (logged as a warning).
func (s *Service) openURL(svc *service) error {
	s.mu.Lock()
	if svc.proxy != nil || svc.deleted {
		s.mu.Unlock()
		return nil
	}
	port := svc.urlPort
	s.mu.Unlock()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(3 * time.Second)
	for {
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		newPort, err := localproc.PortOf(ln)
		if err != nil {
			ln.Close()
			return err
		}
		s.log.Warn("service URL port is taken; the service gets a new URL", "service", svc.name, "old_port", port, "new_port", newPort)
		s.cfg.Ops.Event("localcloud.Run.URLPortChanged", svc.name, fmt.Sprintf("port %d is in use by another process; service URL is now http://127.0.0.1:%d", port, newPort))
		port = newPort
	}
	f := &urlProxy{ln: ln, done: make(chan struct{})}
	f.srv = &http.Server{
		Handler:           s.urlHandler(svc),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.mu.Lock()
	if svc.proxy != nil || svc.deleted || svc.regionDown {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	svc.proxy = f
	svc.urlPort = port
	svc.pb.Uri = fmt.Sprintf("http://127.0.0.1:%d", port)
	svc.pb.Urls = []string{svc.pb.Uri}
	s.mu.Unlock()
	go func() {
		defer close(f.done)
		if err := f.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("service URL stopped serving", "service", svc.name, "err", err)
		}
	}()
	return nil
}

// pick returns the next ready instance of the serving revision, round
// robin, or nil.
func (s *Service) pick(svc *service) *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ready []*instance
	for _, inst := range svc.instances {
		if inst.revision == svc.serving && inst.ready && !inst.retired && inst.proc != nil && inst.proc.Alive() {
			ready = append(ready, inst)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	return ready[svc.rr.Add(1)%uint64(len(ready))]
}

func (s *Service) urlHandler(svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		viaLB := s.fromLoadBalancer(r)
		if s.accessOf(svc).refused(w, r, viaLB) {
			return
		}
		inst := s.pick(svc)
		if inst == nil {
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("Service Unavailable: no ready instance of service %s", svc.name), http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		port := inst.port
		s.mu.Unlock()
		inst.conns.Add(1)
		inst.active.Add(1)
		s.recordConn(svc, Conn{Time: time.Now().UTC(), Instance: inst.id, Remote: r.RemoteAddr, Path: r.URL.Path,
			WebSocket: strings.EqualFold(r.Header.Get("Upgrade"), "websocket")})
		defer inst.active.Add(-1)
		target := &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host
				pr.SetXForwarded()
			},
			Transport:     proxyTransport,
			FlushInterval: -1,
			ErrorLog:      log.New(io.Discard, "", 0),
			ModifyResponse: func(resp *http.Response) error {
				resp.Header.Set("X-Localcloud-Instance", inst.id)
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				http.Error(w, fmt.Sprintf("Bad Gateway: instance %s of service %s did not answer: %v", inst.id, svc.name, err), http.StatusBadGateway)
			},
		}
		rp.ServeHTTP(w, r)
	})
}
