package resources_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// A region whose API hangs (it never answers) fails over like one whose API
// refuses, and about as fast: the same automatic failover, plan then apply,
// is timed with europe-west1's API hanging and then with it answering
// UNAVAILABLE, in one run.
func TestAccRegionHang_failsOverWithin2xOfUnavailable(t *testing.T) {
	e := newRelayEnv(t)
	const down = "europe-west1"
	took := map[string]time.Duration{}
	var outageAt time.Time
	outage := func(api string) func() {
		return func() {
			outageAt = time.Now()
			e.lc.Fault(t, "region-down", "", map[string]any{"region": down, "api": api})
		}
	}
	failedOver := func(api string) resource.TestCheckFunc {
		return resource.ComposeAggregateTestCheckFunc(
			resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights."+down, "0"),
			resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "unhealthy_regions.0", down),
			func(s *terraform.State) error {
				took[api] = time.Since(outageAt)
				got, err := e.regionsReached(t, frontDoor(s), 20)
				if err != nil {
					return err
				}
				if got[down] != 0 {
					return fmt.Errorf("with %s's API %s, after the failover 20 connections reached %v", down, api, got)
				}
				t.Logf("%s's API %s: outage to failed over (plan and apply) in %v", down, api, took[api].Round(time.Millisecond))
				return nil
			},
		)
	}
	back := resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights."+down, "100")
	config := e.groupHCL(nil, true, "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: config},
			// Hanging first: it pays for anything that is slower the first time.
			{PreConfig: outage("hang"), Config: config, Check: failedOver("hang")},
			{PreConfig: func() { e.lc.FaultRegion(t, "region-up", down) }, Config: config, Check: back},
			{PreConfig: outage("unavailable"), Config: config, Check: resource.ComposeAggregateTestCheckFunc(
				failedOver("unavailable"),
				func(*terraform.State) error {
					hang, unavailable := took["hang"], took["unavailable"]
					t.Logf("failover with a hanging API took %v, with an unavailable one %v (%.2fx)",
						hang.Round(time.Millisecond), unavailable.Round(time.Millisecond), hang.Seconds()/unavailable.Seconds())
					if limit := 2*unavailable + 2*time.Second; hang > limit {
						return fmt.Errorf("failover with %s's API hanging took %v, more than 2x the %v it took with the API unavailable (+2s: %v)",
							down, hang.Round(time.Millisecond), unavailable.Round(time.Millisecond), limit.Round(time.Millisecond))
					}
					return nil
				})},
			{PreConfig: func() { e.lc.FaultRegion(t, "region-up", down) }, Config: config, Check: back},
		},
	})
}
