package resources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/googleapis/gax-go/v2"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// The failover group's load balancer plumbing: its objects and their names,
// the URL map's body and changes, the front door, and their deletion.

// Load balancer objects and their names. The group's name names its URL
// map, target HTTPS proxy and forwarding rule on port 443; "-http" the
// redirect on port 80 (URL map, target HTTP proxy, forwarding rule); "-ip"
// the address it reserves; "-cert-<hash>" its Google-managed certificate;
// "-<region>" each region's NEG and backend service.
func (m *failoverGroupModel) backendName(region string) string {
	return m.Name.ValueString() + "-" + region
}

func (m *failoverGroupModel) redirectName() string { return m.Name.ValueString() + "-http" }

func (m *failoverGroupModel) addressName() string { return m.Name.ValueString() + "-ip" }

func (m *failoverGroupModel) certPrefix() string { return m.Name.ValueString() + "-cert-" }

// managedCertName names the managed certificate of a set of domains: a new
// set is a new certificate, swapped in while the old one still serves.
func (m *failoverGroupModel) managedCertName(domains []string) string {
	lower := make([]string, len(domains))
	for i, d := range domains {
		lower[i] = strings.ToLower(d)
	}
	sorted := slices.Sorted(slices.Values(lower))
	sum := sha256.Sum256([]byte(strings.Join(sorted, ",")))
	return m.certPrefix() + hex.EncodeToString(sum[:])[:8]
}

func (m *failoverGroupModel) globalLink(kind, name string) string {
	return fmt.Sprintf("projects/%s/global/%s/%s", m.Project.ValueString(), kind, name)
}

// description marks what the group creates as agentnet's.
func (m *failoverGroupModel) description() *string {
	return proto.String(ownerDescribed("agentnet_relay_failover_group " + m.Name.ValueString()))
}

// tlsCerts is the certificate configuration of the target HTTPS proxy:
// certificate links, or a certificate map, and the managed certificate's
// domains when the group creates one.
func (m *failoverGroupModel) tlsCerts(ctx context.Context) (certs []string, certMap string, managed []string) {
	if m.TLS == nil {
		return nil, "", nil
	}
	var list []string
	switch {
	case !m.TLS.Certificates.IsNull():
		m.TLS.Certificates.ElementsAs(ctx, &list, false)
		for _, c := range list {
			certs = append(certs, relativeLink(c))
		}
	case !m.TLS.CertificateMap.IsNull():
		certMap = "//certificatemanager.googleapis.com/" + strings.TrimPrefix(m.TLS.CertificateMap.ValueString(), "//certificatemanager.googleapis.com/")
	case !m.TLS.ManagedDomains.IsNull():
		m.TLS.ManagedDomains.ElementsAs(ctx, &managed, false)
		certs = []string{m.globalLink("sslCertificates", m.managedCertName(managed))}
	}
	return certs, certMap, managed
}

// relativeLink turns a full Compute Engine URL into projects/...
func relativeLink(link string) string {
	if i := strings.Index(link, "projects/"); i >= 0 {
		return link[i:]
	}
	return link
}

func linkName(link string) string { return link[strings.LastIndex(link, "/")+1:] }

// owned is one load balancer object of the group: how to read its
// description and how to delete it.
type owned struct {
	kind, name string
	get        func(ctx context.Context) (string, error)
	del        func(ctx context.Context) (waiter, error)
}

// description is the description of o as a Get returned it with err.
func description[T interface{ GetDescription() string }](o T, err error) (string, error) {
	return o.GetDescription(), err
}

type waiter interface {
	Wait(context.Context, ...gax.CallOption) error
}

