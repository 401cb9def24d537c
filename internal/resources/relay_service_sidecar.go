package resources

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
)

// The metrics sidecar: an OpenTelemetry Collector next to the relay, in the
// same Cloud Run instance, that scrapes the relay's /metrics on OPS_PORT
// and writes the series to Google Cloud Managed Service for Prometheus
// (prometheus.googleapis.com/NAME/KIND, what modules/monitoring queries).
// Google documents both the Managed Service for Prometheus sidecar and a
// Collector sidecar (https://cloud.google.com/run/docs/monitoring-managed-prometheus-sidecar,
// https://cloud.google.com/stackdriver/docs/instrumentation/opentelemetry-collector-cloud-run);
// the Collector takes its whole configuration from an environment variable
// (its env: config source), where the Prometheus sidecar needs a Secret
// Manager volume to scrape any port but 8080. The relay is the ingress
// container; the collector depends on it, so Cloud Run starts it once the
// relay passes its startup probe.

const (
	relayContainerName   = "relay"
	sidecarContainerName = "metrics-collector"
	// collectorConfigEnv holds the Collector's configuration; the scrape
	// target and path come from the two variables after it, which Read
	// turns back into port and path.
	collectorConfigEnv = "AGENTNET_COLLECTOR_CONFIG"
	scrapePortEnv      = "AGENTNET_SCRAPE_PORT"
	scrapePathEnv      = "AGENTNET_SCRAPE_PATH"
	// collectorHealthPort is the Collector's health_check extension, its
	// startup probe (as in Google's Cloud Run examples).
	collectorHealthPort = 13133
	defaultOpsPort      = 9090
)

// collectorConfig scrapes the relay every 30 s and exports to Managed
// Service for Prometheus with the Cloud Run resource detected.
const collectorConfig = `receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: agentnet-relay
          scrape_interval: 30s
          metrics_path: ${env:AGENTNET_SCRAPE_PATH}
          static_configs:
            - targets: ["127.0.0.1:${env:AGENTNET_SCRAPE_PORT}"]
processors:
  resourcedetection:
    detectors: [gcp]
  batch: {}
exporters:
  googlemanagedprometheus: {}
extensions:
  health_check:
    endpoint: 0.0.0.0:13133
service:
  extensions: [health_check]
  pipelines:
    metrics:
      receivers: [prometheus]
      processors: [resourcedetection, batch]
      exporters: [googlemanagedprometheus]
`

type metricsSidecarModel struct {
	Image  types.String `tfsdk:"image"`
	Port   types.Int64  `tfsdk:"port"`
	Path   types.String `tfsdk:"path"`
	CPU    types.String `tfsdk:"cpu"`
	Memory types.String `tfsdk:"memory"`
}

var metricsSidecarAttrTypes = map[string]attr.Type{
	"image": types.StringType, "port": types.Int64Type, "path": types.StringType,
	"cpu": types.StringType, "memory": types.StringType,
}

// Quantities as Cloud Run accepts them, shared with the relay's own.
var (
	cpuQuantity    = stringvalidator.RegexMatches(regexp.MustCompile(`^(\d+(\.\d+)?|\d+m)$`), "must be a CPU quantity such as 1, 2 or 1000m")
	memoryQuantity = stringvalidator.RegexMatches(regexp.MustCompile(`^\d+(Mi|Gi)$`), "must be a memory quantity such as 512Mi or 2Gi")
)

