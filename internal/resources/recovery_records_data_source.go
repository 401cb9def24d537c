package resources

import (
	"context"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
)

var _ datasource.DataSourceWithConfigure = (*recoveryRecordsDataSource)(nil)

// recordKinds are the kinds of recovery records.
var recordKinds = []string{"failover", "restore", "drill"}

// NewRecoveryRecordsDataSource is data agentnet_recovery_records: the
// recovery records under a prefix, newest first.
func NewRecoveryRecordsDataSource() datasource.DataSource { return &recoveryRecordsDataSource{} }

type recoveryRecordsDataSource struct{ dataSourceWithClients }

type recoveryRecordsModel struct {
	Prefix  types.String   `tfsdk:"prefix"`
	Kind    types.String   `tfsdk:"kind"`
	Subject types.String   `tfsdk:"subject"`
	Failed  types.Bool     `tfsdk:"failed_only"`
	Limit   types.Int64    `tfsdk:"limit"`
	Records []recordsEntry `tfsdk:"records"`
}

type recordsEntry struct {
	URI             types.String  `tfsdk:"uri"`
	MarkdownURI     types.String  `tfsdk:"markdown_uri"`
	Kind            types.String  `tfsdk:"kind"`
	Subject         types.String  `tfsdk:"subject"`
	Started         types.String  `tfsdk:"started"`
	DurationSeconds types.Float64 `tfsdk:"duration_seconds"`
	RecoverySeconds types.Float64 `tfsdk:"recovery_seconds"`
	RecoveryFrom    types.String  `tfsdk:"recovery_from"`
	DataLossSeconds types.Float64 `tfsdk:"data_loss_seconds"`
	Passed          types.Bool    `tfsdk:"passed"`
	Moved           []string      `tfsdk:"moved"`
	RanBy           types.String  `tfsdk:"ran_by"`
	Failures        []string      `tfsdk:"failures"`
}

func (d *recoveryRecordsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_recovery_records"
}

func (d *recoveryRecordsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The recovery records under a Cloud Storage prefix, newest first: those written by every apply of " +
			"`agentnet_relay_failover_group` and `agentnet_redis_snapshot_restore` with `records_prefix`, and by the drills. " +
			"Each record is a JSON object with a Markdown rendering beside it.",
		Attributes: map[string]schema.Attribute{
			"prefix": schema.StringAttribute{Required: true,
				Validators:  []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")},
				Description: "`gs://BUCKET/PREFIX`: the `records_prefix` the records were written under."},
			"kind": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.OneOf(recordKinds...)},
				Description: "Only records of this kind: `failover`, `restore` or `drill`."},
			"subject": schema.StringAttribute{Optional: true,
				Description: "Only records of this failover group, instance or drill scenario (its name)."},
			"failed_only": schema.BoolAttribute{Optional: true,
				Description: "Only recoveries that failed or missed an objective."},
			"limit": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.AtLeast(1)},
				Description: "At most this many records, the newest."},
			"records": schema.ListNestedAttribute{Computed: true, Description: "The records, newest first.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"uri":              schema.StringAttribute{Computed: true, Description: "`gs://` URI of the JSON record."},
					"markdown_uri":     schema.StringAttribute{Computed: true, Description: "`gs://` URI of its Markdown rendering."},
					"kind":             schema.StringAttribute{Computed: true, Description: "`failover`, `restore` or `drill`."},
					"subject":          schema.StringAttribute{Computed: true, Description: "The group, instance or scenario."},
					"started":          schema.StringAttribute{Computed: true, Description: "When the recovery started (RFC 3339)."},
					"duration_seconds": schema.Float64Attribute{Computed: true, Description: "From start to end."},
					"recovery_seconds": schema.Float64Attribute{Computed: true, Description: "From the first unhealthy probe (see `recovery_from`) to serving again; null when nothing moved."},
					"recovery_from": schema.StringAttribute{Computed: true,
						Description: "What `recovery_seconds` counts from: `first unhealthy probe`, or the apply's start when no probe found a drained region unhealthy (a drain by configuration); null when nothing moved."},
					"data_loss_seconds": schema.Float64Attribute{Computed: true,
						Description: "The writes a restore could not bring back: from the snapshot's time to the data-loss point (`created_before`, else the restore's start), compared with the RPO; null for a recovery that restored no data."},
					"passed":   schema.BoolAttribute{Computed: true, Description: "Whether it succeeded and met its objectives."},
					"moved":    schema.ListAttribute{Computed: true, ElementType: types.StringType, Description: "What moved."},
					"ran_by":   schema.StringAttribute{Computed: true, Description: "What ran it: the CI system and run (with its URL when known), or `local on HOST`."},
					"failures": schema.ListAttribute{Computed: true, ElementType: types.StringType, Description: "Errors and missed objectives."},
				}}},
		},
	}
}

func (d *recoveryRecordsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m recoveryRecordsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	prefix, err := parseGCSURI(m.Prefix.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("prefix"), "Invalid prefix", err.Error())
		return
	}
	found, err := recoveryrecord.List(ctx, d.clients.Storage, prefix.Bucket, prefix.Object)
	if err != nil {
		addListingError(&resp.Diagnostics, path.Root("prefix"), prefix, err, d.clients.Describe(gcpclient.APIStorage, err))
		return
	}
	m.Records = []recordsEntry{}
	for _, s := range found {
		if (!m.Kind.IsNull() && s.Kind != m.Kind.ValueString()) || (!m.Subject.IsNull() && s.Subject != m.Subject.ValueString()) ||
			(m.Failed.ValueBool() && s.Passed) {
			continue
		}
		if !m.Limit.IsNull() && int64(len(m.Records)) >= m.Limit.ValueInt64() {
			break
		}
		m.Records = append(m.Records, entryOf(s))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func entryOf(s recoveryrecord.Stored) recordsEntry {
	e := recordsEntry{URI: types.StringValue(s.URI), MarkdownURI: types.StringValue(strings.TrimSuffix(s.URI, ".json") + ".md"),
		Kind: types.StringValue(s.Kind), Subject: types.StringValue(s.Subject), Started: types.StringValue(s.Started.UTC().Format("2006-01-02T15:04:05.000Z07:00")),
		DurationSeconds: types.Float64Value(s.Ended.Sub(s.Started).Seconds()), RecoverySeconds: types.Float64Null(),
		Passed: types.BoolValue(s.Passed), Moved: s.Moved, RanBy: types.StringValue(s.RanBy.String()), Failures: s.Failures,
		RecoveryFrom: types.StringNull(), DataLossSeconds: types.Float64Null()}
	if d := s.Recovery(); d > 0 {
		e.RecoverySeconds = types.Float64Value(d.Seconds())
		e.RecoveryFrom = types.StringValue(s.RecoveryFrom)
		if s.RecoveryFrom == "" {
			e.RecoveryFrom = types.StringValue(recoveryrecord.FromFirstUnhealthy)
		}
	}
	if d, ok := s.DataLoss(); ok {
		e.DataLossSeconds = types.Float64Value(d.Seconds())
	}
	if e.Moved == nil {
		e.Moved = []string{}
	}
	if e.Failures == nil {
		e.Failures = []string{}
	}
	return e
}
