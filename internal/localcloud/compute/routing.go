package compute

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
)

// action is what a URL map does with one request: send it to one of the
// weighted backend services, or redirect it.
type action struct {
	key      string // the route, for its own weighted round robin
	services []weightedService
	redirect *computepb.HttpRedirectAction
	// headers are the header actions of the enclosing route rule, path
	// matcher and URL map, in the order Google applies them (after the
	// chosen weighted backend service's own).
	headers []*computepb.HttpHeaderAction
}

func actionOf(key, service string, ra *computepb.HttpRouteAction, redirect *computepb.HttpRedirectAction, headers ...*computepb.HttpHeaderAction) action {
	a := action{key: key, redirect: redirect}
	for _, h := range headers {
		if h != nil {
			a.headers = append(a.headers, h)
		}
	}
	if service != "" {
		a.services = []weightedService{{backendService: relOrSelf(service), weight: 1}}
		return a
	}
	for _, w := range ra.GetWeightedBackendServices() {
		a.services = append(a.services, weightedService{backendService: relOrSelf(w.GetBackendService()), weight: int(w.GetWeight()), headers: w.GetHeaderAction()})
	}
	return a
}

// selectAction routes a request as Google's URL map does: the host rule
// that matches the Host (exact host first, then the longest wildcard, then
// "*") picks a path matcher; in it the route rules are tried in priority
// order (lowest first; a rule matches when any of its match rules does, a
// match rule when its path and every header match do), else the longest
// matching path rule, else the path matcher's default; without a host rule
// the URL map's default applies.
func selectAction(m *computepb.UrlMap, r *http.Request) action {
	pm := matchHost(m, hostOnly(r.Host))
	if pm == nil {
		return actionOf("default", m.GetDefaultService(), m.GetDefaultRouteAction(), m.GetDefaultUrlRedirect(), m.GetHeaderAction())
	}
	rules := append([]*computepb.HttpRouteRule(nil), pm.GetRouteRules()...)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].GetPriority() < rules[j].GetPriority() })
	for _, rr := range rules {
		if routeRuleMatches(rr, r) {
			return actionOf(fmt.Sprintf("%s/routeRules/%d", pm.GetName(), rr.GetPriority()), rr.GetService(), rr.GetRouteAction(), rr.GetUrlRedirect(),
				rr.GetHeaderAction(), pm.GetHeaderAction(), m.GetHeaderAction())
		}
	}
	best, bestLen := -1, -1
	for i, pr := range pm.GetPathRules() {
		for _, p := range pr.GetPaths() {
			if n := pathRuleMatch(p, r.URL.Path); n > bestLen {
				best, bestLen = i, n
			}
		}
	}
	if best >= 0 {
		pr := pm.GetPathRules()[best]
		return actionOf(fmt.Sprintf("%s/pathRules/%d", pm.GetName(), best), pr.GetService(), pr.GetRouteAction(), pr.GetUrlRedirect(),
			pm.GetHeaderAction(), m.GetHeaderAction())
	}
	return actionOf(pm.GetName()+"/default", pm.GetDefaultService(), pm.GetDefaultRouteAction(), pm.GetDefaultUrlRedirect(),
		pm.GetHeaderAction(), m.GetHeaderAction())
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(hostport)
}

func matchHost(m *computepb.UrlMap, host string) *computepb.PathMatcher {
	var exact, anyHost string
	wildcard, wildLen := "", -1
	for _, hr := range m.GetHostRules() {
		for _, h := range hr.GetHosts() {
			h = hostOnly(h)
			switch {
			case h == "*":
				if anyHost == "" {
					anyHost = hr.GetPathMatcher()
				}
			case strings.HasPrefix(h, "*"):
				if suffix := h[1:]; strings.HasSuffix(host, suffix) && len(suffix) > wildLen {
					wildcard, wildLen = hr.GetPathMatcher(), len(suffix)
				}
			case h == host && exact == "":
				exact = hr.GetPathMatcher()
			}
		}
	}
	name := exact
	if name == "" {
		name = wildcard
	}
	if name == "" {
		name = anyHost
	}
	for _, pm := range m.GetPathMatchers() {
		if name != "" && pm.GetName() == name {
			return pm
		}
	}
	return nil
}

// pathRuleMatch returns how long a match of path rule p on path is, or -1.
func pathRuleMatch(p, path string) int {
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		if strings.HasPrefix(path, prefix) {
			return len(prefix)
		}
		return -1
	}
	if p == path {
		return len(p) + 1 // an exact path beats a prefix of the same length
	}
	return -1
}

func routeRuleMatches(rr *computepb.HttpRouteRule, r *http.Request) bool {
	if len(rr.GetMatchRules()) == 0 {
		return true
	}
	for _, mr := range rr.GetMatchRules() {
		if matchRuleMatches(mr, r) {
			return true
		}
	}
	return false
}

