package resources

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient/resname"
)

var (
	_ resource.ResourceWithConfigure      = (*relayServiceResource)(nil)
	_ resource.ResourceWithImportState    = (*relayServiceResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*relayServiceResource)(nil)
	_ resource.ResourceWithValidateConfig = (*relayServiceResource)(nil)
)

// NewRelayServiceResource is agentnet_relay_service: the WebSocket relay of
// one region, a Cloud Run service wired to the region's Memorystore.
func NewRelayServiceResource() resource.Resource { return &relayServiceResource{} }

type relayServiceResource struct{ withClients }

type relayServiceModel struct {
	ID                 types.String   `tfsdk:"id"`
	Name               types.String   `tfsdk:"name"`
	Project            types.String   `tfsdk:"project"`
	Region             types.String   `tfsdk:"region"`
	Image              types.String   `tfsdk:"image"`
	RedisInstance      types.String   `tfsdk:"redis_instance"`
	PeerRedisInstances types.List     `tfsdk:"peer_redis_instances"`
	Env                types.Map      `tfsdk:"env"`
	MinInstances       types.Int64    `tfsdk:"min_instances"`
	MaxInstances       types.Int64    `tfsdk:"max_instances"`
	CPU                types.String   `tfsdk:"cpu"`
	Memory             types.String   `tfsdk:"memory"`
	VPCNetwork         types.String   `tfsdk:"vpc_network"`
	VPCSubnetwork      types.String   `tfsdk:"vpc_subnetwork"`
	InvokerIAMDisabled types.Bool     `tfsdk:"invoker_iam_disabled"`
	Ingress            types.String   `tfsdk:"ingress"`
	DefaultURIDisabled types.Bool     `tfsdk:"default_uri_disabled"`
	ServiceAccount     types.String   `tfsdk:"service_account"`
	MetricsSidecar     types.Object   `tfsdk:"metrics_sidecar"`
	RedisAddress       types.String   `tfsdk:"redis_address"`
	PeerRedisAddresses types.String   `tfsdk:"peer_redis_addresses"`
	URL                types.String   `tfsdk:"url"`
	LatestRevision     types.String   `tfsdk:"latest_ready_revision"`
	Ready              types.Bool     `tfsdk:"ready"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
}

// Environment variables the resource or Cloud Run set; env may not set
// them (nor any K_* name). REDIS_ADDR, PEER_REDIS_ADDRS and REDIS_PASSWORD
// are the relay's direct mode: refused so that no address or secret of a
// Memorystore instance travels through Terraform state.
var managedRelayEnv = []string{"REDIS_INSTANCE", "PEER_REDIS_INSTANCES", "REDIS_ADDR", "PEER_REDIS_ADDRS", "REDIS_PASSWORD",
	"AGENTNET_EMULATOR_HOST", "REGION", "PORT", "OPS_PORT"}

// notCloudRunEnv matches names that do not start with K_ (Cloud Run's).
var notCloudRunEnv = regexp.MustCompile(`^([^K]|K$|K[^_])`)

// Annotation keys that let Read and import find what the service was
// declared with; redisAddresses is on the revision template, so that a
// Redis recreated with a new address rolls a new revision (the relay
// resolves addresses at start).
const (
	annotationRedisInstance  = "agentnet.dev/redis-instance"
	annotationPeerInstances  = "agentnet.dev/peer-redis-instances"
	annotationRedeploy       = "agentnet.dev/redeployed-at"
	annotationRedisAddresses = "agentnet.dev/redis-addresses"
)

// Ingress settings, as the Cloud Run Admin API v2 names them.
var ingressValues = []string{
	runpb.IngressTraffic_INGRESS_TRAFFIC_ALL.String(),
	runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_ONLY.String(),
	runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER.String(),
}

// The relay's probes: /ready on PORT answers 200 once every Redis is
// reachable (the startup probe allows up to 240 s for that); /live answers
// while the process serves.
const (
	relayReadyPath = "/ready"
	relayLivePath  = "/live"
)

func (r *relayServiceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_relay_service"
}

func (r *relayServiceResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "The agent relay of one region: a Cloud Run service running the relay image, wired to the " +
			"region's Memorystore instance (and, for cross-region routing, to the other regions' instances). This is " +
			"the WebSocket Server Recovery procedure as one resource: an apply redeploys the service from code, sets " +
			"its environment and connections and its scaling, and waits until the new revision is Ready. Changing " +
			"`min_instances` or `max_instances` changes service-level scaling without a new revision; every other " +
			"change rolls a new revision. The relay is given Redis instance names, never addresses or secrets: it asks " +
			"the Memorystore API, as its service account, for each address, AUTH string and CA; when an instance is " +
			"recreated with a new address, the next plan rolls a new revision so the relays resolve it again.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "Full resource name: `projects/PROJECT/locations/REGION/services/NAME`. Import by this id."},
			"name": schema.StringAttribute{
				Required: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Description: "Service name: lowercase letters, digits and hyphens, up to 49 characters, starting with a letter.",
				Validators: []validator.String{stringvalidator.RegexMatches(regexp.MustCompile(`^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$`),
					"must be up to 49 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen")},
			},
			"project": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: replace,
				Description: "Project of the service. Defaults to the provider's `project`."},
			"region": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: replace,
				Validators:  []validator.String{RegionNameValidator()},
				Description: "Region of the service. Defaults to the provider's `region`." + regionDescription},
			"image": schema.StringAttribute{
				Required:    true,
				Description: "Container image of the relay, for example `us-docker.pkg.dev/PROJECT/agentnet/agentnet-relay:1.0`. On localcloud, images named `agentnet-relay` run the relay binary; any other image is refused.",
			},
			"redis_instance": schema.StringAttribute{
				Required: true,
				Description: "Id of the region's Redis, given to the relay as `REDIS_INSTANCE`: an `agentnet_redis_instance` " +
					"(`projects/PROJECT/locations/REGION/instances/NAME`), whose address, AUTH string and CA the relay asks the " +
					"Memorystore API for at start, or an `agentnet_redis_cluster` (`projects/PROJECT/locations/REGION/clusters/NAME`), " +
					"whose discovery endpoint and CA it asks the Memorystore for Redis Cluster API for, authenticating with its " +
					"service account's access token under IAM authentication. It must be in the service's region unless " +
					"`peer_redis_instances` are configured.",
				Validators: []validator.String{relayRedisIDValidator()},
			},
			"peer_redis_instances": schema.ListAttribute{
				Optional: true, ElementType: types.StringType,
				Description: "Ids of the other regions' Redis instances or clusters, for routing to agents connected to other regions (`PEER_REDIS_INSTANCES`).",
				Validators:  []validator.List{listvalidator.UniqueValues(), listvalidator.ValueStringsAre(relayRedisIDValidator())},
			},
			"env": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				Description: "Further environment of the relay (token settings such as `JWKS_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`; limits). " +
					"Values are stored in Terraform state: never put a secret here. `REDIS_INSTANCE`, `PEER_REDIS_INSTANCES`, " +
					"`REGION`, `AGENTNET_EMULATOR_HOST`, `PORT`, `OPS_PORT` and `K_*` are set by the resource or Cloud Run, and the " +
					"relay's direct mode (`REDIS_ADDR`, `PEER_REDIS_ADDRS`, `REDIS_PASSWORD`) is not for Memorystore: all are refused here.",
				Validators: []validator.Map{mapvalidator.KeysAre(stringvalidator.NoneOf(managedRelayEnv...),
					stringvalidator.RegexMatches(notCloudRunEnv, "must not start with K_ (Cloud Run sets K_SERVICE, K_REVISION, K_CONFIGURATION)"))},
			},
			"min_instances": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(1),
				Description: "Instances kept running (service-level minimum). Changed without a new revision.",
				Validators:  []validator.Int64{int64validator.AtLeast(0)},
			},
			"max_instances": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(10),
				Description: "Most instances the service scales to. At least `min_instances`.",
				Validators:  []validator.Int64{int64validator.AtLeast(1)},
			},
			"cpu": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("1"),
				Description: "CPU limit of an instance, as Cloud Run accepts it (`1`, `2`, `1000m`).",
				Validators:  []validator.String{cpuQuantity},
			},
			"memory": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("512Mi"),
				Description: "Memory limit of an instance (`512Mi`, `1Gi`).",
				Validators:  []validator.String{memoryQuantity},
			},
			"vpc_network": schema.StringAttribute{
				Optional: true,
				Description: "VPC network for Direct VPC egress (`projects/PROJECT/global/networks/NAME`, or a network name in the " +
					"service's project): the relay reaches Memorystore's private addresses through it. Required when the relay " +
					"uses Redis, and it must be the `authorized_network` of `redis_instance` and of every peer instance; the plan " +
					"refuses a mismatch. localcloud enforces it too: a relay reaches a Redis only from its authorized network.",
				Validators: []validator.String{stringvalidator.RegexMatches(vpcNetworkRE,
					"must be projects/PROJECT/global/networks/NAME or a network name")},
			},
			"vpc_subnetwork": schema.StringAttribute{
				Optional:    true,
				Description: "Subnetwork for Direct VPC egress, in the service's region.",
				Validators:  []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("vpc_network"))},
			},
			"invoker_iam_disabled": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				Description: "Let requests reach the relay without a Cloud Run invoker identity. Agents authenticate with the " +
					"relay's own tokens, not Google identities, so a relay serving agents needs `true`. With `false` (Cloud Run's " +
					"default) every request without the invoker role, agents' and the load balancer's included, gets 403.",
			},
			"ingress": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(ingressValues[0]),
				Description: "Where requests may come from: `INGRESS_TRAFFIC_ALL` (the internet, Cloud Run's default), " +
					"`INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER` (internal traffic and Cloud Load Balancing: agents reach the relay " +
					"only through the failover group's front door; the service URL refuses them) or `INGRESS_TRAFFIC_INTERNAL_ONLY`.",
				Validators: []validator.String{stringvalidator.OneOf(ingressValues...)},
			},
			"default_uri_disabled": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				Description: "Disable the service's default `run.app` URL: only the load balancer (and domain mappings) reach it.",
			},
			"service_account": schema.StringAttribute{
				Optional: true, Computed: true, PlanModifiers: keep,
				Description: "Email of the service account the relay runs as: its identity toward the Memorystore API, which " +
					"gives the relay each Redis's address, AUTH string and CA (it needs the permissions `redis.instances.get` " +
					"and `redis.instances.getAuthString` on those instances; for a cluster `redis.clusters.get` and, under IAM " +
					"authentication, `roles/redis.dbConnectionUser`). Defaults to the project's " +
					"Compute Engine default service account, as Cloud Run does.",
				Validators: []validator.String{stringvalidator.RegexMatches(serviceAccountRE,
					"must be a service account email such as relay@PROJECT.iam.gserviceaccount.com")},
			},
			"metrics_sidecar": metricsSidecarSchema(),
			"redis_address": schema.StringAttribute{Computed: true,
				Description: "`host:port` of `redis_instance` (a cluster's discovery endpoint) when the revision was deployed. The relay resolves it itself " +
					"(`REDIS_INSTANCE`); a change rolls a new revision."},
			"peer_redis_addresses": schema.StringAttribute{Computed: true,
				Description: "Addresses of `peer_redis_instances` (comma separated) when the revision was deployed; a change rolls a new revision."},
			"url":                   schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "URL of the service; agents connect to `<url>/ws`."},
			"latest_ready_revision": schema.StringAttribute{Computed: true, Description: "Latest revision that became ready, as the Cloud Run API reports it."},
			"ready": schema.BoolAttribute{Computed: true, Description: "Whether the service's terminal condition is Ready: " +
				"its latest revision passed its startup probes and serves. Read from the Cloud Run API, never from the service URL " +
				"(which the ingress setting may close, and whose paths ending in `z` are Google's)."},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

func (r *relayServiceResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m relayServiceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.MinInstances.IsNull() && !m.MinInstances.IsUnknown() && !m.MaxInstances.IsNull() && !m.MaxInstances.IsUnknown() &&
		m.MinInstances.ValueInt64() > m.MaxInstances.ValueInt64() {
		resp.Diagnostics.AddAttributeError(path.Root("min_instances"), "min_instances above max_instances",
			fmt.Sprintf("min_instances (%d) must not exceed max_instances (%d).", m.MinInstances.ValueInt64(), m.MaxInstances.ValueInt64()))
	}
}

// ModifyPlan checks the Redis wiring against the real instances (region,
// network) and plans the addresses the relay will resolve, so a recreated
// Redis instance shows up as a change that rolls a new revision.
func (r *relayServiceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.clients == nil {
		return
	}
	var plan relayServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	checkRegion(r.clients, path.Root("region"), plan.Region, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || plan.RedisInstance.IsUnknown() || plan.PeerRedisInstances.IsUnknown() {
		return
	}
	for _, p := range plan.PeerRedisInstances.Elements() {
		if p.IsUnknown() { // a peer created in the same apply: resolved then
			return
		}
	}
	region := plan.Region.ValueString()
	if plan.Region.IsNull() || plan.Region.IsUnknown() {
		region = r.clients.Region
	}
	project := plan.Project.ValueString()
	if plan.Project.IsNull() || plan.Project.IsUnknown() {
		project = r.clients.Project
	}
	var peers []string
	resp.Diagnostics.Append(plan.PeerRedisInstances.ElementsAs(ctx, &peers, false)...)
	if redis := resname.RegionOf(plan.RedisInstance.ValueString()); redis != "" && region != "" && redis != region && len(peers) == 0 {
		resp.Diagnostics.AddAttributeError(path.Root("redis_instance"), "Redis instance in another region",
			fmt.Sprintf("redis_instance is in %s but the service is in %s. A relay uses its own region's Redis; "+
				"configure peer_redis_instances to route across regions.", redis, region))
		return
	}
	insts, diags := r.redisInstances(ctx, plan.RedisInstance.ValueString(), peers)
	if diags.HasError() {
		// A missing instance fails the plan only when this resource would
		// change; otherwise Read's view stands (a region may be down).
		if !req.State.Raw.IsNull() && req.State.Raw.Equal(req.Plan.Raw) {
			return
		}
		resp.Diagnostics.Append(diags...)
		return
	}
	if !plan.VPCNetwork.IsUnknown() {
		resp.Diagnostics.Append(checkRedisNetworks(project, plan.VPCNetwork, insts)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	addrs := insts.addresses()
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("redis_address"), addrs.redis)...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("peer_redis_addresses"), addrs.peers)...)
	if req.State.Raw.IsNull() {
		return
	}
	var state relayServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	// A service whose latest revision is not ready is redeployed by the
	// next apply: the WebSocket Server Recovery procedure.
	if !state.Ready.IsNull() && !state.Ready.ValueBool() {
		resp.Diagnostics.AddWarning("Relay service not ready",
			fmt.Sprintf("%s reports that its latest revision is not ready; the apply redeploys it.", state.ID.ValueString()))
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("ready"), types.BoolValue(true))...)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("latest_ready_revision"), types.StringUnknown())...)
		return
	}
	// The addresses set above may be the only change: a Redis instance
	// recreated under the same id, seen when OpenTofu plans this service
	// again during the apply, once the instance exists. The framework
	// marks computed attributes unknown only for changes it saw before
	// this method, so the new revision is announced here.
	resp.Diagnostics.Append(resp.Plan.Get(ctx, &plan)...)
	if revisionChanges(plan, state) {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("latest_ready_revision"), types.StringUnknown())...)
	}
}

// revisionChanges reports whether applying plan over state rolls a new
// revision: a change to anything in the revision template.
func revisionChanges(plan, state relayServiceModel) bool {
	pairs := [][2]attr.Value{
		{plan.Image, state.Image}, {plan.RedisInstance, state.RedisInstance},
		{plan.PeerRedisInstances, state.PeerRedisInstances}, {plan.Env, state.Env}, {plan.CPU, state.CPU},
		{plan.Memory, state.Memory}, {plan.VPCNetwork, state.VPCNetwork}, {plan.VPCSubnetwork, state.VPCSubnetwork},
		{plan.ServiceAccount, state.ServiceAccount}, {plan.RedisAddress, state.RedisAddress},
		{plan.PeerRedisAddresses, state.PeerRedisAddresses}, {plan.MetricsSidecar, state.MetricsSidecar},
	}
	for _, p := range pairs {
		if !p[0].Equal(p[1]) {
			return true
		}
	}
	return false
}

// relayRedis are the Memorystore instances and clusters a relay uses, as
// their APIs describe them, with the attribute each comes from.
type relayRedis []relayRedisInstance

type relayRedisInstance struct {
	attr    path.Path
	name    string
	addr    string // host:port; a cluster's discovery endpoint
	network string // the authorized network; a cluster's PSC network
}

// relayRedisIDRE matches what a relay takes as its Redis: a Memorystore
// instance or a Memorystore for Redis Cluster.
var relayRedisIDRE = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/(instances|clusters)/[^/]+$`)

