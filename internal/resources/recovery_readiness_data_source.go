package resources

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/float64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

var _ datasource.DataSourceWithConfigure = (*recoveryReadinessDataSource)(nil)

// defaultPropagationDelay is how long a URL map change takes to reach the
// load balancer's edge when propagation_delay is not set: the gcp timing
// profile's figure, with its source.
var defaultPropagationDelay = profile.GCP().Delay(profile.URLMapPropagation)

// NewRecoveryReadinessDataSource is data agentnet_recovery_readiness: a
// declared topology evaluated against its recovery objectives.
func NewRecoveryReadinessDataSource() datasource.DataSource {
	return &recoveryReadinessDataSource{now: time.Now}
}

type recoveryReadinessDataSource struct {
	dataSourceWithClients
	now func() time.Time
}

type recoveryReadinessModel struct {
	Regions           map[string]readinessRegionModel `tfsdk:"regions"`
	TotalMinInstances types.Int64                     `tfsdk:"total_min_instances"`
	SnapshotInterval  timetypes.GoDuration            `tfsdk:"snapshot_interval"`
	RTO               timetypes.GoDuration            `tfsdk:"rto"`
	RPO               timetypes.GoDuration            `tfsdk:"rpo"`
	Soak              timetypes.GoDuration            `tfsdk:"reintroduction_soak"`
	DrainGrace        timetypes.GoDuration            `tfsdk:"drain_grace_period"`
	PropagationDelay  timetypes.GoDuration            `tfsdk:"propagation_delay"`
	MessageAckRegions types.Int64                     `tfsdk:"message_ack_regions"`
	SnapshotsPrefix   types.String                    `tfsdk:"snapshots_prefix"`
	Ready             types.Bool                      `tfsdk:"ready"`
	Findings          types.List                      `tfsdk:"findings"`
	Report            types.String                    `tfsdk:"report"`
}

type readinessRegionModel struct {
	Weight               types.Int64   `tfsdk:"weight"`
	MinInstances         types.Int64   `tfsdk:"min_instances"`
	MaxInstances         types.Int64   `tfsdk:"max_instances"`
	RedisMemorySizeGB    types.Float64 `tfsdk:"redis_memory_size_gb"`
	RedisExpectedUsageGB types.Float64 `tfsdk:"redis_expected_usage_gb"`
}

var readinessFindingAttrTypes = map[string]attr.Type{
	"severity": types.StringType, "check": types.StringType, "message": types.StringType, "remedy": types.StringType,
}

func (d *recoveryReadinessDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_recovery_readiness"
}

