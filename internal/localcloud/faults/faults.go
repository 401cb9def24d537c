// Package faults is localcloud's fault-injection registry. Each kind of fault
// (redis-kill, redis-corrupt, ...) is a Handler registered under its name;
// the admin endpoint POST /_localcloud/faults and the "localcloud fault" CLI
// both go through Registry.Apply. Adding a kind is one Register call.
package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// Errors a Handler returns (wrapped) to select the HTTP status.
var (
	ErrUnknownKind = errors.New("unknown fault kind")
	ErrNotFound    = errors.New("not found")     // 404: unknown instance, region...
	ErrInvalid     = errors.New("invalid fault") // 400: missing or bad parameter
)

// Request is one fault to inject. Kind selects the handler; Instance and
// Region name the target; any other JSON fields are kept in Params.
type Request struct {
	Kind     string                     `json:"kind"`
	Instance string                     `json:"instance,omitempty"`
	Region   string                     `json:"region,omitempty"`
	Params   map[string]json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps unknown fields in Params.
func (r *Request) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*r = Request{Params: map[string]json.RawMessage{}}
	for k, v := range all {
		var err error
		switch k {
		case "kind":
			err = json.Unmarshal(v, &r.Kind)
		case "instance":
			err = json.Unmarshal(v, &r.Instance)
		case "region":
			err = json.Unmarshal(v, &r.Region)
		default:
			r.Params[k] = v
		}
		if err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
	}
	return nil
}

// MarshalJSON flattens Params next to the named fields.
func (r Request) MarshalJSON() ([]byte, error) {
	all := map[string]any{}
	for k, v := range r.Params {
		all[k] = v
	}
	all["kind"] = r.Kind
	if r.Instance != "" {
		all["instance"] = r.Instance
	}
	if r.Region != "" {
		all["region"] = r.Region
	}
	return json.Marshal(all)
}

// Bool reads a boolean parameter (false when absent).
func (r Request) Bool(key string) (bool, error) {
	v, ok := r.Params[key]
	if !ok {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		return false, fmt.Errorf("%w: %q must be true or false", ErrInvalid, key)
	}
	return b, nil
}

// Float reads a number parameter (def when absent).
func (r Request) Float(key string, def float64) (float64, error) {
	v, ok := r.Params[key]
	if !ok {
		return def, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, fmt.Errorf("%w: %q must be a number", ErrInvalid, key)
	}
	return f, nil
}

// Handler injects one kind of fault and returns a JSON-encodable report.
type Handler func(ctx context.Context, req Request) (any, error)

type kind struct {
	help string
	h    Handler
}

// Registry maps fault kinds to handlers.
type Registry struct {
	mu    sync.RWMutex
	kinds map[string]kind
	// Before, if set, is called before a fault of a known kind is applied;
	// its return value is handed to After (for the operation log).
	Before func(req Request) any
	// After, if set, is called after every fault of a known kind.
	After func(req Request, token any, result any, err error)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]kind{}} }

// Register adds a kind. help is a one-line description.
func (r *Registry) Register(name, help string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kinds[name] = kind{help: help, h: h}
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Help returns kind -> description.
func (r *Registry) Help() map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]string{}
	for k, v := range r.kinds {
		out[k] = v.help
	}
	return out
}

// Apply injects the fault.
func (r *Registry) Apply(ctx context.Context, req Request) (any, error) {
	r.mu.RLock()
	k, ok := r.kinds[req.Kind]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q; accepted kinds are %s", ErrUnknownKind, req.Kind, strings.Join(r.Kinds(), ", "))
	}
	var token any
	if r.Before != nil {
		token = r.Before(req)
	}
	res, err := k.h(ctx, req)
	if r.After != nil {
		r.After(req, token, res, err)
	}
	return res, err
}

// Response is the JSON body answered by ServeHTTP.
type Response struct {
	Kind     string   `json:"kind"`
	Instance string   `json:"instance,omitempty"`
	Region   string   `json:"region,omitempty"`
	Result   any      `json:"result,omitempty"`
	Error    string   `json:"error,omitempty"`
	Accepted []string `json:"accepted_kinds,omitempty"`
}

// ServeHTTP handles POST with a JSON Request body (GET lists the kinds).
func (r *Registry) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	if hr.Method == http.MethodGet {
		admin.WriteJSON(w, http.StatusOK, map[string]any{"kinds": r.Help()})
		return
	}
	if hr.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		admin.WriteJSON(w, http.StatusMethodNotAllowed, Response{Error: "use POST with a JSON body {\"kind\": ..., \"instance\": ...}"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
	if err != nil {
		admin.WriteJSON(w, http.StatusBadRequest, Response{Error: "read body: " + err.Error()})
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		admin.WriteJSON(w, http.StatusBadRequest, Response{Error: "body is not a JSON fault request: " + err.Error(), Accepted: r.Kinds()})
		return
	}
	res, err := r.Apply(hr.Context(), req)
	resp := Response{Kind: req.Kind, Instance: req.Instance, Region: req.Region, Result: res}
	code := http.StatusOK
	if err != nil {
		resp.Error = err.Error()
		switch {
		case errors.Is(err, ErrUnknownKind):
			code = http.StatusBadRequest
			resp.Accepted = r.Kinds()
		case errors.Is(err, ErrInvalid):
			code = http.StatusBadRequest
		case errors.Is(err, ErrNotFound):
			code = http.StatusNotFound
		default:
			code = http.StatusInternalServerError
		}
	}
	admin.WriteJSON(w, code, resp)
}