func relayRedisIDValidator() validator.String {
	return stringvalidator.RegexMatches(relayRedisIDRE, "must be a Memorystore instance id, projects/PROJECT/locations/REGION/instances/NAME, "+
		"or a Memorystore for Redis Cluster id, projects/PROJECT/locations/REGION/clusters/NAME")
}

type relayRedisAddresses struct {
	redis string
	peers string
}

func (rr relayRedis) addresses() relayRedisAddresses {
	var out relayRedisAddresses
	var peers []string
	for i, r := range rr {
		if i == 0 {
			out.redis = r.addr
		} else {
			peers = append(peers, r.addr)
		}
	}
	out.peers = strings.Join(peers, ",")
	return out
}

// redisInstances reads the local instance (or cluster) and the peers.
func (r *relayServiceResource) redisInstances(ctx context.Context, redis string, peers []string) (relayRedis, diag.Diagnostics) {
	var diags diag.Diagnostics
	var out relayRedis
	read := func(attr path.Path, id string) {
		rr, api, err := r.readRelayRedis(ctx, id)
		switch {
		case gcpclient.IsNotFound(err):
			diags.AddAttributeError(attr, "Redis instance not found", fmt.Sprintf("Redis %s does not exist.", id))
		case err != nil:
			diags.AddAttributeError(attr, "Reading Redis instance failed", r.clients.Describe(api, err))
		default:
			rr.attr = attr
			out = append(out, rr)
		}
	}
	read(path.Root("redis_instance"), redis)
	for i, p := range peers {
		read(path.Root("peer_redis_instances").AtListIndex(i), p)
	}
	return out, diags
}

