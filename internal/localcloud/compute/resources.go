package compute

import (
	"fmt"
	"strconv"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"
)

// resolveRefLocked checks that v (the value of field) refers to an existing
// resource of collection and returns it.
func (s *Service) resolveRefLocked(field, v, project, collection string, regional bool) (ref, error) {
	r, ok := parseRef(v, project)
	if !ok || r.collection != collection || (r.region != "") != regional {
		kind := "global"
		if regional {
			kind = "regional"
		}
		return ref{}, errInvalid(field, "'%s'. The URL is malformed: expected the URL of a %s %s resource", v, kind, collection)
	}
	if _, ok := s.res[r.rel()]; !ok {
		return ref{}, errInvalid(field, "'%s'. The resource '%s' was not found", v, r.rel())
	}
	return r, nil
}

func prepareNEG(s *Service, r ref, msg, _ proto.Message) error {
	m := msg.(*computepb.NetworkEndpointGroup)
	switch t := m.GetNetworkEndpointType(); t {
	case "":
		return errRequired("resource.networkEndpointType")
	case "SERVERLESS":
	default:
		return errInvalid("resource.networkEndpointType", "'%s'. Only SERVERLESS network endpoint groups are emulated", t)
	}
	if m.CloudFunction != nil || m.AppEngine != nil {
		return errInvalid("resource", "only cloudRun serverless network endpoint groups are emulated")
	}
	cr := m.GetCloudRun()
	if cr.GetService() == "" {
		if cr.GetUrlMask() != "" {
			return errInvalid("resource.cloudRun.urlMask", "'%s'. URL masks are not emulated; set cloudRun.service", cr.GetUrlMask())
		}
		return errRequired("resource.cloudRun.service")
	}
	if !nameRE.MatchString(cr.GetService()) {
		return errInvalid("resource.cloudRun.service", "'%s' is not a Cloud Run service name", cr.GetService())
	}
	m.Region = proto.String(regionURL(r.project, r.region))
	m.Size = proto.Int32(0)
	return nil
}

func prepareBackendService(s *Service, r ref, msg, _ proto.Message) error {
	m := msg.(*computepb.BackendService)
	switch v := m.GetLoadBalancingScheme(); v {
	case "":
		m.LoadBalancingScheme = proto.String("EXTERNAL")
	case "EXTERNAL", "EXTERNAL_MANAGED":
	default:
		return errInvalid("resource.loadBalancingScheme", "'%s'. Only EXTERNAL and EXTERNAL_MANAGED are emulated", v)
	}
	switch v := m.GetProtocol(); v {
	case "":
		m.Protocol = proto.String("HTTP")
	case "HTTP", "HTTPS", "HTTP2":
	default:
		return errInvalid("resource.protocol", "'%s'. Must be one of HTTP, HTTPS, HTTP2 for serverless backends", v)
	}
	if m.TimeoutSec == nil {
		m.TimeoutSec = proto.Int32(30)
	}
	seen := map[string]bool{}
	for i, b := range m.GetBackends() {
		f := fmt.Sprintf("resource.backends[%d].group", i)
		if b.GetGroup() == "" {
			return errRequired(f)
		}
		g, err := s.resolveRefLocked(f, b.GetGroup(), r.project, "networkEndpointGroups", true)
		if err != nil {
			return err
		}
		if seen[g.rel()] {
			return errInvalid(f, "'%s'. Duplicate backend", b.GetGroup())
		}
		seen[g.rel()] = true
		b.Group = proto.String(g.selfLink())
	}
	if len(m.GetBackends()) > 0 && len(m.GetHealthChecks()) > 0 {
		return errInvalid("resource.healthChecks", "a backend service with serverless network endpoint group backends cannot have health checks")
	}
	return nil
}

func backendServiceRefs(msg proto.Message) []string {
	var out []string
	for _, b := range msg.(*computepb.BackendService).GetBackends() {
		out = append(out, relRefs(b.GetGroup())...)
	}
	return out
}

