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

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

var _ resource.ResourceWithModifyPlan = (*redisInstanceResource)(nil)

// ModifyPlan refuses a region that does not exist and warns before a
// change replaces an instance: the new instance starts empty.
func (r *redisInstanceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan redisInstanceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	checkRegion(r.clients, path.Root("region"), plan.Region, &resp.Diagnostics)
	if req.State.Raw.IsNull() || len(resp.RequiresReplace) == 0 {
		return
	}
	var state redisInstanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var why []string
	for _, p := range resp.RequiresReplace {
		why = append(why, p.String())
	}
	sort.Strings(why)
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
