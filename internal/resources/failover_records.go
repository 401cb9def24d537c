package resources

import (
	"context"
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
// and last_record, shared by the resources that write records.
func recordsAttributes(what string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"records_prefix": schema.StringAttribute{Optional: true,
			Validators: []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")},
			Description: "`gs://BUCKET/PREFIX` under which every apply writes a recovery record: `" + what + "/<start time>-<name>.json` " +
				"and `.md` beside it, for audit: what moved, each step with its timing, the health results, what ran it " +
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
					Validators:  []validator.String{durationAtLeast(time.Second)},
					Description: "Recovery point objective, a Go duration such as `5m`, recorded with the recovery."},
			}},
		"last_record": schema.StringAttribute{Computed: true,
			Description: "`gs://` URI of the JSON record of the last apply; null without `records_prefix`."},
	}
}

func objectivesOf(o *objectivesModel, diags *diag.Diagnostics) *recoveryrecord.Objectives {
	if o == nil {
		return nil
	}
	at := path.Root("recovery_objectives")
	return &recoveryrecord.Objectives{RTO: durationOf(o.RTO, 0, at.AtName("rto"), diags), RPO: durationOf(o.RPO, 0, at.AtName("rpo"), diags)}
}

// writeRecord writes the apply's record. Every apply writes one, whether it
// moved traffic or not, succeeded or failed.
func (r *relayFailoverGroupResource) writeRecord(ctx context.Context, m *failoverGroupModel, run *failoverRun, diags *diag.Diagnostics) {
	if m.RecordsPrefix.IsNull() || m.RecordsPrefix.ValueString() == "" {
		m.LastRecord = types.StringNull()
		return
	}
	rec := &recoveryrecord.Record{Kind: "failover", Subject: run.group, Started: run.started, Ended: time.Now().UTC(),
		Title: fmt.Sprintf("failover group %s", run.group), Steps: run.phase.steps, Health: run.health,
		RanBy: recoveryrecord.CurrentRun(os.Getenv), Objectives: objectivesOf(m.RecoveryObjectives, diags), Passed: !diags.HasError()}
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
		// written. The plan's probes are not kept: the apply's start is the
		// earliest unhealthy time the apply knows.
		rec.ServingAgain = run.serving
		rec.FirstUnhealthy = run.started
	}
	for _, d := range diags.Errors() {
		rec.Failures = append(rec.Failures, d.Summary()+": "+d.Detail())
	}
	rec.Compare()
	prefix, _ := parseGCSURI(m.RecordsPrefix.ValueString())
	uri, err := recoveryrecord.Write(context.WithoutCancel(ctx), r.clients.Storage, prefix.Bucket, prefix.Object, rec)
	if err != nil {
		diags.AddAttributeWarning(path.Root("records_prefix"), "Recovery record not written",
			fmt.Sprintf("Writing the record of this apply under %s failed: %s. The recovery itself is not affected.",
				m.RecordsPrefix.ValueString(), r.clients.Describe(gcpclient.APIStorage, err)))
		m.LastRecord = types.StringNull()
		return
	}
	m.LastRecord = types.StringValue(uri)
}
