package resources

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

var (
	_ resource.ResourceWithConfigure   = (*redisInstanceResource)(nil)
	_ resource.ResourceWithImportState = (*redisInstanceResource)(nil)
)

// NewRedisInstanceResource is agentnet_redis_instance: the Memorystore
// instance the relays route messages through.
func NewRedisInstanceResource() resource.Resource { return &redisInstanceResource{} }

type redisInstanceResource struct{ withClients }

type redisInstanceModel struct {
	ID                types.String   `tfsdk:"id"`
	Name              types.String   `tfsdk:"name"`
	Project           types.String   `tfsdk:"project"`
	Region            types.String   `tfsdk:"region"`
	LocationID        types.String   `tfsdk:"location_id"`
	Tier              types.String   `tfsdk:"tier"`
	MemorySizeGB      types.Int64    `tfsdk:"memory_size_gb"`
	RedisVersion      types.String   `tfsdk:"redis_version"`
	DisplayName       types.String   `tfsdk:"display_name"`
	Labels            types.Map      `tfsdk:"labels"`
	PersistenceMode   types.String   `tfsdk:"persistence_mode"`
	RDBSnapshotPeriod types.String   `tfsdk:"rdb_snapshot_period"`
	Host              types.String   `tfsdk:"host"`
	Port              types.Int64    `tfsdk:"port"`
	State             types.String   `tfsdk:"state"`
	CurrentLocationID types.String   `tfsdk:"current_location_id"`
	Timeouts          timeouts.Value `tfsdk:"timeouts"`
}

// Accepted values, shared by the validators and the docs.
var (
	redisTiers          = []string{"BASIC", "STANDARD_HA"}
	redisVersions       = []string{"REDIS_6_X", "REDIS_7_0", "REDIS_7_2"}
	persistenceModes    = []string{"DISABLED", "RDB"}
	rdbSnapshotPeriods  = []string{"ONE_HOUR", "SIX_HOURS", "TWELVE_HOURS", "TWENTY_FOUR_HOURS"}
	redisInstanceNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,38}[a-z0-9]$`)
)

const (
	minRedisMemoryGB = 1
	maxRedisMemoryGB = 300
)

func (r *redisInstanceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_instance"
}

func (r *redisInstanceResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "A Memorystore for Redis instance: the pub/sub backbone that relay instances of one region route " +
			"messages through. Creating it is the Redis Recovery procedure's \"create new instance\" step; " +
			"restoring its data from a snapshot is `agentnet_redis_snapshot_restore`. Changing `memory_size_gb`, " +
			"`labels`, `display_name` or persistence updates the instance in place; every other change replaces it.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "Full resource name: `projects/PROJECT/locations/REGION/instances/NAME`. Import by this id.",
				PlanModifiers: keep,
			},
			"name": schema.StringAttribute{
				Required:      true,
				Description:   "Instance id: lowercase letters, digits and hyphens, 2 to 40 characters, starting with a letter.",
				PlanModifiers: replace,
				Validators: []validator.String{stringvalidator.RegexMatches(redisInstanceNameRE,
					"must be 2 to 40 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen")},
			},
			"project": schema.StringAttribute{
				Optional: true, Computed: true,
				Description:   "Project of the instance. Defaults to the provider's `project`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()},
			},
			"region": schema.StringAttribute{
				Optional: true, Computed: true,
				Description:   "Region of the instance. Defaults to the provider's `region`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()},
			},
			"location_id": schema.StringAttribute{
				Optional: true, Computed: true,
				Description:   "Zone the instance is placed in. Chosen by the service when not set.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()},
			},
			"tier": schema.StringAttribute{
				Optional: true, Computed: true,
				Default:       stringdefault.StaticString("BASIC"),
				Description:   "Service tier: `BASIC` (a single node) or `STANDARD_HA` (a replica in another zone with automatic failover).",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.OneOf(redisTiers...)},
			},
			"memory_size_gb": schema.Int64Attribute{
				Required:    true,
				Description: fmt.Sprintf("Memory size in GiB, %d to %d. Changed in place.", minRedisMemoryGB, maxRedisMemoryGB),
				Validators:  []validator.Int64{int64validator.Between(minRedisMemoryGB, maxRedisMemoryGB)},
			},
			"redis_version": schema.StringAttribute{
				Optional: true, Computed: true,
				Default:       stringdefault.StaticString("REDIS_7_0"),
				Description:   "Redis version: `REDIS_6_X`, `REDIS_7_0` or `REDIS_7_2`. Changing it replaces the instance.",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.OneOf(redisVersions...)},
			},
			"display_name": schema.StringAttribute{
				Optional:    true,
				Description: "Human-readable name of the instance.",
			},
			"labels": schema.MapAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "Labels of the instance.",
			},
			"persistence_mode": schema.StringAttribute{
				Optional: true, Computed: true,
				Default: stringdefault.StaticString("DISABLED"),
				Description: "`RDB` takes an RDB snapshot of the instance every `rdb_snapshot_period`, from which it " +
					"reloads after a node failure; `DISABLED` keeps data in memory only. Snapshots for disaster " +
					"recovery are `agentnet_redis_snapshot` exports to Cloud Storage, independent of this.",
				Validators: []validator.String{stringvalidator.OneOf(persistenceModes...)},
			},
			"rdb_snapshot_period": schema.StringAttribute{
				Optional: true, Computed: true,
				Description: "How often an `RDB` instance snapshots itself: `ONE_HOUR`, `SIX_HOURS`, `TWELVE_HOURS` or " +
					"`TWENTY_FOUR_HOURS` (the service's default). Only with `persistence_mode = \"RDB\"`.",
				Validators: []validator.String{stringvalidator.OneOf(rdbSnapshotPeriods...)},
			},
			"host": schema.StringAttribute{Computed: true, Description: "Address relays connect to.", PlanModifiers: keep},
			"port": schema.Int64Attribute{Computed: true, Description: "Port relays connect to.",
				PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}},
			"state": schema.StringAttribute{Computed: true, Description: "State reported by the service, `READY` once created.", PlanModifiers: keep},
			"current_location_id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "Zone the primary node currently runs in; differs from `location_id` after a failover."},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