// objects lists every object the group may have created, in deletion
// order. Managed certificates are listed by ManagedCerts.
func (r *relayFailoverGroupResource) objects(m *failoverGroupModel, specs []regionSpec) []owned {
	c := r.clients.Compute
	project, name, redirect := m.Project.ValueString(), m.Name.ValueString(), m.redirectName()
	rule := func(n string) owned {
		return owned{"Forwarding rule", n,
			func(ctx context.Context) (string, error) {
				return description(c.ForwardingRules.Get(ctx, &computepb.GetGlobalForwardingRuleRequest{Project: project, ForwardingRule: n}))
			},
			func(ctx context.Context) (waiter, error) {
				return c.ForwardingRules.Delete(ctx, &computepb.DeleteGlobalForwardingRuleRequest{Project: project, ForwardingRule: n})
			}}
	}
	httpProxy := func(n string) owned {
		return owned{"Target HTTP proxy", n,
			func(ctx context.Context) (string, error) {
				return description(c.TargetHTTPProxies.Get(ctx, &computepb.GetTargetHttpProxyRequest{Project: project, TargetHttpProxy: n}))
			},
			func(ctx context.Context) (waiter, error) {
				return c.TargetHTTPProxies.Delete(ctx, &computepb.DeleteTargetHttpProxyRequest{Project: project, TargetHttpProxy: n})
			}}
	}
	urlMap := func(n string) owned {
		return owned{"URL map", n,
			func(ctx context.Context) (string, error) {
				return description(c.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: project, UrlMap: n}))
			},
			func(ctx context.Context) (waiter, error) {
				return c.URLMaps.Delete(ctx, &computepb.DeleteUrlMapRequest{Project: project, UrlMap: n})
			}}
	}
	out := []owned{
		rule(name), rule(redirect),
		{"Target HTTPS proxy", name,
			func(ctx context.Context) (string, error) {
				return description(c.TargetHTTPSProxies.Get(ctx, &computepb.GetTargetHttpsProxyRequest{Project: project, TargetHttpsProxy: name}))
			},
			func(ctx context.Context) (waiter, error) {
				return c.TargetHTTPSProxies.Delete(ctx, &computepb.DeleteTargetHttpsProxyRequest{Project: project, TargetHttpsProxy: name})
			}},
		httpProxy(redirect), httpProxy(name), // the second: a plain HTTP front door from before TLS
		urlMap(name), urlMap(redirect),
	}
	if m.Address.IsNull() || m.Address.ValueString() == "" {
		n := m.addressName()
		out = append(out, owned{"Global address", n,
			func(ctx context.Context) (string, error) {
				return description(c.Addresses.Get(ctx, &computepb.GetGlobalAddressRequest{Project: project, Address: n}))
			},
			func(ctx context.Context) (waiter, error) {
				return c.Addresses.Delete(ctx, &computepb.DeleteGlobalAddressRequest{Project: project, Address: n})
			}})
	}
	for _, s := range specs {
		n, region := m.backendName(s.Region), s.Region
		out = append(out, owned{"Backend service", n,
			func(ctx context.Context) (string, error) {
				return description(c.BackendServices.Get(ctx, &computepb.GetBackendServiceRequest{Project: project, BackendService: n}))
			},
			func(ctx context.Context) (waiter, error) {
				return c.BackendServices.Delete(ctx, &computepb.DeleteBackendServiceRequest{Project: project, BackendService: n})
			}},
			owned{"Serverless NEG", n,
				func(ctx context.Context) (string, error) {
					return description(c.NEGs.Get(ctx, &computepb.GetRegionNetworkEndpointGroupRequest{Project: project, Region: region, NetworkEndpointGroup: n}))
				},
				func(ctx context.Context) (waiter, error) {
					return c.NEGs.Delete(ctx, &computepb.DeleteRegionNetworkEndpointGroupRequest{Project: project, Region: region, NetworkEndpointGroup: n})
				}})
	}
	return out
}

// managedCerts lists the managed certificates the group created (by name
// prefix and marker), except those in keep (links).
func (r *relayFailoverGroupResource) managedCerts(ctx context.Context, m *failoverGroupModel, keep []string) ([]owned, error) {
	project := m.Project.ValueString()
	it := r.clients.Compute.SSLCertificates.List(ctx, &computepb.ListSslCertificatesRequest{Project: project})
	var out []owned
	for {
		cert, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		n := cert.GetName()
		if !strings.HasPrefix(n, m.certPrefix()) || slices.ContainsFunc(keep, func(l string) bool { return linkName(l) == n }) ||
			!ownedByDescription(cert.GetDescription()) {
			continue
		}
		out = append(out, owned{"SSL certificate", n, nil, func(ctx context.Context) (waiter, error) {
			return r.clients.Compute.SSLCertificates.Delete(ctx, &computepb.DeleteSslCertificateRequest{Project: project, SslCertificate: n})
		}})
	}
}

