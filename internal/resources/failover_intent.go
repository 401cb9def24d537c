package resources

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// What a failover apply set out to do, kept where a killed apply cannot lose
// it. A SIGKILLed tofu saves neither state nor private state, so the record
// lives on the group's URL map, in its description after the ownership
// marker, and is written in the same patch as the weights it explains: the
// URL map's fingerprint makes that patch atomic against another writer. A
// region drained but whose agents were not yet told to reconnect, and a
// region returning through its ramp, stay pending there until the apply
// that finishes them clears the record. Private state mirrors it for the
// plan of the same run.

// intentMarker separates the record from the rest of the description.
const intentMarker = "intent="

// privateIntent is the private-state key of the mirror.
const privateIntent = "failover_intent"

// failoverIntent is the record: the apply that wrote it and what is
// pending, per region.
type failoverIntent struct {
	Apply   string                 `json:"apply"`
	Started time.Time              `json:"started"`
	Drains  map[string]drainIntent `json:"drain,omitempty"`
	Ramps   map[string]rampIntent  `json:"ramp,omitempty"`
}

// drainIntent is a region taken out of the URL map at Since whose agents
// are to be told to reconnect (a redeploy) once GraceUntil has passed.
type drainIntent struct {
	Since      time.Time `json:"since"`
	GraceUntil time.Time `json:"grace_until"`
}

// rampIntent is a region returning to Target through Steps (weights, each
// held for its soak). The live weight tells the step reached.
type rampIntent struct {
	Target int64   `json:"target"`
	Steps  []int64 `json:"steps"`
}

func newIntent() *failoverIntent {
	b := make([]byte, 6)
	rand.Read(b)
	return &failoverIntent{Apply: hex.EncodeToString(b), Started: time.Now().UTC().Truncate(time.Second),
		Drains: map[string]drainIntent{}, Ramps: map[string]rampIntent{}}
}

func (in *failoverIntent) empty() bool { return in == nil || len(in.Drains)+len(in.Ramps) == 0 }

// clone copies in (nil stays nil).
func (in *failoverIntent) clone() *failoverIntent {
	if in == nil {
		return nil
	}
	out := *in
	out.Drains, out.Ramps = maps.Clone(in.Drains), maps.Clone(in.Ramps)
	if out.Drains == nil {
		out.Drains = map[string]drainIntent{}
	}
	if out.Ramps == nil {
		out.Ramps = map[string]rampIntent{}
	}
	return &out
}

// describe says what is pending, for messages.
func (in *failoverIntent) describe() string {
	var parts []string
	for _, region := range slices.Sorted(maps.Keys(in.Drains)) {
		d := in.Drains[region]
		parts = append(parts, fmt.Sprintf("%s was drained at %s and its agents are still to be told to reconnect (after %s)",
			region, d.Since.Format(time.RFC3339), d.GraceUntil.Format(time.RFC3339)))
	}
	for _, region := range slices.Sorted(maps.Keys(in.Ramps)) {
		parts = append(parts, fmt.Sprintf("%s is returning through the weights %v", region, in.Ramps[region].Steps))
	}
	return strings.Join(parts, "; ")
}

// withIntent is the group's URL map description carrying in (none when in
// is empty).
func (m *failoverGroupModel) withIntent(in *failoverIntent) *string {
	desc := m.description()
	if in.empty() {
		return desc
	}
	b, _ := json.Marshal(in)
	s := *desc + ownerDescribedSep + intentMarker + string(b)
	return &s
}

// intentOf reads the record from the URL map's description: nil when there
// is none, or when it does not parse (reported as a warning, never guessed
// at).
func intentOf(um *computepb.UrlMap, diags *diag.Diagnostics) *failoverIntent {
	desc := um.GetDescription()
	if !ownedByDescription(desc) {
		return nil
	}
	i := strings.Index(desc, ownerDescribedSep+intentMarker)
	if i < 0 {
		return nil
	}
	var in failoverIntent
	if err := json.Unmarshal([]byte(desc[i+len(ownerDescribedSep+intentMarker):]), &in); err != nil {
		diags.AddWarning("Unreadable failover record on URL map "+um.GetName(),
			"The URL map's description holds a failover record that does not parse ("+err.Error()+"); it is ignored and replaced by the next apply.")
		return nil
	}
	return in.clone()
}

// mirrorIntent stores in (or nothing) in private state.
func mirrorIntent(ctx context.Context, in *failoverIntent, private privateSetter) diag.Diagnostics {
	if private == nil {
		return nil
	}
	if in.empty() {
		return private.SetKey(ctx, privateIntent, nil)
	}
	b, _ := json.Marshal(in)
	return private.SetKey(ctx, privateIntent, b)
}

