package resources

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/agentnet/terraform-provider-agentnet/internal/notify"
)

var (
	_ resource.ResourceWithConfigure      = (*relayFailoverGroupResource)(nil)
	_ resource.ResourceWithImportState    = (*relayFailoverGroupResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*relayFailoverGroupResource)(nil)
	_ resource.ResourceWithValidateConfig = (*relayFailoverGroupResource)(nil)
)

// NewRelayFailoverGroupResource is agentnet_relay_failover_group: which
// regions take traffic through the global load balancer, with capacity,
// health gates, safety rules and a gradual return.
func NewRelayFailoverGroupResource() resource.Resource {
	return &relayFailoverGroupResource{}
}

type relayFailoverGroupResource struct {
	withClients
}

type failoverGroupModel struct {
	ID                 types.String         `tfsdk:"id"`
	Name               types.String         `tfsdk:"name"`
	Project            types.String         `tfsdk:"project"`
	Regions            []regionModel        `tfsdk:"regions"`
	Capacity           *capacityModel       `tfsdk:"capacity"`
	HealthCheck        *healthModel         `tfsdk:"health_check"`
	MinActiveRegions   types.Int64          `tfsdk:"min_active_regions"`
	AutomaticFailover  types.Bool           `tfsdk:"automatic_failover"`
	Reintroduction     types.Object         `tfsdk:"reintroduction"`
	DrainGracePeriod   timetypes.GoDuration `tfsdk:"drain_grace_period"`
	EffectiveWeights   types.Map            `tfsdk:"effective_weights"`
	MinInstances       types.Map            `tfsdk:"min_instances"`
	UnhealthyRegions   types.List           `tfsdk:"unhealthy_regions"`
	FrontDoorURL       types.String         `tfsdk:"front_door_url"`
	URLMap             types.String         `tfsdk:"url_map"`
	TLS                *tlsModel            `tfsdk:"tls"`
	Address            types.String         `tfsdk:"address"`
	IPAddress          types.String         `tfsdk:"ip_address"`
	Timeouts           timeouts.Value       `tfsdk:"timeouts"`
	Notification       []notificationModel  `tfsdk:"notification"`
	RecordsPrefix      types.String         `tfsdk:"records_prefix"`
	RecoveryObjectives types.Object         `tfsdk:"recovery_objectives"`
	LastRecord         types.String         `tfsdk:"last_record"`

	// keptCapacity are the regions whose API is out, with the minimum
	// instances state last read from them: decide keeps them (see
	// keepCapacityOf).
	keptCapacity map[string]int64
	// probe is what the health checks need from the configuration, read
	// once by readProbe.
	probe probeSettings
	// notify are the webhooks, read from the configuration (their URLs are
	// write-only).
	notify []notify.Target
	// unhealthySince is when this run's probes first found each unhealthy
	// region unhealthy, for the recovery record (failover_records.go).
	unhealthySince map[string]time.Time
}

// probeSettings are the health check's token (token_wo lives only in the
// configuration, never in the plan or state) and parsed durations.
type probeSettings struct {
	token      string
	timeout    time.Duration
	soak       time.Duration
	drainGrace time.Duration
}

type regionModel struct {
	Region  types.String `tfsdk:"region"`
	Service types.String `tfsdk:"service"`
	State   types.String `tfsdk:"state"`
	Weight  types.Int64  `tfsdk:"weight"`
}

type capacityModel struct {
	TotalMinInstances    types.Int64 `tfsdk:"total_min_instances"`
	BaselineMinInstances types.Int64 `tfsdk:"baseline_min_instances"`
}

type healthModel struct {
	Token              types.String         `tfsdk:"token"`
	TokenWO            types.String         `tfsdk:"token_wo"`
	TokenWOVersion     types.Int64          `tfsdk:"token_wo_version"`
	Timeout            timetypes.GoDuration `tfsdk:"timeout"`
	UnhealthyThreshold types.Int64          `tfsdk:"unhealthy_threshold"`
	HealthyThreshold   types.Int64          `tfsdk:"healthy_threshold"`
}

// tlsModel is the front door's certificate: exactly one of the three.
type tlsModel struct {
	Certificates   types.List   `tfsdk:"certificates"`
	CertificateMap types.String `tfsdk:"certificate_map"`
	ManagedDomains types.List   `tfsdk:"managed_domains"`
	ServerName     types.String `tfsdk:"server_name"`
}

type reintroductionModel struct {
	Steps []int64              `tfsdk:"steps"`
	Soak  timetypes.GoDuration `tfsdk:"soak"`
}

var reintroductionAttrTypes = map[string]attr.Type{
	"steps": types.ListType{ElemType: types.Int64Type},
	"soak":  timetypes.GoDurationType{},
}

const (
	defaultSoak       = "10s"
	defaultDrainGrace = "5s"
)

func (r *relayFailoverGroupResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_relay_failover_group"
}