// refuseForeign fails a create where an object the group would create
// already exists without agentnet's marker; nothing has changed then. One
// with the marker (left by an earlier apply that failed) is taken over.
func (r *relayFailoverGroupResource) refuseForeign(ctx context.Context, m *failoverGroupModel, specs []regionSpec, diags *diag.Diagnostics) {
	objs := r.objects(m, specs)
	if _, _, managed := m.tlsCerts(ctx); managed != nil {
		n := m.managedCertName(managed)
		project := m.Project.ValueString()
		objs = append(objs, owned{kind: "SSL certificate", name: n, get: func(ctx context.Context) (string, error) {
			return description(r.clients.Compute.SSLCertificates.Get(ctx, &computepb.GetSslCertificateRequest{Project: project, SslCertificate: n}))
		}})
	}
	importID := m.globalLink("urlMaps", m.Name.ValueString())
	for _, o := range objs {
		callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		desc, err := o.get(callCtx)
		cancel()
		switch {
		case gcpclient.IsNotFound(err):
		case err != nil && o.kind == "Serverless NEG" && gcpclient.IsRegionOutage(err):
			// The apply leaves a region that does not answer alone.
		case err != nil:
			diags.AddError("Reading "+strings.ToLower(o.kind)+" "+o.name+" failed", r.clients.Describe(gcpclient.APICompute, err))
		case !ownedByDescription(desc):
			diags.AddAttributeError(path.Root("name"), o.kind+" "+o.name+" is not agentnet's",
				notOursError(o.kind, o.name, "agentnet_relay_failover_group", importID))
		}
	}
}

