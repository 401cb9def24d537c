package resources

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"

	"github.com/agentnet/terraform-provider-agentnet/internal/notify"
	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
)

// The failover group's webhook notifications: one when a failover starts
// (or an interrupted one resumes) and one when it ends.

// readNotifications takes the webhooks from the configuration: their URLs
// are write-only.
func (m *failoverGroupModel) readNotifications(ctx context.Context, config tfsdk.Config, diags *diag.Diagnostics) {
	m.notify = readWebhooks(ctx, config, diags)
}

// failoverRun is one apply of the group: what it moves, its steps and
// health results, for its notifications and its recovery record.
type failoverRun struct {
	group    string
	resumed  bool
	drains   []string
	returns  []string
	started  time.Time
	phase    *phaseClock
	health   []recoveryrecord.Check
	serving  time.Time // the weights that move traffic were written
	announce bool      // a start was notified: the end is too
}

func (r *relayFailoverGroupResource) beginRun(ctx context.Context, m *failoverGroupModel) *failoverRun {
	return &failoverRun{group: m.Name.ValueString(), started: time.Now().UTC(), phase: newPhaseClock(ctx, "failover")}
}

// finishRun ends an apply: the end notification, then the record.
func (r *relayFailoverGroupResource) finishRun(ctx context.Context, m *failoverGroupModel, run *failoverRun, diags *diag.Diagnostics) {
	r.endFailover(ctx, m, run, diags)
	r.writeRecord(ctx, m, run, diags)
}

// checked records the results of a health gate or soak.
func (run *failoverRun) checked(regions []string, failed map[string]string) {
	now := time.Now().UTC()
	for _, region := range slices.Sorted(slices.Values(regions)) {
		why := failed[region]
		run.health = append(run.health, recoveryrecord.Check{Target: region, At: now, Healthy: why == "", Detail: why})
	}
}

// startFailover notifies the start of a failover when the apply drains or
// returns a region (or resumes an interrupted one that did). lost are the
// regions whose traffic the apply takes away: a region whose service is
// out has no drain in the intent (no agent can be told anything there),
// but its traffic moves all the same.
func (r *relayFailoverGroupResource) startFailover(ctx context.Context, m *failoverGroupModel, run *failoverRun, carried, intent *failoverIntent,
	lost []string, diags *diag.Diagnostics) {
	run.resumed = !carried.empty()
	if intent.empty() && len(lost) == 0 {
		return
	}
	drains := slices.AppendSeq(lost, maps.Keys(intent.Drains))
	slices.Sort(drains)
	run.drains, run.returns = slices.Compact(drains), slices.Sorted(maps.Keys(intent.Ramps))
	kind, verb := notify.FailoverStarted, "started"
	if run.resumed {
		kind, verb = notify.FailoverResumed, "resumed"
	}
	run.announce = true
	r.notify(ctx, m, diags, notify.Event{Kind: kind, Subject: run.group, At: time.Now().UTC(),
		Summary: fmt.Sprintf("Failover of %s %s: %s.", run.group, verb, run.moves()), Details: run.details()})
}

// endFailover notifies the end of a failover that was announced, with its
// outcome.
func (r *relayFailoverGroupResource) endFailover(ctx context.Context, m *failoverGroupModel, run *failoverRun, diags *diag.Diagnostics) {
	if run == nil || !run.announce {
		return
	}
	now := time.Now().UTC()
	took := now.Sub(run.started).Round(100 * time.Millisecond)
	details := run.details()
	details["duration"] = took.String()
	summary := fmt.Sprintf("Failover of %s ended after %s: %s. Serving: %s.", run.group, took, run.moves(), weightedRegions(m))
	details["outcome"] = "succeeded"
	if diags.HasError() {
		details["outcome"] = "failed"
		summary = fmt.Sprintf("Failover of %s FAILED after %s (%s): %s. The next apply resumes it.", run.group, took, run.moves(), firstError(*diags))
	}
	r.notify(ctx, m, diags, notify.Event{Kind: notify.FailoverEnded, Subject: run.group, At: now, Summary: summary, Details: details})
}

func (r *relayFailoverGroupResource) notify(ctx context.Context, m *failoverGroupModel, diags *diag.Diagnostics, ev notify.Event) {
	if len(m.notify) == 0 {
		return
	}
	// A cancelled apply still says how its failover ended.
	ctx = context.WithoutCancel(ctx)
	sendWebhooks(ctx, m.notify, ev, "The failover itself is not affected.", diags)
}

func (run *failoverRun) moves() string {
	var parts []string
	if len(run.drains) > 0 {
		parts = append(parts, "draining "+strings.Join(run.drains, ", "))
	}
	if len(run.returns) > 0 {
		parts = append(parts, "returning "+strings.Join(run.returns, ", "))
	}
	return strings.Join(parts, "; ")
}

func (run *failoverRun) details() map[string]string {
	d := map[string]string{"group": run.group}
	if len(run.drains) > 0 {
		d["drained"] = strings.Join(run.drains, ", ")
	}
	if len(run.returns) > 0 {
		d["returning"] = strings.Join(run.returns, ", ")
	}
	return d
}

// weightedRegions are the regions with weight in the group's state.
func weightedRegions(m *failoverGroupModel) string {
	var serving []string
	for region, w := range int64Map(m.EffectiveWeights) {
		if w > 0 {
			serving = append(serving, region)
		}
	}
	if len(serving) == 0 {
		return "none"
	}
	slices.Sort(serving)
	return strings.Join(serving, ", ")
}

func firstError(diags diag.Diagnostics) string {
	for _, d := range diags.Errors() {
		return d.Summary()
	}
	return ""
}

// lostTraffic are the regions that take traffic in current and none in
// next.
func lostTraffic(current, next map[string]int64) []string {
	var out []string
	for region, w := range current {
		if w > 0 && next[region] == 0 {
			out = append(out, region)
		}
	}
	return out
}
