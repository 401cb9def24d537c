// Package provider is the agentnet Terraform provider: disaster-recovery
// procedures of the AI Agent Network (Memorystore snapshots and restores,
// relay services, region failover) as resources that run on Google Cloud or,
// with emulator_host, on localcloud.
package provider

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/resources"
)

// EmulatorHostEnv is the environment variable that points the provider at
// localcloud when emulator_host is not set.
const EmulatorHostEnv = "AGENTNET_EMULATOR_HOST"

var _ provider.Provider = (*agentnetProvider)(nil)

// durationRE matches the durations request_timeout accepts (500ms, 30s, 2m).
var durationRE = regexp.MustCompile(`^(\d+(\.\d+)?(ms|s|m|h))+$`)

type agentnetProvider struct {
	version string
}

// New returns a constructor of the provider, as providerserver expects.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &agentnetProvider{version: version} }
}

type providerModel struct {
	Project           types.String `tfsdk:"project"`
	Region            types.String `tfsdk:"region"`
	AdditionalRegions types.List   `tfsdk:"additional_regions"`
	EmulatorHost      types.String `tfsdk:"emulator_host"`
	RedisEndpoint     types.String `tfsdk:"redis_endpoint"`
	RunEndpoint       types.String `tfsdk:"run_endpoint"`
	ComputeEndpoint   types.String `tfsdk:"compute_endpoint"`
	StorageEndpoint   types.String `tfsdk:"storage_endpoint"`
	KMSEndpoint       types.String `tfsdk:"kms_endpoint"`

	Credentials                        types.String `tfsdk:"credentials"`
	AccessToken                        types.String `tfsdk:"access_token"`
	ImpersonateServiceAccount          types.String `tfsdk:"impersonate_service_account"`
	ImpersonateServiceAccountDelegates types.List   `tfsdk:"impersonate_service_account_delegates"`
	Scopes                             types.List   `tfsdk:"scopes"`
	BillingProject                     types.String `tfsdk:"billing_project"`
	UserProjectOverride                types.Bool   `tfsdk:"user_project_override"`
	RequestTimeout                     types.String `tfsdk:"request_timeout"`
}

func (p *agentnetProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "agentnet"
	resp.Version = p.version
}