// ensureBackends creates the missing NEGs and backend services and returns
// each region's backend service link.
func (r *relayFailoverGroupResource) ensureBackends(ctx context.Context, m *failoverGroupModel, specs []regionSpec,
	unavailable map[string]string, diags *diag.Diagnostics) map[string]string {
	project := m.Project.ValueString()
	out := map[string]string{}
	for _, s := range specs {
		name := m.backendName(s.Region)
		link := m.globalLink("backendServices", name)
		_, err := r.clients.Compute.BackendServices.Get(ctx, &computepb.GetBackendServiceRequest{Project: project, BackendService: name})
		if err == nil {
			out[s.Region] = link
			continue
		}
		if !gcpclient.IsNotFound(err) {
			diags.AddError("Reading backend service "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
			return nil
		}
		if _, down := unavailable[s.Region]; down {
			continue
		}
		serviceName := s.Service[strings.LastIndex(s.Service, "/")+1:]
		neg := &computepb.NetworkEndpointGroup{
			Name:                proto.String(name),
			Description:         m.description(),
			NetworkEndpointType: proto.String("SERVERLESS"),
			CloudRun:            &computepb.NetworkEndpointGroupCloudRun{Service: proto.String(serviceName)},
		}
		op, err := r.clients.Compute.NEGs.Insert(ctx, &computepb.InsertRegionNetworkEndpointGroupRequest{
			Project: project, Region: s.Region, NetworkEndpointGroupResource: neg})
		if err == nil {
			err = op.Wait(ctx)
		}
		if err != nil && !isAlreadyExists(err) {
			diags.AddError("Creating serverless NEG "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
			return nil
		}
		bs := &computepb.BackendService{
			Name:                proto.String(name),
			Description:         m.description(),
			LoadBalancingScheme: proto.String("EXTERNAL_MANAGED"),
			Protocol:            proto.String("HTTPS"),
			Backends: []*computepb.Backend{{
				Group: proto.String(fmt.Sprintf("projects/%s/regions/%s/networkEndpointGroups/%s", project, s.Region, name)),
			}},
		}
		op, err = r.clients.Compute.BackendServices.Insert(ctx, &computepb.InsertBackendServiceRequest{Project: project, BackendServiceResource: bs})
		if err == nil {
			err = op.Wait(ctx)
		}
		if err != nil && !isAlreadyExists(err) {
			diags.AddError("Creating backend service "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
			return nil
		}
		out[s.Region] = link
	}
	return out
}

// certificateHint explains a failed health check by the group's managed
// certificate when Google has not provisioned it yet, "" otherwise.
func (r *relayFailoverGroupResource) certificateHint(ctx context.Context, m *failoverGroupModel) string {
	certs, _, managed := m.tlsCerts(ctx)
	if managed == nil {
		return ""
	}
	cert, err := r.clients.Compute.SSLCertificates.Get(ctx, &computepb.GetSslCertificateRequest{Project: m.Project.ValueString(), SslCertificate: linkName(certs[0])})
	if err != nil || cert.GetManaged().GetStatus() == "ACTIVE" {
		return ""
	}
	return fmt.Sprintf(" (the managed certificate %s is %s: Google provisions it once %s resolve to %s; point DNS there and apply again)",
		cert.GetName(), cert.GetManaged().GetStatus(), strings.Join(managed, ", "), m.IPAddress.ValueString())
}

// getURLMap reads the group's URL map; false when it does not exist.
func (r *relayFailoverGroupResource) getURLMap(ctx context.Context, m *failoverGroupModel, diags *diag.Diagnostics) (*computepb.UrlMap, bool) {
	um, err := r.clients.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: m.Project.ValueString(), UrlMap: m.Name.ValueString()})
	if gcpclient.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		diags.AddError("Reading URL map "+m.Name.ValueString()+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return nil, false
	}
	return um, true
}

// regionsMatcher is the URL map's path matcher: the weighted default route
// and the region-pinned route rules.
const regionsMatcher = "regions"

// weightsOf reads the weight of each region from the route that serves
// agents: the path matcher's default route (every host goes through it),
// else the URL map's default route.
func weightsOf(um *computepb.UrlMap, m *failoverGroupModel) map[string]int64 {
	ra := um.GetDefaultRouteAction()
	for _, pm := range um.GetPathMatchers() {
		if pm.GetName() == regionsMatcher && pm.GetDefaultRouteAction() != nil {
			ra = pm.GetDefaultRouteAction()
		}
	}
	weights := map[string]int64{}
	prefix := m.Name.ValueString() + "-"
	for _, wb := range ra.GetWeightedBackendServices() {
		weights[strings.TrimPrefix(linkName(wb.GetBackendService()), prefix)] = int64(wb.GetWeight())
	}
	return weights
}

func routeAction(backends map[string]string, weights map[string]int64) *computepb.HttpRouteAction {
	ra := &computepb.HttpRouteAction{}
	for _, region := range slices.Sorted(maps.Keys(backends)) {
		ra.WeightedBackendServices = append(ra.WeightedBackendServices, &computepb.WeightedBackendService{
			BackendService: proto.String(backends[region]), Weight: proto.Uint32(uint32(weights[region])),
		})
	}
	return ra
}

// urlMapBody is the group's URL map: the weighted route as the default, and
// one route rule per region sending requests with the region header to that
// region's backend service only (health checks), ahead of it. Every
// response through the path matcher carries the change's generation
// (failover_live.go).
func urlMapBody(m *failoverGroupModel, backends map[string]string, weights map[string]int64, generation int64) *computepb.UrlMap {
	pm := &computepb.PathMatcher{Name: proto.String(regionsMatcher), DefaultRouteAction: routeAction(backends, weights),
		HeaderAction: generationAction(generation)}
	for i, region := range slices.Sorted(maps.Keys(backends)) {
		pm.RouteRules = append(pm.RouteRules, &computepb.HttpRouteRule{
			Priority:    proto.Int32(int32(i + 1)),
			Description: proto.String("health checks of " + region),
			MatchRules: []*computepb.HttpRouteRuleMatch{{
				PrefixMatch:   proto.String("/"),
				HeaderMatches: []*computepb.HttpHeaderMatch{{HeaderName: proto.String(regionHeader), ExactMatch: proto.String(region)}},
			}},
			Service: proto.String(backends[region]),
		})
	}
	return &computepb.UrlMap{
		Description:        m.description(),
		DefaultRouteAction: routeAction(backends, weights),
		HostRules:          []*computepb.HostRule{{Hosts: []string{"*"}, PathMatcher: proto.String(regionsMatcher)}},
		PathMatchers:       []*computepb.PathMatcher{pm},
	}
}

// pinnedRegions maps each region um pins with the region header to its
// backend service link.
func pinnedRegions(um *computepb.UrlMap) map[string]string {
	pinned := map[string]string{}
	for _, pm := range um.GetPathMatchers() {
		if pm.GetName() != regionsMatcher {
			continue
		}
		for _, rr := range pm.GetRouteRules() {
			for _, mr := range rr.GetMatchRules() {
				for _, hm := range mr.GetHeaderMatches() {
					if hm.GetHeaderName() == regionHeader {
						pinned[hm.GetExactMatch()] = relativeLink(rr.GetService())
					}
				}
			}
		}
	}
	return pinned
}

// routesCurrent reports whether um pins every region with a backend.
func routesCurrent(um *computepb.UrlMap, backends map[string]string) bool {
	pinned := pinnedRegions(um)
	if len(pinned) != len(backends) {
		return false
	}
	for region, link := range backends {
		if pinned[region] != link {
			return false
		}
	}
	return true
}

// patchURLMap sets the URL map's routes, weights and description (which
// carries the failover record); it returns the new fingerprint. The
// fingerprint sent is the one last read or written, so a change made by
// anyone else in between fails the patch (412 conditionNotMet).
func (r *relayFailoverGroupResource) patchURLMap(ctx context.Context, m *failoverGroupModel, backends map[string]string,
	weights map[string]int64, generation int64, desc *string, fingerprint string, diags *diag.Diagnostics) (string, bool) {
	name := m.Name.ValueString()
	body := urlMapBody(m, backends, weights, generation)
	body.Description = desc
	body.Fingerprint = proto.String(fingerprint)
	op, err := r.clients.Compute.URLMaps.Patch(ctx, &computepb.PatchUrlMapRequest{Project: m.Project.ValueString(), UrlMap: name, UrlMapResource: body})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		diags.AddError("Changing the weights of URL map "+name+" failed", r.conflictOr(gcpclient.APICompute, "URL map "+name, err))
		return fingerprint, false
	}
	// The patch's operation does not return the new fingerprint: read it,
	// and with it what is there, so a change made in between by someone
	// else is not taken for ours.
	um, ok := r.getURLMap(ctx, m, diags)
	if !ok {
		return fingerprint, false
	}
	got := weightsOf(um, m)
	for region := range backends {
		if got[region] != weights[region] || um.GetDescription() != body.GetDescription() {
			diags.AddError("Changing the weights of URL map "+name+" failed",
				fmt.Sprintf("Another apply (or someone else) changed URL map %s right after this apply's change: it now has the weights %v. "+
					"Run the plan again: it reads what is in place now.", name, got))
			return um.GetFingerprint(), false
		}
	}
	return um.GetFingerprint(), true
}

