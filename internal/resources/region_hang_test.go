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
// refuses: the same automatic failover, plan then apply, with europe-west1's
// API hanging (first: it pays for anything slower the first time), then
// with it answering UNAVAILABLE; each time the region is found unhealthy and
// new connections avoid it, and it is brought back after. How long the hang
// costs against UNAVAILABLE is measured, not asserted here:
// BenchmarkRegionFailover/redis-tls-auth/api-hang reports it as a ratio
// measured in the same run (x_unavailable).
func TestAccRegionHang_failsOverLikeUnavailable(t *testing.T) {
	acctest.Setup(t)
	const down = "europe-west1"
	e := newRelayEnv(t)
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
				d := time.Since(outageAt)
				got, err := e.regionsReached(t, frontDoor(s), 20)
				if err != nil {
					return err
				}
				if got[down] != 0 {
					return fmt.Errorf("with %s's API %s, after the failover 20 connections reached %v", down, api, got)
				}
				t.Logf("%s's API %s: outage to failed over (plan and apply) in %v", down, api, d.Round(time.Millisecond))
				return nil
			},
		)
	}
	back := resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights."+down, "100")
	config := e.groupHCL(nil, true, "")
	steps := []resource.TestStep{{Config: config}}
	for _, api := range []string{"hang", "unavailable"} {
		steps = append(steps,
			resource.TestStep{PreConfig: outage(api), Config: config, Check: failedOver(api)},
			resource.TestStep{PreConfig: func() { e.lc.FaultRegion(t, "region-up", down) }, Config: config, Check: back})
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: acctest.ProviderFactories, Steps: steps})
}