// pendingIntent is the record as the plan sees it: the mirror the refresh
// of this run wrote, else (refresh skipped) read from the URL map.
func (r *relayFailoverGroupResource) pendingIntent(ctx context.Context, m *failoverGroupModel, private privateGetter) *failoverIntent {
	if private != nil {
		if b, _ := private.GetKey(ctx, privateIntent); len(b) > 0 {
			var in failoverIntent
			if json.Unmarshal(b, &in) == nil {
				return in.clone()
			}
		}
	}
	var diags diag.Diagnostics
	um, exists := r.getURLMap(ctx, m, &diags)
	if !exists {
		return nil
	}
	return intentOf(um, &diags)
}

// planResume makes the plan of a group with an interrupted failover pending
// a change (its outcome unknown), so that the apply finishes it: a plan
// would otherwise see the live weights already at their targets and say
// "No changes" while drained agents were never told to reconnect.
func (r *relayFailoverGroupResource) planResume(ctx context.Context, plan, state *failoverGroupModel, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if state == nil {
		return
	}
	in := r.pendingIntent(ctx, state, req.Private)
	if in.empty() {
		return
	}
	resp.Diagnostics.AddWarning("Resuming an interrupted failover: "+plan.Name.ValueString(),
		"An earlier apply of this group stopped before it finished ("+in.describe()+"). This apply finishes it: a drained region is "+
			"redeployed once its grace period has passed, a returning region continues its ramp at the step it reached, with its soak and health checks.")
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("effective_weights"), types.MapUnknown(types.Int64Type))...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("min_instances"), types.MapUnknown(types.Int64Type))...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("unhealthy_regions"), types.ListUnknown(types.StringType))...)
}

// redeployedSince tells whether svc's template carries a redeploy at or
// after since: a drain's reconnect already asked for.
func redeployedSince(svc *runpb.Service, since time.Time) bool {
	at, err := time.Parse(time.RFC3339Nano, svc.GetTemplate().GetAnnotations()[annotationRedeploy])
	return err == nil && !at.Before(since)
}

// regionRamp is one returning region's ramp: the weights it goes through,
// the first one set by the apply's weight patch.
type regionRamp struct {
	Region string
	Steps  []int64
}

// planSteps works out the apply's part that an interruption must not lose,
// from the targets, the live weights and the record an interrupted apply
// left (pending, may be nil):
//   - carried: what is still pending of that record (a drain whose region
//     still takes no traffic, a ramp whose region is still to return);
//   - intent: carried plus this apply's own drains (regions losing their
//     traffic, stamped at now) and ramps (regions coming back from 0);
//   - first: the weights of the apply's weight patch (a returning region at
//     its first step, a resumed one where it stands);
//   - ramps: the steps each returning region then goes through, each held
//     for the soak, starting with the step reached.
//
// serviceUp names the regions whose service answered: a drain is only
// recorded (or carried) where the agents can be told to reconnect.
func planSteps(specs []regionSpec, target, current map[string]int64, exists bool, serviceUp map[string]bool,
	pending *failoverIntent, rampPct []int64, grace time.Duration, now time.Time) (carried, intent *failoverIntent, first map[string]int64, ramps []regionRamp) {
	carried = newIntent()
	if pending != nil {
		for region, d := range pending.Drains {
			if target[region] == 0 && serviceUp[region] {
				carried.Drains[region] = d
			}
		}
		for region, ri := range pending.Ramps {
			if target[region] > 0 && current[region] > 0 {
				carried.Ramps[region] = ri
			}
		}
	}
	intent = carried.clone()
	first = map[string]int64{}
	for _, s := range specs {
		region, w := s.Region, target[s.Region]
		first[region] = w
		switch ri, resumed := carried.Ramps[region]; {
		case w > 0 && exists && resumed:
			steps := ri.Steps
			if ri.Target != w {
				steps = rampWeights(w, rampPct)
			}
			rest := []int64{min(current[region], w)}
			for _, st := range steps {
				if st > rest[0] {
					rest = append(rest, st)
				}
			}
			first[region] = rest[0]
			intent.Ramps[region] = rampIntent{Target: w, Steps: steps}
			ramps = append(ramps, regionRamp{region, rest})
		case w > 0 && exists && current[region] == 0 && len(rampPct) > 1:
			steps := rampWeights(w, rampPct)
			first[region] = steps[0]
			intent.Ramps[region] = rampIntent{Target: w, Steps: steps}
			ramps = append(ramps, regionRamp{region, steps})
		case w == 0 && current[region] > 0 && serviceUp[region]:
			intent.Drains[region] = drainIntent{Since: now, GraceUntil: now.Add(grace)}
		}
	}
	return carried, intent, first, ramps
}