func (r *relayFailoverGroupResource) createURLMap(ctx context.Context, m *failoverGroupModel, backends map[string]string, weights map[string]int64,
	generation int64, diags *diag.Diagnostics) string {
	name := m.Name.ValueString()
	body := urlMapBody(m, backends, weights, generation)
	body.Name = proto.String(name)
	op, err := r.clients.Compute.URLMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: m.Project.ValueString(), UrlMapResource: body})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		diags.AddError("Creating URL map "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return ""
	}
	m.ID = types.StringValue(m.globalLink("urlMaps", name))
	um, _ := r.getURLMap(ctx, m, diags)
	return um.GetFingerprint()
}

// getOrInsert inserts an object unless it exists (the create preflight refused
// existing objects that are not agentnet's; on update an object the group
// holds is its own, imported or not).
func getOrInsert[T any](ctx context.Context, r *relayFailoverGroupResource, what string, get func(context.Context) (T, error),
	insert func(context.Context) (waiter, error), diags *diag.Diagnostics) (T, bool) {
	o, err := get(ctx)
	if err == nil {
		return o, true
	}
	if !gcpclient.IsNotFound(err) {
		diags.AddError("Reading "+what+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return o, false
	}
	op, err := insert(ctx)
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil && !isAlreadyExists(err) {
		diags.AddError("Creating "+what+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return o, false
	}
	if o, err = get(ctx); err != nil {
		diags.AddError("Reading "+what+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return o, false
	}
	return o, true
}

// ensureFrontDoor brings the HTTPS front door to the configuration: the
// address (given, or reserved as <name>-ip), the certificate, the target
// HTTPS proxy and the forwarding rule on port 443, and the HTTP-to-HTTPS
// redirect on port 80 of the same address. It sets front_door_url and
// ip_address.
func (r *relayFailoverGroupResource) ensureFrontDoor(ctx context.Context, m *failoverGroupModel, diags *diag.Diagnostics) {
	c := r.clients.Compute
	project, name, redirect := m.Project.ValueString(), m.Name.ValueString(), m.redirectName()

	// The address.
	addrLink := relativeLink(m.Address.ValueString())
	if addrLink == "" {
		n := m.addressName()
		addrLink = m.globalLink("addresses", n)
		if _, ok := getOrInsert(ctx, r, "global address "+n,
			func(ctx context.Context) (*computepb.Address, error) {
				return c.Addresses.Get(ctx, &computepb.GetGlobalAddressRequest{Project: project, Address: n})
			},
			func(ctx context.Context) (waiter, error) {
				return c.Addresses.Insert(ctx, &computepb.InsertGlobalAddressRequest{Project: project, AddressResource: &computepb.Address{
					Name: proto.String(n), Description: m.description(), AddressType: proto.String("EXTERNAL"), IpVersion: proto.String("IPV4")}})
			}, diags); !ok {
			return
		}
	} else if parts := strings.Split(addrLink, "/"); len(parts) == 5 {
		if _, err := c.Addresses.Get(ctx, &computepb.GetGlobalAddressRequest{Project: parts[1], Address: parts[4]}); err != nil {
			diags.AddAttributeError(path.Root("address"), "Address "+addrLink+" not usable", r.clients.Describe(gcpclient.APICompute, err))
			return
		}
	}

	// The certificate.
	certs, certMap, managed := m.tlsCerts(ctx)
	if managed != nil {
		n := linkName(certs[0])
		if _, ok := getOrInsert(ctx, r, "managed SSL certificate "+n,
			func(ctx context.Context) (*computepb.SslCertificate, error) {
				return c.SSLCertificates.Get(ctx, &computepb.GetSslCertificateRequest{Project: project, SslCertificate: n})
			},
			func(ctx context.Context) (waiter, error) {
				return c.SSLCertificates.Insert(ctx, &computepb.InsertSslCertificateRequest{Project: project, SslCertificateResource: &computepb.SslCertificate{
					Name: proto.String(n), Description: m.description(), Type: proto.String("MANAGED"),
					Managed: &computepb.SslCertificateManagedSslCertificate{Domains: managed}}})
			}, diags); !ok {
			return
		}
	}

	// The target HTTPS proxy, its certificates swapped when they changed.
	urlMapLink := m.globalLink("urlMaps", name)
	proxy, ok := getOrInsert(ctx, r, "target HTTPS proxy "+name,
		func(ctx context.Context) (*computepb.TargetHttpsProxy, error) {
			return c.TargetHTTPSProxies.Get(ctx, &computepb.GetTargetHttpsProxyRequest{Project: project, TargetHttpsProxy: name})
		},
		func(ctx context.Context) (waiter, error) {
			p := &computepb.TargetHttpsProxy{Name: proto.String(name), Description: m.description(), UrlMap: proto.String(urlMapLink), SslCertificates: certs}
			if certMap != "" {
				p.CertificateMap = proto.String(certMap)
			}
			return c.TargetHTTPSProxies.Insert(ctx, &computepb.InsertTargetHttpsProxyRequest{Project: project, TargetHttpsProxyResource: p})
		}, diags)
	if !ok {
		return
	}
	var have []string
	for _, l := range proxy.GetSslCertificates() {
		have = append(have, relativeLink(l))
	}
	if proxy.GetCertificateMap() != certMap || (certMap == "" && !slices.Equal(have, certs)) {
		op, err := c.TargetHTTPSProxies.Patch(ctx, &computepb.PatchTargetHttpsProxyRequest{Project: project, TargetHttpsProxy: name,
			TargetHttpsProxyResource: &computepb.TargetHttpsProxy{Fingerprint: proxy.Fingerprint, SslCertificates: certs, CertificateMap: proto.String(certMap)}})
		if err == nil {
			err = op.Wait(ctx)
		}
		if err == nil {
			proxy, err = c.TargetHTTPSProxies.Get(ctx, &computepb.GetTargetHttpsProxyRequest{Project: project, TargetHttpsProxy: name})
		}
		if err != nil {
			diags.AddError("Changing the certificates of target HTTPS proxy "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
			return
		}
	}
	// The group's managed certificates the proxy no longer lists go (with a
	// certificate map the proxy keeps, and ignores, its last list).
	if old, err := r.managedCerts(ctx, m, proxy.GetSslCertificates()); err == nil {
		r.deleteAll(ctx, old, diags)
	}

	// Port 443. A forwarding rule of the group's name that does not point
	// at the HTTPS proxy is the plain HTTP front door of an earlier version
	// (unmarked, as that version marked nothing): replaced, with its target
	// HTTP proxy, when that proxy serves the group's URL map. Anything else
	// of that name is someone else's.
	httpsLink := m.globalLink("targetHttpsProxies", name)
	if fr, err := c.ForwardingRules.Get(ctx, &computepb.GetGlobalForwardingRuleRequest{Project: project, ForwardingRule: name}); err == nil &&
		relativeLink(fr.GetTarget()) != httpsLink {
		old := slices.DeleteFunc(r.objects(m, nil), func(o owned) bool {
			return o.name != name || (o.kind != "Forwarding rule" && o.kind != "Target HTTP proxy")
		})
		p, err := c.TargetHTTPProxies.Get(ctx, &computepb.GetTargetHttpProxyRequest{Project: project, TargetHttpProxy: name})
		if err == nil && relativeLink(fr.GetTarget()) == m.globalLink("targetHttpProxies", name) && relativeLink(p.GetUrlMap()) == urlMapLink {
			for i := range old {
				old[i].get = nil // the group's own, marker or not
			}
		}
		r.deleteAll(ctx, old, diags)
		if diags.HasError() {
			return
		}
	}
	rule := func(n, target, port string) (*computepb.ForwardingRule, bool) {
		return getOrInsert(ctx, r, "forwarding rule "+n,
			func(ctx context.Context) (*computepb.ForwardingRule, error) {
				return c.ForwardingRules.Get(ctx, &computepb.GetGlobalForwardingRuleRequest{Project: project, ForwardingRule: n})
			},
			func(ctx context.Context) (waiter, error) {
				return c.ForwardingRules.Insert(ctx, &computepb.InsertGlobalForwardingRuleRequest{Project: project, ForwardingRuleResource: &computepb.ForwardingRule{
					Name: proto.String(n), Description: m.description(), Target: proto.String(target), IPAddress: proto.String(addrLink),
					PortRange: proto.String(port), LoadBalancingScheme: proto.String("EXTERNAL_MANAGED"), IPProtocol: proto.String("TCP"),
				}})
			}, diags)
	}
	fr, ok := rule(name, httpsLink, "443")
	if !ok {
		return
	}
	m.FrontDoorURL = types.StringValue(frontDoorURL(fr))
	m.IPAddress = types.StringValue(fr.GetIPAddress())

	// Port 80: every request redirected to HTTPS.
	if _, ok := getOrInsert(ctx, r, "URL map "+redirect,
		func(ctx context.Context) (*computepb.UrlMap, error) {
			return c.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: project, UrlMap: redirect})
		},
		func(ctx context.Context) (waiter, error) {
			return c.URLMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: project, UrlMapResource: &computepb.UrlMap{
				Name: proto.String(redirect), Description: m.description(),
				DefaultUrlRedirect: &computepb.HttpRedirectAction{HttpsRedirect: proto.Bool(true),
					RedirectResponseCode: proto.String("MOVED_PERMANENTLY_DEFAULT"), StripQuery: proto.Bool(false)},
			}})
		}, diags); !ok {
		return
	}
	if _, ok := getOrInsert(ctx, r, "target HTTP proxy "+redirect,
		func(ctx context.Context) (*computepb.TargetHttpProxy, error) {
			return c.TargetHTTPProxies.Get(ctx, &computepb.GetTargetHttpProxyRequest{Project: project, TargetHttpProxy: redirect})
		},
		func(ctx context.Context) (waiter, error) {
			return c.TargetHTTPProxies.Insert(ctx, &computepb.InsertTargetHttpProxyRequest{Project: project, TargetHttpProxyResource: &computepb.TargetHttpProxy{
				Name: proto.String(redirect), Description: m.description(), UrlMap: proto.String(m.globalLink("urlMaps", redirect))}})
		}, diags); !ok {
		return
	}
	rule(redirect, m.globalLink("targetHttpProxies", redirect), "80")
}

