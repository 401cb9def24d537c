package resources

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/googleapis/gax-go/v2"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// The failover group's apply: the Region Failover procedure in its safe
// order, and the load balancer plumbing it manages.

var objectAsOptions = basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true}

// regionCallTimeout bounds one regional API call, so an apply during an
// outage reports the region instead of hanging on it.
const regionCallTimeout = 2 * time.Minute

// regionHeader pins a request to one region: the group's URL map routes it
// to that region's backend service only, whatever the weights.
const regionHeader = "X-Agentnet-Region"

// prober runs health checks through the front door, pinned to one region.
type prober struct {
	url        string
	token      string
	timeout    time.Duration
	roots      *x509.CertPool
	serverName string
}

// newProber checks through m's front door, trusting the system's roots
// (and localcloud's CA when the provider talks to localcloud). The front
// door is reached by its IP address, so the certificate is verified against
// the name it was made for: tls.server_name, else the first managed domain,
// else the first name of the first certificate.
func (r *relayFailoverGroupResource) newProber(ctx context.Context, m *failoverGroupModel) (*prober, error) {
	roots, err := r.clients.FrontDoorRoots(ctx)
	if err != nil {
		return nil, err
	}
	p := &prober{url: m.FrontDoorURL.ValueString(), token: m.HealthCheck.Token.ValueString(), timeout: m.healthTimeout(), roots: roots}
	certs, _, managed := m.tlsCerts(ctx)
	switch {
	case m.TLS != nil && m.TLS.ServerName.ValueString() != "":
		p.serverName = m.TLS.ServerName.ValueString()
	case len(managed) > 0:
		p.serverName = managed[0]
	case len(certs) > 0:
		if parts := strings.Split(certs[0], "/"); len(parts) == 5 {
			cert, err := r.clients.Compute.SSLCertificates.Get(ctx, &computepb.GetSslCertificateRequest{Project: parts[1], SslCertificate: parts[4]})
			if err == nil && len(cert.GetSubjectAlternativeNames()) > 0 {
				p.serverName = cert.GetSubjectAlternativeNames()[0]
			}
		}
	}
	return p, nil
}

func (p *prober) probe(ctx context.Context, region string) error {
	if p.url == "" {
		return errors.New("the front door has no address yet")
	}
	_, err := probeRelay(ctx, p.url, p.token, p.timeout, p.roots, p.serverName, region)
	return err
}

// probeRegions health-checks every region that could take traffic, in
// parallel, through the front door, and returns why each unhealthy one
// failed. A region whose Cloud Run API does not answer is unhealthy for
// that reason. A group without a front door yet (being created) is not
// probed: the apply's health gate decides.
func (r *relayFailoverGroupResource) probeRegions(ctx context.Context, m *failoverGroupModel, specs []regionSpec) map[string]string {
	returning := map[string]bool{}
	if prior := m.EffectiveWeights; !prior.IsNull() && !prior.IsUnknown() {
		for region, w := range int64Map(prior) {
			returning[region] = w == 0
		}
	}
	var candidates []regionSpec
	for _, s := range specs {
		if s.State == regionActive && s.Weight > 0 {
			candidates = append(candidates, s)
		}
	}
	services, unhealthy := r.lookupServices(ctx, candidates)
	if m.FrontDoorURL.IsNull() || m.FrontDoorURL.IsUnknown() || m.FrontDoorURL.ValueString() == "" {
		return unhealthy
	}
	// Only a region the URL map pins can be probed alone; one new to the
	// group gets its route in the apply, which checks it before traffic.
	var diags diag.Diagnostics
	if um, exists := r.getURLMap(ctx, m, &diags); exists {
		pinned := pinnedRegions(um)
		for region := range services {
			if _, ok := pinned[region]; !ok {
				delete(services, region)
			}
		}
	}
	p, err := r.newProber(ctx, m)
	if err != nil {
		for region := range services {
			unhealthy[region] = err.Error()
		}
		return unhealthy
	}
	for region, why := range r.probeServices(ctx, m, p, slices.Collect(maps.Keys(services)), func(region string) int64 {
		if returning[region] {
			return m.HealthCheck.HealthyThreshold.ValueInt64()
		}
		return 1
	}) {
		unhealthy[region] = why
	}
	return unhealthy
}