func (d *recoveryReadinessDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	duration := func(desc string, required bool) schema.StringAttribute {
		return schema.StringAttribute{Required: required, Optional: !required, CustomType: timetypes.GoDurationType{},
			Description: desc, Validators: []validator.String{durationAtLeast(0)}}
	}
	resp.Schema = schema.Schema{
		Description: "Whether a declared topology can meet its recovery objectives, before the day it is needed. " +
			"Checks: enough capacity in the other regions to lose any one (`region_loss_capacity`), at least one " +
			"minimum instance per region (`min_instance_per_region`), the snapshot schedule against the RPO " +
			"(`snapshot_schedule`), the newest snapshot's age when `snapshots_prefix` is set (`snapshot_age`), the load " +
			"balancer's propagation delay, which the failover group waits out before a drain's grace starts, against how long the group " +
			"waits for a change, the drain (the delay, then the grace) against the RTO, and the grace against the delay, for agents " +
			"reaching front ends that take the change later (`propagation`), Redis memory headroom where usage is declared " +
			"(`redis_headroom`), and the RPO messages " +
			"get against that of other Redis data (`message_rpo`). Each finding has a severity (`error`, `warning`, " +
			"`info`) and what to change; `ready` is false when any is an error, so a `check` block asserting it fails " +
			"CI (`make readiness`). Reading it changes nothing.",
		Attributes: map[string]schema.Attribute{
			"regions": schema.MapNestedAttribute{
				Required:    true,
				Description: "The regions, by name: their instance bounds and, optionally, Redis sizing.",
				Validators:  []validator.Map{mapvalidator.SizeAtLeast(1)},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"weight": schema.Int64Attribute{Optional: true, Description: "Share of new connections the region takes (default 100; 0: none, as drained or standby): a lost region's capacity is spread over the others by weight, as the failover group spreads `total_min_instances`.",
						Validators: []validator.Int64{int64validator.AtLeast(0)}},
					"min_instances": schema.Int64Attribute{Required: true, Description: "Minimum relay instances the region keeps running.",
						Validators: []validator.Int64{int64validator.AtLeast(0)}},
					"max_instances": schema.Int64Attribute{Required: true, Description: "Most relay instances the region can run (the service's `max_instances`).",
						Validators: []validator.Int64{int64validator.AtLeast(1)}},
					"redis_memory_size_gb": schema.Float64Attribute{Optional: true, Description: "The region's Memorystore capacity in GB.",
						Validators: []validator.Float64{float64validator.AtLeast(0)}},
					"redis_expected_usage_gb": schema.Float64Attribute{Optional: true, Description: "Redis memory the region is expected to use, in GB; with `redis_memory_size_gb`, checked for headroom (above 80 % is a warning, above 100 % an error).",
						Validators: []validator.Float64{float64validator.AtLeast(0)}},
				}},
			},
			"total_min_instances": schema.Int64Attribute{Required: true,
				Description: "Minimum relay instances across the regions taking traffic (the failover group's capacity plan): what the other regions must hold when one is lost.",
				Validators:  []validator.Int64{int64validator.AtLeast(0)}},
			"snapshot_interval": duration("Time between Redis snapshots, for example `1h` for hourly.", true),
			"rto":               duration("Recovery time objective, for example `15m`.", true),
			"rpo":               duration("Recovery point objective, for example `5m`.", true),
			"reintroduction_soak": schema.StringAttribute{Optional: true, CustomType: timetypes.GoDurationType{},
				Description:        "Not checked any more: the failover group counts each step's soak from the moment the front door follows it and probes through that front door, so the propagation delay does not shorten it.",
				DeprecationMessage: "reintroduction_soak is no longer checked (the failover group counts the soak from the moment the front door follows each step): remove it."},
			"drain_grace_period": duration("How long a drain waits, once the front door follows the new weights, before it tells a region's agents to reconnect (the failover group's `drain_grace_period`).", true),
			"propagation_delay": duration("How long a URL map change takes to reach the load balancer's edge, so that new connections follow it: "+
				"a failover waits this long before its drain's grace starts. "+
				"Default `"+defaultPropagationDelay.For(0).String()+"`, the figure localcloud's `gcp` profile models (operation DONE means the control plane took the change, "+
				"not that every edge follows it; source: "+defaultPropagationDelay.Source+"); set the figure you measured on your load balancer.", false),
			"message_ack_regions": schema.Int64Attribute{Optional: true,
				Description: "How many regions hold a message before the relay acknowledges it. Default 2: the relay acknowledges once two regions hold it.",
				Validators:  []validator.Int64{int64validator.AtLeast(1)}},
			"snapshots_prefix": schema.StringAttribute{Optional: true,
				Description: "`gs://BUCKET/PREFIX` of the snapshots, read as `agentnet_redis_snapshots` reads it, to check the newest one's age against the RPO. Null: the age is not checked.",
				Validators:  []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")}},
			"ready": schema.BoolAttribute{Computed: true, Description: "False when any finding is an error."},
			"findings": schema.ListNestedAttribute{Computed: true, Description: "What the evaluation found, errors and warnings first in check order.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"severity": schema.StringAttribute{Computed: true, Description: "`error` (the objectives cannot be met), `warning` or `info`."},
					"check":    schema.StringAttribute{Computed: true, Description: "The check's name, for example `snapshot_schedule`."},
					"message":  schema.StringAttribute{Computed: true, Description: "What was found, with the figures."},
					"remedy":   schema.StringAttribute{Computed: true, Description: "What to change; empty for `info`."},
				}}},
			"report": schema.StringAttribute{Computed: true, Description: "The findings as text, one a line, for a check block's message or a CI log."},
		},
	}
}

