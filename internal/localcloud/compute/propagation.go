package compute

import (
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// A URL map change is DONE when the control plane takes it, but Google's
// front ends follow it only once it has propagated: until then new
// connections are routed by the URL map as it was. Under a profile with
// compute.urlmap_propagation the front doors do the same; connections
// already open are never re-routed (a WebSocket stays where it is).

// servedMap is what the front doors route one URL map's new connections
// by while changes to it propagate.
type servedMap struct {
	live    *computepb.UrlMap // the version routing new connections
	pending []stagedMap       // later versions, oldest first
}

// stagedMap is a version of a URL map and when it reaches the front doors.
type stagedMap struct {
	m  *computepb.UrlMap
	at time.Time
}

// stagePropagationLocked holds back the change of URL map rel from old to
// m for the profile's (scaled) propagation delay, and records it in the
// ledger. Without a modelled delay the change is live at once.
func (s *Service) stagePropagationLocked(rel string, old, m *computepb.UrlMap) {
	modelled := s.cfg.Timing.Profile().Delay(profile.URLMapPropagation).For(0)
	if modelled <= 0 || old == nil {
		return
	}
	now := time.Now()
	sm := s.propagating[rel]
	if sm == nil {
		sm = &servedMap{live: old}
		s.propagating[rel] = sm
	}
	sm.pending = append(sm.pending, stagedMap{m: m, at: now.Add(s.cfg.Timing.Profile().Scaled(modelled))})
	s.cfg.Timing.Record(profile.URLMapPropagation, rel, now, modelled)
}

// servedURLMapLocked returns the version of URL map rel that routes a new
// connection now: the newest one whose propagation is over.
func (s *Service) servedURLMapLocked(rel string) (*computepb.UrlMap, bool) {
	sm := s.propagating[rel]
	if sm != nil {
		now := time.Now()
		for len(sm.pending) > 0 && !now.Before(sm.pending[0].at) {
			sm.live, sm.pending = sm.pending[0].m, sm.pending[1:]
		}
		if len(sm.pending) > 0 {
			return sm.live, true
		}
		delete(s.propagating, rel) // propagated: the control plane's version is live
	}
	m, ok := s.res[rel].(*computepb.UrlMap)
	return m, ok
}
