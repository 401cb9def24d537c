package resources

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	ID                 types.String   `tfsdk:"id"`
	Name               types.String   `tfsdk:"name"`
	Project            types.String   `tfsdk:"project"`
	Region             types.String   `tfsdk:"region"`
	LocationID         types.String   `tfsdk:"location_id"`
	Tier               types.String   `tfsdk:"tier"`
	MemorySizeGB       types.Int64    `tfsdk:"memory_size_gb"`
	RedisVersion       types.String   `tfsdk:"redis_version"`
	DisplayName        types.String   `tfsdk:"display_name"`
	Labels             types.Map      `tfsdk:"labels"`
	PersistenceMode    types.String   `tfsdk:"persistence_mode"`
	RDBSnapshotPeriod  types.String   `tfsdk:"rdb_snapshot_period"`
	Host               types.String   `tfsdk:"host"`
	Port               types.Int64    `tfsdk:"port"`
	State              types.String   `tfsdk:"state"`
	CurrentLocationID  types.String   `tfsdk:"current_location_id"`
	AuthorizedNetwork  types.String   `tfsdk:"authorized_network"`
	ConnectMode        types.String   `tfsdk:"connect_mode"`
	ReservedIPRange    types.String   `tfsdk:"reserved_ip_range"`
	AuthEnabled        types.Bool     `tfsdk:"auth_enabled"`
	TransitEncryption  types.String   `tfsdk:"transit_encryption_mode"`
	RedisConfigs       types.Map      `tfsdk:"redis_configs"`
	CustomerManagedKey types.String   `tfsdk:"customer_managed_key"`
	ServerCACerts      types.List     `tfsdk:"server_ca_certs"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
}

// serverCACertType is one element of server_ca_certs.
var serverCACertType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"cert":             types.StringType,
	"sha1_fingerprint": types.StringType,
	"create_time":      types.StringType,
	"expire_time":      types.StringType,
	"serial_number":    types.StringType,
}}

// Accepted values, shared by the validators and the docs.
var (
	redisTiers          = []string{"BASIC", "STANDARD_HA"}
	redisVersions       = []string{"REDIS_6_X", "REDIS_7_0", "REDIS_7_2"}
	persistenceModes    = []string{"DISABLED", "RDB"}
	rdbSnapshotPeriods  = []string{"ONE_HOUR", "SIX_HOURS", "TWELVE_HOURS", "TWENTY_FOUR_HOURS"}
	redisInstanceNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,38}[a-z0-9]$`)
	connectModes        = []string{"DIRECT_PEERING", "PRIVATE_SERVICE_ACCESS"}
	transitModes        = []string{"DISABLED", "SERVER_AUTHENTICATION"}
	networkNameRE       = regexp.MustCompile(`^projects/[^/]+/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	cryptoKeyNameRE     = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)
	// The redis_configs keys Memorystore for Redis accepts (Redis 7.x).
	redisConfigKeys = []string{"activedefrag", "active-expire-effort", "lazyfree-lazy-eviction", "lazyfree-lazy-expire",
		"lazyfree-lazy-user-del", "lazyfree-lazy-user-flush", "lfu-decay-time", "lfu-log-factor", "lua-time-limit",
		"maxmemory-clients", "maxmemory-gb", "maxmemory-policy", "notify-keyspace-events", "stream-node-max-bytes",
		"stream-node-max-entries", "timeout"}
)

// versionRank orders redis_version values: REDIS_6_X < REDIS_7_0 <
// REDIS_7_2 (-1 for an unknown one).
func versionRank(v string) int { return slices.Index(redisVersions, v) }

// replaceOnDowngrade makes a lower redis_version replace the instance:
// Memorystore upgrades in place (UpgradeInstance) but never downgrades.
var replaceOnDowngrade = stringplanmodifier.RequiresReplaceIf(
	func(_ context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
		resp.RequiresReplace = versionRank(req.PlanValue.ValueString()) < versionRank(req.StateValue.ValueString())
	},
	"A lower version replaces the instance (Memorystore cannot downgrade); a higher one upgrades it in place.",
	"A lower version replaces the instance (Memorystore cannot downgrade); a higher one upgrades it in place.",
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
			"`labels`, `display_name`, persistence, `auth_enabled` or `redis_configs` updates the instance in place, and a " +
			"higher `redis_version` upgrades it in place with its data; every other change replaces it. " +
			"The instance carries the label `managed-by = agentnet` (not shown in `labels`): creating over an existing " +
			"instance without it fails with the `tofu import` line to adopt it, and destroying never deletes an " +
			"instance without it. Importing adopts the instance and adds the label. The AUTH string is never read " +
			"into Terraform state: clients get it from the Memorystore API (`GetInstanceAuthString`).",
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
				Description:   "Region of the instance. Defaults to the provider's `region`." + regionDescription,
				Validators:    []validator.String{RegionNameValidator()},
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
				Default: stringdefault.StaticString("REDIS_7_0"),
				Description: "Redis version: `REDIS_6_X`, `REDIS_7_0` or `REDIS_7_2`. A higher version upgrades the instance " +
					"in place (UpgradeInstance), keeping its data and address; a lower one replaces it, since Memorystore " +
					"cannot downgrade.",
				PlanModifiers: []planmodifier.String{replaceOnDowngrade},
				Validators:    []validator.String{stringvalidator.OneOf(redisVersions...)},
			},
			"authorized_network": schema.StringAttribute{
				Optional: true, Computed: true,
				Description: "VPC network the instance is reachable from, `projects/PROJECT/global/networks/NAME`; the " +
					"project's `default` network when not set (as the API). Relays must egress into this network " +
					"(`agentnet_relay_service.vpc_network`). Changing it replaces the instance.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()},
				Validators: []validator.String{stringvalidator.RegexMatches(networkNameRE,
					"must be a network's full name: projects/PROJECT/global/networks/NAME")},
			},
			"connect_mode": schema.StringAttribute{
				Optional: true, Computed: true,
				Default: stringdefault.StaticString("DIRECT_PEERING"),
				Description: "How the instance attaches to `authorized_network`: `DIRECT_PEERING` (the API's default) or " +
					"`PRIVATE_SERVICE_ACCESS` (an address from the network's private services access range; needs the " +
					"service networking connection). Changing it replaces the instance.",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.OneOf(connectModes...)},
			},
			"reserved_ip_range": schema.StringAttribute{
				Optional: true, Computed: true,
				Description: "With `DIRECT_PEERING`, a free CIDR block of at least /29 for the instance (the service " +
					"picks one when not set); with `PRIVATE_SERVICE_ACCESS`, the name of an allocated range of the " +
					"private services access connection. Changing it replaces the instance.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()},
			},
			"auth_enabled": schema.BoolAttribute{
				Optional: true, Computed: true,
				Default: booldefault.StaticBool(false),
				Description: "Redis AUTH: clients must send the instance's AUTH string, which Memorystore generates. " +
					"It is never stored in Terraform state; clients read it with `GetInstanceAuthString` using their " +
					"own credentials. Changed in place (enabling it again makes a new string).",
			},
			"transit_encryption_mode": schema.StringAttribute{
				Optional: true, Computed: true,
				Default: stringdefault.StaticString("DISABLED"),
				Description: "`SERVER_AUTHENTICATION`: the instance serves TLS only, with a certificate from its own " +
					"certificate authority (`server_ca_certs`), which clients must trust; `DISABLED` (the API's default): " +
					"plain TCP. Memorystore sets it only at creation, so changing it replaces the instance.",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.OneOf(transitModes...)},
			},
			"redis_configs": schema.MapAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "Redis configuration Memorystore supports, such as `maxmemory-policy` (the service's default " +
					"is `volatile-lru`, which evicts keys with a TTL under memory pressure), `maxmemory-gb` or " +
					"`notify-keyspace-events`. Accepted keys: " + strings.Join(redisConfigKeys, ", ") + ". Changed in " +
					"place; a key removed goes back to the service's default.",
				Validators: []validator.Map{mapvalidator.KeysAre(stringvalidator.OneOf(redisConfigKeys...))},
			},
			"customer_managed_key": schema.StringAttribute{
				Optional: true,
				Description: "Cloud KMS key encrypting the instance's data at rest (CMEK), " +
					"`projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY`. Changing it replaces the instance.",
				PlanModifiers: replace,
				Validators: []validator.String{stringvalidator.RegexMatches(cryptoKeyNameRE,
					"must be a Cloud KMS key: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY")},
			},
			"server_ca_certs": schema.ListNestedAttribute{
				Computed: true,
				Description: "With `SERVER_AUTHENTICATION`, the certificate authorities whose certificates the instance " +
					"serves: the PEMs clients trust. Empty without transit encryption.",
				PlanModifiers: []planmodifier.List{listplanmodifier.UseStateForUnknown()},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"cert":             schema.StringAttribute{Computed: true, Description: "The CA certificate, PEM encoded."},
					"sha1_fingerprint": schema.StringAttribute{Computed: true, Description: "SHA-1 fingerprint of the certificate."},
					"create_time":      schema.StringAttribute{Computed: true, Description: "When the certificate was created (RFC 3339)."},
					"expire_time":      schema.StringAttribute{Computed: true, Description: "When the certificate expires (RFC 3339)."},
					"serial_number":    schema.StringAttribute{Computed: true, Description: "Serial number of the certificate."},
				}},
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
	// reserved_ip_range means a CIDR block with direct peering and an
	// allocated range's name with private services access.
	if r := m.ReservedIPRange.ValueString(); r != "" && !m.ConnectMode.IsUnknown() {
		_, _, cidrErr := net.ParseCIDR(r)
		switch mode := m.ConnectMode.ValueString(); {
		case mode == "PRIVATE_SERVICE_ACCESS" && cidrErr == nil:
			resp.Diagnostics.AddAttributeError(path.Root("reserved_ip_range"), "CIDR range with private services access",
				`With connect_mode = "PRIVATE_SERVICE_ACCESS", reserved_ip_range is the name of an allocated range of the network's private services access connection, not a CIDR block.`)
		case mode != "PRIVATE_SERVICE_ACCESS" && cidrErr != nil:
			resp.Diagnostics.AddAttributeError(path.Root("reserved_ip_range"), "Not a CIDR range",
				fmt.Sprintf(`With connect_mode = "DIRECT_PEERING", reserved_ip_range must be a free CIDR block of at least /29, such as 10.0.0.0/29; got %q.`, r))
		}
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
		DisplayName:           plan.DisplayName.ValueString(),
		LocationId:            plan.LocationID.ValueString(),
		Tier:                  redispb.Instance_Tier(redispb.Instance_Tier_value[plan.Tier.ValueString()]),
		MemorySizeGb:          int32(plan.MemorySizeGB.ValueInt64()),
		RedisVersion:          plan.RedisVersion.ValueString(),
		PersistenceConfig:     persistenceConfig(plan),
		AuthorizedNetwork:     plan.AuthorizedNetwork.ValueString(),
		ConnectMode:           redispb.Instance_ConnectMode(redispb.Instance_ConnectMode_value[plan.ConnectMode.ValueString()]),
		ReservedIpRange:       plan.ReservedIPRange.ValueString(),
		AuthEnabled:           plan.AuthEnabled.ValueBool(),
		TransitEncryptionMode: redispb.Instance_TransitEncryptionMode(redispb.Instance_TransitEncryptionMode_value[plan.TransitEncryption.ValueString()]),
		CustomerManagedKey:    plan.CustomerManagedKey.ValueString(),
	}
	var labels map[string]string
	resp.Diagnostics.Append(plan.Labels.ElementsAs(ctx, &labels, false)...)
	resp.Diagnostics.Append(plan.RedisConfigs.ElementsAs(ctx, &inst.RedisConfigs, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	inst.Labels = withOwnerLabel(labels)
	op, err := r.clients.Redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{
		Parent: name.parent(), InstanceId: name.Instance, Instance: inst,
	})
	if err == nil {
		inst, err = gcpclient.Wait(ctx, op)
	}
	if status.Code(err) == codes.AlreadyExists {
		resp.Diagnostics.AddError("Redis instance "+name.String()+" already exists", r.existing(ctx, name))
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Creating Redis instance "+name.String()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	plan.fromAPI(inst)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// existing explains why a create found the instance already there: made
// by someone else (no marker), or by agentnet under another state.
func (r *redisInstanceResource) existing(ctx context.Context, name instanceName) string {
	inst, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: name.String()})
	return alreadyExistsError("Memorystore instance", name.String(), "agentnet_redis_instance", name.String(), err != nil || ownedByLabel(inst.GetLabels()))
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
		var labels map[string]string
		resp.Diagnostics.Append(plan.Labels.ElementsAs(ctx, &labels, false)...)
		inst.Labels = withOwnerLabel(labels)
		mask = append(mask, "labels")
	}
	if !plan.AuthEnabled.Equal(state.AuthEnabled) {
		inst.AuthEnabled = plan.AuthEnabled.ValueBool()
		mask = append(mask, "auth_enabled")
	}
	if !plan.RedisConfigs.Equal(state.RedisConfigs) {
		resp.Diagnostics.Append(plan.RedisConfigs.ElementsAs(ctx, &inst.RedisConfigs, false)...)
		mask = append(mask, "redis_configs")
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
	// A higher version is an in-place upgrade (a lower one was planned as a
	// replacement).
	if to := plan.RedisVersion.ValueString(); versionRank(to) > versionRank(state.RedisVersion.ValueString()) {
		op, err := r.clients.Redis.UpgradeInstance(ctx, &redispb.UpgradeInstanceRequest{Name: state.ID.ValueString(), RedisVersion: to})
		var inst *redispb.Instance
		if err == nil {
			inst, err = gcpclient.Wait(ctx, op)
		}
		if err != nil {
			resp.Diagnostics.AddError("Upgrading Redis instance "+state.ID.ValueString()+" to "+to+" failed", r.clients.Describe(gcpclient.APIRedis, err))
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

	inst, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: state.ID.ValueString()})
	if gcpclient.IsNotFound(err) {
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Deleting Redis instance "+state.ID.ValueString()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	if !ownedByLabel(inst.GetLabels()) {
		resp.Diagnostics.AddError("Redis instance "+state.ID.ValueString()+" not deleted", notOursDeleteError("Memorystore instance", state.ID.ValueString()))
		return
	}
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
	// Importing is the deliberate adoption of an instance: it gets the
	// marker, so that this configuration may later delete it.
	inst, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: req.ID})
	if err != nil {
		resp.Diagnostics.AddError("Importing Redis instance "+req.ID+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	if !ownedByLabel(inst.GetLabels()) {
		op, err := r.clients.Redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
			Instance:   &redispb.Instance{Name: req.ID, Labels: withOwnerLabel(inst.GetLabels())},
		})
		if err == nil {
			_, err = gcpclient.Wait(ctx, op)
		}
		if err != nil {
			resp.Diagnostics.AddError("Marking imported Redis instance "+req.ID+" as managed by agentnet failed", r.clients.Describe(gcpclient.APIRedis, err))
			return
		}
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
	m.Labels = optionalStringMap(withoutProviderLabels(inst.GetLabels()))
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
	m.AuthorizedNetwork = types.StringValue(inst.GetAuthorizedNetwork())
	m.ConnectMode = types.StringValue(inst.GetConnectMode().String())
	m.ReservedIPRange = optionalString(inst.GetReservedIpRange())
	m.AuthEnabled = types.BoolValue(inst.GetAuthEnabled())
	m.TransitEncryption = types.StringValue(inst.GetTransitEncryptionMode().String())
	if inst.GetTransitEncryptionMode() == redispb.Instance_TRANSIT_ENCRYPTION_MODE_UNSPECIFIED {
		m.TransitEncryption = types.StringValue("DISABLED")
	}
	// An empty map configured stays empty (the API reports none).
	if len(inst.GetRedisConfigs()) > 0 || m.RedisConfigs.IsNull() || m.RedisConfigs.IsUnknown() || len(m.RedisConfigs.Elements()) > 0 {
		m.RedisConfigs = optionalStringMap(inst.GetRedisConfigs())
	}
	m.CustomerManagedKey = optionalString(inst.GetCustomerManagedKey())
	certs := make([]attr.Value, 0, len(inst.GetServerCaCerts()))
	for _, c := range inst.GetServerCaCerts() {
		certs = append(certs, types.ObjectValueMust(serverCACertType.AttrTypes, map[string]attr.Value{
			"cert":             types.StringValue(c.GetCert()),
			"sha1_fingerprint": types.StringValue(c.GetSha1Fingerprint()),
			"create_time":      types.StringValue(c.GetCreateTime().AsTime().UTC().Format(time.RFC3339)),
			"expire_time":      types.StringValue(c.GetExpireTime().AsTime().UTC().Format(time.RFC3339)),
			"serial_number":    types.StringValue(c.GetSerialNumber()),
		}))
	}
	m.ServerCACerts = types.ListValueMust(serverCACertType, certs)
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
