// Package regions makes localcloud's regions fail independently.
//
// A region outage (fault region-down) marks the region down: every
// subsystem registered with Register stops its processes in that region
// (SIGKILL, held down), and every gRPC request whose resource name or parent
// is under projects/*/locations/{region} is answered UNAVAILABLE by the
// interceptor, or, when the outage's API mode is "hang", held without an
// answer until the caller gives up (HoldHTTP does the same for the region's
// REST paths). Global APIs (Cloud Storage, global Compute resources) are not
// affected. region-up brings the region back: each subsystem restarts what
// the outage stopped. The set of down regions, and what each subsystem
// stopped, is persisted, so a restarted localcloud keeps a region down.
package regions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient/resname"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const doc = "regions"

var (
	regionRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// ValidRegion reports whether r looks like a region name (us-east1).
func ValidRegion(r string) bool { return regionRE.MatchString(r) && r != "global" }

// Subsystem stops and starts a region's processes.
type Subsystem struct {
	// Down stops everything the subsystem runs in region and returns what it
	// stopped (opaque, JSON-encodable; handed back to Up).
	Down func(ctx context.Context, region string) (json.RawMessage, error)
	// Up restarts what Down stopped.
	Up func(ctx context.Context, region string, stopped json.RawMessage) error
}

type downRegion struct {
	Since time.Time `json:"since"`
	// API is how the region's APIs fail: APIUnavailable (also when empty,
	// as saved before modes existed) or APIHang.
	API     APIMode                    `json:"api,omitempty"`
	Stopped map[string]json.RawMessage `json:"stopped"`
}

// Controller tracks which regions are down.
type Controller struct {
	store *state.Store

	opMu sync.Mutex // serialises Down and Up
	mu   sync.RWMutex
	down map[string]*downRegion
	subs []named
	// changed is closed and replaced whenever a region goes down or up or
	// changes API mode, waking the requests held by a hanging region.
	changed chan struct{}
}

type named struct {
	name string
	sub  Subsystem
}

// New loads the regions saved in store.
func New(store *state.Store) (*Controller, error) {
	c := &Controller{store: store, down: map[string]*downRegion{}, changed: make(chan struct{})}
	if _, err := store.Load(doc, &c.down); err != nil {
		return nil, err
	}
	if c.down == nil {
		c.down = map[string]*downRegion{}
	}
	return c, nil
}

// Register adds a subsystem under a name (used as key in the saved state).
// Subsystems are stopped and restarted in registration order: register data
// stores before the services that use them.
func (c *Controller) Register(name string, sub Subsystem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs = append(c.subs, named{name, sub})
}

// IsDown reports whether region is down.
func (c *Controller) IsDown(region string) bool {
	if region == "" {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.down[region]
	return ok
}

// Down lists the regions that are down, sorted.
func (c *Controller) Down() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.down))
	for r := range c.down {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (c *Controller) persist() error {
	c.mu.RLock()
	b, err := json.Marshal(c.down)
	c.mu.RUnlock()
	if err != nil {
		return err
	}
	return c.store.Save(doc, json.RawMessage(b))
}

// Result reports a region-down or region-up.
type Result struct {
	Region  string                     `json:"region"`
	Down    bool                       `json:"down"`
	API     APIMode                    `json:"api,omitempty"`
	Stopped map[string]json.RawMessage `json:"stopped,omitempty"`
	Message string                     `json:"message,omitempty"`
}

// SetDown takes region down with its APIs answering UNAVAILABLE.
func (c *Controller) SetDown(ctx context.Context, region string) (Result, error) {
	return c.SetDownAPI(ctx, region, APIUnavailable)
}

// SetDownAPI takes region down: from now on its APIs fail as api says,
// then each subsystem stops its processes there. A region already down
// only changes API mode.
func (c *Controller) SetDownAPI(ctx context.Context, region string, api APIMode) (Result, error) {
	if api == "" {
		api = APIUnavailable
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	if d, ok := c.down[region]; ok {
		prev := d.api()
		d.API = api
		c.notifyLocked()
		c.mu.Unlock()
		msg := "region was already down"
		if prev != api {
			msg += fmt.Sprintf("; its APIs now %s instead of %s", api.verb(), prev.verb())
		}
		return Result{Region: region, Down: true, API: api, Message: msg}, c.persist()
	}
	d := &downRegion{Since: time.Now().UTC(), API: api, Stopped: map[string]json.RawMessage{}}
	c.down[region] = d
	c.notifyLocked()
	subs := append([]named(nil), c.subs...)
	c.mu.Unlock()
	if err := c.persist(); err != nil {
		return Result{}, err
	}
	var errs []error
	for _, s := range subs {
		stopped, err := s.sub.Down(ctx, region)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
		c.mu.Lock()
		if stopped != nil {
			d.Stopped[s.name] = stopped
		}
		c.mu.Unlock()
		if err := c.persist(); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.RLock()
	res := Result{Region: region, Down: true, API: api, Stopped: maps(d.Stopped)}
	c.mu.RUnlock()
	return res, errors.Join(errs...)
}

func maps(m map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SetUp brings region back: each subsystem, in registration order, restarts
// what the outage stopped, then the region's APIs answer again.
func (c *Controller) SetUp(ctx context.Context, region string) (Result, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.RLock()
	d, ok := c.down[region]
	subs := append([]named(nil), c.subs...)
	c.mu.RUnlock()
	if !ok {
		return Result{Region: region, Message: "region was not down"}, nil
	}
	var errs []error
	for _, s := range subs {
		c.mu.RLock()
		stopped := d.Stopped[s.name]
		c.mu.RUnlock()
		if err := s.sub.Up(ctx, region, stopped); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	c.mu.Lock()
	delete(c.down, region)
	c.notifyLocked()
	c.mu.Unlock()
	if err := c.persist(); err != nil {
		errs = append(errs, err)
	}
	return Result{Region: region, Down: false, Stopped: maps(d.Stopped)}, errors.Join(errs...)
}

// Unavailable is the error answered for a request in a region that is down.
func Unavailable(region, resource string) error {
	return status.Errorf(codes.Unavailable, "region %s is unavailable (localcloud region-down fault): cannot serve %s; retry later or use another region", region, resource)
}

// Interceptor fails any request whose resource (a top-level name, parent or
// resource field, or the name of a top-level message field such as
// UpdateServiceRequest.service) is in a region that is down: UNAVAILABLE,
// or no answer at all until the caller's deadline or cancellation when the
// region's APIs hang.
func (c *Controller) Interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok && len(c.Down()) > 0 {
			for _, name := range resname.Names(m) {
				r := resname.RegionOf(name)
				if r == "" {
					continue
				}
				if err := c.Hold(ctx, r); err != nil {
					return nil, status.FromContextError(err).Err()
				}
				if c.IsDown(r) {
					return nil, Unavailable(r, name)
				}
			}
		}
		return handler(ctx, req)
	}
}

// Available returns nil when region is up, else the UNAVAILABLE error
// answered for its APIs.
func (c *Controller) Available(region string) error {
	if c.IsDown(region) {
		return Unavailable(region, "projects/-/locations/"+region)
	}
	return nil
}

// Reassert applies the outage again to every region that is down, for
// processes started since (a localcloud restarted right after region-down
// was recorded, before every subsystem had stopped its processes). What a
// subsystem stops now is added to what it had stopped, when both are JSON
// lists of strings.
func (c *Controller) Reassert(ctx context.Context) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	var errs []error
	for _, region := range c.Down() {
		c.mu.RLock()
		d := c.down[region]
		subs := append([]named(nil), c.subs...)
		c.mu.RUnlock()
		for _, s := range subs {
			stopped, err := s.sub.Down(ctx, region)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			}
			c.mu.Lock()
			d.Stopped[s.name] = union(d.Stopped[s.name], stopped)
			c.mu.Unlock()
		}
	}
	if err := c.persist(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func union(a, b json.RawMessage) json.RawMessage {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	var la, lb []string
	if json.Unmarshal(a, &la) != nil || json.Unmarshal(b, &lb) != nil {
		return a
	}
	seen := map[string]bool{}
	var out []string
	for _, v := range append(la, lb...) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	r, err := json.Marshal(out)
	if err != nil {
		return a
	}
	return r
}