// read refreshes m from the load balancer and the services' scaling (looked
// frontDoorURL turns the forwarding rule's address into the URL agents use:
// https (port 443 implied), or http for the plain front door of an earlier
// version, which the next apply replaces.
func frontDoorURL(fr *computepb.ForwardingRule) string {
	scheme, std := "https", "443"
	if strings.Contains(fr.GetTarget(), "/targetHttpProxies/") {
		scheme, std = "http", "80"
	}
	port, _, _ := strings.Cut(fr.GetPortRange(), "-")
	if port == "" || port == std {
		return scheme + "://" + fr.GetIPAddress()
	}
	return fmt.Sprintf("%s://%s:%s", scheme, fr.GetIPAddress(), port)
}

// deleteAll deletes objects in order; one without agentnet's marker is left
// in place, with an error saying why.
func (r *relayFailoverGroupResource) deleteAll(ctx context.Context, objs []owned, diags *diag.Diagnostics) {
	for _, o := range objs {
		r.deleteOne(ctx, o, diags)
	}
}

// deleteOne deletes one object within regionCallTimeout, so a region that
// does not answer is reported rather than waited on.
func (r *relayFailoverGroupResource) deleteOne(ctx context.Context, o owned, diags *diag.Diagnostics) {
	ctx, cancel := context.WithTimeout(ctx, regionCallTimeout)
	defer cancel()
	if o.get != nil {
		desc, err := o.get(ctx)
		if gcpclient.IsNotFound(err) {
			return
		}
		if err != nil {
			diags.AddError("Reading "+strings.ToLower(o.kind)+" "+o.name+" failed", r.clients.Describe(gcpclient.APICompute, err))
			return
		}
		if !ownedByDescription(desc) {
			diags.AddError(o.kind+" "+o.name+" left in place", notOursDeleteError(o.kind, o.name))
			return
		}
	}
	op, err := o.del(ctx)
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil && !gcpclient.IsNotFound(err) {
		diags.AddError("Deleting "+strings.ToLower(o.kind)+" "+o.name+" failed", r.clients.Describe(gcpclient.APICompute, err))
	}
}