func (r *relayFailoverGroupResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "The Region Failover procedure as one resource: which regions' relay services take traffic " +
			"through the global external Application Load Balancer (serverless NEGs, backend services, a URL map with weighted " +
			"backend services, a target HTTPS proxy with its certificate and a forwarding rule on port 443 of a static address, " +
			"and on port 80 a redirect to HTTPS, all managed here and marked `" + ownerDescription + "` in their descriptions). " +
			"The URL map also carries one route rule per region matching the header `" + regionHeader + ": <region>`, so health " +
			"checks make a real relay round trip through the front door into one chosen region (Cloud Run's own URL can stay " +
			"closed by ingress). Creating the group where an object of the same name exists without the marker is refused " +
			"(adopt it with `tofu import`); destroying it never deletes an object without the marker. Its plan says what will " +
			"move; its apply moves it in a safe order: raise minimum instances where traffic will go and wait until " +
			"ready, health-gate every region that will receive traffic with a real relay round trip, change the URL " +
			"map weights, ramp a returning region through `reintroduction.steps` with health checks during each soak " +
			"(rolled back to weight 0 if it fails), tell the agents of drained regions to reconnect after " +
			"`drain_grace_period` (a new revision whose old instances close their connections with going-away), and " +
			"finally return drained regions to baseline capacity. With `automatic_failover`, the plan probes every " +
			"region and plans an unhealthy one to weight 0, so `tofu plan -detailed-exitcode` detects an outage and " +
			"the apply is the failover. The group manages the relay services' minimum instances: give those " +
			"`agentnet_relay_service` resources `lifecycle { ignore_changes = [min_instances] }`." +
			" A URL map change is done for Google's control plane long before its front ends follow it, so every change the group makes " +
			"carries a generation that the URL map adds to its responses (header `" + generationHeader + "`), and the apply waits, after the " +
			"weights and after each ramp step, until new connections through the front door (on the weighted route and pinned to the regions " +
			"concerned) carry it: up to 10 minutes per change, then an error naming the step. The drain's grace period and each soak count from then." +
			" The apply of a plan does not wait again on a region whose API did not answer that plan's refresh (recorded in the group's private state, used for 5 minutes), unless the region is to take traffic." +
			" An apply stopped mid-failover (even killed) leaves what it set out to do in the URL map's description, written with the weights: " +
			"the next plan is not empty and its apply finishes the drain (after its grace period) or the ramp (from the step reached, with its soak).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "`projects/PROJECT/global/urlMaps/NAME`. Import by the group's name or this id."},
			"name": schema.StringAttribute{
				Required: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Description: "Name of the group; also the name of its URL map, target proxy and forwarding rule, and the prefix of its NEGs and backend services.",
				Validators: []validator.String{stringvalidator.RegexMatches(regexp.MustCompile(`^[a-z]([-a-z0-9]{0,40}[a-z0-9])?$`),
					"must be up to 42 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen")},
			},
			"project": schema.StringAttribute{Optional: true, Computed: true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace(), stringplanmodifier.UseStateForUnknown()},
				Description:   "Project of the load balancer. Defaults to the provider's `project`."},
			"regions": schema.ListNestedAttribute{
				Required:    true,
				Description: "The regions of the group, each with its relay service. Region names must be unique.",
				Validators:  []validator.List{listvalidator.SizeAtLeast(1)},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"region": schema.StringAttribute{Required: true, Validators: []validator.String{RegionNameValidator()},
						Description: "Region name, for example `us-central1`." + regionDescription},
					"service": schema.StringAttribute{Required: true,
						Description: "Id of the region's `agentnet_relay_service`; it must be in `region`.",
						Validators:  []validator.String{stringvalidator.RegexMatches(serviceNameRE, "must be a service id: projects/PROJECT/locations/REGION/services/NAME")}},
					"state": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(regionActive),
						Description: "`active` takes traffic while healthy; `drained` takes none and its agents are moved away; `standby` takes none and is kept at baseline capacity, ready to activate.",
						Validators:  []validator.String{stringvalidator.OneOf(regionStates...)}},
					"weight": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(100),
						Description: "Share of new connections while active, 0 to 1000 (URL map weight).",
						Validators:  []validator.Int64{int64validator.Between(0, 1000)}},
				}},
			},
			"capacity": schema.SingleNestedAttribute{
				Optional: true,
				Description: "Capacity plan. When set, the group sets each relay service's minimum instances: " +
					"`total_min_instances` spread over the regions taking traffic by weight (so draining a region raises " +
					"the others'), `baseline_min_instances` for the rest.",
				Attributes: map[string]schema.Attribute{
					"total_min_instances": schema.Int64Attribute{Required: true, Validators: []validator.Int64{int64validator.AtLeast(0)},
						Description: "Minimum instances across the regions taking traffic."},
					"baseline_min_instances": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(1),
						Validators:  []validator.Int64{int64validator.AtLeast(0)},
						Description: "Minimum instances of a region that takes no traffic."},
				},
			},
			"health_check": schema.SingleNestedAttribute{
				Required:    true,
				Description: "The health check: a real relay round trip between two probe agents through the front door, pinned to one region by the `" + regionHeader + "` header.",
				Attributes: map[string]schema.Attribute{
					"token": schema.StringAttribute{Optional: true, Sensitive: true,
						Validators:         []validator.String{probeTokenValidator()},
						DeprecationMessage: "health_check.token is stored in the state in plain text: use health_check.token_wo.",
						Description:        "Deprecated: stored in the state in plain text. Use `token_wo`."},
					"token_wo": schema.StringAttribute{Optional: true, Sensitive: true, WriteOnly: true,
						Validators: []validator.String{probeTokenValidator(),
							stringvalidator.ExactlyOneOf(path.MatchRoot("health_check").AtName("token"), path.MatchRoot("health_check").AtName("token_wo"))},
						Description: "Bearer token the probe agents connect with, write-only: never in the plan or the state, so it " +
							"may come from an ephemeral resource or variable. The group reads it from the configuration at each plan " +
							"and apply, so a rotated token is used by the next run. An empty token is refused: every probe would " +
							"fail and look like an outage of every region. Exactly one of `token_wo` and `token`."},
					"token_wo_version": schema.Int64Attribute{Optional: true,
						Validators: []validator.Int64{int64validator.AlsoRequires(path.MatchRoot("health_check").AtName("token_wo"))},
						Description: "Any number, kept in the state: changing it (with a rotated `token_wo`) makes the next apply " +
							"update the group, whose health gate then checks every region taking traffic with the new token, so a " +
							"token the relays refuse fails that apply instead of the next failover."},
					"timeout": schema.StringAttribute{Optional: true, Computed: true, CustomType: timetypes.GoDurationType{},
						Default:     stringdefault.StaticString("5s"),
						Validators:  []validator.String{durationAtLeast(time.Millisecond)},
						Description: "Time one round trip may take, a Go duration such as `5s`."},
					"unhealthy_threshold": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(2),
						Validators:  []validator.Int64{int64validator.Between(1, 10)},
						Description: "Consecutive failed probes that make a region unhealthy."},
					"healthy_threshold": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(1),
						Validators:  []validator.Int64{int64validator.Between(1, 10)},
						Description: "Consecutive successful probes that make a region healthy again."},
				},
			},
			"min_active_regions": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(1),
				Validators: []validator.Int64{int64validator.AtLeast(1)},
				Description: "Safety rule: a plan that would leave fewer healthy regions taking traffic is refused. " +
					"Draining the last healthy region is always refused.",
			},
			"automatic_failover": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				Description: "Probe every region at plan time and plan unhealthy active regions to weight 0 (with a warning saying why), and healthy ones back.",
			},
			"reintroduction": schema.SingleNestedAttribute{
				Optional: true, Computed: true,
				Default: objectdefault.StaticValue(types.ObjectValueMust(reintroductionAttrTypes, map[string]attr.Value{
					"steps": types.ListValueMust(types.Int64Type, []attr.Value{types.Int64Value(10), types.Int64Value(50), types.Int64Value(100)}),
					"soak":  timetypes.NewGoDurationValueFromStringMust(defaultSoak),
				})),
				Description: "How a region returns to traffic: the percentages of its weight it goes through, ending at 100, each held for `soak` while it is probed.",
				Attributes: map[string]schema.Attribute{
					"steps": schema.ListAttribute{Optional: true, Computed: true, ElementType: types.Int64Type,
						Default: listdefault.StaticValue(types.ListValueMust(types.Int64Type,
							[]attr.Value{types.Int64Value(10), types.Int64Value(50), types.Int64Value(100)})),
						Validators: []validator.List{listvalidator.SizeAtLeast(1),
							listvalidator.ValueInt64sAre(int64validator.Between(1, 100))},
						Description: "Percentages of the target weight, increasing, the last one 100."},
					"soak": schema.StringAttribute{Optional: true, Computed: true, CustomType: timetypes.GoDurationType{},
						Default:    stringdefault.StaticString(defaultSoak),
						Validators: []validator.String{durationAtLeast(0)},
						Description: "How long each step is held and probed, a Go duration such as `60s`, counted from the moment the front door " +
							"follows the step (the apply waits for that first, however long the load balancer takes to propagate it). " +
							"The soak's probes go through that front door."},
				},
			},
			"drain_grace_period": schema.StringAttribute{
				Optional: true, Computed: true, CustomType: timetypes.GoDurationType{},
				Default:    stringdefault.StaticString(defaultDrainGrace),
				Validators: []validator.String{durationAtLeast(0)},
				Description: "Time between taking a region out of the URL map and telling its connected agents to reconnect elsewhere, a Go duration such as `30s`, " +
					"counted from the moment the front door follows the new weights (the apply waits for that first). Agents reconnecting through " +
					"front ends that have not taken the change yet could land in the drained region again, which `agentnet_recovery_readiness` " +
					"flags when the grace is shorter than the propagation delay.",
			},
			"effective_weights": schema.MapAttribute{Computed: true, ElementType: types.Int64Type,
				Description: "URL map weight of each region. Read from the load balancer, so an edit made outside Terraform shows as drift."},
			"min_instances": schema.MapAttribute{Computed: true, ElementType: types.Int64Type,
				Description: "Minimum instances the capacity plan gives each region (empty without `capacity`)."},
			"unhealthy_regions": schema.ListAttribute{Computed: true, ElementType: types.StringType,
				Description: "Active regions the last plan found unhealthy."},
			"front_door_url": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "HTTPS URL of the front door (agents connect to `wss://` of it, path `/ws`): the address of the " +
					"forwarding rule on port 443 (on localcloud `https://127.0.0.1:PORT`, trusted through localcloud's CA)."},
			"url_map": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "Self link of the URL map."},
			"tls": schema.SingleNestedAttribute{
				Required: true,
				Description: "The front door's certificate, exactly one of: `certificates` (existing SSL certificates), " +
					"`certificate_map` (a Certificate Manager map) or `managed_domains` (the group creates a Google-managed " +
					"certificate for these domains, named `<name>-cert-<hash>`; Google provisions it once the domains' DNS points " +
					"at `ip_address`). Changing it swaps the certificate on the target HTTPS proxy without a new address.",
				Attributes: map[string]schema.Attribute{
					"certificates": schema.ListAttribute{Optional: true, ElementType: types.StringType,
						Validators: []validator.List{listvalidator.SizeBetween(1, 15),
							listvalidator.ValueStringsAre(stringvalidator.RegexMatches(sslCertificateRE, "must be an SSL certificate: projects/PROJECT/global/sslCertificates/NAME or its full URL"))},
						Description: "Self links of existing SSL certificates (`projects/PROJECT/global/sslCertificates/NAME`), 1 to 15."},
					"certificate_map": schema.StringAttribute{Optional: true,
						Validators: []validator.String{stringvalidator.RegexMatches(certificateMapRE,
							"must be a Certificate Manager map: projects/PROJECT/locations/global/certificateMaps/NAME (optionally prefixed with //certificatemanager.googleapis.com/)")},
						Description: "Certificate Manager map (`projects/PROJECT/locations/global/certificateMaps/NAME`)."},
					"server_name": schema.StringAttribute{Optional: true,
						Description: "Name the health checks verify the certificate against: they reach the front door by its IP " +
							"address, which certificates rarely name. Defaults to the first of `managed_domains`, else the first " +
							"name of the first of `certificates`; set it with `certificate_map`."},
					"managed_domains": schema.ListAttribute{Optional: true, ElementType: types.StringType,
						Validators: []validator.List{listvalidator.SizeBetween(1, 100),
							listvalidator.ValueStringsAre(stringvalidator.RegexMatches(managedDomainRE, "must be a fully qualified domain name without wildcard"))},
						Description: "Domains of a Google-managed certificate the group creates (1 to 100, no wildcards)."},
				},
			},
			"address": schema.StringAttribute{Optional: true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{stringvalidator.RegexMatches(globalAddressRE, "must be a global address: projects/PROJECT/global/addresses/NAME or its full URL")},
				Description: "Existing global static external address for the front door (`projects/PROJECT/global/addresses/NAME`); " +
					"the group never deletes it. Without it the group reserves `<name>-ip`. Ports 443 (HTTPS) and 80 (redirect to HTTPS) " +
					"are served on it. Changing it replaces the group."},
			"ip_address": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "The front door's IP address: what the domains' DNS records point at."},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
			"notification": notificationBlock("when a failover starts (or an interrupted one resumes) and when it ends, with what moved and the outcome",
				"`failover_started`, `failover_resumed` or `failover_ended`"),
		},
	}
	maps.Copy(resp.Schema.Attributes, recordsAttributes("failover",
		"the recovery time (from the first probe that found a drained region unhealthy, else from the apply's start, as the record says)"))
}

