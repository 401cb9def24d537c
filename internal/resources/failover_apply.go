package resources

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
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
	"github.com/agentnet/terraform-provider-agentnet/internal/pausepoint"
	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
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
	run := r.beginRun(ctx, m)
	defer r.finishRun(ctx, m, run, diags)
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
		region, ok := v.(types.String)
		if !ok {
			diags.AddAttributeError(path.Root("unhealthy_regions"), "Unexpected value", fmt.Sprintf("unhealthy_regions holds a %T, want a string: this is a bug in the provider", v))
			return
		}
		sick[region.ValueString()] = true
	}
	phase := run.phase

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
	backends := r.ensureBackends(ctx, m, specs, unavailable, diags)
	if diags.HasError() {
		return
	}
	um, exists := r.getURLMap(ctx, m, diags)
	if diags.HasError() {
		return
	}
	current, pending := weightsOf(um, m), intentOf(um, diags)
	w := &urlMapWriter{r: r, m: m, backends: backends, fingerprint: um.GetFingerprint(), desc: um.GetDescription(), applied: current,
		generation: generationOf(um)}

	// 2. Capacity first: raise minimum instances where traffic will go and
	// wait until the instances are ready. A region that cannot be scaled
	// stops the apply before any weight changes.
	if m.Capacity != nil {
		r.scaleRegions(ctx, services, func(region string, cur int64) bool { return target[region] > 0 && mins[region] > cur },
			mins, false, "Capacity comes first: no weight was changed.", diags)
		if diags.HasError() {
			return
		}
	}
	phase.done("capacity")

	// 3. What this apply sets out to do, with what an interrupted apply
	// left pending (failover_intent.go): it goes on the URL map with the
	// weights it explains. The health gate goes through the front door,
	// pinned to each region by the URL map's route rules, so the URL map
	// and the front door must exist first. A new group's URL map starts at
	// its target weights: no agent knows its address before the apply ends.
	// An existing one only gets the route rules of new regions here; its
	// weights wait for the gate.
	serviceUp := map[string]bool{}
	for region := range services {
		serviceUp[region] = true
	}
	carried, intent, first, ramps := planSteps(specs, target, current, exists, serviceUp, pending, m.reintroduction(ctx).Steps, m.probe.drainGrace, time.Now().UTC())
	newRoutes := exists && !routesCurrent(um, backends)
	switch {
	case !exists:
		w.generation++
		w.fingerprint = r.createURLMap(ctx, m, backends, first, w.generation, diags)
		w.desc, w.applied = *m.description(), first
	case newRoutes:
		w.patch(ctx, current, carried, diags)
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
	w.p = p
	// A new region is probed through its route rule: only once the front
	// door follows it. (A new group's URL map is not waited on: its health
	// gate fails until the load balancer serves.)
	if newRoutes && !w.awaitLive(ctx, nil, "The route rules of the group's regions", "No weight was changed.", diags) {
		return
	}
	var gate []string
	for region := range services {
		if target[region] > 0 {
			gate = append(gate, region)
		}
	}
	failed := r.probeServices(ctx, m, p, gate, func(string) int64 { return 1 })
	run.checked(gate, failed)
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

	r.startFailover(ctx, m, run, carried, intent, lostTraffic(current, first), diags)

	// 4. Weights, with the record. A region that comes back starts at its
	// first ramp step; a drain's grace period starts once the new weights
	// are live.
	run.serving = time.Now().UTC()
	if exists {
		now := time.Now().UTC()
		var drains []string
		for region := range intent.Drains {
			if _, old := carried.Drains[region]; !old {
				intent.Drains[region] = drainIntent{Since: now, GraceUntil: now.Add(m.probe.drainGrace)}
				drains = append(drains, region)
			}
		}
		if !w.patch(ctx, first, intent, diags) {
			return
		}
		slices.Sort(drains)
		what, outcome := "The new weights", "No drain or ramp started; apply again."
		if len(drains) > 0 {
			what = "The drain of " + strings.Join(drains, ", ")
			outcome = "Its grace period did not start and its agents were not told to reconnect; apply again."
		}
		if !w.awaitLive(ctx, gate, what, outcome, diags) {
			return
		}
		run.serving = w.liveAt
		for _, region := range drains {
			intent.Drains[region] = drainIntent{Since: now, GraceUntil: w.liveAt.Add(m.probe.drainGrace)}
		}
	}
	phase.done("url_map")

	// 5. Ramp returning regions, probing through each soak; a failure rolls
	// the region back to 0.
	for _, rr := range ramps {
		region := rr.Region
		for i, weight := range rr.Steps {
			if i > 0 && !w.patch(ctx, withWeight(w.applied, region, weight), intent, diags) {
				return
			}
			if i > 0 && !w.awaitLive(ctx, []string{region}, fmt.Sprintf("Step %d of the return of %s (weight %d)", i+1, region, weight),
				"Its soak did not start; the next apply continues the ramp from this step.", diags) {
				return
			}
			// The soak counts from the moment the step is live.
			why := r.soak(ctx, m, p, region, m.probe.soak)
			run.checked([]string{region}, map[string]string{region: why})
			if why == "" {
				continue
			}
			delete(intent.Ramps, region)
			title, outcome := "Region "+region+" rolled back", "it was rolled back to weight 0"
			if !w.patch(ctx, withWeight(w.applied, region, 0), intent, diags) {
				title = "Region " + region + " failed its soak and was not rolled back"
				outcome = fmt.Sprintf("rolling it back to weight 0 failed (see the error above), so its weight stayed at %d", weight)
			} else {
				w.awaitLive(ctx, nil, "The rollback of "+region+" to weight 0", "New connections may still reach it.", diags)
			}
			diags.AddAttributeError(path.Root("regions"), title,
				fmt.Sprintf("%s failed its health check at weight %d during the reintroduction soak (%s); %s.", region, weight, why, outcome))
			break
		}
		delete(intent.Ramps, region)
	}
	phase.done("ramp")

	// 6. Agents still connected to regions that lost their traffic are told
	// to reconnect (through the front door, to the regions that have it),
	// after the grace period: a new revision whose old instances close
	// their connections with going-away.
	drained := slices.Sorted(maps.Keys(intent.Drains))
	r.reconnect(ctx, services, intent, mins, diags)
	phase.done("reconnect")

	// 7. Return capacity to the plan everywhere else (lower it in regions
	// that take traffic, baseline in the rest).
	if m.Capacity != nil {
		r.scaleRegions(ctx, services, func(region string, cur int64) bool {
			return !slices.Contains(drained, region) && mins[region] != cur
		}, mins, false, "The traffic has moved; apply again to bring the capacity to the plan.", diags)
	}
	phase.done("capacity_return")

	// 8. Done: the record goes (what failed stays pending for the next
	// apply).
	if *m.withIntent(intent) != w.desc {
		w.patch(ctx, w.applied, intent, diags)
	}
	phase.done("record_cleared")
	diags.Append(m.setApplied(ctx, w.applied, sick)...)
	_, _, d := r.read(ctx, m, services)
	diags.Append(d...)
}