// probeServices probes the regions through the front door in parallel; it
// returns the failures.
func (r *relayFailoverGroupResource) probeServices(ctx context.Context, m *failoverGroupModel, p *prober, regions []string, needOK func(string) int64) map[string]string {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]string{}
	for _, region := range regions {
		wg.Go(func() {
			if why := r.probeRegion(ctx, m, p, region, needOK(region)); why != "" {
				mu.Lock()
				out[region] = why
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// probeRegion probes one region until it has needOK consecutive successes
// (healthy) or unhealthy_threshold consecutive failures; it returns why it
// is unhealthy, or "".
func (r *relayFailoverGroupResource) probeRegion(ctx context.Context, m *failoverGroupModel, p *prober, region string, needOK int64) string {
	maxFail := m.HealthCheck.UnhealthyThreshold.ValueInt64()
	var ok, failed int64
	var last error
	for ok < needOK && failed < maxFail {
		if err := p.probe(ctx, region); err != nil {
			failed, ok, last = failed+1, 0, err
		} else {
			ok, failed = ok+1, 0
		}
	}
	if ok >= needOK {
		return ""
	}
	return last.Error()
}

// apply brings the load balancer and the relay services to the plan, in the
// procedure's order. On return m holds what is really in place.
func (r *relayFailoverGroupResource) apply(ctx context.Context, m *failoverGroupModel, create bool, diags *diag.Diagnostics) {
	specs := m.specs()
	if create {
		// Before anything changes: never take over what agentnet did not
		// create.
		r.refuseForeign(ctx, m, specs, diags)
		if diags.HasError() {
			return
		}
	}
	if m.EffectiveWeights.IsUnknown() || m.EffectiveWeights.IsNull() {
		// Services were unknown at plan time: decide now.
		unhealthy := map[string]string{}
		if m.AutomaticFailover.ValueBool() {
			unhealthy = r.probeRegions(ctx, m, specs)
		}
		targets, d := m.decide(nil, unhealthy)
		diags.Append(d...)
		if diags.HasError() {
			return
		}
		diags.Append(m.setTargets(ctx, targets)...)
	}
	target := int64Map(m.EffectiveWeights)
	mins := int64Map(m.MinInstances)
	sick := map[string]bool{}
	for _, v := range m.UnhealthyRegions.Elements() {
		sick[v.(types.String).ValueString()] = true
	}
	phase := newPhaseClock(ctx)

	// The services, looked up once. A region whose API does not answer is
	// reported and left alone: the global URL map change still happens. A
	// region that is to take traffic is asked even if the plan found its
	// API out: the plan's finding only spares waiting on a region the apply
	// takes traffic from.
	for region, w := range target {
		if w > 0 {
			r.clients.CheckRegion(region)
		}
	}
	services, unavailable := r.lookupServices(ctx, specs)
	for region, err := range unavailable {
		if target[region] > 0 {
			diags.AddAttributeError(path.Root("regions"), "Region "+region+" unavailable",
				fmt.Sprintf("%s would take traffic but its Cloud Run API does not answer: %s", region, err))
		} else {
			diags.AddWarning("Region "+region+" unavailable", fmt.Sprintf("Leaving %s as it is: %s", region, err))
		}
	}
	if diags.HasError() {
		return
	}

	// 1. Load balancer plumbing: a serverless NEG and a backend service per
	// region that can be reached.
	backends := r.ensureBackends(ctx, m, specs, unavailable, target, diags)
	if diags.HasError() {
		return
	}
	um, exists := r.getURLMap(ctx, m, diags)
	if diags.HasError() {
		return
	}
	current, fingerprint := weightsOf(um, m), um.GetFingerprint()

	// 2. Capacity first: raise minimum instances where traffic will go and
	// wait until the instances are ready.
	if m.Capacity != nil {
		r.scaleRegions(ctx, services, func(region string, cur int64) bool { return target[region] > 0 && mins[region] > cur }, mins, false, diags)
	}
	phase.done("capacity")

	// 3. The health gate goes through the front door, pinned to each region
	// by the URL map's route rules, so the URL map and the front door must
	// exist first. A new group's URL map starts at its target weights: no
	// agent knows its address before the apply ends. An existing one only
	// gets the route rules of new regions here; its weights wait for the
	// gate.
	ramp, soak := m.reintroduction(ctx)
	first := map[string]int64{}
	var returning []string
	for _, s := range specs {
		w := target[s.Region]
		first[s.Region] = w
		if w > 0 && exists && current[s.Region] == 0 && len(ramp.Steps) > 1 {
			first[s.Region] = rampWeights(w, ramp.Steps)[0]
			returning = append(returning, s.Region)
		}
	}
	switch {
	case !exists:
		fingerprint = r.createURLMap(ctx, m, backends, first, diags)
	case !routesCurrent(um, backends):
		fingerprint = r.patchURLMap(ctx, m, backends, current, fingerprint, diags)
	}
	if diags.HasError() {
		return
	}
	r.ensureFrontDoor(ctx, m, diags)
	if diags.HasError() {
		return
	}
	p, err := r.newProber(ctx, m)
	if err != nil {
		diags.AddError("No trusted roots for the front door", err.Error())
		return
	}
	var gate []string
	for region := range services {
		if target[region] > 0 {
			gate = append(gate, region)
		}
	}
	failed := r.probeServices(ctx, m, p, gate, func(string) int64 { return 1 })
	hint := ""
	if len(failed) > 0 {
		hint = r.certificateHint(ctx, m)
	}
	for region, why := range failed {
		why += hint
		msg := fmt.Sprintf("%s would take traffic but its health check through the front door failed: %s. No weight was changed.", region, why)
		if !exists {
			msg = fmt.Sprintf("%s failed its health check through the new front door: %s. The load balancer's objects are in place "+
				"(marked as agentnet's); the next apply takes them over and checks again.", region, why)
		}
		diags.AddAttributeError(path.Root("regions"), "Health gate failed for "+region, msg)
	}
	if diags.HasError() {
		if !exists { // not recorded: the next create adopts the marked objects
			m.ID = types.StringUnknown()
		}
		return
	}
	phase.done("health_gate")

	// 4. Weights. A region that comes back starts at its first ramp step.
	if exists {
		fingerprint = r.patchURLMap(ctx, m, backends, first, fingerprint, diags)
	}
	if diags.HasError() {
		return
	}
	applied := first
	phase.done("url_map")

	// 5. Ramp returning regions, probing through each soak; a failure rolls
	// the region back to 0.
	for _, region := range returning {
		steps := rampWeights(target[region], ramp.Steps)
		for i := range steps {
			if i > 0 {
				applied = withWeight(applied, region, steps[i])
				fingerprint = r.patchURLMap(ctx, m, backends, applied, fingerprint, diags)
				if diags.HasError() {
					break
				}
			}
			if why := r.soak(ctx, m, p, region, soak); why != "" {
				applied = withWeight(applied, region, 0)
				fingerprint = r.patchURLMap(ctx, m, backends, applied, fingerprint, diags)
				diags.AddAttributeError(path.Root("regions"), "Region "+region+" rolled back",
					fmt.Sprintf("%s failed its health check at weight %d during the reintroduction soak (%s); it was rolled back to weight 0.", region, steps[i], why))
				break
			}
		}
	}
	phase.done("ramp")

	// 6. Agents still connected to regions that lost their traffic are told
	// to reconnect (through the front door, to the regions that have it),
	// after the grace period: a new revision whose old instances close
	// their connections with going-away.
	var drained []string
	for _, s := range specs {
		if applied[s.Region] == 0 && current[s.Region] > 0 && services[s.Region] != nil {
			drained = append(drained, s.Region)
		}
	}
	if len(drained) > 0 && !create {
		if err := r.sleep(ctx, m.drainGrace()); err != nil {
			diags.AddError("Interrupted during the drain grace period", err.Error())
			return
		}
		r.scaleRegions(ctx, services, func(region string, _ int64) bool { return slices.Contains(drained, region) }, mins, true, diags)
	}
	phase.done("reconnect")

	// 7. Return capacity to the plan everywhere else (lower it in regions
	// that take traffic, baseline in the rest).
	if m.Capacity != nil {
		r.scaleRegions(ctx, services, func(region string, cur int64) bool {
			return !slices.Contains(drained, region) && mins[region] != cur
		}, mins, false, diags)
	}
	phase.done("capacity_return")

	diags.Append(m.setApplied(ctx, applied, sick)...)
	_, d := r.read(ctx, m, services)
	diags.Append(d...)
}

// lookupServices reads every region's service.
func (r *relayFailoverGroupResource) lookupServices(ctx context.Context, specs []regionSpec) (map[string]*runpb.Service, map[string]string) {
	services, unavailable := map[string]*runpb.Service{}, map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range specs {
		wg.Go(func() {
			callCtx, cancel := context.WithTimeout(ctx, regionCallTimeout)
			defer cancel()
			svc, err := r.clients.Run.GetService(callCtx, &runpb.GetServiceRequest{Name: s.Service})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unavailable[s.Region] = r.clients.Describe(gcpclient.APIRun, err)
				return
			}
			services[s.Region] = svc
		})
	}
	wg.Wait()
	return services, unavailable
}

// scaleRegions sets the minimum instances of the selected regions'
// services, in parallel, and waits until each is serving. redeploy also
// rolls a new revision, so the old instances close their connections.
func (r *relayFailoverGroupResource) scaleRegions(ctx context.Context, services map[string]*runpb.Service,
	selected func(region string, current int64) bool, mins map[string]int64, redeploy bool, diags *diag.Diagnostics) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for region, svc := range services {
		cur := int64(svc.GetScaling().GetMinInstanceCount())
		if !selected(region, cur) {
			continue
		}
		want, ok := mins[region]
		if !ok {
			want = cur
		}
		// The group never raises a service's maximum: that is the service's
		// own setting. Capacity it cannot place is reported.
		if limit := int64(svc.GetScaling().GetMaxInstanceCount()); limit > 0 && want > limit {
			diags.AddWarning("Capacity of "+region+" capped at max_instances",
				fmt.Sprintf("The capacity plan gives %s %d minimum instances but its max_instances is %d; raise max_instances of its relay service to place them.", region, want, limit))
			want = limit
			if want == cur {
				continue
			}
		}
		wg.Go(func() {
			updated, err := r.updateScaling(ctx, svc, want, redeploy)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				diags.AddWarning("Scaling "+region+" failed", r.clients.Describe(gcpclient.APIRun, err))
				return
			}
			services[region] = updated
		})
	}
	wg.Wait()
}

func (r *relayFailoverGroupResource) updateScaling(ctx context.Context, svc *runpb.Service, min int64, redeploy bool) (*runpb.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, regionCallTimeout)
	defer cancel()
	s := proto.Clone(svc).(*runpb.Service)
	if s.Scaling == nil {
		s.Scaling = &runpb.ServiceScaling{}
	}
	s.Scaling.MinInstanceCount = int32(min)
	if redeploy {
		if s.Template.Annotations == nil {
			s.Template.Annotations = map[string]string{}
		}
		s.Template.Annotations[annotationRedeploy] = time.Now().UTC().Format(time.RFC3339Nano)
	}
	op, err := r.clients.Run.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: s})
	if err != nil {
		return nil, err
	}
	return gcpclient.Wait(ctx, op)
}

