// Package compute emulates the slice of the Compute Engine REST API (v1) that
// a global external Application Load Balancer in front of Cloud Run needs, and
// runs the load balancer itself: a forwarding rule is a real HTTP/WebSocket
// reverse proxy on a loopback port (the "front door").
//
// # API
//
// Resources, with the methods served (paths relative to /compute/v1):
//
//	projects/{p}/regions/{r}/networkEndpointGroups[/{name}]   insert, get, list, delete (SERVERLESS + cloudRun.service only)
//	projects/{p}/global/backendServices[/{name}]              insert, get, list, patch, update, delete
//	projects/{p}/global/urlMaps[/{name}]                      insert, get, list, patch, update, delete
//	projects/{p}/global/targetHttpProxies[/{name}]            insert, get, list, patch, delete
//	projects/{p}/targetHttpProxies/{name}/setUrlMap           setUrlMap
//	projects/{p}/global/forwardingRules[/{name}]              insert, get, list, patch, delete
//	projects/{p}/global/forwardingRules/{name}/setTarget      setTarget
//	projects/{p}/global/operations[/{op}[/wait]]              get, list, delete, wait
//	projects/{p}/regions/{r}/operations[/{op}[/wait]]         get, list, delete, wait
//
// Bodies and answers are the JSON encoding of the computepb messages
// (protojson), errors are Google's JSON error format
// {"error":{"code":400,"message":"...","errors":[{"domain":"global","reason":"invalid","message":"..."}]}}
// with reasons invalid, required, notFound, alreadyExists,
// resourceInUseByAnotherResource, conditionNotMet (HTTP 412, stale
// fingerprint) and unavailable (HTTP 503, region down). Invalid values name
// the field, e.g. "resource.defaultRouteAction.weightedBackendServices[1].weight".
//
// Every mutating call applies its change before it answers and returns a
// compute#operation whose status is already DONE; the operation stays
// readable (GET, and POST .../wait) under global/operations or, for network
// endpoint groups, regions/{r}/operations, because the Go client's
// Operation.Wait always polls it once. Every mutating call, accepted or
// refused, is recorded in the operation log (Config.Ops) as phase "call" with
// method compute.<collection>.<verb> (compute.urlMaps.patch,
// compute.regionNetworkEndpointGroups.insert,
// compute.targetHttpProxies.setUrlMap, compute.globalForwardingRules.insert,
// ...), resource the relative name (projects/p/global/urlMaps/lb) and outcome
// OK or "HTTP <status>: <message>". The entry is written at the moment the
// change takes effect, so the log orders it correctly against other APIs.
//
// References between resources (backends[].group, defaultService,
// weightedBackendServices[].backendService, urlMap, target) may be full URLs
// (any host, e.g. https://www.googleapis.com/compute/v1/projects/...), or
// partial URLs (projects/p/global/backendServices/b, global/backendServices/b,
// regions/r/networkEndpointGroups/n); they are stored and returned as full
// https://www.googleapis.com/compute/v1/... URLs, as Google does. A
// reference to a resource that does not exist is a 400 naming the field;
// deleting a resource that another one references is a 400
// resourceInUseByAnotherResource. URL maps need their current fingerprint on
// patch and update (missing: 400 required; stale: 412 conditionNotMet); for
// the other resources a fingerprint is checked when one is sent.
//
// # Reaching it with the Go client
//
// The REST clients of cloud.google.com/go/compute/apiv1 append
// "/compute/v1/projects/..." to the endpoint's path, so the endpoint is the
// bare origin, scheme included, WITHOUT a path:
//
//	compute.NewUrlMapsRESTClient(ctx, option.WithEndpoint("http://"+addr), option.WithoutAuthentication())
//
// ("http://ADDR/compute/v1/" would make the client ask for
// /compute/v1//compute/v1/projects/...). Mount Handler on the server's mux at
// "/compute/v1/" without http.StripPrefix (paths that were stripped are
// accepted too).
//
// # Regions
//
// Config.RegionAvailable is asked for every regional call (network endpoint
// groups, regional operations): a region that is down answers 503 with a
// message naming the region. Global calls keep working. The front door also
// answers 503 for a connection whose chosen backend is in a region that is
// down. Note that the Go client retries Get and List (and so
// Operation.Wait) on 503 with backoff, up to its default 10 minute timeout:
// callers bound the wait with their context, or pass
// gax.WithRetry(func() gax.Retryer { return nil }) to see the 503 at once.
// Insert, Patch, Update and Delete are not retried by the client.
//
// # The front door
//
// Inserting a global forwarding rule whose target is a target HTTP proxy
// opens a listener on a free loopback port; the rule reports it as IPAddress
// "127.0.0.1" and portRange "PORT-PORT" (the requested address and port are
// replaced: a local port 80 is neither free nor ours). Deleting the rule
// closes the listener (before the operation is answered) and every
// connection through it. Each request (plain
// HTTP or a WebSocket upgrade) is routed when it arrives, from the CURRENT
// state: forwarding rule -> target HTTP proxy -> URL map -> default route
// (defaultService, or defaultRouteAction.weightedBackendServices chosen by
// smooth weighted round robin: deterministic, exact proportions, a weight of
// 0 never gets a request) -> backend service -> its first backend's serverless
// NEG -> Config.ResolveRunService(project, NEG region, cloudRun.service) ->
// reverse proxy to that URL. A URL map change applies to the next request;
// an open WebSocket stays on the backend it was routed to, as on a real load
// balancer. hostRules and pathMatchers are validated and stored but the
// front door routes by the default route only. There is no retry in another
// region: a region that is down or a service that cannot be resolved answers
// 503, a backend that refuses or fails answers 502. Counts per front door and
// backend (requests, WebSocket upgrades, active, errors) are in Status and
// on AdminHandler; they restart from zero with the process. The backend
// service's protocol is stored but not used: the front door speaks the scheme
// of the URL ResolveRunService returns.
//
// Status (and AdminHandler, GET) is JSON of this shape:
//
//	{"urlMaps": [{"name": "projects/p/global/urlMaps/lb", "fingerprint": "...",
//	              "defaultService": "projects/p/global/backendServices/b",   (or)
//	              "weights": [{"backendService": "projects/p/global/backendServices/b", "weight": 100, "region": "us-east1"}]}],
//	 "frontDoors": [{"forwardingRule": "projects/p/global/forwardingRules/fr",
//	                 "targetHttpProxy": "...", "urlMap": "...",
//	                 "address": "127.0.0.1:PORT", "url": "http://127.0.0.1:PORT",
//	                 "routingErrors": 0,
//	                 "backends": [{"backendService": "...", "networkEndpointGroup": "projects/p/regions/r/networkEndpointGroups/n",
//	                               "region": "us-east1", "service": "relay",
//	                               "requests": 50, "websockets": 50, "active": 1, "errors": 0}]}]}
//
// # State
//
// Resources and operations are kept in Config.DataDir/compute.json (package
// state: written atomically after every change). A Service started on the
// same DataDir brings every resource back, and reopens each front door on the
// port it had when that port is free (else on a new free port, reported in
// the forwarding rule's portRange).
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
}

// Service is the running emulator. It is safe for concurrent use.
type Service struct {
	cfg   Config
	log   *slog.Logger
	store *state.Store

	mu     sync.Mutex
	res    map[string]proto.Message // key: relative name
	ops    map[string]*computepb.Operation
	doors  map[string]*frontDoor // key: forwarding rule relative name
	wrr    map[string]*wrrState  // key: URL map relative name
	closed bool
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
		doors: map[string]*frontDoor{}, wrr: map[string]*wrrState{}}
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
		fr := s.res[name].(*computepb.ForwardingRule)
		want := portOf(fr.GetPortRange())
		d, err := s.openDoorLocked(name, want)
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
