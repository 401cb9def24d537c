package resources

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
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
	RedisAddress       types.String   `tfsdk:"redis_address"`
	PeerRedisAddresses types.String   `tfsdk:"peer_redis_addresses"`
	URL                types.String   `tfsdk:"url"`
	LatestRevision     types.String   `tfsdk:"latest_ready_revision"`
	Ready              types.Bool     `tfsdk:"ready"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
}

// Environment variables the resource sets itself; env may not set them.
var managedRelayEnv = []string{"REDIS_ADDR", "PEER_REDIS_ADDRS", "REGION", "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}

// Annotation keys that let Read and import find what the service was
// declared with.
const (
	annotationRedisInstance = "agentnet.dev/redis-instance"
	annotationPeerInstances = "agentnet.dev/peer-redis-instances"
	annotationRedeploy      = "agentnet.dev/redeployed-at"
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
			"change rolls a new revision. When a Redis instance is recreated with a new address, the next plan " +
			"updates the relay's connection settings.",
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
				Description: "Region of the service. Defaults to the provider's `region`."},
			"image": schema.StringAttribute{
				Required:    true,
				Description: "Container image of the relay, for example `us-docker.pkg.dev/PROJECT/agentnet/agentnet-relay:1.0`. On localcloud, images named `agentnet-relay` run the relay binary; any other image is refused.",
			},
			"redis_instance": schema.StringAttribute{
				Required:    true,
				Description: "Id of the region's `agentnet_redis_instance`. Its address becomes the relay's `REDIS_ADDR`. It must be in the service's region unless `peer_redis_instances` are configured.",
				Validators:  []validator.String{instanceIDValidator()},
			},
			"peer_redis_instances": schema.ListAttribute{
				Optional: true, ElementType: types.StringType,
				Description: "Ids of the other regions' Redis instances, for routing to agents connected to other regions (`PEER_REDIS_ADDRS`).",
				Validators:  []validator.List{listvalidator.UniqueValues(), listvalidator.ValueStringsAre(instanceIDValidator())},
			},
			"env": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				Description: "Further environment of the relay (token settings such as `JWKS_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`; limits). " +
					"`REDIS_ADDR`, `PEER_REDIS_ADDRS`, `REGION`, `PORT` and `K_*` are set by the resource and refused here.",
				Validators: []validator.Map{mapvalidator.KeysAre(stringvalidator.NoneOf(managedRelayEnv...))},
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
				Validators:  []validator.String{stringvalidator.RegexMatches(regexp.MustCompile(`^(\d+(\.\d+)?|\d+m)$`), "must be a CPU quantity such as 1, 2 or 1000m")},
			},
			"memory": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("512Mi"),
				Description: "Memory limit of an instance (`512Mi`, `1Gi`).",
				Validators:  []validator.String{stringvalidator.RegexMatches(regexp.MustCompile(`^\d+(Mi|Gi)$`), "must be a memory quantity such as 512Mi or 2Gi")},
			},
			"vpc_network": schema.StringAttribute{
				Optional:    true,
				Description: "VPC network for Direct VPC egress, which Google Cloud needs for the relay to reach Memorystore's private address. Ignored by localcloud.",
			},
			"vpc_subnetwork": schema.StringAttribute{
				Optional:    true,
				Description: "Subnetwork for Direct VPC egress, in the service's region.",
				Validators:  []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("vpc_network"))},
			},
			"redis_address": schema.StringAttribute{Computed: true,
				Description: "`host:port` of `redis_instance`, as set in the relay's `REDIS_ADDR`."},
			"peer_redis_addresses": schema.StringAttribute{Computed: true,
				Description: "Addresses of `peer_redis_instances`, as set in `PEER_REDIS_ADDRS`."},
			"url":                   schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "URL of the service; agents connect to `<url>/ws`."},
			"latest_ready_revision": schema.StringAttribute{Computed: true, Description: "Revision serving traffic."},
			"ready":                 schema.BoolAttribute{Computed: true, Description: "Whether the service reported Ready after the last apply."},
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

// ModifyPlan checks the Redis wiring against the real instances and plans
// the addresses the relay will get, so a recreated Redis instance shows up
// as a change of the relay's connection settings.
func (r *relayServiceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.clients == nil {
		return
	}
	var plan relayServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
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
	var peers []string
	resp.Diagnostics.Append(plan.PeerRedisInstances.ElementsAs(ctx, &peers, false)...)
	if redis, err := parseInstanceName(plan.RedisInstance.ValueString()); err == nil && region != "" && redis.Region != region && len(peers) == 0 {
		resp.Diagnostics.AddAttributeError(path.Root("redis_instance"), "Redis instance in another region",
			fmt.Sprintf("redis_instance is in %s but the service is in %s. A relay uses its own region's Redis; "+
				"configure peer_redis_instances to route across regions.", redis.Region, region))
		return
	}
	addrs, diags := r.redisAddresses(ctx, plan.RedisInstance.ValueString(), peers)
	if diags.HasError() {
		// A missing instance fails the plan only when this resource would
		// change; otherwise Read's view stands (a region may be down).
		if !req.State.Raw.IsNull() && req.State.Raw.Equal(req.Plan.Raw) {
			return
		}
		resp.Diagnostics.Append(diags...)
		return
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("redis_address"), addrs.redis)...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("peer_redis_addresses"), addrs.peers)...)
	if req.State.Raw.IsNull() {
		return
	}
	var state relayServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	// A service that is not serving is redeployed by the next apply: the
	// WebSocket Server Recovery procedure.
	if !state.Ready.IsNull() && !state.Ready.ValueBool() {
		resp.Diagnostics.AddWarning("Relay service not ready",
			fmt.Sprintf("%s reports no ready revision; the apply redeploys it.", state.ID.ValueString()))
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("ready"), types.BoolValue(true))...)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("latest_ready_revision"), types.StringUnknown())...)
	}
}

type relayRedisAddresses struct {
	redis string
	peers string
}

// redisAddresses resolves instance ids to the host:port the relay dials.
func (r *relayServiceResource) redisAddresses(ctx context.Context, redis string, peers []string) (relayRedisAddresses, diag.Diagnostics) {
	var diags diag.Diagnostics
	resolve := func(attr path.Path, id string) string {
		inst, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: id})
		if gcpclient.IsNotFound(err) {
			diags.AddAttributeError(attr, "Redis instance not found", fmt.Sprintf("Redis instance %s does not exist.", id))
			return ""
		}
		if err != nil {
			diags.AddAttributeError(attr, "Reading Redis instance failed", r.clients.Describe(gcpclient.APIRedis, err))
			return ""
		}
		return fmt.Sprintf("%s:%d", inst.GetHost(), inst.GetPort())
	}
	out := relayRedisAddresses{redis: resolve(path.Root("redis_instance"), redis)}
	var peerAddrs []string
	for i, p := range peers {
		peerAddrs = append(peerAddrs, resolve(path.Root("peer_redis_instances").AtListIndex(i), p))
	}
	out.peers = strings.Join(peerAddrs, ",")
	return out, diags
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
	parent := fmt.Sprintf("projects/%s/locations/%s", plan.Project.ValueString(), plan.Region.ValueString())
	op, err := r.clients.Run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: plan.Name.ValueString(), Service: svc})
	if err == nil {
		svc, err = gcpclient.Wait(ctx, op)
	}
	if err != nil {
		addServiceError(&resp.Diagnostics, "Creating relay service "+parent+"/services/"+plan.Name.ValueString()+" failed", r.clients.Describe(gcpclient.APIRun, err))
		return
	}
	resp.Diagnostics.Append(plan.fromAPI(ctx, svc)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
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
	if state.Ready.ValueBool() {
		// Cloud Run keeps a service Ready while its instances crash; what
		// agents see is whether any instance answers.
		state.Ready = types.BoolValue(serving(ctx, svc.GetUri()))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// serving reports whether a relay behind url answers its readiness check.
func serving(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (r *relayServiceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan relayServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, 20*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	svc, diags := r.service(ctx, plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	svc.Name = plan.ID.ValueString()
	var state relayServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if !state.Ready.ValueBool() {
		// A new revision, even with the same settings, restarts every
		// instance, as a redeploy from infrastructure code does.
		svc.Template.Annotations = map[string]string{annotationRedeploy: time.Now().UTC().Format(time.RFC3339Nano)}
	}
	op, err := r.clients.Run.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc})
	if err == nil {
		svc, err = gcpclient.Wait(ctx, op)
	}
	if err != nil {
		addServiceError(&resp.Diagnostics, "Updating relay service "+plan.ID.ValueString()+" failed", r.clients.Describe(gcpclient.APIRun, err))
		return
	}
	resp.Diagnostics.Append(plan.fromAPI(ctx, svc)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
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
	op, err := r.clients.Run.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: state.ID.ValueString()})
	if err == nil {
		_, err = gcpclient.Wait(ctx, op)
	}
	if err != nil && !gcpclient.IsNotFound(err) {
		resp.Diagnostics.AddError("Deleting relay service "+state.ID.ValueString()+" failed", r.clients.Describe(gcpclient.APIRun, err))
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

// service builds the Cloud Run service the plan declares.
func (r *relayServiceResource) service(ctx context.Context, m relayServiceModel) (*runpb.Service, diag.Diagnostics) {
	var diags diag.Diagnostics
	var peers []string
	diags.Append(m.PeerRedisInstances.ElementsAs(ctx, &peers, false)...)
	// The plan resolved the addresses already, unless the instances were
	// created in the same apply.
	addrs := relayRedisAddresses{redis: m.RedisAddress.ValueString(), peers: m.PeerRedisAddresses.ValueString()}
	if m.RedisAddress.IsUnknown() || m.RedisAddress.ValueString() == "" || m.PeerRedisAddresses.IsUnknown() {
		var d diag.Diagnostics
		addrs, d = r.redisAddresses(ctx, m.RedisInstance.ValueString(), peers)
		diags.Append(d...)
	}
	var env map[string]string
	diags.Append(m.Env.ElementsAs(ctx, &env, false)...)
	if diags.HasError() {
		return nil, diags
	}
	if env == nil {
		env = map[string]string{}
	}
	env["REDIS_ADDR"] = addrs.redis
	env["REGION"] = m.Region.ValueString()
	if addrs.peers != "" {
		env["PEER_REDIS_ADDRS"] = addrs.peers
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names) // a stable order: the same env is the same revision
	container := &runpb.Container{
		Image: m.Image.ValueString(),
		Resources: &runpb.ResourceRequirements{Limits: map[string]string{
			"cpu": m.CPU.ValueString(), "memory": m.Memory.ValueString(),
		}},
		Ports: []*runpb.ContainerPort{{Name: "http1", ContainerPort: 8080}},
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
	}
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
		Annotations: annotations,
		Ingress:     runpb.IngressTraffic_INGRESS_TRAFFIC_ALL,
		Template:    template,
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
	containers := svc.GetTemplate().GetContainers()
	if len(containers) > 0 {
		c := containers[0]
		m.Image = types.StringValue(c.GetImage())
		m.CPU = types.StringValue(c.GetResources().GetLimits()["cpu"])
		m.Memory = types.StringValue(c.GetResources().GetLimits()["memory"])
		env := map[string]string{}
		m.RedisAddress, m.PeerRedisAddresses = types.StringValue(""), types.StringValue("")
		for _, e := range c.GetEnv() {
			switch e.GetName() {
			case "REDIS_ADDR":
				m.RedisAddress = types.StringValue(e.GetValue())
			case "PEER_REDIS_ADDRS":
				m.PeerRedisAddresses = types.StringValue(e.GetValue())
			case "REGION":
			default:
				env[e.GetName()] = e.GetValue()
			}
		}
		m.Env = optionalStringMap(env)
	}
	m.VPCNetwork, m.VPCSubnetwork = types.StringNull(), types.StringNull()
	if nis := svc.GetTemplate().GetVpcAccess().GetNetworkInterfaces(); len(nis) > 0 {
		m.VPCNetwork = optionalString(nis[0].GetNetwork())
		m.VPCSubnetwork = optionalString(nis[0].GetSubnetwork())
	}
	m.URL = types.StringValue(svc.GetUri())
	m.LatestRevision = types.StringValue(svc.GetLatestReadyRevision())
	m.Ready = types.BoolValue(svc.GetTerminalCondition().GetState() == runpb.Condition_CONDITION_SUCCEEDED)
	return diags
}

// serviceFieldAttributes maps the Cloud Run fields an API error may name to
// the attributes that set them.
var serviceFieldAttributes = []struct{ field, attr string }{
	{"template.containers[0].image", "image"},
	{"template.containers[0].resources", "cpu"},
	{"scaling.min_instance_count", "min_instances"},
	{"scaling.max_instance_count", "max_instances"},
	{"template.vpc_access", "vpc_network"},
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