// soak holds a returning region at its current step, probing it.
func (r *relayFailoverGroupResource) soak(ctx context.Context, m *failoverGroupModel, p *prober, region string, soak time.Duration) string {
	deadline := time.Now().Add(soak)
	for {
		if why := r.probeRegion(ctx, m, p, region, 1); why != "" {
			return why
		}
		left := time.Until(deadline)
		if left <= 0 {
			return ""
		}
		if err := r.sleep(ctx, min(left, time.Second)); err != nil {
			return err.Error()
		}
	}
}

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
	unavailable map[string]string, target map[string]int64, diags *diag.Diagnostics) map[string]string {
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
// region's backend service only (health checks), ahead of it.
func urlMapBody(m *failoverGroupModel, backends map[string]string, weights map[string]int64) *computepb.UrlMap {
	pm := &computepb.PathMatcher{Name: proto.String(regionsMatcher), DefaultRouteAction: routeAction(backends, weights)}
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

// patchURLMap sets the URL map's routes and weights; it returns the new
// fingerprint.
func (r *relayFailoverGroupResource) patchURLMap(ctx context.Context, m *failoverGroupModel, backends map[string]string,
	weights map[string]int64, fingerprint string, diags *diag.Diagnostics) string {
	name := m.Name.ValueString()
	body := urlMapBody(m, backends, weights)
	body.Fingerprint = proto.String(fingerprint)
	op, err := r.clients.Compute.URLMaps.Patch(ctx, &computepb.PatchUrlMapRequest{Project: m.Project.ValueString(), UrlMap: name, UrlMapResource: body})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		diags.AddError("Changing the weights of URL map "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return fingerprint
	}
	um, _ := r.getURLMap(ctx, m, diags)
	return um.GetFingerprint()
}

func (r *relayFailoverGroupResource) createURLMap(ctx context.Context, m *failoverGroupModel, backends map[string]string, weights map[string]int64, diags *diag.Diagnostics) string {
	name := m.Name.ValueString()
	body := urlMapBody(m, backends, weights)
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
// up when services is nil); false when the URL map is gone.
func (r *relayFailoverGroupResource) read(ctx context.Context, m *failoverGroupModel, services map[string]*runpb.Service) (bool, diag.Diagnostics) {
	var diags diag.Diagnostics
	um, exists := r.getURLMap(ctx, m, &diags)
	if diags.HasError() || !exists {
		return exists, diags
	}
	weights := weightsOf(um, m)
	if len(m.Regions) > 0 { // only the declared regions
		declared := map[string]int64{}
		for _, s := range m.specs() {
			declared[s.Region] = weights[s.Region]
		}
		weights = declared
	}
	var d diag.Diagnostics
	m.EffectiveWeights, d = types.MapValueFrom(ctx, types.Int64Type, weights)
	diags.Append(d...)
	m.ID = types.StringValue(m.globalLink("urlMaps", m.Name.ValueString()))
	m.URLMap = m.ID
	fr, err := r.clients.Compute.ForwardingRules.Get(ctx, &computepb.GetGlobalForwardingRuleRequest{Project: m.Project.ValueString(), ForwardingRule: m.Name.ValueString()})
	if err == nil {
		m.FrontDoorURL = types.StringValue(frontDoorURL(fr))
		m.IPAddress = types.StringValue(fr.GetIPAddress())
	} else if !gcpclient.IsNotFound(err) {
		diags.AddError("Reading forwarding rule failed", r.clients.Describe(gcpclient.APICompute, err))
	}
	if m.FrontDoorURL.IsUnknown() {
		m.FrontDoorURL = types.StringValue("")
	}
	if m.IPAddress.IsUnknown() {
		m.IPAddress = types.StringValue("")
	}
	if services == nil && (m.AutomaticFailover.ValueBool() || len(m.MinInstances.Elements()) > 0) {
		// A refresh also finds the regions whose API is out, for the plan
		// and (through private state) its apply.
		services, _ = r.lookupServices(ctx, m.specs())
	}
	if m.MinInstances.IsUnknown() || m.MinInstances.IsNull() {
		m.MinInstances = types.MapValueMust(types.Int64Type, map[string]attr.Value{})
	} else if len(m.MinInstances.Elements()) > 0 {
		// Capacity is the group's: a minimum changed outside Terraform is
		// drift. A region that does not answer keeps its last known value.
		mins := int64Map(m.MinInstances)
		for region, svc := range services {
			if _, managed := mins[region]; managed {
				mins[region] = int64(svc.GetScaling().GetMinInstanceCount())
			}
		}
		m.MinInstances, d = types.MapValueFrom(ctx, types.Int64Type, mins)
		diags.Append(d...)
	}
	if m.UnhealthyRegions.IsUnknown() || m.UnhealthyRegions.IsNull() {
		m.UnhealthyRegions = types.ListValueMust(types.StringType, []attr.Value{})
	}
	return true, diags
}

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

// setApplied records the weights really applied (a rollback may differ from
// the plan).
func (m *failoverGroupModel) setApplied(ctx context.Context, applied map[string]int64, sick map[string]bool) diag.Diagnostics {
	var diags diag.Diagnostics
	var d diag.Diagnostics
	m.EffectiveWeights, d = types.MapValueFrom(ctx, types.Int64Type, applied)
	diags.Append(d...)
	var names []string
	for region := range sick {
		names = append(names, region)
	}
	sort.Strings(names)
	if names == nil {
		names = []string{}
	}
	m.UnhealthyRegions, d = types.ListValueFrom(ctx, types.StringType, names)
	diags.Append(d...)
	return diags
}

func int64Map(v types.Map) map[string]int64 {
	out := map[string]int64{}
	for k, e := range v.Elements() {
		if n, ok := e.(types.Int64); ok {
			out[k] = n.ValueInt64()
		}
	}
	return out
}

func withWeight(weights map[string]int64, region string, w int64) map[string]int64 {
	out := maps.Clone(weights)
	out[region] = w
	return out
}

func isAlreadyExists(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusConflict
}

// phaseClock logs how long each phase of the apply took.
type phaseClock struct {
	ctx  context.Context
	last time.Time
}

func newPhaseClock(ctx context.Context) *phaseClock { return &phaseClock{ctx: ctx, last: time.Now()} }

func (p *phaseClock) done(phase string) {
	now := time.Now()
	tflog.Info(p.ctx, "failover phase done", map[string]any{"phase": phase, "ms": now.Sub(p.last).Milliseconds()})
	p.last = now
}