// urlMapWriter patches the group's URL map through an apply: every patch
// carries the weights, the failover record that explains them, and the
// fingerprint of the last read or write, so a change by anyone else in
// between fails it instead of being overwritten.
type urlMapWriter struct {
	r           *relayFailoverGroupResource
	m           *failoverGroupModel
	backends    map[string]string
	fingerprint string
	desc        string           // the description last read or written
	applied     map[string]int64 // the weights last read or written
	generation  int64            // of the change last read or written (failover_live.go)
	p           *prober          // through the front door, once it exists
	liveAt      time.Time        // when the last change awaited was seen live
}

func (w *urlMapWriter) patch(ctx context.Context, weights map[string]int64, in *failoverIntent, diags *diag.Diagnostics) bool {
	desc := w.m.withIntent(in)
	fp, ok := w.r.patchURLMap(ctx, w.m, w.backends, weights, w.generation+1, desc, w.fingerprint, diags)
	if ok {
		w.fingerprint, w.desc, w.applied = fp, *desc, weights
		w.generation++
	}
	return ok
}

// awaitLive waits until the front door follows the last change: new
// connections on the weighted route (when a region takes traffic) and
// pinned to each of pinned. A change not live in time is an error saying
// what (what) and what that means for the apply (outcome).
func (w *urlMapWriter) awaitLive(ctx context.Context, pinned []string, what, outcome string, diags *diag.Diagnostics) bool {
	unpinned := slices.ContainsFunc(slices.Collect(maps.Values(w.applied)), func(v int64) bool { return v > 0 })
	live, err := w.p.awaitLive(ctx, w.generation, unpinned, pinned)
	if err != nil {
		diags.AddAttributeError(path.Root("regions"), what+" not live", fmt.Sprintf("%s was accepted by the load balancer (URL map %s, generation %d), but %v. %s",
			what, w.m.Name.ValueString(), w.generation, err, outcome))
		return false
	}
	w.liveAt = live
	return true
}

