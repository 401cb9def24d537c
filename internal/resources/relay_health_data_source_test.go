package resources_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// A real round trip through a relay service, and a clear answer (not an
// error) when nothing answers, so that check blocks can assert it.
func TestAccRelayHealthDataSource(t *testing.T) {
	e := newRelayEnv(t)
	tok, err := e.keys.Token("health-probe", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(e.regionHCL("us-central1", "1.0", 2, "null", "") + fmt.Sprintf(`
data "agentnet_relay_health" "service" {
  url        = agentnet_relay_service.us.url
  token_file = %[1]q
}

data "agentnet_relay_health" "nothing" {
  url        = "http://127.0.0.1:1"
  token_file = %[1]q
  timeout    = "2s"
}

check "delivery" {
  assert {
    condition     = data.agentnet_relay_health.service.healthy
    error_message = "agents cannot exchange messages through the relay service"
  }
}
`, tokenFile(t, tok)))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      e.config(`data "agentnet_relay_health" "bad" {` + "\n  url = \"ftp://relay\"\n  token = \"x\"\n}\n"),
			PlanOnly:    true,
			ExpectError: errorText("Attribute url must be an http://, https://, ws:// or wss:// URL"),
		}, {
			Config:      e.config(`data "agentnet_relay_health" "bad" {` + "\n  url = \"https://relay\"\n  token = \"\"\n}\n"),
			PlanOnly:    true,
			ExpectError: errorText("Attribute token must be a non-empty bearer token without spaces"),
		}, {
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("data.agentnet_relay_health.service", "healthy", "true"),
				resource.TestMatchResourceAttr("data.agentnet_relay_health.service", "latency_ms", regexp.MustCompile(`^\d+(\.\d+)?$`)),
				resource.TestCheckNoResourceAttr("data.agentnet_relay_health.service", "error"),
				resource.TestCheckResourceAttr("data.agentnet_relay_health.nothing", "healthy", "false"),
				resource.TestMatchResourceAttr("data.agentnet_relay_health.nothing", "error", regexp.MustCompile(`refused|127\.0\.0\.1:1`)),
				resource.TestCheckNoResourceAttr("data.agentnet_relay_health.nothing", "latency_ms"),
				noTokenInState(tok),
			),
		}},
	})
}
