package resources_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
)

const collectorImage = "us-docker.pkg.dev/cloud-ops-agents-artifacts/google-cloud-opentelemetry-collector/otelcol-google:0.130.0"

// A relay service with the metrics sidecar is deployed as Cloud Run's
// multi-container revision (the relay as ingress container, the collector
// started after it), read back and imported; localcloud keeps the sidecar,
// says it does not run it, and the relay serves. Removing the sidecar rolls
// a single-container revision again.
func TestAccRelayService_metricsSidecar(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	const addr = "agentnet_relay_service.us"
	cfg := func(sidecar string) string {
		return e.config(e.regionHCLWith("us-central1", "1.0", 1, "null", "", "invoker_iam_disabled = true\n"+sidecar))
	}
	withSidecar := cfg(fmt.Sprintf(`metrics_sidecar = {
    image = %q
    port  = 9464
  }`, collectorImage))
	containers := func() ([]*runpb.Container, error) {
		svc, err := e.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: "projects/" + e.clients.Project + "/locations/us-central1/services/relay"})
		return svc.GetTemplate().GetContainers(), err
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: withSidecar,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "ready", "true"),
					resource.TestCheckResourceAttr(addr, "metrics_sidecar.image", collectorImage),
					resource.TestCheckResourceAttr(addr, "metrics_sidecar.port", "9464"),
					resource.TestCheckResourceAttr(addr, "metrics_sidecar.path", "/metrics"),
					resource.TestCheckResourceAttr(addr, "metrics_sidecar.cpu", "1"),
					resource.TestCheckResourceAttr(addr, "metrics_sidecar.memory", "512Mi"),
					func(*terraform.State) error {
						cs, err := containers()
						if err != nil {
							return err
						}
						if len(cs) != 2 {
							return fmt.Errorf("%d containers, want the relay and the collector", len(cs))
						}
						relay, col := cs[0], cs[1]
						if relay.GetName() != "relay" || len(relay.GetPorts()) != 1 || envValue(relay, "OPS_PORT") != "9464" {
							return fmt.Errorf("relay container: name %q, ports %v, OPS_PORT %q", relay.GetName(), relay.GetPorts(), envValue(relay, "OPS_PORT"))
						}
						if col.GetName() != "metrics-collector" || col.GetImage() != collectorImage || len(col.GetPorts()) != 0 ||
							strings.Join(col.GetDependsOn(), ",") != "relay" || col.GetStartupProbe().GetHttpGet().GetPort() != 13133 ||
							strings.Join(col.GetArgs(), " ") != "--config=env:AGENTNET_COLLECTOR_CONFIG" ||
							!strings.Contains(envValue(col, "AGENTNET_COLLECTOR_CONFIG"), "googlemanagedprometheus") ||
							envValue(col, "AGENTNET_SCRAPE_PORT") != "9464" {
							return fmt.Errorf("collector container: %v", col)
						}
						return nil
					},
					func(*terraform.State) error {
						for _, l := range e.lc.Oplog(t) {
							if l.Method == "localcloud.Run.SidecarNotRun" && strings.Contains(l.Outcome, collectorImage) {
								return nil
							}
						}
						return fmt.Errorf("the operation log does not say that the sidecar is not run")
					},
					func(s *terraform.State) error {
						url, err := serviceURL(s, addr)
						if err != nil {
							return err
						}
						_, err = client.Probe(ctx, url, e.token(t, "probe"))
						return err
					},
				),
			},
			{Config: withSidecar, PlanOnly: true},
			{ResourceName: addr, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"timeouts"}},
			{
				Config: cfg(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(addr, tfjsonpath.New("latest_ready_revision")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr(addr, "metrics_sidecar.image"),
					func(*terraform.State) error {
						cs, err := containers()
						if err != nil || len(cs) != 1 {
							return fmt.Errorf("containers after removing the sidecar: %v (%v)", cs, err)
						}
						return nil
					},
				),
			},
		},
	})
}

func envValue(c *runpb.Container, name string) string {
	for _, e := range c.GetEnv() {
		if e.GetName() == name {
			return e.GetValue()
		}
	}
	return ""
}
