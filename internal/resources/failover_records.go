package resources

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
)

// The recovery record every apply of a failover group writes under its
// records_prefix (internal/recoveryrecord).

type objectivesModel struct {
	RTO timetypes.GoDuration `tfsdk:"rto"`
	RPO timetypes.GoDuration `tfsdk:"rpo"`
}

// recordsAttributes are the schema of records_prefix, recovery_objectives
// and last_record, shared by the resources that write records: what is
// their kind of record, measures what it times against the objectives.
func recordsAttributes(what, measures string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"records_prefix": schema.StringAttribute{Optional: true,
			Validators: []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")},
			Description: "`gs://BUCKET/PREFIX` under which every apply writes a recovery record: `" + what + "/<start time>-<name>.json` " +
				"and `.md` beside it, for audit: what moved, each step with its timing, the health results, " + measures + ", what ran it " +
				"(the CI run from `GITHUB_RUN_ID`, `CI_PIPELINE_ID`, `BUILD_ID`, `BUILDKITE_BUILD_ID` or `CIRCLE_WORKFLOW_ID`, " +
				"else the host) and the comparison with `recovery_objectives`. List them with `data.agentnet_recovery_records`. " +
				"A record that cannot be written is a warning: it never fails the recovery."},
		"recovery_objectives": schema.SingleNestedAttribute{Optional: true,
			Description: "The recovery time and point objectives the records compare each recovery with.",
			Attributes: map[string]schema.Attribute{
				"rto": schema.StringAttribute{Optional: true, CustomType: timetypes.GoDurationType{},
					Validators:  []validator.String{durationAtLeast(time.Second)},
					Description: "Recovery time objective, a Go duration such as `1h`: a longer recovery is recorded as failed."},
				"rpo": schema.StringAttribute{Optional: true, CustomType: timetypes.GoDurationType{},
					Validators: []validator.String{durationAtLeast(time.Second)},
					Description: "Recovery point objective, a Go duration such as `5m`: a restore that loses more writes than this " +
						"(from its snapshot's time to the data-loss point) is recorded as failed."},
			}},
		"last_record": schema.StringAttribute{Computed: true,
			Description: "`gs://` URI of the JSON record of the last apply; null without `records_prefix`."},
	}
}

func objectivesOf(ctx context.Context, v types.Object, diags *diag.Diagnostics) *recoveryrecord.Objectives {
	// An object (rather than a struct pointer) in the model: it is unknown
	// while a module's variables are, at validation.
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	var o objectivesModel
	diags.Append(v.As(ctx, &o, objectAsOptions)...)
	at := path.Root("recovery_objectives")
	return &recoveryrecord.Objectives{RTO: durationOf(o.RTO, 0, at.AtName("rto"), diags), RPO: durationOf(o.RPO, 0, at.AtName("rpo"), diags)}
}

// writeRecord writes the apply's record. Every apply writes one, whether it
// moved traffic or not, succeeded or failed.
func (r *relayFailoverGroupResource) writeRecord(ctx context.Context, m *failoverGroupModel, run *failoverRun, diags *diag.Diagnostics) {
	rec := &recoveryrecord.Record{Kind: "failover", Subject: run.group, Started: run.started,
		Title: fmt.Sprintf("failover group %s", run.group), Steps: run.phase.steps, Health: run.health}
	if run.moves() == "" {
		rec.Moved = []string{"nothing: the traffic stayed where it was"}
	}
	for _, region := range run.drains {
		rec.Moved = append(rec.Moved, region+" drained: its traffic went to "+weightedRegions(m))
	}
	for _, region := range run.returns {
		rec.Moved = append(rec.Moved, region+" returned to traffic")
	}
	if !run.serving.IsZero() && run.moves() != "" {
		// The traffic left the failing regions when the weights were
		// written.
		rec.ServingAgain = run.serving
		rec.FirstUnhealthy, rec.RecoveryFrom = run.firstUnhealthy(m)
	}
	m.LastRecord = writeRecord(ctx, r.clients, m.RecordsPrefix, m.RecoveryObjectives, rec, diags)
}

