package compute_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	gcompute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/run"
)

const testLBSecret = "lb-secret"

// wantAPIError asserts err is a Google API error with code and a message
// containing want.
func wantAPIError(t *testing.T, err error, code int, want string) {
	t.Helper()
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != code || !strings.Contains(ge.Message, want) {
		t.Fatalf("error %v, want HTTP %d containing %q", err, code, want)
	}
}

// The HTTPS front door of a global external Application Load Balancer: a
// reserved address, a Google-managed certificate that becomes ACTIVE once
// served, region-pinned route rules before the weighted default, the load
// balancer's mark on what reaches Cloud Run, and port 80 redirecting to
// HTTPS.
func TestHTTPSFrontDoor(t *testing.T) {
	backends := map[string]*backend{}
	for _, r := range regions {
		backends[r] = newBackend(t, r)
	}
	e := newEnv(t, t.TempDir(), backends)
	e.setup(1, 1)
	ctx := context.Background()
	opts := []option.ClientOption{option.WithEndpoint(e.api.URL), option.WithoutAuthentication()}
	addrs, err := gcompute.NewGlobalAddressesRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer addrs.Close()
	certs, err := gcompute.NewSslCertificatesRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer certs.Close()
	https, err := gcompute.NewTargetHttpsProxiesRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer https.Close()

	e.wait(addrs.Insert(ctx, &computepb.InsertGlobalAddressRequest{Project: project,
		AddressResource: &computepb.Address{Name: proto.String("lb-ip")}}))
	addr, err := addrs.Get(ctx, &computepb.GetGlobalAddressRequest{Project: project, Address: "lb-ip"})
	if err != nil || addr.GetAddress() != "127.0.0.1" || addr.GetStatus() != "RESERVED" {
		t.Fatalf("reserved address %v (%v)", addr, err)
	}

	_, err = certs.Insert(ctx, &computepb.InsertSslCertificateRequest{Project: project, SslCertificateResource: &computepb.SslCertificate{
		Name: proto.String("bad"), Certificate: proto.String("not a PEM"), PrivateKey: proto.String("nor this")}})
	wantAPIError(t, err, 400, "resource.certificate")
	_, err = certs.Insert(ctx, &computepb.InsertSslCertificateRequest{Project: project, SslCertificateResource: &computepb.SslCertificate{
		Name: proto.String("wild"), Managed: &computepb.SslCertificateManagedSslCertificate{Domains: []string{"*.example.com"}}}})
	wantAPIError(t, err, 400, "wildcard")
	e.wait(certs.Insert(ctx, &computepb.InsertSslCertificateRequest{Project: project, SslCertificateResource: &computepb.SslCertificate{
		Name: proto.String("lb-cert"), Managed: &computepb.SslCertificateManagedSslCertificate{Domains: []string{"relay.example.com"}}}}))
	cert, err := certs.Get(ctx, &computepb.GetSslCertificateRequest{Project: project, SslCertificate: "lb-cert"})
	if err != nil || cert.GetType() != "MANAGED" || cert.GetManaged().GetStatus() != "PROVISIONING" {
		t.Fatalf("managed certificate before it is served: %v (%v)", cert, err)
	}

	// Region-pinned routes ahead of the weighted default.
	pinned := &computepb.PathMatcher{Name: proto.String("relay"), DefaultRouteAction: weighted(1, 1)}
	for i, r := range regions {
		pinned.RouteRules = append(pinned.RouteRules, &computepb.HttpRouteRule{
			Priority: proto.Int32(int32(i + 1)),
			MatchRules: []*computepb.HttpRouteRuleMatch{{PrefixMatch: proto.String("/"),
				HeaderMatches: []*computepb.HttpHeaderMatch{{HeaderName: proto.String("X-Agentnet-Region"), ExactMatch: proto.String(r)}}}},
			Service: proto.String("global/backendServices/be-" + r),
		})
	}
	e.wait(e.urlMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: project, UrlMapResource: &computepb.UrlMap{
		Name: proto.String("pinned"), DefaultRouteAction: weighted(1, 1),
		HostRules:    []*computepb.HostRule{{Hosts: []string{"*"}, PathMatcher: proto.String("relay")}},
		PathMatchers: []*computepb.PathMatcher{pinned}}}))
	e.wait(e.urlMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: project, UrlMapResource: &computepb.UrlMap{
		Name: proto.String("to-https"), DefaultUrlRedirect: &computepb.HttpRedirectAction{HttpsRedirect: proto.Bool(true)}}}))

	_, err = https.Insert(ctx, &computepb.InsertTargetHttpsProxyRequest{Project: project, TargetHttpsProxyResource: &computepb.TargetHttpsProxy{
		Name: proto.String("loop"), UrlMap: proto.String("global/urlMaps/to-https"), SslCertificates: []string{"global/sslCertificates/lb-cert"}}})
	wantAPIError(t, err, 400, "httpsRedirect")
	_, err = https.Insert(ctx, &computepb.InsertTargetHttpsProxyRequest{Project: project, TargetHttpsProxyResource: &computepb.TargetHttpsProxy{
		Name: proto.String("nocert"), UrlMap: proto.String("global/urlMaps/pinned")}})
	wantAPIError(t, err, 400, "resource.sslCertificates")
	e.wait(https.Insert(ctx, &computepb.InsertTargetHttpsProxyRequest{Project: project, TargetHttpsProxyResource: &computepb.TargetHttpsProxy{
		Name: proto.String("lb-https"), UrlMap: proto.String("global/urlMaps/pinned"), SslCertificates: []string{"global/sslCertificates/lb-cert"}}}))
	e.wait(e.proxies.Insert(ctx, &computepb.InsertTargetHttpProxyRequest{Project: project, TargetHttpProxyResource: &computepb.TargetHttpProxy{
		Name: proto.String("lb-http"), UrlMap: proto.String("global/urlMaps/to-https")}}))
	for _, fr := range []struct{ name, target, port string }{
		{"lb-https", "global/targetHttpsProxies/lb-https", "443"},
		{"lb-http", "global/targetHttpProxies/lb-http", "80"},
	} {
		e.wait(e.rules.Insert(ctx, &computepb.InsertGlobalForwardingRuleRequest{Project: project, ForwardingRuleResource: &computepb.ForwardingRule{
			Name: proto.String(fr.name), Target: proto.String(fr.target), PortRange: proto.String(fr.port),
			IPAddress: proto.String("projects/" + project + "/global/addresses/lb-ip"), LoadBalancingScheme: proto.String("EXTERNAL_MANAGED")}}))
	}
	port := func(name string) string {
		fr, err := e.rules.Get(ctx, &computepb.GetGlobalForwardingRuleRequest{Project: project, ForwardingRule: name})
		if err != nil || fr.GetIPAddress() != "127.0.0.1" {
			t.Fatalf("forwarding rule %s: %v (%v)", name, fr, err)
		}
		p, _, _ := strings.Cut(fr.GetPortRange(), "-")
		return p
	}
	httpsPort, httpPort := port("lb-https"), port("lb-http")

	addr, _ = addrs.Get(ctx, &computepb.GetGlobalAddressRequest{Project: project, Address: "lb-ip"})
	if addr.GetStatus() != "IN_USE" || len(addr.GetUsers()) != 2 {
		t.Fatalf("address in use: %v", addr)
	}
	_, err = addrs.Delete(ctx, &computepb.DeleteGlobalAddressRequest{Project: project, Address: "lb-ip"})
	wantAPIError(t, err, 400, "already being used")
	cert, _ = certs.Get(ctx, &computepb.GetSslCertificateRequest{Project: project, SslCertificate: "lb-cert"})
	if cert.GetManaged().GetStatus() != "ACTIVE" || !strings.Contains(cert.GetCertificate(), "BEGIN CERTIFICATE") || cert.PrivateKey != nil {
		t.Fatalf("served managed certificate: %v", cert)
	}

	// HTTPS, trusting the CA only.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.ca.PEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(c *http.Client, url, region string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if region != "" {
			req.Header.Set("X-Agentnet-Region", region)
		}
		req.Header.Set(run.LoadBalancerHeader, "forged")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for i := 0; i < 6; i++ {
		resp, body := get(client, "https://127.0.0.1:"+httpsPort+"/hello", regions[1])
		if body != "plain "+regions[1]+" /hello" || resp.Header.Get("X-Seen-Load-Balancer") != testLBSecret {
			t.Fatalf("pinned request %d answered %q with mark %q", i, body, resp.Header.Get("X-Seen-Load-Balancer"))
		}
	}
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		_, body := get(client, "https://127.0.0.1:"+httpsPort+"/hello", "")
		seen[body] = true
	}
	if len(seen) != 2 {
		t.Fatalf("unpinned requests reached %v, want both regions", seen)
	}
	if _, err := http.Get("https://127.0.0.1:" + httpsPort + "/hello"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client that does not trust localcloud's CA got %v, want a certificate error", err)
	}

	resp, _ := get(client, "http://127.0.0.1:"+httpPort+"/ws?x=1", "")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://127.0.0.1:"+httpsPort+"/ws?x=1" {
		t.Fatalf("port 80 answered %d Location %q, want 301 to the HTTPS front door", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// URL maps with route rules and redirects are checked as Google checks them.
func TestURLMapRulesValidated(t *testing.T) {
	e := newEnv(t, t.TempDir(), map[string]*backend{})
	e.setup(1, 1)
	ctx := context.Background()
	rule := func(priority int32, hm *computepb.HttpHeaderMatch) *computepb.HttpRouteRule {
		return &computepb.HttpRouteRule{Priority: proto.Int32(priority), Service: proto.String("global/backendServices/be-" + regions[0]),
			MatchRules: []*computepb.HttpRouteRuleMatch{{PrefixMatch: proto.String("/"), HeaderMatches: []*computepb.HttpHeaderMatch{hm}}}}
	}
	exact := &computepb.HttpHeaderMatch{HeaderName: proto.String("X-Agentnet-Region"), ExactMatch: proto.String(regions[0])}
	for _, c := range []struct {
		name string
		um   *computepb.UrlMap
		want string
	}{
		{"duplicate priority", &computepb.UrlMap{PathMatchers: []*computepb.PathMatcher{{Name: proto.String("m"),
			DefaultService: proto.String("global/backendServices/be-" + regions[0]),
			RouteRules:     []*computepb.HttpRouteRule{rule(1, exact), rule(1, exact)}}}},
			"resource.pathMatchers[0].routeRules[1].priority"},
		{"header match without a criterion", &computepb.UrlMap{PathMatchers: []*computepb.PathMatcher{{Name: proto.String("m"),
			DefaultService: proto.String("global/backendServices/be-" + regions[0]),
			RouteRules:     []*computepb.HttpRouteRule{rule(1, &computepb.HttpHeaderMatch{HeaderName: proto.String("X-Agentnet-Region")})}}}},
			"resource.pathMatchers[0].routeRules[0].matchRules[0].headerMatches[0]"},
		{"redirect and service", &computepb.UrlMap{DefaultService: proto.String("global/backendServices/be-" + regions[0]),
			DefaultUrlRedirect: &computepb.HttpRedirectAction{HttpsRedirect: proto.Bool(true)}},
			"exactly one of defaultService"},
	} {
		c.um.Name = proto.String("bad")
		if c.um.DefaultService == nil && c.um.DefaultUrlRedirect == nil {
			c.um.DefaultService = proto.String("global/backendServices/be-" + regions[0])
		}
		_, err := e.urlMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: project, UrlMapResource: c.um})
		t.Run(c.name, func(t *testing.T) { wantAPIError(t, err, 400, c.want) })
	}
}
