package resources_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// A region whose API hangs (it never answers) fails over like one whose API
// refuses, and about as fast: the same automatic failover, plan then apply,
// is timed with europe-west1's API hanging and then with it answering
// UNAVAILABLE, in three rounds run side by side, each with its own
// localcloud, so that they share the machine's load; the medians compare,
// so one slow failover on a loaded machine does not decide.
func TestAccRegionHang_failsOverWithin2xOfUnavailable(t *testing.T) {
	acctest.Setup(t)
	t.Parallel()
	const (
		down   = "europe-west1"
		rounds = 3
	)
	var mu sync.Mutex
	took := map[string][]time.Duration{}
	t.Run("rounds", func(t *testing.T) {
		for round := 1; round <= rounds; round++ {
			t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
				regionHangRound(t, down, func(api string, d time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					took[api] = append(took[api], d)
				})
			})
		}
	})
	if t.Failed() {
		return
	}
	hang, unavailable := medianOf(took["hang"]), medianOf(took["unavailable"])
	t.Logf("failover with a hanging API took %s (median %v), with an unavailable one %s (median %v): %.2fx",
		durations(took["hang"]), hang.Round(time.Millisecond), durations(took["unavailable"]), unavailable.Round(time.Millisecond),
		hang.Seconds()/unavailable.Seconds())
	if len(took["hang"]) != rounds || len(took["unavailable"]) != rounds {
		t.Fatalf("timed %d failovers with the API hanging and %d with it unavailable, want %d of each", len(took["hang"]), len(took["unavailable"]), rounds)
	}
	if hang > 2*unavailable {
		t.Errorf("failover with %s's API hanging took %v (median of %s), more than 2x the %v (median of %s) it took with the API unavailable",
			down, hang.Round(time.Millisecond), durations(took["hang"]), unavailable.Round(time.Millisecond), durations(took["unavailable"]))
	}
}

// regionHangRound fails down over with its API hanging, brings it back,
// then fails it over with its API unavailable and brings it back, reporting
// each time from outage to failover. Hanging first: it pays for anything
// that is slower the first time.
func regionHangRound(t *testing.T, down string, report func(api string, took time.Duration)) {
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
				report(api, d)
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
