package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"cloud.google.com/go/compute/apiv1/computepb"
)

// Config configures the Compute emulator.
type Config struct {
	// DataDir is the directory this package owns for its state; required.
	// (localcloud passes <DataDir>/compute.)
	DataDir string
	// Ops receives one operation log entry per mutating call; may be nil.
	Ops *operations.Manager
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ResolveRunService returns the base URL (http://127.0.0.1:PORT) of the
	// Cloud Run service named service in project and region. The front door
	// calls it for every request it routes; an error answers 503.
	ResolveRunService func(ctx context.Context, project, region, service string) (string, error)
	// RegionAvailable returns an error when region is down; nil means every
	// region is up.
	RegionAvailable func(region string) error
	// CA issues the certificates of Google-managed SSL certificates and of
	// certificate maps (localcloud keeps it in <data-dir>/ca). Without it
	// only self-managed certificates can be served.
	CA *pki.CA
	// LoadBalancerSecret, when set, is sent as run.LoadBalancerHeader
	// on every request the front doors proxy to Cloud Run, which is how
	// localcloud's Cloud Run tells load balancer traffic from direct
	// traffic (ingress). A client's own copy of the header is dropped.
	LoadBalancerSecret string
	// Timing models Google Cloud's delays (nil or the default profile: none).
	Timing *profile.Ledger
}

// Service is the running emulator. It is safe for concurrent use.
type Service struct {
	cfg   Config
	log   *slog.Logger
	store *state.Store

	mu          sync.Mutex
	res         map[string]proto.Message // key: relative name
	ops         map[string]*computepb.Operation
	doors       map[string]*frontDoor           // key: forwarding rule relative name
	wrr         map[string]map[string]*wrrState // key: URL map relative name, then route
	propagating map[string]*servedMap           // URL maps whose changes are propagating
	leaves      map[string]*pki.Leaf            // issued certificates, by SSL certificate (or certificate map|name)
	closed      bool
}

const stateDoc = "compute"

type persistedState struct {
	Resources  []persistedItem `json:"resources"`
	Operations []persistedItem `json:"operations"`
}

type persistedItem struct {
	Name string          `json:"name"`
	Body json.RawMessage `json:"body"`
}

// maxOps is how many operations are kept (oldest dropped first).
const maxOps = 500

// New loads the state saved in cfg.DataDir and reopens the front doors.
func New(cfg Config) (*Service, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("compute: DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	st, err := state.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger, store: st,
		res: map[string]proto.Message{}, ops: map[string]*computepb.Operation{},
		doors: map[string]*frontDoor{}, wrr: map[string]map[string]*wrrState{}, propagating: map[string]*servedMap{}, leaves: map[string]*pki.Leaf{}}
	var saved persistedState
	if _, err := st.Load(stateDoc, &saved); err != nil {
		return nil, err
	}
	unm := protojson.UnmarshalOptions{DiscardUnknown: true}
	for _, it := range saved.Resources {
		r, ok := parseRel(it.Name)
		if !ok {
			return nil, fmt.Errorf("compute: saved resource with bad name %q", it.Name)
		}
		sp := specFor(r.region != "", r.collection)
		if sp == nil {
			return nil, fmt.Errorf("compute: saved resource of unknown kind %q", it.Name)
		}
		m := sp.newMsg()
		if err := unm.Unmarshal(it.Body, m); err != nil {
			return nil, fmt.Errorf("compute: decode %s: %w", it.Name, err)
		}
		s.res[it.Name] = m
	}
	for _, it := range saved.Operations {
		op := &computepb.Operation{}
		if err := unm.Unmarshal(it.Body, op); err != nil {
			return nil, fmt.Errorf("compute: decode %s: %w", it.Name, err)
		}
		s.ops[it.Name] = op
	}
	// Reopen front doors on their ports.
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, name := range s.namesLocked("forwardingRules", "", "") {
		fr, err := typed[*computepb.ForwardingRule](s.res[name])
		if err != nil {
			s.closeAllLocked()
			return nil, err
		}
		want := portOf(fr.GetPortRange())
		d, err := s.openDoorLocked(name, want, isHTTPSTarget(fr))
		if err != nil {
			s.closeAllLocked()
			return nil, fmt.Errorf("compute: reopen front door of %s: %w", name, err)
		}
		if d.port != want {
			s.log.Warn("front door port taken, moved", "forwardingRule", name, "was", want, "now", d.port)
			setDoorAddr(fr, d.port)
			changed = true
		}
	}
	if changed {
		if err := s.saveLocked(); err != nil {
			s.closeAllLocked()
			return nil, err
		}
	}
	return s, nil
}

// Close closes every front door (and the connections through them). The
// resources stay saved; a new Service on the same DataDir reopens them.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	doors := s.doors
	s.doors = map[string]*frontDoor{}
	s.mu.Unlock()
	for _, d := range doors {
		d.close()
	}
	return nil
}

func (s *Service) closeAllLocked() {
	for k, d := range s.doors {
		d.stop()
		go d.close()
		delete(s.doors, k)
	}
}

// saveLocked writes every resource and operation atomically.
func (s *Service) saveLocked() error {
	mo := protojson.MarshalOptions{}
	var ps persistedState
	names := make([]string, 0, len(s.res))
	for n := range s.res {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := mo.Marshal(s.res[n])
		if err != nil {
			return err
		}
		ps.Resources = append(ps.Resources, persistedItem{Name: n, Body: b})
	}
	opNames := s.opNamesLocked()
	for _, n := range opNames {
		b, err := mo.Marshal(s.ops[n])
		if err != nil {
			return err
		}
		ps.Operations = append(ps.Operations, persistedItem{Name: n, Body: b})
	}
	return s.store.Save(stateDoc, ps)
}

// opNamesLocked returns operation names oldest first, trimming to maxOps.
func (s *Service) opNamesLocked() []string {
	names := make([]string, 0, len(s.ops))
	for n := range s.ops {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := s.ops[names[i]].GetInsertTime(), s.ops[names[j]].GetInsertTime()
		if a != b {
			return a < b
		}
		return names[i] < names[j]
	})
	for len(names) > maxOps {
		delete(s.ops, names[0])
		names = names[1:]
	}
	return names
}

// namesLocked lists the relative names of a collection, sorted; project and
// region filter when not empty.
func (s *Service) namesLocked(collection, project, region string) []string {
	var out []string
	for n := range s.res {
		r, _ := parseRel(n)
		if r.collection != collection || (project != "" && r.project != project) || (region != "" && r.region != region) {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// record writes a mutating call to the operation log.
func (s *Service) record(method, resource string, err error) {
	if s.cfg.Ops == nil {
		return
	}
	outcome := "OK"
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			outcome = fmt.Sprintf("HTTP %d: %s", ae.code, ae.msg)
		} else {
			outcome = "HTTP 500: " + err.Error()
		}
	}
	s.cfg.Ops.Call(method, resource, outcome)
}

// Handler serves the Compute REST API; mount it at "/compute/v1/".
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serveAPI) }

// AdminHandler serves GET with the JSON of Status; mount it at
// "/_localcloud/compute".
func (s *Service) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Status())
	})
}
