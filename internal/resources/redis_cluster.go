package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

var (
	_ resource.ResourceWithConfigure   = (*redisClusterResource)(nil)
	_ resource.ResourceWithImportState = (*redisClusterResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*redisClusterResource)(nil)
)

// NewRedisClusterResource is agentnet_redis_cluster: a Memorystore for
// Redis Cluster, the sharded Redis of a region whose traffic one Redis main
// thread cannot carry (docs/redis-scaling.md).
func NewRedisClusterResource() resource.Resource { return &redisClusterResource{} }

type redisClusterResource struct{ withClients }

type redisClusterModel struct {
	ID                 types.String   `tfsdk:"id"`
	Name               types.String   `tfsdk:"name"`
	Project            types.String   `tfsdk:"project"`
	Region             types.String   `tfsdk:"region"`
	ShardCount         types.Int64    `tfsdk:"shard_count"`
	ReplicaCount       types.Int64    `tfsdk:"replica_count"`
	NodeType           types.String   `tfsdk:"node_type"`
	Network            types.String   `tfsdk:"network"`
	TransitEncryption  types.String   `tfsdk:"transit_encryption_mode"`
	AuthorizationMode  types.String   `tfsdk:"authorization_mode"`
	DeletionProtection types.Bool     `tfsdk:"deletion_protection_enabled"`
	RedisConfigs       types.Map      `tfsdk:"redis_configs"`
	UID                types.String   `tfsdk:"uid"`
	State              types.String   `tfsdk:"state"`
	DiscoveryEndpoints types.List     `tfsdk:"discovery_endpoints"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
}

var discoveryEndpointType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"address": types.StringType,
	"port":    types.Int64Type,
}}

// Accepted values, shared by the validators and the docs.
var (
	// clusterId: 1 to 63 lowercase letters, digits and hyphens, starting
	// with a letter and ending with a letter or digit.
	redisClusterNameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	clusterIDRE        = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/clusters/([^/]+)$`)
	// The node types of Memorystore for Redis Cluster (cluster and node
	// specification page).
	clusterNodeTypes   = []string{"REDIS_SHARED_CORE_NANO", "REDIS_STANDARD_SMALL", "REDIS_HIGHMEM_MEDIUM", "REDIS_HIGHMEM_XLARGE"}
	clusterTransit     = []string{"TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION", "TRANSIT_ENCRYPTION_MODE_DISABLED"}
	clusterAuthModes   = []string{"AUTH_MODE_IAM_AUTH", "AUTH_MODE_DISABLED"}
	clusterConfigKeys  = []string{"maxclients", "maxmemory", "maxmemory-clients", "maxmemory-policy", "notify-keyspace-events", "slowlog-log-slower-than", "stream-node-max-bytes", "stream-node-max-entries"}
	defaultClusterNode = "REDIS_HIGHMEM_MEDIUM" // the API's default
)

const (
	minClusterShards   = 1
	maxClusterShards   = 250
	maxClusterReplicas = 5
)

// clusterName is a cluster's full resource name.
type clusterName struct{ Project, Region, Cluster string }

func (n clusterName) String() string {
	return fmt.Sprintf("projects/%s/locations/%s/clusters/%s", n.Project, n.Region, n.Cluster)
}

func (n clusterName) parent() string {
	return fmt.Sprintf("projects/%s/locations/%s", n.Project, n.Region)
}

func parseClusterName(s string) (clusterName, error) {
	m := clusterIDRE.FindStringSubmatch(s)
	if m == nil {
		return clusterName{}, fmt.Errorf("%q is not a cluster id of the form projects/PROJECT/locations/REGION/clusters/NAME", s)
	}
	return clusterName{m[1], m[2], m[3]}, nil
}

func (r *redisClusterResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_cluster"
}