func (r *relayFailoverGroupResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	// OpenTofu validates a module with every input variable unknown: a
	// regions list built from a variable is then unknown as a whole. The plan
	// validates it again with its value.
	if unknownNested(ctx, req.Config.GetAttribute) {
		return
	}
	var m failoverGroupModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// Messages name a region by its name: the list's indices mean nothing
	// to whoever built it with a for expression.
	seen := map[string]bool{}
	active := []string{}
	for i, reg := range m.Regions {
		if reg.Region.IsUnknown() {
			continue
		}
		name := reg.Region.ValueString()
		if seen[name] {
			resp.Diagnostics.AddAttributeError(path.Root("regions").AtListIndex(i).AtName("region"), "Duplicate region "+name,
				fmt.Sprintf("Region %s is declared twice; each region appears once.", name))
		}
		seen[name] = true
		if parts := serviceNameRE.FindStringSubmatch(reg.Service.ValueString()); parts != nil && parts[2] != name {
			resp.Diagnostics.AddAttributeError(path.Root("regions").AtListIndex(i).AtName("service"), "Service of region "+name+" in another region",
				fmt.Sprintf("Region %s declares the service %s, which is in %s; each region's service must be in that region.", name, reg.Service.ValueString(), parts[2]))
		}
		if !reg.State.IsUnknown() && (reg.State.IsNull() || reg.State.ValueString() == regionActive) {
			active = append(active, name)
		}
	}
	if c := m.Capacity; c != nil && !c.TotalMinInstances.IsUnknown() && !c.TotalMinInstances.IsNull() && c.TotalMinInstances.ValueInt64() < int64(len(active)) {
		resp.Diagnostics.AddAttributeError(path.Root("capacity").AtName("total_min_instances"), "total_min_instances below the active regions",
			fmt.Sprintf("capacity.total_min_instances is %d but %d region(s) are active (%s): each active region needs at least one minimum instance, so it must be at least %d.",
				c.TotalMinInstances.ValueInt64(), len(active), strings.Join(active, ", "), len(active)))
	}
	if t := m.TLS; t != nil && !t.Certificates.IsUnknown() && !t.CertificateMap.IsUnknown() && !t.ManagedDomains.IsUnknown() {
		set := 0
		for _, null := range []bool{t.Certificates.IsNull(), t.CertificateMap.IsNull(), t.ManagedDomains.IsNull()} {
			if !null {
				set++
			}
		}
		if set != 1 {
			resp.Diagnostics.AddAttributeError(path.Root("tls"), "Exactly one certificate source",
				fmt.Sprintf("tls sets %d of certificates, certificate_map and managed_domains; set exactly one.", set))
		}
	}
	if n := m.MinActiveRegions; !n.IsNull() && !n.IsUnknown() && m.Regions != nil && n.ValueInt64() > int64(len(m.Regions)) {
		resp.Diagnostics.AddAttributeError(path.Root("min_active_regions"), "min_active_regions larger than the group",
			fmt.Sprintf("min_active_regions is %d but the group has %d region(s).", n.ValueInt64(), len(m.Regions)))
	}
	if !m.Reintroduction.IsNull() && !m.Reintroduction.IsUnknown() && !m.Reintroduction.Attributes()["steps"].IsUnknown() {
		var ri reintroductionModel
		resp.Diagnostics.Append(m.Reintroduction.As(ctx, &ri, objectAsOptions)...)
		for i := 1; i < len(ri.Steps); i++ {
			if ri.Steps[i] <= ri.Steps[i-1] {
				resp.Diagnostics.AddAttributeError(path.Root("reintroduction").AtName("steps"), "Ramp steps must increase",
					fmt.Sprintf("steps %v: each step must be larger than the one before.", ri.Steps))
				break
			}
		}
		if n := len(ri.Steps); n > 0 && ri.Steps[n-1] != 100 {
			resp.Diagnostics.AddAttributeError(path.Root("reintroduction").AtName("steps"), "Ramp must end at 100",
				fmt.Sprintf("steps %v end at %d%%: the last step must be 100 so the region returns to its full weight.", ri.Steps, ri.Steps[n-1]))
		}
	}
}

