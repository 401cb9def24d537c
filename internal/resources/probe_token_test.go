package resources_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// noTokenInState fails when an attribute in state holds a token signed
// like token (its JWT header names the signing key): a write-only token, or
// one read from a file, is never stored.
func noTokenInState(token string) resource.TestCheckFunc {
	header, _, _ := strings.Cut(token, ".")
	return func(s *terraform.State) error {
		for _, m := range s.Modules {
			for name, r := range m.Resources {
				for attr, v := range r.Primary.Attributes {
					if strings.Contains(v, header) {
						return fmt.Errorf("the state holds a probe token in %s.%s", name, attr)
					}
				}
			}
		}
		return nil
	}
}

// tokenFile writes token to a file of its own and returns its path.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "probe.token")
	if err := os.WriteFile(name, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// Bad probe settings are refused at plan, naming the attribute: one token
// source, a version only with token_wo, durations parsed by their type,
// readable token files.
func TestAccProbeSettings_invalidInput(t *testing.T) {
	e := newEnv(t)
	group := func(health, extra string) string {
		return e.config(fmt.Sprintf(`
resource "agentnet_relay_failover_group" "bad" {
  name         = "bad"
  regions      = [{ region = "us-central1", service = "projects/p/locations/us-central1/services/relay" }]
  health_check = { %s }
  tls          = { managed_domains = ["relay.example.com"] }
  %s
}
`, health, extra))
	}
	health := func(attrs string) string {
		return e.config(`data "agentnet_relay_health" "bad" {` + "\n  url = \"https://relay.example.com\"\n  " + attrs + "\n}\n")
	}
	step := func(cfg string, want ...string) resource.TestStep {
		return resource.TestStep{Config: cfg, PlanOnly: true, ExpectError: errorText(want...)}
	}
	empty := tokenFile(t, " ")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			step(group(`token = "x", token_wo = "y"`, ""), "Invalid Attribute Combination", "2 attributes specified", "[health_check.token,health_check.token_wo]"),
			step(group(`timeout = "5s"`, ""), "Invalid Attribute Combination", "No attribute specified", "[health_check.token,health_check.token_wo]"),
			step(group(`token_wo = ""`, ""), "health_check.token_wo", "must be a non-empty bearer token"),
			step(group(`token = "x", token_wo_version = 2`, ""), `"health_check.token_wo" must be specified when "health_check.token_wo_version" is specified`),
			step(group(`token_wo = "x", timeout = "5x"`, ""), "Invalid Time Duration String Value", `Given Value: 5x`),
			step(group(`token_wo = "x", timeout = "0s"`, ""), "Duration too short", `health_check.timeout is "0s"`, "at least 1ms"),
			step(group(`token_wo = "x"`, `drain_grace_period = "-1s"`), "Duration too short", `drain_grace_period is "-1s"`),
			step(group(`token_wo = "x"`, `reintroduction = { soak = "1 minute" }`), "Invalid Time Duration String Value", "Given Value: 1 minute"),
			step(health(`token = "x"`+"\n  token_file = \"/tmp/x\""), "Invalid Attribute Combination", "2 attributes specified", "[token,token_file]"),
			step(health(`timeout = "1s"`), "Invalid Attribute Combination", "No attribute specified", "[token,token_file]"),
			step(health(`token_file = "/nonexistent/probe.token"`), "Cannot read the probe token", `token_file "/nonexistent/probe.token"`),
			step(health(fmt.Sprintf("token_file = %q", empty)), "No probe token in token_file", "one non-empty bearer token"),
			step(health(`token = "x"`+"\n  timeout = \"ten seconds\""), "Invalid Time Duration String Value", "Given Value: ten seconds"),
		},
	})
}

// The probe token is write-only: not in state, read from the configuration
// at each run. A rotated token alone plans nothing; with a new
// token_wo_version the apply health-gates the regions with it, so a token
// the relays refuse fails that apply.
func TestAccRelayFailoverGroup_tokenRotation(t *testing.T) {
	e := newRelayEnv(t)
	signed, err := e.keys.Token("rotation-check", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokenLine := regexp.MustCompile(`token_wo\s+= "[^"]*"`)
	cfg := e.groupHCL(nil, false, "")
	rotated := func(token string, version int) string {
		c := tokenLine.ReplaceAllString(cfg, fmt.Sprintf("token_wo = %q", token))
		return strings.Replace(c, "token_wo_version = 1", fmt.Sprintf("token_wo_version = %d", version), 1)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				noTokenInState(signed),
				resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "health_check.token_wo_version", "1"),
				resource.TestCheckNoResourceAttr("agentnet_relay_failover_group.global", "health_check.token_wo"),
			),
		}, {
			Config:             rotated("refused-by-the-relays", 1),
			PlanOnly:           true,
			ExpectNonEmptyPlan: false,
		}, {
			Config:      rotated("refused-by-the-relays", 2),
			ExpectError: errorText("Health gate failed for", "would take traffic but its health check through the front door failed"),
		}, {
			Config: rotated(signed, 3),
			Check:  resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "health_check.token_wo_version", "3"),
		}},
	})
}
