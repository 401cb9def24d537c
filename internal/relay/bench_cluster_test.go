package relay_test

import (
	"slices"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// BenchmarkRedisScaling measures the figures of the capacity model
// (docs/redis-scaling.md): envelopes per second at full speed through two
// relay instances sharing their Redis, and the Redis CPU time per envelope
// (every server's INFO cpu, so on a cluster the sum over its primaries),
// on one redis-server ("single") and on a three-primary Redis Cluster
// ("cluster"), in alternating rounds of the same run so that the machine's
// load weighs on both alike. share_max is the busiest primary's part of the
// cluster's Redis CPU (1/3 when the addresses spread evenly).
func BenchmarkRedisScaling(b *testing.B) {
	keys := relaytest.DevKeys(b)
	v := relaytest.Verifier(b, keys)
	setups := []struct {
		name string
		opts relaytest.RedisOptions
	}{{"single", relaytest.RedisOptions{Single: true}}, {"cluster", relaytest.RedisOptions{Shards: 3}}}
	var rds [2]*relaytest.Redis
	var paths [2]path
	for i, su := range setups {
		rds[i] = relaytest.NewRedisWith(b, su.opts)
		r1 := relaytest.NewRelay(b, v, "r1", rds[i].Addr, nil, nil)
		r2 := relaytest.NewRelay(b, v, "r1", rds[i].Addr, nil, nil)
		paths[i] = newRelayPath(b, keys, su.name, r1.URL, r2.URL)
	}
	const rounds = 6
	n := max(b.N/rounds/2, 2000)
	var took, rcpu [2]time.Duration
	var lats [2][]time.Duration
	perNode := make([]time.Duration, len(rds[1].Servers()))
	for r := range rounds {
		for j := range paths {
			k := (j + r) % 2
			cpu := serverCPU(b, rds[k])
			start := time.Now()
			_, lat := run(b, paths[k], n, 0)
			took[k] += time.Since(start)
			after := serverCPU(b, rds[k])
			for s := range after {
				rcpu[k] += after[s] - cpu[s]
				if k == 1 {
					perNode[s] += after[s] - cpu[s]
				}
			}
			lats[k] = append(lats[k], lat...)
		}
	}
	for k, su := range setups {
		slices.Sort(lats[k])
		msgs := float64(n * rounds)
		b.ReportMetric(msgs/took[k].Seconds(), su.name+"_msgs/s")
		b.ReportMetric(float64(rcpu[k].Microseconds())/msgs, su.name+"_redis_us/msg")
		b.ReportMetric(float64(lats[k][len(lats[k])*99/100].Microseconds())/1000, su.name+"_p99_ms")
	}
	b.ReportMetric(float64(slices.Max(perNode))/float64(rcpu[1]), "share_max")
	b.ReportMetric(0, "ns/op")
}

// serverCPU is the CPU time each of rd's servers has used.
func serverCPU(b *testing.B, rd *relaytest.Redis) []time.Duration {
	var out []time.Duration
	for _, s := range rd.Servers() {
		out = append(out, redisCPU(b, s))
	}
	return out
}