func (r *redisClusterResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	replaceKeep := []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "A Memorystore for Redis Cluster: a region's Redis sharded over `shard_count` primaries, each with " +
			"`replica_count` replicas that Memorystore promotes when a primary fails. A region needs one when a single " +
			"Redis main thread cannot carry its envelopes (docs/redis-scaling.md); `agentnet_relay_service` takes its id " +
			"where it takes an instance's. Changing `shard_count`, `replica_count`, `redis_configs` or " +
			"`deletion_protection_enabled` updates the cluster in place; every other change replaces it, deleting its data. " +
			"The cluster API has no labels, so the provider's ownership marker is the cluster's `uid`, recorded when it " +
			"creates or imports the cluster: creating over an existing cluster fails with the `tofu import` line to adopt " +
			"it, and destroying deletes only the cluster with the recorded `uid`, never one recreated under the same " +
			"name by someone else.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "Full resource name: `projects/PROJECT/locations/REGION/clusters/NAME`. Import by this id.",
				PlanModifiers: keep,
			},
			"name": schema.StringAttribute{
				Required:      true,
				Description:   "Cluster id: 1 to 63 lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit.",
				PlanModifiers: replace,
				Validators: []validator.String{stringvalidator.RegexMatches(redisClusterNameRE,
					"must be 1 to 63 lowercase letters, digits or hyphens, start with a letter and end with a letter or digit")},
			},
			"project": schema.StringAttribute{
				Optional: true, Computed: true,
				Description:   "Project of the cluster. Defaults to the provider's `project`.",
				PlanModifiers: replaceKeep,
			},
			"region": schema.StringAttribute{
				Optional: true, Computed: true,
				Description:   "Region of the cluster. Defaults to the provider's `region`." + regionDescription,
				Validators:    []validator.String{RegionNameValidator()},
				PlanModifiers: replaceKeep,
			},
			"shard_count": schema.Int64Attribute{
				Required: true,
				Description: fmt.Sprintf("Number of shards, %d to %d: each a primary with its own main thread and a share of "+
					"the 16,384 hash slots. Changed in place (Memorystore moves slots between shards while serving).",
					minClusterShards, maxClusterShards),
				Validators: []validator.Int64{int64validator.Between(minClusterShards, maxClusterShards)},
			},
			"replica_count": schema.Int64Attribute{
				Optional: true, Computed: true,
				Default: int64default.StaticInt64(1),
				Description: fmt.Sprintf("Replicas per shard, 0 to %d. Defaults to 1, so that a failed primary's replica is "+
					"promoted and the shard keeps its data (with 0 a failed primary's shard restarts empty); the API's own "+
					"default is 0. Changed in place.", maxClusterReplicas),
				Validators: []validator.Int64{int64validator.Between(0, maxClusterReplicas)},
			},
			"node_type": schema.StringAttribute{
				Optional: true, Computed: true,
				Default: stringdefault.StaticString(defaultClusterNode),
				Description: "Node type of every shard: `" + strings.Join(clusterNodeTypes, "`, `") + "`. Defaults to `" +
					defaultClusterNode + "`, the API's default (`REDIS_SHARED_CORE_NANO` has no SLA: not for production). " +
					"Changing it replaces the cluster.",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.OneOf(clusterNodeTypes...)},
			},
			"network": schema.StringAttribute{
				Required: true,
				Description: "VPC network the discovery endpoint gets its address in, through Private Service Connect " +
					"(`psc_configs.network` of the API), `projects/PROJECT/global/networks/NAME`. The network needs a service " +
					"connection policy for `gcp-memorystore-redis` in the region. Relays must egress into it " +
					"(`agentnet_relay_service.vpc_network`). Changing it replaces the cluster.",
				PlanModifiers: replace,
				Validators: []validator.String{stringvalidator.RegexMatches(networkNameRE,
					"must be a network's full name: projects/PROJECT/global/networks/NAME")},
			},
			"transit_encryption_mode": schema.StringAttribute{
				Optional: true, Computed: true,
				Default: stringdefault.StaticString(clusterTransit[0]),
				Description: "`TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION` (the default): every node serves TLS only, with a " +
					"certificate from the cluster's certificate authority, which clients read with " +
					"`GetClusterCertificateAuthority`; `TRANSIT_ENCRYPTION_MODE_DISABLED`: plain TCP (the API's default). " +
					"Changing it replaces the cluster.",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.OneOf(clusterTransit...)},
			},
			"authorization_mode": schema.StringAttribute{
				Optional: true, Computed: true,
				Default: stringdefault.StaticString(clusterAuthModes[0]),
				Description: "`AUTH_MODE_IAM_AUTH` (the default): a client authenticates with an OAuth access token of its own " +
					"identity, which needs `roles/redis.dbConnectionUser`; no password exists to leak or rotate. " +
					"`AUTH_MODE_DISABLED`: any client on the network connects (the API's default). Changing it replaces the cluster.",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.OneOf(clusterAuthModes...)},
			},
			"deletion_protection_enabled": schema.BoolAttribute{
				Optional: true, Computed: true,
				Default: booldefault.StaticBool(true),
				Description: "While `true` (the default) the cluster cannot be deleted: a destroy, or a change that replaces " +
					"it, fails before anything is deleted. Set it to `false` and apply first. Changed in place.",
			},
			"redis_configs": schema.MapAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "Redis configuration Memorystore for Redis Cluster supports. Its `maxmemory-policy` defaults to " +
					"`volatile-lru`, which evicts keys with a TTL under memory pressure: the relay needs `noeviction` and is not " +
					"ready under any other. Accepted keys: " + strings.Join(clusterConfigKeys, ", ") + ". Changed in place.",
				Validators: []validator.Map{mapvalidator.KeysAre(stringvalidator.OneOf(clusterConfigKeys...))},
			},
			"uid": schema.StringAttribute{
				Computed: true, PlanModifiers: keep,
				Description: "Unique id the service gave the cluster: the provider deletes only the cluster with this uid.",
			},
			"state": schema.StringAttribute{
				Computed: true, PlanModifiers: keep,
				Description: "State reported by the service: `ACTIVE` once created, `UPDATING` while it changes.",
			},
			"discovery_endpoints": schema.ListNestedAttribute{
				Computed:      true,
				PlanModifiers: []planmodifier.List{listplanmodifier.UseStateForUnknown()},
				Description: "Where clients discover the cluster: a Redis Cluster client connects to one and learns every " +
					"shard's nodes with `CLUSTER SLOTS`.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"address": schema.StringAttribute{Computed: true, Description: "IP address of the endpoint."},
					"port":    schema.Int64Attribute{Computed: true, Description: "Port of the endpoint."},
				}},
			},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

