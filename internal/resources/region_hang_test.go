package resources_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// A region whose API hangs (it never answers) fails over like one whose API
// refuses, and about as fast: the same automatic failover, plan then apply,
// is timed with europe-west1's API hanging and with it answering
// UNAVAILABLE, alternately, three times each, in one run; the medians
// compare, so one slow run on a loaded machine does not decide.
func TestAccRegionHang_failsOverWithin2xOfUnavailable(t *testing.T) {
	e := newRelayEnv(t)
	const (
		down   = "europe-west1"
		rounds = 3
	)
	took := map[string][]time.Duration{}
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
				took[api] = append(took[api], d)
				got, err := e.regionsReached(t, frontDoor(s), 20)
				if err != nil {
					return err
				}
				if got[down] != 0 {
					return fmt.Errorf("with %s's API %s, after the failover 20 connections reached %v", down, api, got)
				}
				t.Logf("%s's API %s (#%d): outage to failed over (plan and apply) in %v", down, api, len(took[api]), d.Round(time.Millisecond))
				return nil
			},
		)
	}
	compare := func(*terraform.State) error {
		hang, unavailable := medianOf(took["hang"]), medianOf(took["unavailable"])
		t.Logf("failover with a hanging API took %s (median %v), with an unavailable one %s (median %v): %.2fx",
			durations(took["hang"]), hang.Round(time.Millisecond), durations(took["unavailable"]), unavailable.Round(time.Millisecond),
			hang.Seconds()/unavailable.Seconds())
		if hang > 2*unavailable {
			return fmt.Errorf("failover with %s's API hanging took %v (median of %s), more than 2x the %v (median of %s) it took with the API unavailable",
				down, hang.Round(time.Millisecond), durations(took["hang"]), unavailable.Round(time.Millisecond), durations(took["unavailable"]))
		}
		return nil
	}
	back := resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights."+down, "100")
	config := e.groupHCL(nil, true, "")
	steps := []resource.TestStep{{Config: config}}
	for round := 1; round <= rounds; round++ {
		// Hanging first: it pays for anything that is slower the first time.
		for _, api := range []string{"hang", "unavailable"} {
			check := failedOver(api)
			if round == rounds && api == "unavailable" {
				check = resource.ComposeAggregateTestCheckFunc(check, compare)
			}
			steps = append(steps,
				resource.TestStep{PreConfig: outage(api), Config: config, Check: check},
				resource.TestStep{PreConfig: func() { e.lc.FaultRegion(t, "region-up", down) }, Config: config, Check: back})
		}
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: acctest.ProviderFactories, Steps: steps})
}

// medianOf ds: the middle one, or the mean of the two middle ones.
func medianOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(parts, ", ")
}