// unknownNested reports whether regions, one of its elements, capacity,
// health_check or tls is unknown: the model reads them into Go slices and structs,
// which cannot hold an unknown value.
func unknownNested(ctx context.Context, get func(context.Context, path.Path, interface{}) diag.Diagnostics) bool {
	var regions types.List
	var capacity, health, tls types.Object
	get(ctx, path.Root("regions"), &regions)
	get(ctx, path.Root("capacity"), &capacity)
	get(ctx, path.Root("health_check"), &health)
	get(ctx, path.Root("tls"), &tls)
	if regions.IsUnknown() || capacity.IsUnknown() || health.IsUnknown() || tls.IsUnknown() {
		return true
	}
	for _, e := range regions.Elements() {
		if e.IsUnknown() {
			return true
		}
	}
	return false
}

// ModifyPlan is where the failover is decided: it probes the regions when
// automatic_failover is on, applies the safety rules, and plans the weights
// and capacities the apply will reach.
func (r *relayFailoverGroupResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.clients == nil || unknownNested(ctx, req.Plan.GetAttribute) {
		return
	}
	var plan failoverGroupModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || !plan.known() || !plan.readProbe(ctx, req.Config, &resp.Diagnostics) || resp.Diagnostics.HasError() {
		return
	}
	for i, reg := range plan.Regions {
		checkRegion(r.clients, path.Root("regions").AtListIndex(i).AtName("region"), reg.Region, &resp.Diagnostics)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	var state *failoverGroupModel
	if !req.State.Raw.IsNull() {
		state = &failoverGroupModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	}
	// Terraform plans the group again in the apply's own process: what the
	// plan's refresh found out is not waited on a second time. The record
	// goes on, unchanged, to the apply (resp.Private starts as req.Private).
	r.assumeRegionsOut(ctx, &plan, req.Private)
	unhealthy := map[string]string{}
	if plan.AutomaticFailover.ValueBool() || plan.changesServingRegions(state) {
		unhealthy = r.probeRegions(ctx, &plan, plan.specs())
	}
	plan.keptCapacity = r.keptCapacity(state)
	targets, diags := plan.decide(state, unhealthy)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(plan.setTargets(ctx, targets)...)
	resp.Diagnostics.Append(plan.keepUnhealthySince(ctx, resp.Private)...)
	r.planOutcome(ctx, req, resp, &plan, state)
	r.planResume(ctx, &plan, state, req, resp)
	if state != nil && !strings.HasPrefix(state.FrontDoorURL.ValueString(), "https://") {
		// A plain HTTP front door from before TLS: the apply replaces it.
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("front_door_url"), types.StringUnknown())...)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("ip_address"), types.StringUnknown())...)
	}
	var prior map[string]int64
	if state != nil {
		prior = int64Map(state.EffectiveWeights)
	}
	for _, t := range targets {
		if t.Unhealthy != "" {
			resp.Diagnostics.AddWarning(healthNotice(t, prior[t.Region], state != nil, plan.AutomaticFailover.ValueBool()))
		}
	}
}

