package peerbench_test

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/stats"

	"github.com/agentnet/terraform-provider-agentnet/internal/peerbench"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

var beforeRev = flag.String("peer.before", "before", "what the earlier relay build is, as the report names it (a git revision)")

// BenchmarkRelayBeforeAfter runs the relay of this tree (AGENTNET_RELAY_BIN)
// against an earlier build of it (AGENTNET_RELAY_BEFORE_BIN, built by make
// bench-relay from a git revision) on the workload of
// BenchmarkRelayVsCentrifugo, by turns: each build has two nodes and a
// redis-server of its own (both builds would share the agents' inboxes on
// one). The report's ratio column is after ÷ before. Flags: -peer.* (go
// test ... -args).
func BenchmarkRelayBeforeAfter(b *testing.B) {
	beforeBin := os.Getenv("AGENTNET_RELAY_BEFORE_BIN")
	if beforeBin == "" {
		b.Fatal("AGENTNET_RELAY_BEFORE_BIN is not set: point it at a relay binary built from an earlier revision (make bench-relay BEFORE=<rev> builds it and sets it)")
	}
	raiseFileLimit()
	ctx := context.Background()
	var benches []*peerbench.Bench
	var relays []*peerbench.Relay
	for _, build := range []struct{ label, bin string }{{"after", relayBin(b)}, {"before (" + *beforeRev + ")", beforeBin}} {
		rd := relaytest.NewRedis(b)
		rl, err := peerbench.StartRelay(ctx, build.bin, b.TempDir(), rd.Addr, peerbench.RelayOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(rl.Stop)
		rl.Label = build.label
		relays = append(relays, rl)
		benches = append(benches, &peerbench.Bench{Driver: rl, Pairs: *pairs, Window: *window, RedisPids: []int{rd.Pid()}})
	}
	su := setup(0)
	su.RedisPerProduct = true
	for range b.N {
		products := compare(b, benches, su, relays...)
		after, before := products[0].Summary(), products[1].Summary()
		b.ReportMetric(after.Rate, "after_msgs/s")
		b.ReportMetric(before.Rate, "before_msgs/s")
		b.ReportMetric(after.CommonP50, "after_common_p50_ms")
		b.ReportMetric(before.CommonP50, "before_common_p50_ms")
		b.ReportMetric(stats.Ratio(after.CommonRedisUS, before.CommonRedisUS), "x_common_redis_cpu")
		b.ReportMetric(stats.Ratio(after.RedisUSPerMsg, before.RedisUSPerMsg), "x_full_redis_cpu")
		b.ReportMetric(0, "ns/op")
	}
}