func (r *relayFailoverGroupResource) deleteLoadBalancer(ctx context.Context, m *failoverGroupModel, diags *diag.Diagnostics) {
	objs := r.objects(m, m.specs())
	certs, err := r.managedCerts(ctx, m, nil)
	if err != nil {
		diags.AddError("Listing SSL certificates failed", r.clients.Describe(gcpclient.APICompute, err))
	}
	// Certificates go once the proxy that uses them is gone.
	i := slices.IndexFunc(objs, func(o owned) bool { return o.kind == "URL map" })
	objs = slices.Concat(objs[:i], certs, objs[i:])
	r.deleteAll(ctx, objs, diags)
}

func isAlreadyExists(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusConflict
}

// isConflict tells whether err refuses a change made from a stale read: a
// Compute Engine fingerprint that no longer matches (412 conditionNotMet)
// or a Cloud Run etag that does not (ABORTED).
func isConflict(err error) bool {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code == http.StatusPreconditionFailed
	}
	return status.Code(err) == codes.Aborted
}

// conflictOr describes err; a conflict says that another apply (or
// someone else) changed what, which this apply then left as it found it.
func (r *relayFailoverGroupResource) conflictOr(api, what string, err error) string {
	if isConflict(err) {
		return fmt.Sprintf("Another apply (or someone else) changed %s since this apply read it, so this apply's change was refused and not made: %s. "+
			"Run the plan again: it reads what is in place now.", what, r.clients.Describe(api, err))
	}
	return r.clients.Describe(api, err)
}