// urlMapServiceFields calls fn for every backend service reference in m,
// with the name of its field and a setter.
func urlMapServiceFields(m *computepb.UrlMap, fn func(field string, get func() string, set func(string)) error) error {
	routeAction := func(prefix string, ra *computepb.HttpRouteAction) error {
		for i, w := range ra.GetWeightedBackendServices() {
			w := w
			if err := fn(fmt.Sprintf("%s.weightedBackendServices[%d].backendService", prefix, i),
				w.GetBackendService, func(v string) { w.BackendService = proto.String(v) }); err != nil {
				return err
			}
		}
		return nil
	}
	opt := func(field string, p **string) error {
		if *p == nil {
			return nil
		}
		return fn(field, func() string { return **p }, func(v string) { *p = proto.String(v) })
	}
	if err := opt("resource.defaultService", &m.DefaultService); err != nil {
		return err
	}
	if err := routeAction("resource.defaultRouteAction", m.GetDefaultRouteAction()); err != nil {
		return err
	}
	for i, pm := range m.GetPathMatchers() {
		pf := fmt.Sprintf("resource.pathMatchers[%d]", i)
		if err := opt(pf+".defaultService", &pm.DefaultService); err != nil {
			return err
		}
		if err := routeAction(pf+".defaultRouteAction", pm.GetDefaultRouteAction()); err != nil {
			return err
		}
		for j, pr := range pm.GetPathRules() {
			f := fmt.Sprintf("%s.pathRules[%d]", pf, j)
			if err := opt(f+".service", &pr.Service); err != nil {
				return err
			}
			if err := routeAction(f+".routeAction", pr.GetRouteAction()); err != nil {
				return err
			}
		}
		for j, rr := range pm.GetRouteRules() {
			f := fmt.Sprintf("%s.routeRules[%d]", pf, j)
			if err := opt(f+".service", &rr.Service); err != nil {
				return err
			}
			if err := routeAction(f+".routeAction", rr.GetRouteAction()); err != nil {
				return err
			}
		}
	}
	return nil
}

// urlMapWeightLists calls fn for every weightedBackendServices list.
func urlMapWeightLists(m *computepb.UrlMap, fn func(field string, ws []*computepb.WeightedBackendService) error) error {
	if err := fn("resource.defaultRouteAction.weightedBackendServices", m.GetDefaultRouteAction().GetWeightedBackendServices()); err != nil {
		return err
	}
	for i, pm := range m.GetPathMatchers() {
		pf := fmt.Sprintf("resource.pathMatchers[%d]", i)
		if err := fn(pf+".defaultRouteAction.weightedBackendServices", pm.GetDefaultRouteAction().GetWeightedBackendServices()); err != nil {
			return err
		}
		for j, pr := range pm.GetPathRules() {
			if err := fn(fmt.Sprintf("%s.pathRules[%d].routeAction.weightedBackendServices", pf, j), pr.GetRouteAction().GetWeightedBackendServices()); err != nil {
				return err
			}
		}
		for j, rr := range pm.GetRouteRules() {
			if err := fn(fmt.Sprintf("%s.routeRules[%d].routeAction.weightedBackendServices", pf, j), rr.GetRouteAction().GetWeightedBackendServices()); err != nil {
				return err
			}
		}
	}
	return nil
}

