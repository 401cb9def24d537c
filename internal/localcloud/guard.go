package localcloud

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
)

// guard is in front of everything the listener serves (the Google APIs
// included): localcloud runs on a developer's machine on a fixed port, so a
// web page the developer visits must not drive it. It refuses with 403
//
//   - a Host that is not loopback (localhost, *.localhost, a loopback IP; any
//     IP literal when listening beyond loopback): a DNS-rebound name
//     pointing at 127.0.0.1 would otherwise let a page read the answers;
//   - a cross-site request: an Origin other than the server's own, or a
//     Sec-Fetch-Site other than same-origin or none. The Google clients
//     (gRPC and REST) send neither header.
//
// and the admin endpoints (/_localcloud/...) answer 401 without the token
// of package admin; the front doors' CA certificate is public.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allowedHost(r.Host) {
			admin.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "localcloud answers only requests for a loopback host (localhost or a loopback IP); Host " + r.Host + " refused"})
			return
		}
		if why := crossSite(r); why != "" {
			admin.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "localcloud refuses cross-site requests: " + why})
			return
		}
		if strings.HasPrefix(r.URL.Path, "/_localcloud/") && r.URL.Path != "/_localcloud/ca.pem" && !admin.Authorized(r, s.token) {
			admin.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "the admin endpoints need \"Authorization: Bearer TOKEN\" with the token in " + admin.TokenPath(s.cfg.DataDir) + " (the localcloud CLI reads it with --data-dir or $" + admin.EnvToken + ")"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost reports whether host (host[:port] of the request) names
// this machine's loopback interface, or is an IP literal when localcloud
// listens beyond loopback (an IP literal cannot be rebound).
func (s *Server) allowedHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || s.cfg.AllowNonLoopback)
}

// crossSite says why r comes from another site, or "".
func crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site: " + site
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Scheme != "http" || !strings.EqualFold(u.Host, r.Host) {
			return "Origin " + origin + " is not http://" + r.Host
		}
	}
	return ""
}