// planOutcome records the decision in the plan. Terraform plans a resource
// again right before applying it and requires known values to stay the
// same, but health can change in between; so a plan that moves anything
// leaves the outcome unknown (decided again, with fresh probes, by the
// apply) and says in a warning what it will move. Only a plan that moves
// nothing keeps the values, and is empty.
func (r *relayFailoverGroupResource) planOutcome(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse,
	plan, state *failoverGroupModel) {
	outcome := []struct {
		attr    string
		planned attr.Value
		prior   attr.Value
	}{
		{"effective_weights", plan.EffectiveWeights, nil},
		{"min_instances", plan.MinInstances, nil},
		{"unhealthy_regions", plan.UnhealthyRegions, nil},
	}
	if state != nil {
		outcome[0].prior, outcome[1].prior, outcome[2].prior = state.EffectiveWeights, state.MinInstances, state.UnhealthyRegions
		same := true
		for _, o := range outcome {
			same = same && o.planned.Equal(o.prior)
			resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(o.attr), o.prior)...)
		}
		if same && resp.Plan.Raw.Equal(req.State.Raw) {
			return // nothing moves
		}
		if moves := describeMoves(state, plan); moves != "" {
			resp.Diagnostics.AddWarning("Failover plan for "+plan.Name.ValueString(), moves)
		}
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("effective_weights"), types.MapUnknown(types.Int64Type))...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("min_instances"), types.MapUnknown(types.Int64Type))...)
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("unhealthy_regions"), types.ListUnknown(types.StringType))...)
	// Every apply writes a recovery record, a failover planned with the
	// configuration unchanged too.
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("last_record"), types.StringUnknown())...)
}

