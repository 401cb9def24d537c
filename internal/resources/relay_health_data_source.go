package resources

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
)

var _ datasource.DataSourceWithConfigure = (*relayHealthDataSource)(nil)

// NewRelayHealthDataSource is data agentnet_relay_health: a real round trip
// through a relay, for check blocks and health gates.
func NewRelayHealthDataSource() datasource.DataSource { return &relayHealthDataSource{} }

type relayHealthDataSource struct {
	dataSourceWithClients
}

type relayHealthModel struct {
	URL        types.String  `tfsdk:"url"`
	Token      types.String  `tfsdk:"token"`
	Timeout    types.String  `tfsdk:"timeout"`
	Region     types.String  `tfsdk:"region"`
	ServerName types.String  `tfsdk:"server_name"`
	Healthy    types.Bool    `tfsdk:"healthy"`
	LatencyMS  types.Float64 `tfsdk:"latency_ms"`
	Error      types.String  `tfsdk:"error"`
}

func (d *relayHealthDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_relay_health"
}

func (d *relayHealthDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Probes a relay with a real message round trip: two probe agents connect to the URL (a service URL " +
			"spreads them over its instances, a front door over its regions, or one region with `region`), each sends the " +
			"other an envelope and waits for it. TLS is always verified, against the system's roots (and localcloud's CA " +
			"when the provider talks to localcloud). Reading it never fails on an unhealthy relay: `healthy` and `error` say " +
			"what happened, so a `check` block can assert it (continuous verification of \"verify message delivery between agents\").",
		Attributes: map[string]schema.Attribute{
			"url": schema.StringAttribute{
				Required:    true,
				Description: "Relay URL: an `agentnet_relay_service`'s `url` or a failover group's `front_door_url` (`http(s)://` or `ws(s)://`).",
				Validators:  []validator.String{stringvalidator.RegexMatches(relayURLPattern, "must be an http://, https://, ws:// or wss:// URL")},
			},
			"token": schema.StringAttribute{
				Required: true, Sensitive: true,
				Validators:  []validator.String{probeTokenValidator()},
				Description: "Bearer token the probe agents connect with (a JWT the relay accepts). An empty token is refused: every probe would fail and look like an outage.",
			},
			"region": schema.StringAttribute{
				Optional:   true,
				Validators: []validator.String{RegionNameValidator()},
				Description: "Region to probe behind a failover group's front door: the probe agents send `" + regionHeader +
					": <region>`, which the group's URL map routes to that region only.",
			},
			"server_name": schema.StringAttribute{
				Optional: true,
				Description: "Name the relay's TLS certificate is verified against, when `url` names the front door by its IP " +
					"address (a failover group's `front_door_url`) and the certificate names only its domains. Verification is never skipped.",
			},
			"timeout": schema.StringAttribute{
				Optional:    true,
				Description: "How long the round trip may take, as a Go duration (default `10s`).",
				Validators:  []validator.String{stringvalidator.RegexMatches(durationPattern, durationMessage)},
			},
			"healthy":    schema.BoolAttribute{Computed: true, Description: "Whether the round trip completed in time."},
			"latency_ms": schema.Float64Attribute{Computed: true, Description: "Round-trip time in milliseconds; null when unhealthy."},
			"error":      schema.StringAttribute{Computed: true, Description: "Why the probe failed; null when healthy."},
		},
	}
}

func (d *relayHealthDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m relayHealthModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout := 10 * time.Second
	if s := m.Timeout.ValueString(); s != "" {
		var err error
		if timeout, err = time.ParseDuration(s); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("timeout"), "Invalid timeout", err.Error())
			return
		}
	}
	roots, err := d.clients.FrontDoorRoots(ctx)
	if err != nil {
		resp.Diagnostics.AddError("No trusted roots for the probe", err.Error())
		return
	}
	latency, err := probeRelay(ctx, m.URL.ValueString(), m.Token.ValueString(), timeout, roots, m.ServerName.ValueString(), m.Region.ValueString())
	m.Healthy = types.BoolValue(err == nil)
	m.LatencyMS, m.Error = types.Float64Null(), types.StringNull()
	if err != nil {
		m.Error = types.StringValue(err.Error())
	} else {
		m.LatencyMS = types.Float64Value(float64(latency.Microseconds()) / 1000)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// probeTokenValidator refuses an empty or blank probe token: the relay
// would refuse every probe, which reads as an outage.
func probeTokenValidator() validator.String {
	return stringvalidator.RegexMatches(regexp.MustCompile(`^\S+$`), "must be a non-empty bearer token without spaces")
}

// probeRelay is the health check shared by the data source and the
// failover group: a round trip between two probe agents, trusting roots for
// wss:// and verifying the certificate against serverName when set (a front
// door reached by its IP address), pinned to region behind a front door when
// region is set.
func probeRelay(ctx context.Context, url, token string, timeout time.Duration, roots *x509.CertPool, serverName, region string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var opts []client.Option
	if serverName != "" {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
		opts = append(opts, client.WithHTTPClient(&http.Client{Transport: tr}))
	}
	if roots != nil {
		opts = append(opts, client.WithRootCAs(roots))
	}
	if region != "" {
		opts = append(opts, client.WithHeader(http.Header{regionHeader: {region}}))
	}
	return client.Probe(ctx, url, client.StaticToken(token), opts...)
}