func prepareURLMap(s *Service, r ref, msg, _ proto.Message) error {
	m := msg.(*computepb.UrlMap)
	weighted := len(m.GetDefaultRouteAction().GetWeightedBackendServices()) > 0
	switch {
	case m.GetDefaultService() != "" && weighted:
		return errInvalid("resource.defaultService", "at most one of defaultService and defaultRouteAction.weightedBackendServices may be set")
	case m.GetDefaultService() == "" && !weighted:
		if m.DefaultUrlRedirect != nil {
			return errInvalid("resource.defaultUrlRedirect", "redirects are not emulated; set defaultService or defaultRouteAction.weightedBackendServices")
		}
		return errRequired("resource.defaultService")
	}
	if m.DefaultService != nil && m.GetDefaultService() == "" {
		m.DefaultService = nil
	}
	if err := urlMapWeightLists(m, func(field string, ws []*computepb.WeightedBackendService) error {
		if len(ws) == 0 {
			return nil
		}
		total := 0
		for i, w := range ws {
			if w.Weight == nil {
				return errRequired(fmt.Sprintf("%s[%d].weight", field, i))
			}
			if w.GetWeight() > 1000 {
				return errInvalid(fmt.Sprintf("%s[%d].weight", field, i), "%d. Must be an integer between 0 and 1000", w.GetWeight())
			}
			total += int(w.GetWeight())
		}
		if total == 0 {
			return errInvalid(field, "every weight is 0: at least one weightedBackendServices weight must be greater than 0")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := urlMapServiceFields(m, func(field string, get func() string, set func(string)) error {
		if get() == "" {
			return errRequired(field)
		}
		b, err := s.resolveRefLocked(field, get(), r.project, "backendServices", false)
		if err != nil {
			return err
		}
		set(b.selfLink())
		return nil
	}); err != nil {
		return err
	}
	names := map[string]bool{}
	for i, pm := range m.GetPathMatchers() {
		if pm.GetName() == "" {
			return errRequired(fmt.Sprintf("resource.pathMatchers[%d].name", i))
		}
		names[pm.GetName()] = true
	}
	for i, hr := range m.GetHostRules() {
		if !names[hr.GetPathMatcher()] {
			return errInvalid(fmt.Sprintf("resource.hostRules[%d].pathMatcher", i), "'%s'. No pathMatcher has this name", hr.GetPathMatcher())
		}
	}
	return nil
}

func urlMapRefs(msg proto.Message) []string {
	var out []string
	_ = urlMapServiceFields(msg.(*computepb.UrlMap), func(_ string, get func() string, _ func(string)) error {
		out = append(out, relRefs(get())...)
		return nil
	})
	return out
}

func prepareProxy(s *Service, r ref, msg, _ proto.Message) error {
	m := msg.(*computepb.TargetHttpProxy)
	if m.GetUrlMap() == "" {
		return errRequired("resource.urlMap")
	}
	u, err := s.resolveRefLocked("resource.urlMap", m.GetUrlMap(), r.project, "urlMaps", false)
	if err != nil {
		return err
	}
	m.UrlMap = proto.String(u.selfLink())
	return nil
}

func prepareForwardingRule(s *Service, r ref, msg, _ proto.Message) error {
	m := msg.(*computepb.ForwardingRule)
	if m.GetTarget() == "" {
		return errRequired("resource.target")
	}
	t, err := s.resolveRefLocked("resource.target", m.GetTarget(), r.project, "targetHttpProxies", false)
	if err != nil {
		return err
	}
	m.Target = proto.String(t.selfLink())
	switch v := m.GetLoadBalancingScheme(); v {
	case "":
		m.LoadBalancingScheme = proto.String("EXTERNAL")
	case "EXTERNAL", "EXTERNAL_MANAGED":
	default:
		return errInvalid("resource.loadBalancingScheme", "'%s'. Only EXTERNAL and EXTERNAL_MANAGED are emulated", v)
	}
	switch v := m.GetIPProtocol(); v {
	case "":
		m.IPProtocol = proto.String("TCP")
	case "TCP":
	default:
		return errInvalid("resource.IPProtocol", "'%s'. A forwarding rule to a target HTTP proxy must use TCP", v)
	}
	if pr := m.GetPortRange(); pr != "" && portOf(pr) == 0 {
		return errInvalid("resource.portRange", "'%s'. Must be a port or a range PORT-PORT of one port", pr)
	}
	return nil
}

// portOf parses "80" or "80-80"; 0 when invalid.
func portOf(pr string) int {
	a, b, found := strings.Cut(pr, "-")
	p, err := strconv.Atoi(a)
	if err != nil || p < 1 || p > 65535 {
		return 0
	}
	if found {
		q, err := strconv.Atoi(b)
		if err != nil || q != p {
			return 0
		}
	}
	return p
}

func setDoorAddr(fr *computepb.ForwardingRule, port int) {
	fr.IPAddress = proto.String("127.0.0.1")
	fr.PortRange = proto.String(fmt.Sprintf("%d-%d", port, port))
}