func (p *agentnetProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	endpoint := func(api, example string) schema.StringAttribute {
		return schema.StringAttribute{
			Optional: true,
			Description: "Custom endpoint of the " + api + " API, as the google provider's custom endpoints (for example `" +
				example + "`). Overrides `emulator_host` for this API only.",
		}
	}
	resp.Schema = schema.Schema{
		Description: "Disaster recovery of the AI Agent Network as plan/apply: Memorystore snapshots and restores, " +
			"relay services and region failover, on Google Cloud or on localcloud.",
		Attributes: map[string]schema.Attribute{
			"project": schema.StringAttribute{
				Optional:    true,
				Description: "Google Cloud project that resources belong to unless they name their own. Defaults to the first set of " + envList(projectEnv) + ".",
			},
			"region": schema.StringAttribute{
				Optional:   true,
				Validators: []validator.String{resources.RegionNameValidator()},
				Description: "Region that resources live in unless they name their own. Defaults to the first set of " + envList(regionEnv) + ". " +
					"Like every region attribute of the provider's resources, it must be a Google Cloud region (a zone such as `us-east1-b` is refused, naming its region), " +
					"checked at plan against Google Cloud's list of regions or `additional_regions`.",
			},
			"additional_regions": schema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Validators:  []validator.List{listvalidator.ValueStringsAre(resources.RegionNameValidator())},
				Description: "Regions to accept beyond the provider's list of Google Cloud regions, for a region opened after this version of the provider. " +
					"Added to the comma-separated regions of `" + resources.AdditionalRegionsEnv + "`.",
			},
			"emulator_host": schema.StringAttribute{
				Optional: true,
				Description: "Address (`host:port`) of a localcloud emulator. When set, every API is reached there over plaintext, " +
					"without credentials (the authentication attributes are ignored). Defaults to the `" + EmulatorHostEnv + "` environment variable. " +
					"When neither is set, the provider talks to Google Cloud.",
			},
			"credentials": schema.StringAttribute{
				Optional:  true,
				Sensitive: true,
				Validators: []validator.String{
					stringvalidator.ConflictsWith(path.MatchRoot("access_token")),
					stringvalidator.LengthAtLeast(1),
				},
				Description: "Path to, or contents of, a credentials JSON file: a service account key, `gcloud` user credentials, or a " +
					"workload identity federation configuration. Defaults to the first set of " + envList(credentialsEnv) + "; without it " +
					"(nor `access_token`), Application Default Credentials are used. Conflicts with `access_token`.",
			},
			"access_token": schema.StringAttribute{
				Optional:  true,
				Sensitive: true,
				Validators: []validator.String{
					stringvalidator.ConflictsWith(path.MatchRoot("credentials")),
					stringvalidator.LengthAtLeast(1),
				},
				Description: "A temporary OAuth 2.0 access token, used as is (never refreshed; `scopes` does not apply). Defaults to " +
					envList(accessTokenEnv) + " when `credentials` is not set either; when both environment variables are set, the token is used. " +
					"Conflicts with `credentials`.",
			},
			"impersonate_service_account": schema.StringAttribute{
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
				Description: "Service account every API call runs as: the credentials above (or Application Default Credentials) only obtain " +
					"its short-lived tokens, and need `roles/iam.serviceAccountTokenCreator` on it. Defaults to " + envList(impersonateEnv) + ".",
			},
			"impersonate_service_account_delegates": schema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "Delegation chain to `impersonate_service_account`: each service account may create tokens for the next.",
			},
			"scopes": schema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "OAuth 2.0 scopes of the tokens the provider obtains. Defaults to `" + strings.Join(gcpclient.DefaultScopes, "`, `") + "`.",
			},
			"billing_project": schema.StringAttribute{
				Optional: true,
				Description: "Project billed for quota of every API call when `user_project_override` is true (sent as `X-Goog-User-Project`). " +
					"Defaults to " + envList(billingProjectEnv) + ", else `project`.",
			},
			"user_project_override": schema.BoolAttribute{
				Optional: true,
				Description: "Bill quota to `billing_project` (else `project`) instead of the project the API chooses, as the google provider does; " +
					"the caller needs `serviceusage.services.use` on it. Defaults to " + envList(userProjectEnv) + ", else false.",
			},
			"request_timeout": schema.StringAttribute{
				Optional:   true,
				Validators: []validator.String{stringvalidator.RegexMatches(durationRE, "must be a duration such as 30s or 2m")},
				Description: "Longest time one API call may take, its retries included (default `30s`). Reads and operation polls are retried on " +
					"HTTP 429, 500, 502, 503, 504 and gRPC UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED, with capped exponential backoff " +
					"and jitter (at most 4 attempts); each attempt of a regional one gets 1s (or `request_timeout` if shorter) once the API has " +
					"answered anything, so that a region whose API stops answering counts as down within seconds and does not stall a failover. Long-running operations are " +
					"waited for within the resources' own `timeouts`.",
			},
			"redis_endpoint":   endpoint("Memorystore for Redis and Memorystore for Redis Cluster (gRPC)", "redis.googleapis.com:443"),
			"run_endpoint":     endpoint("Cloud Run Admin v2 (gRPC)", "run.googleapis.com:443"),
			"compute_endpoint": endpoint("Compute Engine (REST)", "https://compute.googleapis.com"),
			"storage_endpoint": endpoint("Cloud Storage JSON", "https://storage.googleapis.com/storage/v1/"),
			"kms_endpoint":     endpoint("Cloud KMS (gRPC)", "cloudkms.googleapis.com:443"),
		},
	}
}

func (p *agentnetProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg, diags := configFrom(m, os.Getenv, p.version)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	clients, err := gcpclient.New(ctx, cfg)
	if err != nil {
		var cerr *gcpclient.ConfigError
		switch {
		case errors.As(err, &cerr):
			resp.Diagnostics.AddAttributeError(path.Root(cerr.Attribute), "Invalid "+cerr.Attribute, cerr.Err.Error())
		case cfg.EmulatorHost != "":
			resp.Diagnostics.AddAttributeError(path.Root("emulator_host"), "Cannot reach localcloud", err.Error())
		default:
			resp.Diagnostics.AddError("Cannot use Google Cloud APIs", err.Error()+
				"\n\nOn Google Cloud, run `gcloud auth application-default login`, or set credentials, access_token or "+
				"impersonate_service_account (or their environment variables); for localcloud, set emulator_host or "+EmulatorHostEnv+".")
		}
		return
	}
	resp.ResourceData = clients
	resp.DataSourceData = clients
}

func (p *agentnetProvider) Resources(context.Context) []func() resource.Resource {
	return resources.Resources()
}

func (p *agentnetProvider) DataSources(context.Context) []func() datasource.DataSource {
	return resources.DataSources()
}