// readRelayRedis reads one Redis through its API: a cluster's or an
// instance's, and says which it asked.
func (r *relayServiceResource) readRelayRedis(ctx context.Context, id string) (relayRedisInstance, string, error) {
	if _, err := parseClusterName(id); err == nil {
		c, err := r.clients.RedisCluster.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: id})
		out := relayRedisInstance{name: id}
		if eps := c.GetDiscoveryEndpoints(); len(eps) > 0 {
			out.addr = net.JoinHostPort(eps[0].GetAddress(), strconv.Itoa(int(eps[0].GetPort())))
		}
		if pcs := c.GetPscConfigs(); len(pcs) > 0 {
			out.network = pcs[0].GetNetwork()
		}
		return out, gcpclient.APIRedisCluster, err
	}
	inst, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: id})
	out := relayRedisInstance{name: id, addr: net.JoinHostPort(inst.GetHost(), strconv.Itoa(int(inst.GetPort()))), network: inst.GetAuthorizedNetwork()}
	if out.network == "" { // the API's default
		p, _ := parseInstanceName(id)
		out.network = networkFullName(p.Project, "default")
	}
	return out, gcpclient.APIRedis, err
}

// vpcNetworkRE accepts a network's full name or its name in the service's
// project.
var vpcNetworkRE = regexp.MustCompile(`^(projects/[^/]+/global/networks/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

var serviceAccountRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[a-z]+$`)

