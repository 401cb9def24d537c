package resources

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
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
	URL        types.String         `tfsdk:"url"`
	Token      types.String         `tfsdk:"token"`
	TokenFile  types.String         `tfsdk:"token_file"`
	Timeout    timetypes.GoDuration `tfsdk:"timeout"`
	Region     types.String         `tfsdk:"region"`
	ServerName types.String         `tfsdk:"server_name"`
	Healthy    types.Bool           `tfsdk:"healthy"`
	LatencyMS  types.Float64        `tfsdk:"latency_ms"`
	Error      types.String         `tfsdk:"error"`
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
				Optional: true, Sensitive: true,
				Validators:         []validator.String{probeTokenValidator()},
				DeprecationMessage: "token is stored in the state in plain text (a data source has no write-only arguments): use token_file.",
				Description:        "Deprecated: stored in the state in plain text. Use `token_file`.",
			},
			"token_file": schema.StringAttribute{
				Optional: true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1),
					stringvalidator.ExactlyOneOf(path.MatchRoot("token"), path.MatchRoot("token_file"))},
				Description: "Path of a file holding the bearer token the probe agents connect with (a JWT the relay accepts; " +
					"surrounding whitespace is ignored), read at each probe. Only the path is in the state: a data source " +
					"cannot take a write-only argument, and its results must stay usable in `check` blocks, which an " +
					"ephemeral resource's are not. Mint the token into the file in the job that runs plan and apply. A " +
					"missing or empty file is an error, not an unhealthy relay. Exactly one of `token_file` and `token`.",
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
				Optional: true, CustomType: timetypes.GoDurationType{},
				Description: "How long the round trip may take, as a Go duration (default `10s`).",
				Validators:  []validator.String{durationAtLeast(time.Millisecond)},
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
	timeout := durationOf(m.Timeout, 10*time.Second, path.Root("timeout"), &resp.Diagnostics)
	token := m.Token.ValueString()
	if !m.TokenFile.IsNull() {
		token = readTokenFile(m.TokenFile.ValueString(), &resp.Diagnostics)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	roots, err := d.clients.FrontDoorRoots(ctx)
	if err != nil {
		resp.Diagnostics.AddError("No trusted roots for the probe", err.Error())
		return
	}
	latency, err := probeRelay(ctx, m.URL.ValueString(), token, timeout, roots, m.ServerName.ValueString(), m.Region.ValueString())
	m.Healthy = types.BoolValue(err == nil)
	m.LatencyMS, m.Error = types.Float64Null(), types.StringNull()
	if err != nil {
		m.Error = types.StringValue(err.Error())
	} else {
		m.LatencyMS = types.Float64Value(float64(latency.Microseconds()) / 1000)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// readTokenFile reads the probe token from token_file: a file that cannot
// be read or holds no token is an error naming the attribute and the file.
func readTokenFile(name string, diags *diag.Diagnostics) string {
	b, err := os.ReadFile(name)
	if err != nil {
		diags.AddAttributeError(path.Root("token_file"), "Cannot read the probe token",
			fmt.Sprintf("token_file %q: %v. It must name a file holding the bearer token the probe agents connect with.", name, err))
		return ""
	}
	token := strings.TrimSpace(string(b))
	if !probeTokenRE.MatchString(token) {
		diags.AddAttributeError(path.Root("token_file"), "No probe token in token_file",
			fmt.Sprintf("token_file %q must hold one non-empty bearer token without spaces: every probe would fail and look like an outage.", name))
	}
	return token
}

// probeTokenValidator refuses an empty or blank probe token: the relay
// would refuse every probe, which reads as an outage.
func probeTokenValidator() validator.String {
	return stringvalidator.RegexMatches(probeTokenRE, "must be a non-empty bearer token without spaces")
}

var probeTokenRE = regexp.MustCompile(`^\S+$`)

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
		dt, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return 0, fmt.Errorf("probing through %s: http.DefaultTransport is a %T, not an *http.Transport", serverName, http.DefaultTransport)
		}
		tr := dt.Clone()
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