// writeRecord completes rec (end, outcome, what ran it, the comparison with
// the objectives) and writes it under prefix; it returns the record's URI
// for last_record, null without a prefix or when the write failed (a
// warning: a record never fails the recovery).
func writeRecord(ctx context.Context, c *gcpclient.Clients, prefix types.String, objectives types.Object, rec *recoveryrecord.Record,
	diags *diag.Diagnostics) types.String {
	if prefix.IsNull() || prefix.IsUnknown() || prefix.ValueString() == "" {
		return types.StringNull()
	}
	rec.Ended, rec.Passed = time.Now().UTC(), !diags.HasError()
	rec.RanBy, rec.Objectives = recoveryrecord.CurrentRun(os.Getenv), objectivesOf(ctx, objectives, diags)
	for _, d := range diags.Errors() {
		rec.Failures = append(rec.Failures, d.Summary()+": "+d.Detail())
	}
	rec.Compare()
	at, _ := parseGCSURI(prefix.ValueString())
	uri, err := recoveryrecord.Write(context.WithoutCancel(ctx), c.Storage, at.Bucket, at.Object, rec)
	if err != nil {
		diags.AddAttributeWarning(path.Root("records_prefix"), "Recovery record not written",
			fmt.Sprintf("Writing the record of this apply under %s failed: %s. The recovery itself is not affected.",
				prefix.ValueString(), c.Describe(gcpclient.APIStorage, err)))
		return types.StringNull()
	}
	return types.StringValue(uri)
}

// A failover's recovery time counts from the first probe that found a
// region it drains unhealthy. The plan's probes find it, but Terraform
// plans the group again in the apply's own process, and only that second
// plan's private state reaches the apply: the time travels from there,
// under this key, and is cleared once the apply has used it.
const privateUnhealthySince = "unhealthy_since"

// noteUnhealthy keeps when the probes that began at probedAt found each
// unhealthy region (the earliest time seen in this run).
func (m *failoverGroupModel) noteUnhealthy(probedAt time.Time, unhealthy map[string]string) {
	for region := range unhealthy {
		if m.unhealthySince == nil {
			m.unhealthySince = map[string]time.Time{}
		}
		if t, ok := m.unhealthySince[region]; !ok || probedAt.Before(t) {
			m.unhealthySince[region] = probedAt
		}
	}
}

// keepUnhealthySince passes the plan's findings to its apply.
func (m *failoverGroupModel) keepUnhealthySince(ctx context.Context, private privateSetter) diag.Diagnostics {
	if len(m.unhealthySince) == 0 {
		return private.SetKey(ctx, privateUnhealthySince, nil)
	}
	b, err := json.Marshal(m.unhealthySince)
	if err != nil {
		return nil
	}
	return private.SetKey(ctx, privateUnhealthySince, b)
}

// readUnhealthySince takes the plan's findings in the apply.
func (m *failoverGroupModel) readUnhealthySince(ctx context.Context, private privateGetter) {
	if b, _ := private.GetKey(ctx, privateUnhealthySince); len(b) > 0 {
		// A record not understood is no record: the apply's start is used.
		if err := json.Unmarshal(b, &m.unhealthySince); err != nil {
			m.unhealthySince = nil
		}
	}
}

// firstUnhealthy is what the failover's recovery time counts from: the
// earliest probe that found a drained region unhealthy, else the apply's
// start, and which of the two it is.
func (run *failoverRun) firstUnhealthy(m *failoverGroupModel) (time.Time, string) {
	var first time.Time
	for _, region := range run.drains {
		if t, ok := m.unhealthySince[region]; ok && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if first.IsZero() {
		return run.started, "apply start (no probe found a drained region unhealthy)"
	}
	return first, recoveryrecord.FromFirstUnhealthy
}