// networkFullName is a network as projects/P/global/networks/N; "" stays "".
func networkFullName(project, n string) string {
	if n == "" || strings.HasPrefix(n, "projects/") {
		return n
	}
	return "projects/" + project + "/global/networks/" + n
}

// checkRedisNetworks refuses a Redis the relay could not reach: Memorystore
// accepts connections only from its authorized network (the API's default:
// the project's "default" network), and a Cloud Run service reaches a VPC
// only through Direct VPC egress on vpc_network.
func checkRedisNetworks(project string, vpc types.String, rr relayRedis) diag.Diagnostics {
	var diags diag.Diagnostics
	egress := networkFullName(project, vpc.ValueString())
	for _, r := range rr {
		auth := r.network
		switch {
		case egress == "":
			diags.AddAttributeError(path.Root("vpc_network"), "Relay service without a VPC network",
				fmt.Sprintf("Redis instance %s is reachable only from network %s, and this service has no Direct VPC egress: "+
					"set vpc_network = %q.", r.name, auth, auth))
			return diags
		case egress != auth:
			diags.AddAttributeError(r.attr, "Redis instance on another network",
				fmt.Sprintf("Redis instance %s is reachable only from network %s, but the service's vpc_network is %s: the relay "+
					"could not connect. Use a Redis instance whose authorized_network (a cluster whose network) is %s, or set vpc_network to %s.",
					r.name, auth, egress, egress, auth))
		}
	}
	return diags
}