// ModifyPlan refuses a region that does not exist, and a replacement of a
// cluster under deletion protection (its delete would fail after the plan
// was approved); it warns that a replacement deletes the data.
func (r *redisClusterResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	why := plannedReplacement(ctx, r, r.clients, req, resp)
	if len(why) == 0 || resp.Diagnostics.HasError() {
		return
	}
	var state redisClusterModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if state.DeletionProtection.ValueBool() {
		resp.Diagnostics.AddAttributeError(path.Root("deletion_protection_enabled"), "Redis cluster under deletion protection would be replaced",
			fmt.Sprintf("Changing %s replaces the cluster %s, which has deletion_protection_enabled = true, so its deletion would fail. "+
				"Nothing was changed. To replace it, apply deletion_protection_enabled = false first.", strings.Join(why, ", "), state.ID.ValueString()))
		return
	}
	resp.Diagnostics.AddWarning("Redis cluster "+state.ID.ValueString()+" will be replaced: its data is deleted",
		fmt.Sprintf("Changing %s replaces the cluster: it is deleted with every key it holds, and its replacement starts empty.", strings.Join(why, ", ")))
}

func (r *redisClusterResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan redisClusterModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := clusterName{
		Project: orDefault(plan.Project, r.clients.Project, "project", &resp.Diagnostics),
		Region:  orDefault(plan.Region, r.clients.Region, "region", &resp.Diagnostics),
		Cluster: plan.Name.ValueString(),
	}
	timeout, d := plan.Timeouts.Create(ctx, 60*time.Minute)
	resp.Diagnostics.Append(d...)
	c := &clusterpb.Cluster{
		ShardCount:                proto.Int32(int32(plan.ShardCount.ValueInt64())),
		ReplicaCount:              proto.Int32(int32(plan.ReplicaCount.ValueInt64())),
		NodeType:                  clusterpb.NodeType(clusterpb.NodeType_value[plan.NodeType.ValueString()]),
		PscConfigs:                []*clusterpb.PscConfig{{Network: plan.Network.ValueString()}},
		TransitEncryptionMode:     clusterpb.TransitEncryptionMode(clusterpb.TransitEncryptionMode_value[plan.TransitEncryption.ValueString()]),
		AuthorizationMode:         clusterpb.AuthorizationMode(clusterpb.AuthorizationMode_value[plan.AuthorizationMode.ValueString()]),
		DeletionProtectionEnabled: proto.Bool(plan.DeletionProtection.ValueBool()),
	}
	resp.Diagnostics.Append(plan.RedisConfigs.ElementsAs(ctx, &c.RedisConfigs, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	op, err := r.clients.RedisCluster.CreateCluster(ctx, &clusterpb.CreateClusterRequest{Parent: name.parent(), ClusterId: name.Cluster, Cluster: c})
	if err == nil {
		c, err = gcpclient.Wait(ctx, op)
	}
	if status.Code(err) == codes.AlreadyExists {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Redis cluster "+name.String()+" already exists", clusterExistsError(name.String()))
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Creating Redis cluster "+name.String()+" failed", r.clients.Describe(gcpclient.APIRedisCluster, err))
		return
	}
	plan.fromAPI(c)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// clusterExistsError is the error for a create whose name is taken. With
// no labels on a cluster, whose it is cannot be told: adopting it is a
// deliberate import either way.
func clusterExistsError(id string) string {
	return fmt.Sprintf("Memorystore for Redis Cluster %q already exists and is not in this state, so it was left unchanged. "+
		"Someone else, another configuration or a lost state manages it. To manage it here, import it deliberately:\n\n"+
		"  tofu import agentnet_redis_cluster.<name> %s\n\nor choose another name.", id, id)
}

func (r *redisClusterResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state redisClusterModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	c, err := r.clients.RedisCluster.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: id})
	if gcpclient.IsNotFound(err) || err == nil && c.GetUid() != state.UID.ValueString() && state.UID.ValueString() != "" {
		// Deleted behind Terraform's back, or replaced by another cluster
		// under the same name (not this state's): the next plan creates it,
		// and fails with the import line if the other one still stands.
		resp.State.RemoveResource(ctx)
		return
	}
	if keepOnRegionOutage(err, id, &resp.Diagnostics) {
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Reading Redis cluster "+id+" failed", r.clients.Describe(gcpclient.APIRedisCluster, err))
		return
	}
	state.fromAPI(c)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *redisClusterResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state redisClusterModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, 120*time.Minute)
	resp.Diagnostics.Append(d...)
	id := state.ID.ValueString()
	c := &clusterpb.Cluster{Name: id}
	var mask []string
	if !plan.ShardCount.Equal(state.ShardCount) {
		c.ShardCount, mask = proto.Int32(int32(plan.ShardCount.ValueInt64())), append(mask, "shard_count")
	}
	if !plan.ReplicaCount.Equal(state.ReplicaCount) {
		c.ReplicaCount, mask = proto.Int32(int32(plan.ReplicaCount.ValueInt64())), append(mask, "replica_count")
	}
	if !plan.DeletionProtection.Equal(state.DeletionProtection) {
		c.DeletionProtectionEnabled, mask = proto.Bool(plan.DeletionProtection.ValueBool()), append(mask, "deletion_protection_enabled")
	}
	if !plan.RedisConfigs.Equal(state.RedisConfigs) {
		resp.Diagnostics.Append(plan.RedisConfigs.ElementsAs(ctx, &c.RedisConfigs, false)...)
		mask = append(mask, "redis_configs")
	}
	if resp.Diagnostics.HasError() {
		return
	}
	if len(mask) > 0 {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		op, err := r.clients.RedisCluster.UpdateCluster(ctx, &clusterpb.UpdateClusterRequest{UpdateMask: &fieldmaskpb.FieldMask{Paths: mask}, Cluster: c})
		if err == nil {
			c, err = gcpclient.Wait(ctx, op)
		}
		if err != nil {
			resp.Diagnostics.AddError("Updating Redis cluster "+id+" failed", r.clients.Describe(gcpclient.APIRedisCluster, err))
			return
		}
		plan.fromAPI(c)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *redisClusterResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state redisClusterModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, 30*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id := state.ID.ValueString()
	c, err := r.clients.RedisCluster.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: id})
	if gcpclient.IsNotFound(err) {
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Deleting Redis cluster "+id+" failed", r.clients.Describe(gcpclient.APIRedisCluster, err))
		return
	}
	if c.GetUid() != state.UID.ValueString() {
		resp.Diagnostics.AddError("Redis cluster "+id+" not deleted", fmt.Sprintf("The cluster now named %s has uid %q, not the "+
			"uid %q this state created or imported: it is another cluster, recreated under the same name, and is not deleted. "+
			"Delete it yourself if that is intended, or remove it from state with `tofu state rm`.", id, c.GetUid(), state.UID.ValueString()))
		return
	}
	if c.GetDeletionProtectionEnabled() {
		resp.Diagnostics.AddAttributeError(path.Root("deletion_protection_enabled"), "Redis cluster "+id+" is protected from deletion",
			"The cluster has deletion protection and was not deleted. To delete it, set deletion_protection_enabled = false and apply, then destroy.")
		return
	}
	op, err := r.clients.RedisCluster.DeleteCluster(ctx, &clusterpb.DeleteClusterRequest{Name: id})
	if err == nil {
		err = op.Wait(ctx) // Delete's Poll has no result; Wait is the generated loop.
	}
	if err != nil && !gcpclient.IsNotFound(err) {
		resp.Diagnostics.AddError("Deleting Redis cluster "+id+" failed", r.clients.Describe(gcpclient.APIRedisCluster, err))
	}
}