func metricsSidecarSchema() schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		Optional: true,
		Description: "A metrics sidecar: an OpenTelemetry Collector container next to the relay that scrapes the relay's " +
			"`/metrics` on its operations port every 30 s and writes the series to Google Cloud Managed Service for " +
			"Prometheus, where they are `prometheus.googleapis.com/NAME/KIND` metrics (what `modules/monitoring` " +
			"queries). The relay becomes the ingress container `relay` and the collector the sidecar `metrics-collector`, " +
			"started after the relay passes its startup probe; its configuration is passed in the environment. The " +
			"service account needs `roles/monitoring.metricWriter`. Changing it rolls a new revision. On localcloud the " +
			"sidecar is accepted and read back but not run (the operation log says so).",
		Attributes: map[string]schema.Attribute{
			"image": schema.StringAttribute{
				Required: true,
				Description: "Collector image with the `prometheus` receiver, the `googlemanagedprometheus` exporter and the " +
					"`env:` configuration source, such as Google's " +
					"`us-docker.pkg.dev/cloud-ops-agents-artifacts/google-cloud-opentelemetry-collector/otelcol-google:0.130.0`.",
			},
			"port": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(defaultOpsPort),
				Description: "The relay's operations port, set as its `OPS_PORT`, which the collector scrapes on 127.0.0.1. " +
					"Not 8080 (the relay's `PORT`) nor 13133 (the collector's health check).",
				Validators: []validator.Int64{int64validator.Between(1, 65535), int64validator.NoneOf(8080, collectorHealthPort)},
			},
			"path": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("/metrics"),
				Description: "Path the collector scrapes on `port`.",
				Validators:  []validator.String{stringvalidator.RegexMatches(regexp.MustCompile(`^/[^\s$]*$`), "must be a URL path starting with /")},
			},
			"cpu": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("1"),
				Description: "CPU limit of the collector (Cloud Run adds it to the relay's for the instance).",
				Validators:  []validator.String{cpuQuantity},
			},
			"memory": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("512Mi"),
				Description: "Memory limit of the collector.",
				Validators:  []validator.String{memoryQuantity},
			},
		},
	}
}

// addMetricsSidecar makes template a multi-container revision when the
// sidecar is configured: the relay (containers[0]) gets its name, its port
// is the only one, OPS_PORT is set, and the collector follows it.
func addMetricsSidecar(ctx context.Context, sidecar types.Object, t *runpb.RevisionTemplate) diag.Diagnostics {
	if sidecar.IsNull() || sidecar.IsUnknown() {
		return nil
	}
	var m metricsSidecarModel
	diags := sidecar.As(ctx, &m, basetypes.ObjectAsOptions{})
	if diags.HasError() {
		return diags
	}
	port := strconv.FormatInt(m.Port.ValueInt64(), 10)
	relay := t.Containers[0]
	relay.Name = relayContainerName
	relay.Env = append(relay.Env, &runpb.EnvVar{Name: "OPS_PORT", Values: &runpb.EnvVar_Value{Value: port}})
	slices.SortFunc(relay.Env, func(a, b *runpb.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	env := func(k, v string) *runpb.EnvVar { return &runpb.EnvVar{Name: k, Values: &runpb.EnvVar_Value{Value: v}} }
	t.Containers = append(t.Containers, &runpb.Container{
		Name:  sidecarContainerName,
		Image: m.Image.ValueString(),
		Args:  []string{"--config=env:" + collectorConfigEnv},
		Env:   []*runpb.EnvVar{env(collectorConfigEnv, collectorConfig), env(scrapePathEnv, m.Path.ValueString()), env(scrapePortEnv, port)},
		Resources: &runpb.ResourceRequirements{Limits: map[string]string{
			"cpu": m.CPU.ValueString(), "memory": m.Memory.ValueString(),
		}},
		DependsOn: []string{relayContainerName},
		StartupProbe: &runpb.Probe{PeriodSeconds: 1, FailureThreshold: 60, TimeoutSeconds: 1,
			ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/", Port: collectorHealthPort}}},
	})
	return diags
}

// metricsSidecarFromAPI reads the sidecar back from a service's
// containers (null when there is none).
func metricsSidecarFromAPI(cs []*runpb.Container) types.Object {
	i := slices.IndexFunc(cs, func(c *runpb.Container) bool { return c.GetName() == sidecarContainerName })
	if i < 0 {
		return types.ObjectNull(metricsSidecarAttrTypes)
	}
	c := cs[i]
	env := map[string]string{}
	for _, e := range c.GetEnv() {
		env[e.GetName()] = e.GetValue()
	}
	port, err := strconv.ParseInt(env[scrapePortEnv], 10, 64)
	portValue := types.Int64Value(port)
	if err != nil {
		portValue = types.Int64Null()
	}
	obj, _ := types.ObjectValue(metricsSidecarAttrTypes, map[string]attr.Value{
		"image":  types.StringValue(c.GetImage()),
		"port":   portValue,
		"path":   types.StringValue(env[scrapePathEnv]),
		"cpu":    types.StringValue(c.GetResources().GetLimits()["cpu"]),
		"memory": types.StringValue(c.GetResources().GetLimits()["memory"]),
	})
	return obj
}