func (r *relayServiceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan relayServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.Project = types.StringValue(orDefault(plan.Project, r.clients.Project, "project", &resp.Diagnostics))
	plan.Region = types.StringValue(orDefault(plan.Region, r.clients.Region, "region", &resp.Diagnostics))
	timeout, d := plan.Timeouts.Create(ctx, 20*time.Minute)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	svc, diags := r.service(ctx, plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	svc.Labels = withOwnerLabel(nil)
	parent := fmt.Sprintf("projects/%s/locations/%s", plan.Project.ValueString(), plan.Region.ValueString())
	name := parent + "/services/" + plan.Name.ValueString()
	op, err := r.clients.Run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: plan.Name.ValueString(), Service: svc})
	if status.Code(err) == codes.AlreadyExists {
		resp.Diagnostics.AddError("Relay service "+name+" already exists", r.existingServiceError(ctx, name))
		return
	}
	if err != nil {
		addServiceError(&resp.Diagnostics, "Creating relay service "+name+" failed", r.clients.Describe(gcpclient.APIRun, err))
		return
	}
	if svc, err = gcpclient.Wait(ctx, op); err != nil {
		detail := r.clients.Describe(gcpclient.APIRun, err)
		if r.keepFailedCreate(ctx, name, &plan, resp) {
			detail += "\n\nThe service exists in Cloud Run with its failed revision. It is recorded as tainted: " +
				"the next apply replaces it (fix the cause first, for example the image or env)."
		}
		addServiceError(&resp.Diagnostics, "Creating relay service "+name+" failed", detail)
		return
	}
	resp.Diagnostics.Append(plan.fromAPI(ctx, svc)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// keepFailedCreate records a service whose create was accepted but whose
// revision never became ready (its container exited, or the wait ran out):
// Cloud Run keeps such a service. Returned with the error, it is saved
// tainted, so the next apply replaces it instead of failing on
// ALREADY_EXISTS. It reports whether the service was recorded.
func (r *relayServiceResource) keepFailedCreate(ctx context.Context, name string, plan *relayServiceModel, resp *resource.CreateResponse) bool {
	// The create's own deadline may be what ran out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	svc, err := r.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if err != nil || !ownedByLabel(svc.GetLabels()) {
		return false
	}
	resp.Diagnostics.Append(plan.fromAPI(ctx, svc)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
	return true
}

// existingServiceError explains a create refused because the name is
// taken: an object agentnet did not create is never taken over.
func (r *relayServiceResource) existingServiceError(ctx context.Context, name string) string {
	cur, err := r.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	return alreadyExistsError("Cloud Run service", name, "agentnet_relay_service", name, err != nil || ownedByLabel(cur.GetLabels()))
}

func (r *relayServiceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state relayServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	svc, err := r.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: state.ID.ValueString()})
	if gcpclient.IsNotFound(err) {
		resp.State.RemoveResource(ctx) // deleted behind Terraform's back: planned again
		return
	}
	if keepOnRegionOutage(err, state.ID.ValueString(), &resp.Diagnostics) {
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Reading relay service "+state.ID.ValueString()+" failed", r.clients.Describe(gcpclient.APIRun, err))
		return
	}
	resp.Diagnostics.Append(state.fromAPI(ctx, svc)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *relayServiceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state relayServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, 20*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	want, diags := r.service(ctx, plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !state.Ready.ValueBool() {
		// A new revision, even with the same settings, restarts every
		// instance, as a redeploy from infrastructure code does.
		want.Template.Annotations[annotationRedeploy] = time.Now().UTC().Format(time.RFC3339Nano)
	}
	name := plan.ID.ValueString()
	svc, err := r.update(ctx, name, want)
	if err != nil {
		addServiceError(&resp.Diagnostics, "Updating relay service "+name+" failed", err.Error())
		return
	}
	resp.Diagnostics.Append(plan.fromAPI(ctx, svc)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// relayServiceMask are the fields an update of the resource writes; the
// rest (labels other than the marker, description, traffic, ...) stays as
// other writers left it.
var relayServiceMask = []string{"annotations", "template", "scaling", "ingress", "invoker_iam_disabled", "default_uri_disabled"}

// update writes want's masked fields over the service as it is now: it
// reads the service, sends the update with that etag and, if another
// writer changed the service in between (ABORTED), reads it again and
// retries once.
func (r *relayServiceResource) update(ctx context.Context, name string, want *runpb.Service) (*runpb.Service, error) {
	var prev *runpb.Service
	for attempt := 0; ; attempt++ {
		cur, err := r.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: name})
		if err != nil {
			return nil, errors.New(r.clients.Describe(gcpclient.APIRun, err))
		}
		if attempt == 2 {
			return nil, fmt.Errorf("another writer changed the service twice while it was being updated (%s); nothing was "+
				"changed by this apply. Run plan and apply again once the other writer is done", changedFields(prev, cur))
		}
		prev = cur
		req := updateRequest(cur, want)
		op, err := r.clients.Run.UpdateService(ctx, req)
		if status.Code(err) == codes.Aborted {
			continue
		}
		if err == nil {
			var svc *runpb.Service
			if svc, err = gcpclient.Wait(ctx, op); err == nil {
				return svc, nil
			}
		}
		return nil, errors.New(r.clients.Describe(gcpclient.APIRun, err))
	}
}

// updateRequest is the update of cur to want's masked fields, guarded by
// cur's etag. Annotations other than agentnet's are kept, and the ownership
// marker is added to a service that lacks it (an imported one).
func updateRequest(cur, want *runpb.Service) *runpb.UpdateServiceRequest {
	svc := proto.CloneOf(want)
	svc.Name, svc.Etag = cur.GetName(), cur.GetEtag()
	annotations := writableKeys(cur.GetAnnotations())
	maps.DeleteFunc(annotations, func(k, _ string) bool { return strings.HasPrefix(k, "agentnet.dev/") })
	maps.Copy(annotations, want.GetAnnotations())
	svc.Annotations = annotations
	mask := slices.Clone(relayServiceMask)
	if !ownedByLabel(cur.GetLabels()) {
		svc.Labels = withOwnerLabel(writableKeys(cur.GetLabels()))
		mask = append(mask, "labels")
	}
	return &runpb.UpdateServiceRequest{Service: svc, UpdateMask: &fieldmaskpb.FieldMask{Paths: mask}}
}

// systemKeyPrefixes are the label and annotation namespaces the Cloud Run
// Admin API v2 refuses on input (they may show on services made with v1).
var systemKeyPrefixes = []string{"run.googleapis.com/", "cloud.googleapis.com/", "serving.knative.dev/", "autoscaling.knative.dev/"}

// writableKeys is a copy of m without the system namespaces.
func writableKeys(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !slices.ContainsFunc(systemKeyPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			out[k] = v
		}
	}
	return out
}

