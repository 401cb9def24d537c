// Package provider is the agentnet Terraform provider: disaster-recovery
// procedures of the AI Agent Network (Memorystore snapshots and restores,
// relay services, region failover) as resources that run on Google Cloud or,
// with emulator_host, on localcloud.
package provider

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/resources"
)

// EmulatorHostEnv is the environment variable that points the provider at
// localcloud when emulator_host is not set.
const EmulatorHostEnv = "AGENTNET_EMULATOR_HOST"

var _ provider.Provider = (*agentnetProvider)(nil)

type agentnetProvider struct {
	version string
}

// New returns a constructor of the provider, as providerserver expects.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &agentnetProvider{version: version} }
}

type providerModel struct {
	Project         types.String `tfsdk:"project"`
	Region          types.String `tfsdk:"region"`
	EmulatorHost    types.String `tfsdk:"emulator_host"`
	RedisEndpoint   types.String `tfsdk:"redis_endpoint"`
	RunEndpoint     types.String `tfsdk:"run_endpoint"`
	ComputeEndpoint types.String `tfsdk:"compute_endpoint"`
	StorageEndpoint types.String `tfsdk:"storage_endpoint"`
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
				Description: "Google Cloud project that resources belong to unless they name their own. Defaults to the `GOOGLE_PROJECT` environment variable.",
			},
			"region": schema.StringAttribute{
				Optional:    true,
				Description: "Region that resources live in unless they name their own. Defaults to the `GOOGLE_REGION` environment variable.",
			},
			"emulator_host": schema.StringAttribute{
				Optional: true,
				Description: "Address (`host:port`) of a localcloud emulator. When set, every API is reached there over plaintext, " +
					"without credentials. Defaults to the `" + EmulatorHostEnv + "` environment variable. When neither is set, " +
					"the provider talks to Google Cloud with Application Default Credentials.",
			},
			"redis_endpoint":   endpoint("Memorystore for Redis (gRPC)", "redis.googleapis.com:443"),
			"run_endpoint":     endpoint("Cloud Run Admin v2 (gRPC)", "run.googleapis.com:443"),
			"compute_endpoint": endpoint("Compute Engine (REST)", "https://compute.googleapis.com"),
			"storage_endpoint": endpoint("Cloud Storage JSON", "https://storage.googleapis.com/storage/v1/"),
		},
	}
}

func (p *agentnetProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg := gcpclient.Config{
		Project:         stringOr(m.Project, os.Getenv("GOOGLE_PROJECT")),
		Region:          stringOr(m.Region, os.Getenv("GOOGLE_REGION")),
		EmulatorHost:    stringOr(m.EmulatorHost, os.Getenv(EmulatorHostEnv)),
		RedisEndpoint:   m.RedisEndpoint.ValueString(),
		RunEndpoint:     m.RunEndpoint.ValueString(),
		ComputeEndpoint: m.ComputeEndpoint.ValueString(),
		StorageEndpoint: m.StorageEndpoint.ValueString(),
		UserAgent:       "terraform-provider-agentnet/" + p.version,
	}
	clients, err := gcpclient.New(ctx, cfg)
	if err != nil {
		if cfg.EmulatorHost != "" {
			resp.Diagnostics.AddAttributeError(path.Root("emulator_host"), "Cannot reach localcloud", err.Error())
		} else {
			resp.Diagnostics.AddError("Cannot use Google Cloud APIs", err.Error()+
				"\n\nOn Google Cloud, run `gcloud auth application-default login` (or use a service account); "+
				"for localcloud, set emulator_host or "+EmulatorHostEnv+".")
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

func stringOr(v types.String, fallback string) string {
	if v.IsNull() || v.IsUnknown() || v.ValueString() == "" {
		return fallback
	}
	return v.ValueString()
}
