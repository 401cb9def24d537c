package resources

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// The failover group's apply: the Region Failover procedure in its safe
// order (probes in failover_probe.go, load balancer plumbing in
// failover_lb.go).

var objectAsOptions = basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true}

// regionCallTimeout bounds one regional API call, so an apply during an
// outage reports the region instead of hanging on it.
const regionCallTimeout = 2 * time.Minute

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