func (r *redisInstanceResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m redisInstanceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if m.RDBSnapshotPeriod.ValueString() != "" && !m.PersistenceMode.IsUnknown() && m.PersistenceMode.ValueString() != "RDB" {
		resp.Diagnostics.AddAttributeError(path.Root("rdb_snapshot_period"), "Snapshot period without RDB persistence",
			`rdb_snapshot_period is only accepted with persistence_mode = "RDB".`)
	}
}

var _ resource.ResourceWithValidateConfig = (*redisInstanceResource)(nil)

func (r *redisInstanceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan redisInstanceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := instanceName{
		Project:  orDefault(plan.Project, r.clients.Project, "project", &resp.Diagnostics),
		Region:   orDefault(plan.Region, r.clients.Region, "region", &resp.Diagnostics),
		Instance: plan.Name.ValueString(),
	}
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, 60*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	inst := &redispb.Instance{
		DisplayName:       plan.DisplayName.ValueString(),
		LocationId:        plan.LocationID.ValueString(),
		Tier:              redispb.Instance_Tier(redispb.Instance_Tier_value[plan.Tier.ValueString()]),
		MemorySizeGb:      int32(plan.MemorySizeGB.ValueInt64()),
		RedisVersion:      plan.RedisVersion.ValueString(),
		PersistenceConfig: persistenceConfig(plan),
	}
	resp.Diagnostics.Append(plan.Labels.ElementsAs(ctx, &inst.Labels, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	op, err := r.clients.Redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{
		Parent: name.parent(), InstanceId: name.Instance, Instance: inst,
	})
	if err == nil {
		inst, err = gcpclient.Wait(ctx, op)
	}
	if err != nil {
		resp.Diagnostics.AddError("Creating Redis instance "+name.String()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	plan.fromAPI(inst)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *redisInstanceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state redisInstanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	inst, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: state.ID.ValueString()})
	if gcpclient.IsNotFound(err) {
		// Deleted behind Terraform's back: the next plan creates it again.
		resp.State.RemoveResource(ctx)
		return
	}
	if keepOnRegionOutage(err, state.ID.ValueString(), &resp.Diagnostics) {
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Reading Redis instance "+state.ID.ValueString()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	state.fromAPI(inst)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *redisInstanceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state redisInstanceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, 60*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	inst := &redispb.Instance{Name: state.ID.ValueString()}
	var mask []string
	if !plan.MemorySizeGB.Equal(state.MemorySizeGB) {
		inst.MemorySizeGb = int32(plan.MemorySizeGB.ValueInt64())
		mask = append(mask, "memory_size_gb")
	}
	if !plan.DisplayName.Equal(state.DisplayName) {
		inst.DisplayName = plan.DisplayName.ValueString()
		mask = append(mask, "display_name")
	}
	if !plan.Labels.Equal(state.Labels) {
		resp.Diagnostics.Append(plan.Labels.ElementsAs(ctx, &inst.Labels, false)...)
		mask = append(mask, "labels")
	}
	if !plan.PersistenceMode.Equal(state.PersistenceMode) || !plan.RDBSnapshotPeriod.IsUnknown() && !plan.RDBSnapshotPeriod.Equal(state.RDBSnapshotPeriod) {
		inst.PersistenceConfig = persistenceConfig(plan)
		mask = append(mask, "persistence_config")
	}
	if resp.Diagnostics.HasError() {
		return
	}
	if len(mask) > 0 {
		op, err := r.clients.Redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{
			UpdateMask: &fieldmaskpb.FieldMask{Paths: mask}, Instance: inst,
		})
		if err == nil {
			inst, err = gcpclient.Wait(ctx, op)
		}
		if err != nil {
			resp.Diagnostics.AddError("Updating Redis instance "+state.ID.ValueString()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
			return
		}
		plan.fromAPI(inst)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *redisInstanceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state redisInstanceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, 30*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	op, err := r.clients.Redis.DeleteInstance(ctx, &redispb.DeleteInstanceRequest{Name: state.ID.ValueString()})
	if err == nil {
		err = op.Wait(ctx) // Delete's Poll has no result; Wait is the generated loop.
	}
	if err != nil && !gcpclient.IsNotFound(err) {
		resp.Diagnostics.AddError("Deleting Redis instance "+state.ID.ValueString()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
	}
}

func (r *redisInstanceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if _, err := parseInstanceName(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error())
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

// fromAPI copies what the service reports into the model. Name, project and
// region come from the full name, so an import fills them in.
func (m *redisInstanceModel) fromAPI(inst *redispb.Instance) {
	n, _ := parseInstanceName(inst.GetName())
	m.ID = types.StringValue(inst.GetName())
	m.Name = types.StringValue(n.Instance)
	m.Project = types.StringValue(n.Project)
	m.Region = types.StringValue(n.Region)
	m.LocationID = types.StringValue(inst.GetLocationId())
	m.Tier = types.StringValue(inst.GetTier().String())
	m.MemorySizeGB = types.Int64Value(int64(inst.GetMemorySizeGb()))
	m.RedisVersion = types.StringValue(inst.GetRedisVersion())
	m.DisplayName = optionalString(inst.GetDisplayName())
	m.Labels = optionalStringMap(inst.GetLabels())
	m.PersistenceMode = types.StringValue("DISABLED")
	m.RDBSnapshotPeriod = types.StringNull()
	if pc := inst.GetPersistenceConfig(); pc.GetPersistenceMode() == redispb.PersistenceConfig_RDB {
		m.PersistenceMode = types.StringValue("RDB")
		m.RDBSnapshotPeriod = types.StringValue(pc.GetRdbSnapshotPeriod().String())
	}
	m.Host = types.StringValue(inst.GetHost())
	m.Port = types.Int64Value(int64(inst.GetPort()))
	m.State = types.StringValue(inst.GetState().String())
	m.CurrentLocationID = types.StringValue(inst.GetCurrentLocationId())
}

func persistenceConfig(m redisInstanceModel) *redispb.PersistenceConfig {
	if m.PersistenceMode.ValueString() != "RDB" {
		return &redispb.PersistenceConfig{PersistenceMode: redispb.PersistenceConfig_DISABLED}
	}
	period := redispb.PersistenceConfig_TWENTY_FOUR_HOURS
	if p := m.RDBSnapshotPeriod.ValueString(); p != "" {
		period = redispb.PersistenceConfig_SnapshotPeriod(redispb.PersistenceConfig_SnapshotPeriod_value[p])
	}
	return &redispb.PersistenceConfig{PersistenceMode: redispb.PersistenceConfig_RDB, RdbSnapshotPeriod: period}
}