// changedFields names the top-level fields that differ between two reads of
// a service, for the error after a second conflict.
func changedFields(a, b *runpb.Service) string {
	var out []string
	fields := a.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch f.Name() {
		case "etag", "update_time", "generation", "observed_generation", "conditions", "terminal_condition", "reconciling",
			"latest_ready_revision", "latest_created_revision", "traffic_statuses", "last_modifier":
			continue
		}
		if !a.ProtoReflect().Get(f).Equal(b.ProtoReflect().Get(f)) {
			out = append(out, string(f.Name()))
		}
	}
	if len(out) == 0 {
		return "its etag changed, though no setting did"
	}
	return "fields changed: " + strings.Join(out, ", ")
}

func (r *relayServiceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state relayServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, 20*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	name := state.ID.ValueString()
	cur, err := r.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if gcpclient.IsNotFound(err) {
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Deleting relay service "+name+" failed", r.clients.Describe(gcpclient.APIRun, err))
		return
	}
	if !ownedByLabel(cur.GetLabels()) {
		resp.Diagnostics.AddError("Relay service "+name+" not deleted", notOursDeleteError("Cloud Run service", name))
		return
	}
	// The etag: a service recreated by someone else meanwhile is not deleted.
	op, err := r.clients.Run.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: name, Etag: cur.GetEtag()})
	if err == nil {
		_, err = gcpclient.Wait(ctx, op)
	}
	if err != nil && !gcpclient.IsNotFound(err) {
		resp.Diagnostics.AddError("Deleting relay service "+name+" failed", r.clients.Describe(gcpclient.APIRun, err))
	}
}

