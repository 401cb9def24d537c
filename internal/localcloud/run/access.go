package run

import (
	"crypto/subtle"
	"fmt"
	"html"
	"net/http"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"
)

// LoadBalancerHeader marks a request that localcloud's load balancer
// proxied to a service URL; its value is Config.LoadBalancerSecret.
const LoadBalancerHeader = "X-Localcloud-Load-Balancer"

// access is what the service URL's front end checks before a request
// reaches an instance.
type access struct {
	ingress            runpb.IngressTraffic
	invokerIAMDisabled bool
	defaultURIDisabled bool
}

func (s *Service) accessOf(svc *service) access {
	s.mu.Lock()
	defer s.mu.Unlock()
	return access{ingress: svc.pb.GetIngress(), invokerIAMDisabled: svc.pb.GetInvokerIamDisabled(), defaultURIDisabled: svc.pb.GetDefaultUriDisabled()}
}

// fromLoadBalancer tells whether r came through localcloud's load balancer,
// and removes the mark so that it never reaches an instance.
func (s *Service) fromLoadBalancer(r *http.Request) bool {
	got := r.Header.Get(LoadBalancerHeader)
	r.Header.Del(LoadBalancerHeader)
	want := s.cfg.LoadBalancerSecret
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// refused applies Google's front end rules, in the order a request meets
// them, and writes the refusal; false means the request may be proxied.
//   - A path ending in "z" is reserved by Cloud Run: 404 from Google's front
//     end, the container never sees it.
//   - Ingress: the service URL is the run.app URL. INTERNAL_ONLY admits no
//     request that localcloud can make (no VPC, and its load balancer is an
//     external one); INTERNAL_LOAD_BALANCER and default_uri_disabled admit
//     only requests through the load balancer. Refused: 404.
//   - Invoker IAM: localcloud grants no roles/run.invoker, so unless the
//     check is disabled every request gets 403.
func (a access) refused(w http.ResponseWriter, r *http.Request, viaLB bool) bool {
	switch {
	case strings.HasSuffix(r.URL.Path, "z"):
		googleError(w, http.StatusNotFound, "Not Found", fmt.Sprintf("The requested URL <code>%s</code> was not found on this server.", html.EscapeString(r.URL.Path)))
	case a.ingress == runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_ONLY,
		!viaLB && (a.ingress == runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER || a.defaultURIDisabled):
		googleError(w, http.StatusNotFound, "Page not found", "The requested URL was not found on this server.")
	case !a.invokerIAMDisabled:
		googleError(w, http.StatusForbidden, "Forbidden", fmt.Sprintf("Your client does not have permission to get URL <code>%s</code> from this server.", html.EscapeString(r.URL.Path)))
	default:
		return false
	}
	return true
}

// googleError writes an error page shaped like the one Google's front end
// serves.
func googleError(w http.ResponseWriter, code int, title, detail string) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>%d %s</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: %s</h1>\n<h2>%s</h2>\n<h2></h2>\n</body></html>\n", code, title, title, detail)
}
