package peerbench_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/stats"

	"github.com/agentnet/terraform-provider-agentnet/internal/peerbench"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

var (
	pairs   = flag.Int("peer.pairs", 50, "sender/recipient pairs")
	window  = flag.Int("peer.window", 32, "unacknowledged messages per sender at full load")
	rounds  = flag.Int("peer.rounds", 3, "alternating rounds (medians are reported)")
	rate    = flag.Float64("peer.rate", 2000, "common paced rate, messages per second over all pairs")
	phase   = flag.Duration("peer.phase", 5*time.Second, "duration of each measured phase")
	idle    = flag.Int("peer.idle", 2000, "idle connections for the memory measure")
	outFile = flag.String("peer.out", "", "also write the report to this file")
	peerRD  = flag.Bool("peer.relay-peer-redis", false, "give the relay a peer region's Redis: every envelope stored on two Redis before its ack (their CPU counted)")
)

// raiseFileLimit lets this process and the nodes it starts hold thousands
// of connections.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			// The benchmark still runs; with many connections it may
			// then fail on "too many open files".
			fmt.Fprintf(os.Stderr, "peerbench: raise the open file limit to %d: %v\n", lim.Max, err)
		}
	}
}

// relayBin is AGENTNET_RELAY_BIN (make sets it to bin/relay), else
// cmd/relay built for this run.
func relayBin(tb testing.TB) string {
	if p := os.Getenv("AGENTNET_RELAY_BIN"); p != "" {
		return p
	}
	return relaytest.RelayBinary(tb)
}

func TestMain(m *testing.M) {
	code := m.Run()
	relaytest.RemoveRelayBinary()
	os.Exit(code)
}

// BenchmarkRelayVsCentrifugo runs the relay and Centrifugo
// (AGENTNET_CENTRIFUGO_BIN, built by make bench-peer) side by side, two
// nodes of each on one redis-server, and prints the report
// (docs/benchmarks.md explains it). Flags: -peer.* (go test ... -args).
func BenchmarkRelayVsCentrifugo(b *testing.B) {
	cfBin := os.Getenv("AGENTNET_CENTRIFUGO_BIN")
	if cfBin == "" {
		b.Fatal("AGENTNET_CENTRIFUGO_BIN is not set: point it at a Centrifugo v6 binary (make bench-peer builds bin/centrifugo and sets it)")
	}
	raiseFileLimit()
	ctx := context.Background()
	dir := b.TempDir()
	rd := relaytest.NewRedis(b)
	relayRedis := []int{rd.Pid()}
	var peers []string
	if *peerRD {
		peer := relaytest.NewRedis(b)
		peers, relayRedis = []string{peer.Addr}, append(relayRedis, peer.Pid())
	}
	rl, err := peerbench.StartRelay(ctx, relayBin(b), dir, rd.Addr, peerbench.RelayOptions{PeerRedis: peers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rl.Stop)
	cf, err := peerbench.StartCentrifugo(ctx, cfBin, rd.Addr, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cf.Stop)
	su := setup(*idle)
	benches := []*peerbench.Bench{
		{Driver: rl, Pairs: *pairs, Window: *window, RedisPids: relayRedis},
		{Driver: cf, Pairs: *pairs, Window: *window, RedisPids: []int{rd.Pid()}},
	}
	for range b.N {
		products := compare(b, benches, su, rl)
		r, c := products[0].Summary(), products[1].Summary()
		b.ReportMetric(r.Rate, "relay_msgs/s")
		b.ReportMetric(c.Rate, "centrifugo_msgs/s")
		b.ReportMetric(stats.Ratio(r.Rate, c.Rate), "x_rate")
		b.ReportMetric(r.HalfP99, "relay_half_p99_ms")
		b.ReportMetric(c.HalfP99, "centrifugo_half_p99_ms")
		b.ReportMetric(r.IdleKB, "relay_KB/idle")
		b.ReportMetric(c.IdleKB, "centrifugo_KB/idle")
		b.ReportMetric(stats.Ratio(r.MsgsPerCPUSecond, c.MsgsPerCPUSecond), "x_msgs_per_cpu_s")
		b.ReportMetric(0, "ns/op")
	}
}

// setup is the run's setup from the flags, idle connections apart, and
// the machine's load at its start.
func setup(idle int) peerbench.Setup {
	load, _ := os.ReadFile("/proc/loadavg")
	return peerbench.Setup{
		Pairs: *pairs, Window: *window, Rounds: *rounds, Idle: idle, CommonRate: *rate, PhaseSeconds: phase.Seconds(),
		Note: fmt.Sprintf("Machine: %d cores shared with other work (load average at start: %s); products alternate so that noise hits both.",
			runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " ")),
	}
}

