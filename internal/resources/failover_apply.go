package resources

import (
	"context"
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
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// The failover group's apply: the Region Failover procedure in its safe
// order, and the load balancer plumbing it manages.

var objectAsOptions = basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true}

// regionCallTimeout bounds one regional API call, so an apply during an
// outage reports the region instead of hanging on it.
const regionCallTimeout = 2 * time.Minute

// probeRegions health-checks every region that could take traffic, in
// parallel, and returns why each unhealthy one failed. A region whose Cloud
// Run API does not answer is unhealthy for that reason.
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
	for region, why := range r.probeServices(ctx, m, services, func(region string) int64 {
		if returning[region] {
			return m.HealthCheck.HealthyThreshold.ValueInt64()
		}
		return 1
	}) {
		unhealthy[region] = why
	}
	return unhealthy
}

// probeServices probes each service's URL in parallel; it returns the
// failures.
func (r *relayFailoverGroupResource) probeServices(ctx context.Context, m *failoverGroupModel, services map[string]*runpb.Service, needOK func(string) int64) map[string]string {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]string{}
	for region, svc := range services {
		wg.Go(func() {
			if why := r.probeURL(ctx, m, svc.GetUri(), needOK(region)); why != "" {
				mu.Lock()
				out[region] = why
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// probeURL probes a relay until it has needOK consecutive successes
// (healthy) or unhealthy_threshold consecutive failures; it returns why it
// is unhealthy, or "".
func (r *relayFailoverGroupResource) probeURL(ctx context.Context, m *failoverGroupModel, url string, needOK int64) string {
	if url == "" {
		return "the service has no URL yet"
	}
	maxFail := m.HealthCheck.UnhealthyThreshold.ValueInt64()
	var ok, failed int64
	var last error
	for ok < needOK && failed < maxFail {
		if _, err := probeRelay(ctx, url, m.HealthCheck.Token.ValueString(), m.healthTimeout()); err != nil {
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
	// reported and left alone: the global URL map change still happens.
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
	current, fingerprint, exists := r.urlMapWeights(ctx, m, diags)
	if diags.HasError() {
		return
	}

	// 2. Capacity first: raise minimum instances where traffic will go and
	// wait until the instances are ready.
	if m.Capacity != nil {
		r.scaleRegions(ctx, services, func(region string, cur int64) bool { return target[region] > 0 && mins[region] > cur }, mins, false, diags)
	}
	phase.done("capacity")

	// 3. Health gate: every region that will receive traffic must pass.
	gate := map[string]*runpb.Service{}
	for region, svc := range services {
		if target[region] > 0 {
			gate[region] = svc
		}
	}
	for region, why := range r.probeServices(ctx, m, gate, func(string) int64 { return 1 }) {
		diags.AddAttributeError(path.Root("regions"), "Health gate failed for "+region,
			fmt.Sprintf("%s would take traffic but its health check failed: %s. No weight was changed.", region, why))
	}
	if diags.HasError() {
		return
	}
	phase.done("health_gate")

	// 4. Weights. A region that comes back starts at its first ramp step.
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
	if exists {
		fingerprint = r.patchWeights(ctx, m, backends, first, fingerprint, diags)
	} else {
		r.createURLMap(ctx, m, backends, first, diags)
	}
	if diags.HasError() {
		return
	}
	applied := first
	phase.done("url_map")
	if !exists {
		r.ensureFrontDoor(ctx, m, diags)
		if diags.HasError() {
			return
		}
	}

	// 5. Ramp returning regions, probing through each soak; a failure rolls
	// the region back to 0.
	for _, region := range returning {
		url := services[region].GetUri()
		steps := rampWeights(target[region], ramp.Steps)
		for i := range steps {
			if i > 0 {
				applied = withWeight(applied, region, steps[i])
				fingerprint = r.patchWeights(ctx, m, backends, applied, fingerprint, diags)
				if diags.HasError() {
					break
				}
			}
			if why := r.soak(ctx, m, url, soak); why != "" {
				applied = withWeight(applied, region, 0)
				fingerprint = r.patchWeights(ctx, m, backends, applied, fingerprint, diags)
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
func (r *relayFailoverGroupResource) soak(ctx context.Context, m *failoverGroupModel, url string, soak time.Duration) string {
	deadline := time.Now().Add(soak)
	for {
		if why := r.probeURL(ctx, m, url, 1); why != "" {
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

// Load balancer resource names.
func (m *failoverGroupModel) backendName(region string) string {
	return m.Name.ValueString() + "-" + region
}

func (m *failoverGroupModel) globalLink(kind, name string) string {
	return fmt.Sprintf("projects/%s/global/%s/%s", m.Project.ValueString(), kind, name)
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

// urlMapWeights reads the URL map's weight per region.
func (r *relayFailoverGroupResource) urlMapWeights(ctx context.Context, m *failoverGroupModel, diags *diag.Diagnostics) (map[string]int64, string, bool) {
	um, err := r.clients.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: m.Project.ValueString(), UrlMap: m.Name.ValueString()})
	if gcpclient.IsNotFound(err) {
		return map[string]int64{}, "", false
	}
	if err != nil {
		diags.AddError("Reading URL map "+m.Name.ValueString()+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return nil, "", false
	}
	weights := map[string]int64{}
	prefix := m.Name.ValueString() + "-"
	for _, wb := range um.GetDefaultRouteAction().GetWeightedBackendServices() {
		name := wb.GetBackendService()[strings.LastIndex(wb.GetBackendService(), "/")+1:]
		weights[strings.TrimPrefix(name, prefix)] = int64(wb.GetWeight())
	}
	return weights, um.GetFingerprint(), true
}

func routeAction(backends map[string]string, weights map[string]int64) *computepb.HttpRouteAction {
	regions := make([]string, 0, len(backends))
	for region := range backends {
		regions = append(regions, region)
	}
	sort.Strings(regions)
	ra := &computepb.HttpRouteAction{}
	for _, region := range regions {
		ra.WeightedBackendServices = append(ra.WeightedBackendServices, &computepb.WeightedBackendService{
			BackendService: proto.String(backends[region]), Weight: proto.Uint32(uint32(weights[region])),
		})
	}
	return ra
}

func (r *relayFailoverGroupResource) patchWeights(ctx context.Context, m *failoverGroupModel, backends map[string]string,
	weights map[string]int64, fingerprint string, diags *diag.Diagnostics) string {
	name := m.Name.ValueString()
	op, err := r.clients.Compute.URLMaps.Patch(ctx, &computepb.PatchUrlMapRequest{
		Project: m.Project.ValueString(), UrlMap: name,
		UrlMapResource: &computepb.UrlMap{Fingerprint: proto.String(fingerprint), DefaultRouteAction: routeAction(backends, weights)},
	})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		diags.AddError("Changing the weights of URL map "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return fingerprint
	}
	_, fp, _ := r.urlMapWeights(ctx, m, diags)
	return fp
}

func (r *relayFailoverGroupResource) createURLMap(ctx context.Context, m *failoverGroupModel, backends map[string]string, weights map[string]int64, diags *diag.Diagnostics) {
	name := m.Name.ValueString()
	op, err := r.clients.Compute.URLMaps.Insert(ctx, &computepb.InsertUrlMapRequest{
		Project:        m.Project.ValueString(),
		UrlMapResource: &computepb.UrlMap{Name: proto.String(name), DefaultRouteAction: routeAction(backends, weights)},
	})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		diags.AddError("Creating URL map "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return
	}
	m.ID = types.StringValue(m.globalLink("urlMaps", name))
}

// ensureFrontDoor creates the target proxy and forwarding rule.
func (r *relayFailoverGroupResource) ensureFrontDoor(ctx context.Context, m *failoverGroupModel, diags *diag.Diagnostics) {
	project, name := m.Project.ValueString(), m.Name.ValueString()
	op, err := r.clients.Compute.TargetHTTPProxies.Insert(ctx, &computepb.InsertTargetHttpProxyRequest{
		Project: project, TargetHttpProxyResource: &computepb.TargetHttpProxy{Name: proto.String(name), UrlMap: proto.String(m.globalLink("urlMaps", name))},
	})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil && !isAlreadyExists(err) {
		diags.AddError("Creating target HTTP proxy "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
		return
	}
	op, err = r.clients.Compute.ForwardingRules.Insert(ctx, &computepb.InsertGlobalForwardingRuleRequest{
		Project: project, ForwardingRuleResource: &computepb.ForwardingRule{
			Name: proto.String(name), Target: proto.String(m.globalLink("targetHttpProxies", name)),
			PortRange: proto.String("80"), LoadBalancingScheme: proto.String("EXTERNAL_MANAGED"), IPProtocol: proto.String("TCP"),
		},
	})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil && !isAlreadyExists(err) {
		diags.AddError("Creating forwarding rule "+name+" failed", r.clients.Describe(gcpclient.APICompute, err))
	}
}

// read refreshes m from the load balancer and the services' scaling (looked
// up when services is nil); false when the URL map is gone.
func (r *relayFailoverGroupResource) read(ctx context.Context, m *failoverGroupModel, services map[string]*runpb.Service) (bool, diag.Diagnostics) {
	var diags diag.Diagnostics
	weights, _, exists := r.urlMapWeights(ctx, m, &diags)
	if diags.HasError() || !exists {
		return exists, diags
	}
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
	} else if !gcpclient.IsNotFound(err) {
		diags.AddError("Reading forwarding rule failed", r.clients.Describe(gcpclient.APICompute, err))
	}
	if m.FrontDoorURL.IsUnknown() {
		m.FrontDoorURL = types.StringValue("")
	}
	if m.MinInstances.IsUnknown() || m.MinInstances.IsNull() {
		m.MinInstances = types.MapValueMust(types.Int64Type, map[string]attr.Value{})
	} else if len(m.MinInstances.Elements()) > 0 {
		// Capacity is the group's: a minimum changed outside Terraform is
		// drift. A region that does not answer keeps its last known value.
		mins := int64Map(m.MinInstances)
		if services == nil {
			services, _ = r.lookupServices(ctx, m.specs())
		}
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

// frontDoorURL turns a forwarding rule's address into the URL agents use.
func frontDoorURL(fr *computepb.ForwardingRule) string {
	port, _, _ := strings.Cut(fr.GetPortRange(), "-")
	if port == "" || port == "80" {
		return "http://" + fr.GetIPAddress()
	}
	return fmt.Sprintf("http://%s:%s", fr.GetIPAddress(), port)
}

func (r *relayFailoverGroupResource) deleteLoadBalancer(ctx context.Context, m *failoverGroupModel, diags *diag.Diagnostics) {
	project, name := m.Project.ValueString(), m.Name.ValueString()
	wait := func(what string, op interface {
		Wait(context.Context, ...gax.CallOption) error
	}, err error) {
		if err == nil {
			err = op.Wait(ctx)
		}
		if err != nil && !gcpclient.IsNotFound(err) {
			diags.AddError("Deleting "+what+" failed", r.clients.Describe(gcpclient.APICompute, err))
		}
	}
	op1, err := r.clients.Compute.ForwardingRules.Delete(ctx, &computepb.DeleteGlobalForwardingRuleRequest{Project: project, ForwardingRule: name})
	wait("forwarding rule "+name, op1, err)
	op2, err := r.clients.Compute.TargetHTTPProxies.Delete(ctx, &computepb.DeleteTargetHttpProxyRequest{Project: project, TargetHttpProxy: name})
	wait("target HTTP proxy "+name, op2, err)
	op3, err := r.clients.Compute.URLMaps.Delete(ctx, &computepb.DeleteUrlMapRequest{Project: project, UrlMap: name})
	wait("URL map "+name, op3, err)
	for _, s := range m.specs() {
		bs := m.backendName(s.Region)
		op4, err := r.clients.Compute.BackendServices.Delete(ctx, &computepb.DeleteBackendServiceRequest{Project: project, BackendService: bs})
		wait("backend service "+bs, op4, err)
		op5, err := r.clients.Compute.NEGs.Delete(ctx, &computepb.DeleteRegionNetworkEndpointGroupRequest{Project: project, Region: s.Region, NetworkEndpointGroup: bs})
		wait("serverless NEG "+bs, op5, err)
	}
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