func (r *relayServiceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if !serviceNameRE.MatchString(req.ID) {
		resp.Diagnostics.AddError("Invalid import id", fmt.Sprintf("%q is not a service id of the form projects/PROJECT/locations/REGION/services/NAME", req.ID))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

var serviceNameRE = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/services/([^/]+)$`)

// redisAddressesAnnotation is the value of the revision annotation that
// records the addresses the relay will resolve: "local=H:P peers=H:P,H:P".
func redisAddressesAnnotation(a relayRedisAddresses) string {
	return "local=" + a.redis + " peers=" + a.peers
}

func parseRedisAddressesAnnotation(v string) relayRedisAddresses {
	local, peers, _ := strings.Cut(v, " peers=")
	return relayRedisAddresses{redis: strings.TrimPrefix(local, "local="), peers: peers}
}

// service builds the Cloud Run service the plan declares.
func (r *relayServiceResource) service(ctx context.Context, m relayServiceModel) (*runpb.Service, diag.Diagnostics) {
	var diags diag.Diagnostics
	var peers []string
	diags.Append(m.PeerRedisInstances.ElementsAs(ctx, &peers, false)...)
	// The plan resolved the addresses already, unless the instances were
	// created in the same apply.
	addrs := relayRedisAddresses{redis: m.RedisAddress.ValueString(), peers: m.PeerRedisAddresses.ValueString()}
	if m.RedisAddress.IsUnknown() || m.RedisAddress.ValueString() == "" || m.PeerRedisAddresses.IsUnknown() {
		insts, d := r.redisInstances(ctx, m.RedisInstance.ValueString(), peers)
		diags.Append(d...)
		if !d.HasError() {
			diags.Append(checkRedisNetworks(m.Project.ValueString(), m.VPCNetwork, insts)...)
			addrs = insts.addresses()
		}
	}
	var env map[string]string
	diags.Append(m.Env.ElementsAs(ctx, &env, false)...)
	if diags.HasError() {
		return nil, diags
	}
	if env == nil {
		env = map[string]string{}
	}
	// Instance names only: the relay asks the Memorystore API for each
	// address, AUTH string and CA, so no secret is in the plan or state.
	env["REDIS_INSTANCE"] = m.RedisInstance.ValueString()
	env["REGION"] = m.Region.ValueString()
	if len(peers) > 0 {
		env["PEER_REDIS_INSTANCES"] = strings.Join(peers, ",")
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names) // a stable order: the same env is the same revision
	httpProbe := func(p string, period, failures int32) *runpb.Probe {
		return &runpb.Probe{TimeoutSeconds: 1, PeriodSeconds: period, FailureThreshold: failures,
			ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: p}}}
	}
	container := &runpb.Container{
		Image: m.Image.ValueString(),
		Resources: &runpb.ResourceRequirements{Limits: map[string]string{
			"cpu": m.CPU.ValueString(), "memory": m.Memory.ValueString(),
		}},
		Ports: []*runpb.ContainerPort{{Name: "http1", ContainerPort: 8080}},
		// Ready only once every Redis answers (up to 240 s), so "capacity
		// first, wait until ready" means ready to deliver; restarted when
		// the process stops serving.
		StartupProbe:  httpProbe(relayReadyPath, 1, 240),
		LivenessProbe: httpProbe(relayLivePath, 10, 3),
	}
	for _, k := range names {
		container.Env = append(container.Env, &runpb.EnvVar{Name: k, Values: &runpb.EnvVar_Value{Value: env[k]}})
	}
	template := &runpb.RevisionTemplate{
		Containers: []*runpb.Container{container},
		// WebSocket connections live long; Cloud Run's request timeout
		// bounds them, so use its maximum.
		Timeout:                       durationpb.New(time.Hour),
		MaxInstanceRequestConcurrency: 1000,
		SessionAffinity:               false,
		ServiceAccount:                m.ServiceAccount.ValueString(),
		// The relay resolves the addresses at start: a new address needs
		// a new revision.
		Annotations: map[string]string{annotationRedisAddresses: redisAddressesAnnotation(addrs)},
	}
	diags.Append(addMetricsSidecar(ctx, m.MetricsSidecar, template)...)
	if net := m.VPCNetwork.ValueString(); net != "" {
		template.VpcAccess = &runpb.VpcAccess{
			Egress:            runpb.VpcAccess_PRIVATE_RANGES_ONLY,
			NetworkInterfaces: []*runpb.VpcAccess_NetworkInterface{{Network: net, Subnetwork: m.VPCSubnetwork.ValueString()}},
		}
	}
	annotations := map[string]string{annotationRedisInstance: m.RedisInstance.ValueString()}
	if len(peers) > 0 {
		annotations[annotationPeerInstances] = strings.Join(peers, ",")
	}
	return &runpb.Service{
		Annotations:        annotations,
		Ingress:            runpb.IngressTraffic(runpb.IngressTraffic_value[m.Ingress.ValueString()]),
		InvokerIamDisabled: m.InvokerIAMDisabled.ValueBool(),
		DefaultUriDisabled: m.DefaultURIDisabled.ValueBool(),
		Template:           template,
		Scaling: &runpb.ServiceScaling{
			MinInstanceCount: int32(m.MinInstances.ValueInt64()),
			MaxInstanceCount: int32(m.MaxInstances.ValueInt64()),
		},
	}, diags
}

// fromAPI copies what the service reports into the model.
func (m *relayServiceModel) fromAPI(ctx context.Context, svc *runpb.Service) diag.Diagnostics {
	var diags diag.Diagnostics
	parts := serviceNameRE.FindStringSubmatch(svc.GetName())
	if parts == nil {
		diags.AddError("Unexpected service name", svc.GetName())
		return diags
	}
	m.ID = types.StringValue(svc.GetName())
	m.Project, m.Region, m.Name = types.StringValue(parts[1]), types.StringValue(parts[2]), types.StringValue(parts[3])
	if v, ok := svc.GetAnnotations()[annotationRedisInstance]; ok {
		m.RedisInstance = types.StringValue(v)
	}
	if v := svc.GetAnnotations()[annotationPeerInstances]; v != "" {
		list, d := types.ListValueFrom(ctx, types.StringType, strings.Split(v, ","))
		diags.Append(d...)
		m.PeerRedisInstances = list
	} else {
		m.PeerRedisInstances = types.ListNull(types.StringType)
	}
	if s := svc.GetScaling(); s != nil {
		m.MinInstances = types.Int64Value(int64(s.GetMinInstanceCount()))
		m.MaxInstances = types.Int64Value(int64(s.GetMaxInstanceCount()))
	}
	m.InvokerIAMDisabled = types.BoolValue(svc.GetInvokerIamDisabled())
	m.DefaultURIDisabled = types.BoolValue(svc.GetDefaultUriDisabled())
	ingress := svc.GetIngress()
	if ingress == runpb.IngressTraffic_INGRESS_TRAFFIC_UNSPECIFIED {
		ingress = runpb.IngressTraffic_INGRESS_TRAFFIC_ALL
	}
	m.Ingress = types.StringValue(ingress.String())
	m.ServiceAccount = types.StringValue(svc.GetTemplate().GetServiceAccount())
	addrs := parseRedisAddressesAnnotation(svc.GetTemplate().GetAnnotations()[annotationRedisAddresses])
	m.RedisAddress, m.PeerRedisAddresses = types.StringValue(addrs.redis), types.StringValue(addrs.peers)
	containers := svc.GetTemplate().GetContainers()
	if len(containers) > 0 {
		c := containers[0]
		m.Image = types.StringValue(c.GetImage())
		m.CPU = types.StringValue(c.GetResources().GetLimits()["cpu"])
		m.Memory = types.StringValue(c.GetResources().GetLimits()["memory"])
		env := map[string]string{}
		for _, e := range c.GetEnv() {
			if !slices.Contains(managedRelayEnv, e.GetName()) {
				env[e.GetName()] = e.GetValue()
			}
		}
		m.Env = optionalStringMap(env)
	}
	m.MetricsSidecar = metricsSidecarFromAPI(containers)
	m.VPCNetwork, m.VPCSubnetwork = types.StringNull(), types.StringNull()
	if nis := svc.GetTemplate().GetVpcAccess().GetNetworkInterfaces(); len(nis) > 0 {
		m.VPCNetwork = optionalString(nis[0].GetNetwork())
		m.VPCSubnetwork = optionalString(nis[0].GetSubnetwork())
	}
	m.URL = types.StringValue(svc.GetUri())
	// Readiness is the API's: the terminal condition says whether the
	// latest revision became ready.
	m.LatestRevision = types.StringValue(svc.GetLatestReadyRevision())
	m.Ready = types.BoolValue(svc.GetTerminalCondition().GetState() == runpb.Condition_CONDITION_SUCCEEDED)
	return diags
}

// serviceFieldAttributes maps the Cloud Run fields an API error may name to
// the attributes that set them.
var serviceFieldAttributes = []struct{ field, attr string }{
	{"template.containers[0].image", "image"},
	{"template.containers[0].resources", "cpu"},
	{"template.containers[1]", "metrics_sidecar"},
	{"scaling.min_instance_count", "min_instances"},
	{"scaling.max_instance_count", "max_instances"},
	{"template.vpc_access", "vpc_network"},
	{"template.service_account", "service_account"},
}

// addServiceError reports an API error on the attribute it is about, when
// the message names a field the resource sets.
func addServiceError(diags *diag.Diagnostics, summary, detail string) {
	for _, f := range serviceFieldAttributes {
		if strings.Contains(detail, f.field) {
			diags.AddAttributeError(path.Root(f.attr), summary, detail)
			return
		}
	}
	diags.AddError(summary, detail)
}