func (d *recoveryReadinessDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m recoveryReadinessModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	t := readinessTopology{
		TotalMinInstances: m.TotalMinInstances.ValueInt64(),
		SnapshotInterval:  durationOf(m.SnapshotInterval, 0, path.Root("snapshot_interval"), &resp.Diagnostics),
		RTO:               durationOf(m.RTO, 0, path.Root("rto"), &resp.Diagnostics),
		RPO:               durationOf(m.RPO, 0, path.Root("rpo"), &resp.Diagnostics),
		DrainGrace:        durationOf(m.DrainGrace, 0, path.Root("drain_grace_period"), &resp.Diagnostics),
		PropagationDelay:  durationOf(m.PropagationDelay, defaultPropagationDelay.For(0), path.Root("propagation_delay"), &resp.Diagnostics),
		MessageAckRegions: 2,
	}
	if !m.MessageAckRegions.IsNull() {
		t.MessageAckRegions = m.MessageAckRegions.ValueInt64()
	}
	for name, r := range m.Regions {
		if r.MinInstances.ValueInt64() > r.MaxInstances.ValueInt64() {
			resp.Diagnostics.AddAttributeError(path.Root("regions").AtMapKey(name).AtName("min_instances"), "Invalid min_instances",
				fmt.Sprintf("regions[%q].min_instances (%d) must not exceed max_instances (%d).", name, r.MinInstances.ValueInt64(), r.MaxInstances.ValueInt64()))
		}
		weight := int64(100)
		if !r.Weight.IsNull() {
			weight = r.Weight.ValueInt64()
		}
		t.Regions = append(t.Regions, readinessRegion{Name: name, Weight: weight, MinInstances: r.MinInstances.ValueInt64(), MaxInstances: r.MaxInstances.ValueInt64(),
			RedisMemoryGB: r.RedisMemorySizeGB.ValueFloat64(), RedisExpectedUsageGB: r.RedisExpectedUsageGB.ValueFloat64()})
	}
	if !m.SnapshotsPrefix.IsNull() {
		d.readNewestSnapshot(ctx, m.SnapshotsPrefix.ValueString(), &t, resp)
	}
	if resp.Diagnostics.HasError() {
		return
	}

	findings := evaluateReadiness(t)
	values := make([]attr.Value, len(findings))
	for i, f := range findings {
		values[i] = types.ObjectValueMust(readinessFindingAttrTypes, map[string]attr.Value{
			"severity": types.StringValue(f.Severity), "check": types.StringValue(f.Check),
			"message": types.StringValue(f.Message), "remedy": types.StringValue(f.Remedy),
		})
	}
	list, diags := types.ListValue(types.ObjectType{AttrTypes: readinessFindingAttrTypes}, values)
	resp.Diagnostics.Append(diags...)
	m.Findings = list
	m.Ready = types.BoolValue(readinessReady(findings))
	m.Report = types.StringValue(readinessReport(findings))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// readNewestSnapshot sets the age of the newest object under the prefix,
// listed as agentnet_redis_snapshots lists it (manifests are not snapshots).
func (d *recoveryReadinessDataSource) readNewestSnapshot(ctx context.Context, uri string, t *readinessTopology, resp *datasource.ReadResponse) {
	prefix, err := parseGCSURI(uri)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("snapshots_prefix"), "Invalid snapshots_prefix", err.Error())
		return
	}
	found, ok := listSnapshotsAt(ctx, d.clients, prefix, path.Root("snapshots_prefix"), &resp.Diagnostics)
	if !ok {
		return
	}
	var age time.Duration
	if len(found) > 0 {
		age = d.now().Sub(found[0].Created)
		t.SnapshotsFound = true
	}
	t.NewestSnapshotAge = &age
}
