package compute

import (
	"fmt"
	"regexp"
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
	m, err := typed[*computepb.NetworkEndpointGroup](msg)
	if err != nil {
		return err
	}
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
	m, err := typed[*computepb.BackendService](msg)
	if err != nil {
		return err
	}
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
	bs, _ := msg.(*computepb.BackendService) // the table passes one: nil has no backends
	for _, b := range bs.GetBackends() {
		out = append(out, relRefs(b.GetGroup())...)
	}
	return out
}

// urlMapServiceFields calls fn for every backend service reference in m,
// with the name of its field and a setter.
func urlMapServiceFields(m *computepb.UrlMap, fn func(field string, get func() string, set func(string)) error) error {
	routeAction := func(prefix string, ra *computepb.HttpRouteAction) error {
		for i, w := range ra.GetWeightedBackendServices() {
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
	m, err := typed[*computepb.UrlMap](msg)
	if err != nil {
		return err
	}
	if m.DefaultService != nil && m.GetDefaultService() == "" {
		m.DefaultService = nil
	}
	if err := checkDefaultAction("resource", m.GetDefaultService(), m.GetDefaultRouteAction(), m.GetDefaultUrlRedirect()); err != nil {
		return err
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
		pf := fmt.Sprintf("resource.pathMatchers[%d]", i)
		if pm.GetName() == "" {
			return errRequired(pf + ".name")
		}
		names[pm.GetName()] = true
		if pm.DefaultService != nil && pm.GetDefaultService() == "" {
			pm.DefaultService = nil
		}
		if err := checkDefaultAction(pf, pm.GetDefaultService(), pm.GetDefaultRouteAction(), pm.GetDefaultUrlRedirect()); err != nil {
			return err
		}
		if len(pm.GetRouteRules()) > 0 && len(pm.GetPathRules()) > 0 {
			return errInvalid(pf, "a path matcher has either pathRules or routeRules, not both")
		}
		priorities := map[int32]int{}
		for j, rr := range pm.GetRouteRules() {
			f := fmt.Sprintf("%s.routeRules[%d]", pf, j)
			if rr.Priority == nil {
				return errRequired(f + ".priority")
			}
			if rr.GetPriority() < 0 {
				return errInvalid(f+".priority", "%d. Must be between 0 and 2147483647", rr.GetPriority())
			}
			if k, dup := priorities[rr.GetPriority()]; dup {
				return errInvalid(f+".priority", "%d. routeRules[%d] has the same priority; priorities must be unique within a path matcher", rr.GetPriority(), k)
			}
			priorities[rr.GetPriority()] = j
			if err := checkRuleAction(f, rr.GetService(), rr.GetRouteAction(), rr.GetUrlRedirect(), "service"); err != nil {
				return err
			}
			for k, mr := range rr.GetMatchRules() {
				if err := checkMatchRule(fmt.Sprintf("%s.matchRules[%d]", f, k), mr); err != nil {
					return err
				}
			}
		}
		for j, pr := range pm.GetPathRules() {
			f := fmt.Sprintf("%s.pathRules[%d]", pf, j)
			if len(pr.GetPaths()) == 0 {
				return errRequired(f + ".paths")
			}
			for k, p := range pr.GetPaths() {
				if !strings.HasPrefix(p, "/") || strings.Contains(strings.TrimSuffix(p, "/*"), "*") {
					return errInvalid(fmt.Sprintf("%s.paths[%d]", f, k), "'%s'. A path starts with / and may only end in /*", p)
				}
			}
			if err := checkRuleAction(f, pr.GetService(), pr.GetRouteAction(), pr.GetUrlRedirect(), "service"); err != nil {
				return err
			}
		}
	}
	for i, hr := range m.GetHostRules() {
		f := fmt.Sprintf("resource.hostRules[%d]", i)
		if len(hr.GetHosts()) == 0 {
			return errRequired(f + ".hosts")
		}
		if !names[hr.GetPathMatcher()] {
			return errInvalid(f+".pathMatcher", "'%s'. No pathMatcher has this name", hr.GetPathMatcher())
		}
	}
	if urlMapHasHTTPSRedirect(m) {
		for _, n := range s.namesLocked("targetHttpsProxies", r.project, "") {
			p, err := typed[*computepb.TargetHttpsProxy](s.res[n])
			if err != nil {
				return err
			}
			if relOrSelf(p.GetUrlMap()) == r.rel() {
				return errInvalid("resource", "httpsRedirect is only allowed in URL maps used by target HTTP proxies; '%s' uses this URL map", n)
			}
		}
	}
	return nil
}

// checkDefaultAction checks that a URL map or path matcher has exactly one
// default: a service, weighted backend services, or a redirect.
func checkDefaultAction(prefix, service string, ra *computepb.HttpRouteAction, redirect *computepb.HttpRedirectAction) error {
	n := setCount(service != "", len(ra.GetWeightedBackendServices()) > 0, redirect != nil)
	switch {
	case n == 0:
		return errRequired(prefix + ".defaultService")
	case n > 1:
		return errInvalid(prefix+".defaultService", "exactly one of defaultService, defaultRouteAction.weightedBackendServices and defaultUrlRedirect may be set")
	}
	return checkRedirect(prefix+".defaultUrlRedirect", redirect)
}

// checkRuleAction checks that a route or path rule has exactly one action.
func checkRuleAction(prefix, service string, ra *computepb.HttpRouteAction, redirect *computepb.HttpRedirectAction, serviceField string) error {
	n := setCount(service != "", len(ra.GetWeightedBackendServices()) > 0, redirect != nil)
	if n != 1 {
		return errInvalid(prefix, "exactly one of %s, routeAction.weightedBackendServices and urlRedirect must be set", serviceField)
	}
	return checkRedirect(prefix+".urlRedirect", redirect)
}

func checkRedirect(field string, r *computepb.HttpRedirectAction) error {
	if r == nil {
		return nil
	}
	if r.PathRedirect != nil && r.PrefixRedirect != nil {
		return errInvalid(field, "at most one of pathRedirect and prefixRedirect may be set")
	}
	if r.PrefixRedirect != nil {
		return errInvalid(field+".prefixRedirect", "prefix redirects are not emulated; use pathRedirect")
	}
	switch v := r.GetRedirectResponseCode(); v {
	case "", "MOVED_PERMANENTLY_DEFAULT", "FOUND", "SEE_OTHER", "TEMPORARY_REDIRECT", "PERMANENT_REDIRECT":
	default:
		return errInvalid(field+".redirectResponseCode", "'%s'. Must be one of MOVED_PERMANENTLY_DEFAULT, FOUND, SEE_OTHER, TEMPORARY_REDIRECT, PERMANENT_REDIRECT", v)
	}
	return nil
}

// setCount is how many of set are true: how many of fields that exclude
// one another a request sets.
func setCount(set ...bool) int {
	n := 0
	for _, v := range set {
		if v {
			n++
		}
	}
	return n
}

func checkMatchRule(prefix string, mr *computepb.HttpRouteRuleMatch) error {
	if setCount(mr.PrefixMatch != nil, mr.FullPathMatch != nil, mr.RegexMatch != nil, mr.PathTemplateMatch != nil) != 1 {
		return errInvalid(prefix, "exactly one of prefixMatch, fullPathMatch, regexMatch and pathTemplateMatch must be specified")
	}
	if mr.PathTemplateMatch != nil {
		return errInvalid(prefix+".pathTemplateMatch", "path templates are not emulated; use prefixMatch, fullPathMatch or regexMatch")
	}
	if mr.RegexMatch != nil {
		if mr.GetIgnoreCase() {
			return errInvalid(prefix+".ignoreCase", "ignoreCase must not be used with regexMatch")
		}
		if _, err := regexp.Compile(mr.GetRegexMatch()); err != nil {
			return errInvalid(prefix+".regexMatch", "'%s': %v", mr.GetRegexMatch(), err)
		}
	}
	if len(mr.GetQueryParameterMatches()) > 0 || len(mr.GetMetadataFilters()) > 0 {
		return errInvalid(prefix, "queryParameterMatches and metadataFilters are not emulated")
	}
	for i, hm := range mr.GetHeaderMatches() {
		f := fmt.Sprintf("%s.headerMatches[%d]", prefix, i)
		if hm.GetHeaderName() == "" {
			return errRequired(f + ".headerName")
		}
		if setCount(hm.ExactMatch != nil, hm.PrefixMatch != nil, hm.SuffixMatch != nil, hm.RegexMatch != nil, hm.PresentMatch != nil, hm.RangeMatch != nil) != 1 {
			return errInvalid(f, "exactly one of exactMatch, prefixMatch, suffixMatch, regexMatch, presentMatch and rangeMatch must be set")
		}
		if hm.RangeMatch != nil {
			return errInvalid(f+".rangeMatch", "range matches are not emulated")
		}
		if hm.RegexMatch != nil {
			if _, err := regexp.Compile(hm.GetRegexMatch()); err != nil {
				return errInvalid(f+".regexMatch", "'%s': %v", hm.GetRegexMatch(), err)
			}
		}
	}
	return nil
}

func urlMapRefs(msg proto.Message) []string {
	var out []string
	um, _ := msg.(*computepb.UrlMap) // the table passes one: nil has no fields
	_ = urlMapServiceFields(um, func(_ string, get func() string, _ func(string)) error {
		out = append(out, relRefs(get())...)
		return nil
	})
	return out
}

func prepareProxy(s *Service, r ref, msg, _ proto.Message) error {
	m, err := typed[*computepb.TargetHttpProxy](msg)
	if err != nil {
		return err
	}
	u, err := s.proxyURLMapLocked(r, m.GetUrlMap())
	if err != nil {
		return err
	}
	m.UrlMap = proto.String(u.selfLink())
	return nil
}

// proxyURLMapLocked resolves the urlMap of a target proxy (HTTP or HTTPS)
// in project r.project: it is required and must exist.
func (s *Service) proxyURLMapLocked(r ref, urlMap string) (ref, error) {
	if urlMap == "" {
		return ref{}, errRequired("resource.urlMap")
	}
	return s.resolveRefLocked("resource.urlMap", urlMap, r.project, "urlMaps", false)
}

func prepareForwardingRule(s *Service, r ref, msg, _ proto.Message) error {
	m, err := typed[*computepb.ForwardingRule](msg)
	if err != nil {
		return err
	}
	if m.GetTarget() == "" {
		return errRequired("resource.target")
	}
	collection := "targetHttpProxies"
	if t, ok := parseRef(m.GetTarget(), r.project); ok && t.collection == "targetHttpsProxies" {
		collection = t.collection
	}
	t, err := s.resolveRefLocked("resource.target", m.GetTarget(), r.project, collection, false)
	if err != nil {
		return err
	}
	m.Target = proto.String(t.selfLink())
	// A reserved address is kept by reference (it lists its users); any
	// other value is the front door's own address.
	if _, ok := parseRef(m.GetIPAddress(), r.project); ok {
		ar, err := s.resolveRefLocked("resource.IPAddress", m.GetIPAddress(), r.project, "addresses", false)
		if err != nil {
			return err
		}
		m.IPAddress = proto.String(ar.selfLink())
	} else {
		m.IPAddress = proto.String(frontDoorIP)
	}
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
		return errInvalid("resource.IPProtocol", "'%s'. A forwarding rule to a target proxy must use TCP", v)
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
	fr.PortRange = proto.String(fmt.Sprintf("%d-%d", port, port))
}