// ImportState adopts a cluster deliberately: its uid, read here, becomes
// the state's mark of ownership.
func (r *redisClusterResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if _, err := parseClusterName(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error())
		return
	}
	c, err := r.clients.RedisCluster.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: req.ID})
	if err != nil {
		resp.Diagnostics.AddError("Importing Redis cluster "+req.ID+" failed", r.clients.Describe(gcpclient.APIRedisCluster, err))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("uid"), c.GetUid())...)
}

// fromAPI copies what the service reports into the model. Name, project and
// region come from the full name, so an import fills them in.
func (m *redisClusterModel) fromAPI(c *clusterpb.Cluster) {
	n, _ := parseClusterName(c.GetName())
	m.ID = types.StringValue(c.GetName())
	m.Name = types.StringValue(n.Cluster)
	m.Project = types.StringValue(n.Project)
	m.Region = types.StringValue(n.Region)
	m.ShardCount = types.Int64Value(int64(c.GetShardCount()))
	m.ReplicaCount = types.Int64Value(int64(c.GetReplicaCount()))
	m.NodeType = types.StringValue(c.GetNodeType().String())
	if c.GetNodeType() == clusterpb.NodeType_NODE_TYPE_UNSPECIFIED {
		m.NodeType = types.StringValue(defaultClusterNode) // the API's default, unsaid
	}
	m.Network = types.StringNull()
	if pc := c.GetPscConfigs(); len(pc) > 0 {
		m.Network = types.StringValue(pc[0].GetNetwork())
	}
	m.TransitEncryption = types.StringValue(c.GetTransitEncryptionMode().String())
	if c.GetTransitEncryptionMode() == clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_UNSPECIFIED {
		m.TransitEncryption = types.StringValue("TRANSIT_ENCRYPTION_MODE_DISABLED")
	}
	m.AuthorizationMode = types.StringValue(c.GetAuthorizationMode().String())
	if c.GetAuthorizationMode() == clusterpb.AuthorizationMode_AUTH_MODE_UNSPECIFIED {
		m.AuthorizationMode = types.StringValue("AUTH_MODE_DISABLED")
	}
	m.DeletionProtection = types.BoolValue(c.GetDeletionProtectionEnabled())
	// An empty map configured stays empty (the API reports none).
	if len(c.GetRedisConfigs()) > 0 || m.RedisConfigs.IsNull() || m.RedisConfigs.IsUnknown() || len(m.RedisConfigs.Elements()) > 0 {
		m.RedisConfigs = optionalStringMap(c.GetRedisConfigs())
	}
	m.UID = types.StringValue(c.GetUid())
	m.State = types.StringValue(c.GetState().String())
	eps := make([]attr.Value, 0, len(c.GetDiscoveryEndpoints()))
	for _, e := range c.GetDiscoveryEndpoints() {
		eps = append(eps, types.ObjectValueMust(discoveryEndpointType.AttrTypes, map[string]attr.Value{
			"address": types.StringValue(e.GetAddress()),
			"port":    types.Int64Value(int64(e.GetPort())),
		}))
	}
	m.DiscoveryEndpoints = types.ListValueMust(discoveryEndpointType, eps)
}
