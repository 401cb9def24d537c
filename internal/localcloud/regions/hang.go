package regions

import (
	"context"
	"fmt"
	"net/http"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient/resname"
)

// APIMode is how the APIs of a region that is down fail.
type APIMode string

const (
	// APIUnavailable answers every request at once with UNAVAILABLE (HTTP
	// 503 for REST), as a region whose front ends refuse work.
	APIUnavailable APIMode = "unavailable"
	// APIHang never answers: a request is held until its caller's deadline
	// passes or it is cancelled, as a region whose API stopped responding.
	APIHang APIMode = "hang"
)

// APIModes lists the accepted modes, default first.
var APIModes = []APIMode{APIUnavailable, APIHang}

// ParseAPIMode accepts "" (the default, unavailable) and the APIModes.
func ParseAPIMode(s string) (APIMode, error) {
	if s == "" {
		return APIUnavailable, nil
	}
	for _, m := range APIModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("api mode %q is not one of %q", s, APIModes)
}

func (m APIMode) verb() string {
	if m == APIHang {
		return "hang"
	}
	return "answer UNAVAILABLE"
}

func (d *downRegion) api() APIMode {
	if d.API == "" {
		return APIUnavailable
	}
	return d.API
}

// notifyLocked wakes the requests held by Hold; c.mu must be held.
func (c *Controller) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// APIs maps each region that is down to its API mode.
func (c *Controller) APIs() map[string]APIMode {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]APIMode, len(c.down))
	for r, d := range c.down {
		out[r] = d.api()
	}
	return out
}

// Hold blocks while region is down with hanging APIs, and returns ctx's
// error once the caller gives up; nil as soon as the region no longer hangs
// (it came back, or now answers UNAVAILABLE), so the request proceeds.
func (c *Controller) Hold(ctx context.Context, region string) error {
	for {
		c.mu.RLock()
		d, down := c.down[region]
		hang := down && d.api() == APIHang
		changed := c.changed
		c.mu.RUnlock()
		if !hang {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// HoldHTTP holds the Compute Engine REST requests for a region whose APIs
// hang, as Interceptor holds gRPC ones; other requests pass straight on.
func (c *Controller) HoldHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if region := resname.ComputeRegion(r.URL.Path); region != "" {
			if err := c.Hold(r.Context(), region); err != nil {
				return // the caller is gone: nothing to answer
			}
		}
		next.ServeHTTP(w, r)
	})
}