func matchRuleMatches(mr *computepb.HttpRouteRuleMatch, r *http.Request) bool {
	path := r.URL.Path
	fold := func(s string) string {
		if mr.GetIgnoreCase() {
			return strings.ToLower(s)
		}
		return s
	}
	switch {
	case mr.PrefixMatch != nil:
		if !strings.HasPrefix(fold(path), fold(mr.GetPrefixMatch())) {
			return false
		}
	case mr.FullPathMatch != nil:
		if fold(path) != fold(mr.GetFullPathMatch()) {
			return false
		}
	case mr.RegexMatch != nil:
		re, err := regexp.Compile("^(?:" + mr.GetRegexMatch() + ")$")
		if err != nil || !re.MatchString(path) {
			return false
		}
	}
	for _, hm := range mr.GetHeaderMatches() {
		if !headerMatches(hm, r) {
			return false
		}
	}
	return true
}

func headerMatches(hm *computepb.HttpHeaderMatch, r *http.Request) bool {
	var values []string
	switch name := strings.ToLower(hm.GetHeaderName()); name {
	case ":authority", "host":
		values = []string{r.Host}
	case ":method":
		values = []string{r.Method}
	default:
		values = r.Header.Values(hm.GetHeaderName())
	}
	present := len(values) > 0
	v := strings.Join(values, ",")
	var ok bool
	switch {
	case hm.ExactMatch != nil:
		ok = present && v == hm.GetExactMatch()
	case hm.PrefixMatch != nil:
		ok = present && strings.HasPrefix(v, hm.GetPrefixMatch())
	case hm.SuffixMatch != nil:
		ok = present && strings.HasSuffix(v, hm.GetSuffixMatch())
	case hm.RegexMatch != nil:
		re, err := regexp.Compile("^(?:" + hm.GetRegexMatch() + ")$")
		ok = present && err == nil && re.MatchString(v)
	case hm.PresentMatch != nil:
		ok = present == hm.GetPresentMatch()
	}
	if hm.GetInvertMatch() {
		return !ok
	}
	return ok
}

// redirectURL is where a URL redirect sends r. An HTTPS redirect goes to
// port 443 of the same address, which locally is the port of the forwarding
// rule on the same reserved address whose target is a target HTTPS proxy.
func (s *Service) redirectURL(rule string, rd *computepb.HttpRedirectAction, r *http.Request) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	host, port := hostOnly(r.Host), ""
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		port = p
	}
	if rd.GetHttpsRedirect() && u.Scheme != "https" {
		u.Scheme = "https"
		port = s.httpsPortFor(rule)
	}
	if rd.HostRedirect != nil {
		host, port = rd.GetHostRedirect(), ""
	}
	u.Host = host
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	}
	if rd.PathRedirect != nil {
		u.Path = rd.GetPathRedirect()
	}
	if rd.GetStripQuery() {
		u.RawQuery = ""
	}
	return u.String()
}

// httpsPortFor finds the local port that stands for port 443 of rule's
// address: "" when the rule has no reserved address or none serves HTTPS.
func (s *Service) httpsPortFor(rule string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	fr, ok := s.res[rule].(*computepb.ForwardingRule)
	if !ok || fr.GetIPAddress() == frontDoorIP {
		return ""
	}
	for _, n := range s.namesLocked("forwardingRules", "", "") {
		o, ok := s.res[n].(*computepb.ForwardingRule)
		if !ok {
			continue // only forwarding rules are listed as such
		}
		if n != rule && o.GetIPAddress() == fr.GetIPAddress() && isHTTPSTarget(o) {
			if p := portOf(o.GetPortRange()); p > 0 {
				return fmt.Sprint(p)
			}
		}
	}
	return ""
}

func isHTTPSTarget(fr *computepb.ForwardingRule) bool {
	t, ok := parseRef(fr.GetTarget(), "")
	return ok && t.collection == "targetHttpsProxies"
}

// applyHeaderActions changes h as the header actions do, in order: each
// removes its headers, then adds its own (replacing the values when
// replace is set, appending otherwise). response picks the response's
// lists, else the request's.
func applyHeaderActions(h http.Header, actions []*computepb.HttpHeaderAction, response bool) {
	for _, a := range actions {
		remove, add := a.GetRequestHeadersToRemove(), a.GetRequestHeadersToAdd()
		if response {
			remove, add = a.GetResponseHeadersToRemove(), a.GetResponseHeadersToAdd()
		}
		for _, name := range remove {
			h.Del(name)
		}
		for _, o := range add {
			if o.GetReplace() {
				h.Set(o.GetHeaderName(), o.GetHeaderValue())
			} else {
				h.Add(o.GetHeaderName(), o.GetHeaderValue())
			}
		}
	}
}