// reconnect tells the agents of each drained region of the record to
// reconnect once its grace period is over: a redeploy (a new revision, its
// minimum instances back to the plan's). A region whose redeploy was
// already asked for since its drain (an interrupted apply's) is only waited
// on. Each region done leaves the record; a failure is an error naming the
// region, and the region stays pending.
func (r *relayFailoverGroupResource) reconnect(ctx context.Context, services map[string]*runpb.Service, in *failoverIntent,
	mins map[string]int64, diags *diag.Diagnostics) {
	var due time.Time
	todo := map[string]bool{}
	for region, d := range in.Drains {
		svc := services[region]
		if svc == nil {
			continue
		}
		if !redeployedSince(svc, d.Since) {
			todo[region] = true
			due = later(due, d.GraceUntil)
			continue
		}
		if updated, err := r.awaitRollout(ctx, svc); err != nil {
			diags.AddAttributeError(path.Root("regions"), "Telling the agents of "+region+" to reconnect failed",
				fmt.Sprintf("The new revision of %s asked for by an earlier apply did not become ready: %s. Its agents may still be connected; apply again.",
					region, r.clients.Describe(gcpclient.APIRun, err)))
		} else {
			services[region] = updated
			delete(in.Drains, region)
		}
	}
	if len(todo) == 0 {
		return
	}
	err := pausepoint.Reach(ctx, pausepoint.DrainGrace)
	if err == nil {
		err = sleepContext(ctx, time.Until(due))
	}
	if err != nil {
		diags.AddError("Interrupted during the drain grace period", err.Error())
		return
	}
	r.scaleRegions(ctx, services, func(region string, _ int64) bool { return todo[region] }, mins, true,
		"Its agents may still be connected to it; the drain stays pending and the next apply redeploys it.", diags)
	for region := range todo {
		if redeployedSince(services[region], in.Drains[region].Since) {
			delete(in.Drains, region)
		}
	}
}