// compare runs the benches by turns, checks that no relay refused anything
// (a limit reached would compare configurations), prints the report and
// writes it to -peer.out.
func compare(b *testing.B, benches []*peerbench.Bench, su peerbench.Setup, relays ...*peerbench.Relay) []peerbench.Product {
	ctx := context.Background()
	// Progress goes straight to stdout: the benchmark's log is cut at ten lines.
	products, err := peerbench.Compare(ctx, benches, su, func(format string, args ...any) {
		fmt.Printf(format+"\n", args...)
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, rl := range relays {
		refused, err := rl.Refused(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(refused) > 0 {
			b.Errorf("%s refused %v (relay_refused_total by reason): a limit was reached, the run compares configurations", rl.Name(), refused)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	su.Note += fmt.Sprintf(" Load average at the end: %s.", strings.Join(strings.Fields(string(load))[:3], " "))
	var out bytes.Buffer
	peerbench.WriteReport(&out, su, products)
	fmt.Print("\n" + out.String())
	if *outFile != "" {
		if err := os.WriteFile(*outFile, out.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return products
}

// TestRelayDriver runs the whole workload on the relay alone, small: two
// relay nodes on one Redis, pairs across them. Every acknowledged message
// arrives, in every phase, with a latency; CPU is counted for the nodes and
// Redis, and idle connections cost the nodes memory.
func TestRelayDriver(t *testing.T) {
	ctx := context.Background()
	rd := relaytest.NewRedis(t)
	// Three senders at full speed each pass the modules' 1,000 envelopes per
	// second per identity: lift it, as the benchmark's fifty stay below it.
	rl, err := peerbench.StartRelay(ctx, relayBin(t), t.TempDir(), rd.Addr,
		peerbench.RelayOptions{Env: []string{"MAX_MSGS_PER_SEC_PER_IDENTITY=1000000"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rl.Stop)
	b := &peerbench.Bench{Driver: rl, Pairs: 3, Window: 4, RedisPids: []int{rd.Pid()}}
	su := peerbench.Setup{Pairs: 3, Window: 4, Rounds: 1, Idle: 200, CommonRate: 200, PhaseSeconds: 0.5}
	products, err := peerbench.Compare(ctx, []*peerbench.Bench{b}, su, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	p := products[0]
	if len(p.Rounds) != 1 {
		t.Fatalf("%d rounds, want 1", len(p.Rounds))
	}
	r := p.Rounds[0]
	for name, ph := range map[string]peerbench.Result{"full": r.Full, "common": r.Common, "half": r.Half} {
		if ph.Acked == 0 || ph.Delivered != ph.Acked || ph.Errors != 0 {
			t.Errorf("%s: acked %d, delivered %d, errors %d (%s)", name, ph.Acked, ph.Delivered, ph.Errors, ph.FirstErr)
		}
		if len(ph.Latencies) != int(ph.Delivered) || ph.P(0.5) <= 0 {
			t.Errorf("%s: %d latencies for %d deliveries, p50 %.3f ms", name, len(ph.Latencies), ph.Delivered, ph.P(0.5))
		}
	}
	// CPU time comes in ticks of 10 ms: enough of them at full load.
	if r.Full.NodeCPU <= 0 || r.Full.RedisCPU <= 0 || r.Full.MsgsPerCPUSecond() <= 0 {
		t.Errorf("full load: node CPU %.3f s, Redis CPU %.3f s: both worked", r.Full.NodeCPU, r.Full.RedisCPU)
	}
	// 200 msg/s for half a second: about 100 messages, paced.
	if n := r.Common.Acked; n < 80 || n > 100 {
		t.Errorf("paced at 200 msg/s for 0.5 s: %d sent, want about 100", n)
	}
	if refused, err := rl.Refused(ctx); err != nil || len(refused) > 0 {
		t.Errorf("relay refused %v (%v): no limit is reached here", refused, err)
	}
	if p.IdleKB <= 0 {
		t.Errorf("idle connections cost %.2f KB each", p.IdleKB)
	}
}

// TestReport checks the side-by-side report: ratios of the first product
// to the second, medians over rounds, and each guarantee stated.
func TestReport(t *testing.T) {
	result := func(delivered int64, secs float64, lat time.Duration, nodeCPU, redisCPU float64) peerbench.Result {
		ls := make([]time.Duration, delivered)
		for i := range ls {
			ls[i] = lat
		}
		return peerbench.Result{Acked: delivered, Delivered: delivered, Latencies: ls,
			Elapsed: time.Duration(secs * float64(time.Second)), NodeCPU: nodeCPU, RedisCPU: redisCPU}
	}
	round := func(full int64) peerbench.Round {
		return peerbench.Round{
			Full:   result(full, 1, 10*time.Millisecond, 1, 0.5),
			Common: result(1000, 1, time.Millisecond, 0.2, 0.1),
			Half:   result(full/2, 1, 2*time.Millisecond, 0.5, 0.2),
		}
	}
	a := peerbench.Product{Name: "a", Guarantee: "stored", IdleKB: 10,
		Rounds: []peerbench.Round{round(9000), round(3000), round(6000)}}
	b := peerbench.Product{Name: "b", Guarantee: "at most once", IdleKB: 20,
		Rounds: []peerbench.Round{round(2000), round(3000), round(4000)}}
	if s := a.Summary(); s.Rate != 6000 || s.HalfRate != 3000 || s.FullP99 != 10 || s.MsgsPerCPUSecond != 4000 || s.RedisUSPerMsg != 0.5e6/6000 {
		t.Errorf("summary of a: %+v", s)
	}
	var out bytes.Buffer
	peerbench.WriteReport(&out, peerbench.Setup{Pairs: 50, Window: 32, Rounds: 3, Idle: 2000, CommonRate: 1000, PhaseSeconds: 1}, []peerbench.Product{a, b})
	for _, want := range []string{
		"| delivered msg/s, full load (higher is better) | 6000 | 3000 | 2.00 |",
		"| KB resident per idle connection (lower is better) | 10.0 | 20.0 | 0.50 |",
		"| p50 ms at a common 1000 msg/s | 1.00 | 1.00 | 1.00 |",
		"- a, full-load msg/s by round: 9000, 3000, 6000. Guarantee: stored.",
		"- b, full-load msg/s by round: 2000, 3000, 4000. Guarantee: at most once.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