// describeMoves says, region by region, what the apply will change.
func describeMoves(state, plan *failoverGroupModel) string {
	oldW, newW := int64Map(state.EffectiveWeights), int64Map(plan.EffectiveWeights)
	oldM, newM := int64Map(state.MinInstances), int64Map(plan.MinInstances)
	var lines []string
	for _, s := range plan.specs() {
		var parts []string
		if oldW[s.Region] != newW[s.Region] {
			parts = append(parts, fmt.Sprintf("weight %d -> %d", oldW[s.Region], newW[s.Region]))
		}
		if _, managed := newM[s.Region]; managed && oldM[s.Region] != newM[s.Region] {
			parts = append(parts, fmt.Sprintf("min instances %d -> %d", oldM[s.Region], newM[s.Region]))
		}
		if len(parts) > 0 {
			lines = append(lines, s.Region+": "+strings.Join(parts, ", "))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\nThe apply checks health again before it moves traffic."
}

// decide runs the planning rules (see decide) on the group's configuration
// and reports their outcome as diagnostics.
func (m *failoverGroupModel) decide(state *failoverGroupModel, unhealthy map[string]string) ([]regionTarget, diag.Diagnostics) {
	var diags diag.Diagnostics
	d, err := decide(m.specs(), state.priorSpecs(), m.rules(), m.AutomaticFailover.ValueBool(), unhealthy)
	if err != nil {
		diags.AddAttributeError(path.Root("regions"), "Refused by the failover group's safety rules", err.Error())
		return nil, diags
	}
	if d.HeldBack != "" {
		diags.AddWarning("Automatic failover held back", d.HeldBack+". Weights stay as they are.")
	}
	keepCapacityOf(d.Targets, m.keptCapacity)
	return d.Targets, diags
}

// keptCapacity maps each region of state whose API is out in this run to
// the minimum instances state last read from it.
func (r *relayFailoverGroupResource) keptCapacity(state *failoverGroupModel) map[string]int64 {
	if state == nil || r.clients == nil {
		return nil
	}
	prior, kept := int64Map(state.MinInstances), map[string]int64{}
	for region := range r.clients.RegionsOut() {
		if n, ok := prior[region]; ok {
			kept[region] = n
		}
	}
	return kept
}

// changesServingRegions reports whether the configuration changes which
// regions are meant to take traffic, compared with state.
func (m *failoverGroupModel) changesServingRegions(state *failoverGroupModel) bool {
	return changesServingRegions(state.priorSpecs(), m.specs())
}

// priorSpecs are the regions of the configuration in state; nil without
// state (a new group).
func (m *failoverGroupModel) priorSpecs() []regionSpec {
	if m == nil {
		return nil
	}
	return m.specs()
}

func (m *failoverGroupModel) known() bool {
	for _, r := range m.Regions {
		if r.Region.IsUnknown() || r.Service.IsUnknown() || r.State.IsUnknown() || r.Weight.IsUnknown() {
			return false
		}
	}
	return m.HealthCheck != nil && !m.MinActiveRegions.IsUnknown()
}

func (m *failoverGroupModel) specs() []regionSpec {
	out := make([]regionSpec, len(m.Regions))
	for i, r := range m.Regions {
		out[i] = regionSpec{Region: r.Region.ValueString(), Service: r.Service.ValueString(), State: r.State.ValueString(), Weight: r.Weight.ValueInt64()}
	}
	return out
}

func (m *failoverGroupModel) rules() failoverRules {
	rules := failoverRules{MinActiveRegions: m.MinActiveRegions.ValueInt64()}
	if m.Capacity != nil {
		rules.TotalMinInstances = m.Capacity.TotalMinInstances.ValueInt64()
		rules.BaselineMinInstances = m.Capacity.BaselineMinInstances.ValueInt64()
	}
	return rules
}

func (m *failoverGroupModel) reintroduction(ctx context.Context) reintroductionModel {
	ri := reintroductionModel{Steps: []int64{10, 50, 100}, Soak: timetypes.NewGoDurationValueFromStringMust(defaultSoak)}
	if !m.Reintroduction.IsNull() && !m.Reintroduction.IsUnknown() {
		m.Reintroduction.As(ctx, &ri, objectAsOptions)
	}
	return ri
}

// readProbe reads what the health checks need: the token from config
// (token_wo, else the deprecated token) and the durations, parsed once. It
// reports false when the token is not known yet (plan of a value computed
// at apply).
func (m *failoverGroupModel) readProbe(ctx context.Context, config tfsdk.Config, diags *diag.Diagnostics) bool {
	health := path.Root("health_check")
	var wo types.String
	diags.Append(config.GetAttribute(ctx, health.AtName("token_wo"), &wo)...)
	token := m.HealthCheck.Token
	if !wo.IsNull() {
		token = wo
	}
	m.probe = probeSettings{
		token:      token.ValueString(),
		timeout:    durationOf(m.HealthCheck.Timeout, 5*time.Second, health.AtName("timeout"), diags),
		soak:       durationOf(m.reintroduction(ctx).Soak, 10*time.Second, path.Root("reintroduction").AtName("soak"), diags),
		drainGrace: durationOf(m.DrainGracePeriod, 5*time.Second, path.Root("drain_grace_period"), diags),
	}
	return !token.IsUnknown()
}

// setTargets records the planned weights and capacities.
func (m *failoverGroupModel) setTargets(ctx context.Context, targets []regionTarget) diag.Diagnostics {
	var diags diag.Diagnostics
	weights, mins := map[string]int64{}, map[string]int64{}
	var sick []string
	for _, t := range targets {
		weights[t.Region] = t.Weight
		if m.Capacity != nil {
			mins[t.Region] = t.MinInstances
		}
		if t.Unhealthy != "" {
			sick = append(sick, t.Region)
		}
	}
	var d diag.Diagnostics
	m.EffectiveWeights, d = types.MapValueFrom(ctx, types.Int64Type, weights)
	diags.Append(d...)
	m.MinInstances, d = types.MapValueFrom(ctx, types.Int64Type, mins)
	diags.Append(d...)
	sort.Strings(sick)
	if sick == nil {
		sick = []string{}
	}
	m.UnhealthyRegions, d = types.ListValueFrom(ctx, types.StringType, sick)
	diags.Append(d...)
	return diags
}

func (r *relayFailoverGroupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan failoverGroupModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.Project = types.StringValue(orDefault(plan.Project, r.clients.Project, "project", &resp.Diagnostics))
	plan.readProbe(ctx, req.Config, &resp.Diagnostics)
	plan.readNotifications(ctx, req.Config, &resp.Diagnostics)
	timeout, d := plan.Timeouts.Create(ctx, 30*time.Minute)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.apply(ctx, &plan, true, &resp.Diagnostics)
	if plan.ID.IsUnknown() { // nothing was created
		return
	}
	r.saveApplied(ctx, &plan, resp.Diagnostics.HasError(), &resp.State, resp.Private, &resp.Diagnostics)
}

func (r *relayFailoverGroupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan failoverGroupModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.readProbe(ctx, req.Config, &resp.Diagnostics)
	plan.readNotifications(ctx, req.Config, &resp.Diagnostics)
	plan.readUnhealthySince(ctx, req.Private)
	timeout, d := plan.Timeouts.Update(ctx, 30*time.Minute)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.assumeRegionsOut(ctx, &plan, req.Private)
	var prior failoverGroupModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	plan.keptCapacity = r.keptCapacity(&prior)
	r.apply(ctx, &plan, false, &resp.Diagnostics)
	r.saveApplied(ctx, &plan, resp.Diagnostics.HasError(), &resp.State, resp.Private, &resp.Diagnostics)
}

// saveApplied stores the group after an apply: as applied, or after a
// failure as read back from the cloud (never the targets), with the
// failover record it left mirrored in private state.
func (r *relayFailoverGroupResource) saveApplied(ctx context.Context, m *failoverGroupModel, failed bool, state *tfsdk.State,
	private privateSetter, diags *diag.Diagnostics) {
	var pending *failoverIntent
	if failed {
		pending = r.settle(ctx, m)
	}
	diags.Append(state.Set(ctx, m)...)
	diags.Append(r.recordRegionsOut(ctx, m, private)...)
	diags.Append(mirrorIntent(ctx, pending, private)...)
	diags.Append(private.SetKey(ctx, privateUnhealthySince, nil)...) // used by this apply's record only
}

func (r *relayFailoverGroupResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state failoverGroupModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	found, pending, diags := r.read(ctx, &state, nil)
	resp.Diagnostics.Append(diags...)
	if !found {
		resp.State.RemoveResource(ctx)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
	resp.Diagnostics.Append(r.recordRegionsOut(ctx, &state, resp.Private)...)
	resp.Diagnostics.Append(mirrorIntent(ctx, pending, resp.Private)...)
}

// The regions whose API a run found out travel in the group's private
// state, from a plan's refresh to its apply (a separate process, in which
// Terraform plans the group again before applying it). The apply takes
// them as out without calling them first, so a region whose API hangs
// costs the failover one attempt deadline, not one per command. The record
// only ever spares a wait: a region it names is still called when it is to
// take traffic (apply), and an answer from it in the apply's own run
// overrides it.
const privateRegionsOut = "regions_out"

// regionsOutMaxAge is how long a record is used: a plan applied later than
// that has its regions called again.
const regionsOutMaxAge = 5 * time.Minute

// regionOutRecord is one region of the record: when its API was found out
// and why.
type regionOutRecord struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

type privateGetter interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
}

type privateSetter interface {
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

// recordRegionsOut stores in private the group's regions that are out in
// this run, or clears the record when none is.
func (r *relayFailoverGroupResource) recordRegionsOut(ctx context.Context, m *failoverGroupModel, private privateSetter) diag.Diagnostics {
	if r.clients == nil || private == nil {
		return nil
	}
	out := map[string]regionOutRecord{}
	seen := r.clients.RegionsOut()
	for _, s := range m.specs() {
		if o, ok := seen[s.Region]; ok {
			out[s.Region] = regionOutRecord{Since: o.Since.UTC(), Reason: o.Reason}
		}
	}
	if len(out) == 0 {
		return private.SetKey(ctx, privateRegionsOut, nil)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return private.SetKey(ctx, privateRegionsOut, b)
}

// assumeRegionsOut has this run take the recorded regions of the group as
// out (gcpclient's AssumeRegionOut: calls to them fail at once, later ones
// probe them briefly), unless the record is older than regionsOutMaxAge or
// this run has already heard from them.
func (r *relayFailoverGroupResource) assumeRegionsOut(ctx context.Context, m *failoverGroupModel, private privateGetter) {
	if r.clients == nil || private == nil {
		return
	}
	b, _ := private.GetKey(ctx, privateRegionsOut)
	var rec map[string]regionOutRecord
	if len(b) == 0 || json.Unmarshal(b, &rec) != nil {
		return
	}
	for _, s := range m.specs() {
		o, ok := rec[s.Region]
		if age := time.Since(o.Since); !ok || age > regionsOutMaxAge || age < -time.Minute {
			continue
		}
		if r.clients.AssumeRegionOut(s.Region, o.Since, o.Reason) {
			tflog.Info(ctx, "region out at plan time: not called first", map[string]any{"region": s.Region, "since": o.Since, "reason": o.Reason})
		}
	}
}

func (r *relayFailoverGroupResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state failoverGroupModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, 20*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.deleteLoadBalancer(ctx, &state, &resp.Diagnostics)
}

// ImportState takes the group's name or its URL map id. Regions, health
// check and capacity come from the configuration on the next plan.
func (r *relayFailoverGroupResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := req.ID
	if !strings.Contains(id, "/") {
		if r.clients == nil || r.clients.Project == "" {
			resp.Diagnostics.AddError("Invalid import id", "import by name needs the provider's project; or use projects/PROJECT/global/urlMaps/NAME")
			return
		}
		id = fmt.Sprintf("projects/%s/global/urlMaps/%s", r.clients.Project, id)
	}
	parts := urlMapNameRE.FindStringSubmatch(id)
	if parts == nil {
		resp.Diagnostics.AddError("Invalid import id", fmt.Sprintf("%q is neither a group name nor projects/PROJECT/global/urlMaps/NAME", req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("project"), parts[1])...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), parts[2])...)
}

var (
	urlMapNameRE     = regexp.MustCompile(`^projects/([^/]+)/global/urlMaps/([^/]+)$`)
	sslCertificateRE = regexp.MustCompile(`^(https://[^/]+/compute/v1/)?projects/[^/]+/global/sslCertificates/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	certificateMapRE = regexp.MustCompile(`^(//certificatemanager\.googleapis\.com/)?projects/[^/]+/locations/[^/]+/certificateMaps/[^/]+$`)
	globalAddressRE  = regexp.MustCompile(`^(https://[^/]+/compute/v1/)?projects/[^/]+/global/addresses/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	managedDomainRE  = regexp.MustCompile(`^([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$`)
)

func sleepContext(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