// awaitRollout waits until svc has finished rolling out its latest
// revision, and fails when that revision did not become ready.
func (r *relayFailoverGroupResource) awaitRollout(ctx context.Context, svc *runpb.Service) (*runpb.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, regionCallTimeout)
	defer cancel()
	for svc.GetReconciling() {
		if err := sleepContext(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
		var err error
		if svc, err = r.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: svc.GetName()}); err != nil {
			return nil, err
		}
	}
	if svc.GetLatestReadyRevision() != svc.GetLatestCreatedRevision() {
		return nil, fmt.Errorf("revision %s is not ready (the latest ready one is %s)", linkName(svc.GetLatestCreatedRevision()), linkName(svc.GetLatestReadyRevision()))
	}
	return svc, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
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
// rolls a new revision, so the old instances close their connections. A
// region that fails (or times out) is an error naming it; step says what
// its failure means for the apply.
func (r *relayFailoverGroupResource) scaleRegions(ctx context.Context, services map[string]*runpb.Service,
	selected func(region string, current int64) bool, mins map[string]int64, redeploy bool, step string, diags *diag.Diagnostics) {
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
			if want == cur && !redeploy {
				continue
			}
		}
		wg.Go(func() {
			updated, err := r.updateScaling(ctx, svc, want, redeploy)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				cause := r.conflictOr(gcpclient.APIRun, "the relay service "+svc.GetName(), err)
				if redeploy {
					diags.AddAttributeError(path.Root("regions"), "Redeploying "+region+" failed",
						fmt.Sprintf("Redeploying the relay service of %s (%s), so that its agents reconnect elsewhere, failed: %s. %s", region, linkName(svc.GetName()), cause, step))
				} else {
					diags.AddAttributeError(path.Root("regions"), "Scaling "+region+" failed",
						fmt.Sprintf("Setting the minimum instances of the relay service of %s (%s) to %d failed: %s. %s", region, linkName(svc.GetName()), want, cause, step))
				}
				return
			}
			services[region] = updated
		})
	}
	wg.Wait()
}

func (r *relayFailoverGroupResource) updateScaling(ctx context.Context, svc *runpb.Service, minInstances int64, redeploy bool) (*runpb.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, regionCallTimeout)
	defer cancel()
	s := proto.CloneOf(svc)
	if s.Scaling == nil {
		s.Scaling = &runpb.ServiceScaling{}
	}
	s.Scaling.MinInstanceCount = int32(minInstances)
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
// up when services is nil); false when the URL map is gone. It also
// returns the failover record an unfinished apply left on the URL map.
func (r *relayFailoverGroupResource) read(ctx context.Context, m *failoverGroupModel, services map[string]*runpb.Service) (bool, *failoverIntent, diag.Diagnostics) {
	var diags diag.Diagnostics
	um, exists := r.getURLMap(ctx, m, &diags)
	if diags.HasError() || !exists {
		return exists, nil, diags
	}
	pending := intentOf(um, &diags)
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
	return true, pending, diags
}

// settle records, after a failed apply, what is really in place: weights
// from the URL map, minimum instances from the services, unhealthy regions
// as decided; never the targets. What cannot be read is left null (the
// next plan shows it as a change) rather than guessed. It returns the
// failover record left on the URL map.
func (r *relayFailoverGroupResource) settle(ctx context.Context, m *failoverGroupModel) *failoverIntent {
	found, pending, diags := r.read(ctx, m, nil)
	if !found || diags.HasError() {
		m.EffectiveWeights = types.MapNull(types.Int64Type)
		m.MinInstances = types.MapNull(types.Int64Type)
	}
	if m.UnhealthyRegions.IsUnknown() {
		m.UnhealthyRegions = types.ListNull(types.StringType)
	}
	for _, s := range []*types.String{&m.FrontDoorURL, &m.IPAddress, &m.URLMap} {
		if s.IsUnknown() {
			*s = types.StringValue("")
		}
	}
	for _, d := range diags {
		tflog.Warn(ctx, "reading the group after a failed apply", map[string]any{"summary": d.Summary(), "detail": d.Detail()})
	}
	return pending
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

// phaseClock logs how long each phase of a recovery (a failover or a
// restore: kind) took, and keeps them for the recovery record.
type phaseClock struct {
	ctx   context.Context
	kind  string
	last  time.Time
	steps []recoveryrecord.Step
}

func newPhaseClock(ctx context.Context, kind string) *phaseClock {
	return &phaseClock{ctx: ctx, kind: kind, last: time.Now()}
}

func (p *phaseClock) done(phase string) { p.doneWith(phase, "") }

func (p *phaseClock) doneWith(phase, detail string) {
	now := time.Now()
	tflog.Info(p.ctx, p.kind+" phase done", map[string]any{"phase": phase, "ms": now.Sub(p.last).Milliseconds()})
	p.steps = append(p.steps, recoveryrecord.Step{Name: phase, Started: p.last.UTC(), TookS: now.Sub(p.last).Seconds(), Detail: detail})
	p.last = now
}
