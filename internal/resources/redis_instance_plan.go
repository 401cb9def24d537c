package resources

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

var _ resource.ResourceWithModifyPlan = (*redisInstanceResource)(nil)

// ModifyPlan refuses a region that does not exist and warns before a
// change replaces an instance: the new instance starts empty.
func (r *redisInstanceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	why := plannedReplacement(ctx, r, r.clients, req, resp)
	if len(why) == 0 || resp.Diagnostics.HasError() {
		return
	}
	var state redisInstanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name, region := state.Name.ValueString(), state.Region.ValueString()
	others := replacedInstances.add(r.clients, name+" ("+region+")")
	detail := fmt.Sprintf("Changing %s replaces the Memorystore instance %s in %s: it is deleted with every key it holds, "+
		"and its replacement starts empty.", strings.Join(why, ", "), name, region)
	if len(others) > 1 {
		detail += fmt.Sprintf(" This plan replaces %d instances so far, all at once: %s; agents lose what only those regions held.",
			len(others), strings.Join(others, ", "))
	}
	detail += " To keep the data: take an agentnet_redis_snapshot of the instance first and restore it into the new one " +
		"(agentnet_redis_snapshot_restore), and replace one region per apply (for example with -target), so the other " +
		"regions keep serving while it is rebuilt."
	resp.Diagnostics.AddWarning(fmt.Sprintf("Redis instance %s in %s will be replaced: its data is deleted", name, region), detail)
}

// plannedReplacement checks the planned region of a Redis resource and
// returns the attributes whose change replaces it in this plan (none on a
// create or a destroy).
func plannedReplacement(ctx context.Context, res resource.Resource, clients *gcpclient.Clients, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) []string {
	if req.Plan.Raw.IsNull() {
		return nil
	}
	var region types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("region"), &region)...)
	checkRegion(clients, path.Root("region"), region, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || req.State.Raw.IsNull() {
		return nil
	}
	var s resource.SchemaResponse
	res.Schema(ctx, resource.SchemaRequest{}, &s)
	return replacingAttributes(ctx, s.Schema, req)
}

// replacingAttributes lists the top-level string attributes whose plan
// modifiers replace the resource in this plan. ModifyPlan is not told: the
// framework gathers the attributes' RequiresReplace after it returns.
func replacingAttributes(ctx context.Context, s schema.Schema, req resource.ModifyPlanRequest) []string {
	var out []string
	for name, a := range s.Attributes {
		sa, ok := a.(schema.StringAttribute)
		if !ok {
			continue
		}
		at := path.Root(name)
		var config, state, plan types.String
		req.Config.GetAttribute(ctx, at, &config)
		req.State.GetAttribute(ctx, at, &state)
		req.Plan.GetAttribute(ctx, at, &plan)
		for _, m := range sa.PlanModifiers {
			mresp := planmodifier.StringResponse{PlanValue: plan}
			m.PlanModifyString(ctx, planmodifier.StringRequest{Path: at, Config: req.Config, ConfigValue: config,
				Plan: req.Plan, PlanValue: plan, State: req.State, StateValue: state, Private: req.Private}, &mresp)
			if mresp.RequiresReplace {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// replacedInstances collects, per provider instance (one per command), the
// Redis instances its plan replaces, so each warning can say how many
// regions lose their data at once.
var replacedInstances = replacements{seen: map[*gcpclient.Clients][]string{}}

type replacements struct {
	mu   sync.Mutex
	seen map[*gcpclient.Clients][]string
}

// add records one instance and returns every instance recorded so far.
func (r *replacements) add(c *gcpclient.Clients, instance string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.seen[c], instance) {
		r.seen[c] = append(r.seen[c], instance)
	}
	return append([]string(nil), r.seen[c]...)
}
