package relay_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

const (
	benchPairs       = 4   // sender/receiver pairs
	benchConcurrency = 32  // sends in flight per sender
	benchPayload     = 256 // bytes of "ciphertext"
)

// path is one way of moving a message from a sender to a receiver: through
// the relay (same or different instance) or, as the baseline, through a raw
// Redis PUBLISH to a subscriber.
type path interface {
	// send sends one message carrying payload from pair p; it returns when
	// the message is accepted (acked by the relay, or published).
	send(ctx context.Context, p int, payload []byte) error
	// received is where pair p's receiver reports payloads.
	received(p int) <-chan []byte
}

type relayPath struct {
	senders, receivers []*client.Client
	outs               []chan []byte
}

func (r *relayPath) send(ctx context.Context, p int, payload []byte) error {
	_, err := r.senders[p].Send(ctx, r.receivers[p].Address(), "", payload)
	return err
}

func (r *relayPath) received(p int) <-chan []byte { return r.outs[p] }

func newRelayPath(b *testing.B, keys *auth.DevKeys, name, sendURL, recvURL string) *relayPath {
	rp := &relayPath{}
	tok := client.StaticToken(relaytest.Token(b, keys, "bench"))
	ctx := context.Background()
	for p := 0; p < benchPairs; p++ {
		s, err := client.Dial(ctx, []string{sendURL}, tok, client.WithLabel(fmt.Sprintf("%s-s%d", name, p)))
		if err != nil {
			b.Fatal(err)
		}
		r, err := client.Dial(ctx, []string{recvURL}, tok, client.WithLabel(fmt.Sprintf("%s-r%d", name, p)), client.WithReceiveBuffer(4096))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close(); r.Close() })
		out := make(chan []byte, 4096)
		go func() {
			for e := range r.Receive() {
				out <- e.Ciphertext
			}
		}()
		rp.senders, rp.receivers, rp.outs = append(rp.senders, s), append(rp.receivers, r), append(rp.outs, out)
	}
	return rp
}

type redisPath struct {
	pub  *redis.Client
	outs []chan []byte
}

func (r *redisPath) send(ctx context.Context, p int, payload []byte) error {
	return r.pub.Publish(ctx, "bench:"+strconv.Itoa(p), payload).Err()
}

func (r *redisPath) received(p int) <-chan []byte { return r.outs[p] }

func newRedisPath(b *testing.B, addr string) *redisPath {
	rp := &redisPath{pub: redis.NewClient(&redis.Options{Addr: addr, PoolSize: benchPairs * benchConcurrency})}
	b.Cleanup(func() { rp.pub.Close() })
	for p := 0; p < benchPairs; p++ {
		sub := redis.NewClient(&redis.Options{Addr: addr})
		ps := sub.Subscribe(context.Background(), "bench:"+strconv.Itoa(p))
		if _, err := ps.Receive(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ps.Close(); sub.Close() })
		out := make(chan []byte, 4096)
		go func() {
			for m := range ps.Channel(redis.WithChannelSize(4096)) {
				out <- []byte(m.Payload)
			}
		}()
		rp.outs = append(rp.outs, out)
	}
	return rp
}

// run moves n messages through pt and returns the rate and the latency of
// each message (send start to arrival). rate > 0 paces the senders at that
// many messages per second in total; 0 sends as fast as acks allow.
func run(b *testing.B, pt path, n int, rate float64) (float64, []time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lat := make([][]time.Duration, benchPairs)
	var recvWG, sendWG sync.WaitGroup
	start := time.Now()
	var failed atomic.Value
	for p := 0; p < benchPairs; p++ {
		quota := n / benchPairs
		if p < n%benchPairs {
			quota++
		}
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			ls := make([]time.Duration, 0, quota)
			for len(ls) < quota {
				select {
				case m := <-pt.received(p):
					ls = append(ls, time.Duration(time.Now().UnixNano()-int64(binary.BigEndian.Uint64(m))))
				case <-time.After(20 * time.Second):
					failed.Store(fmt.Sprintf("pair %d: received %d of %d", p, len(ls), quota))
					lat[p] = ls
					return
				}
			}
			lat[p] = ls
		}()
		var next atomic.Int64
		for w := 0; w < benchConcurrency; w++ {
			sendWG.Add(1)
			go func() {
				defer sendWG.Done()
				payload := make([]byte, benchPayload)
				for {
					i := next.Add(1) - 1
					if i >= int64(quota) {
						return
					}
					if rate > 0 {
						// Pair p sends its i-th message at start + (i*pairs+p)/rate.
						at := start.Add(time.Duration(float64(i*benchPairs+int64(p)) / rate * float64(time.Second)))
						if d := time.Until(at); d > 0 {
							time.Sleep(d)
						}
					}
					binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
					if err := pt.send(ctx, p, payload); err != nil {
						failed.Store(err.Error())
						return
					}
				}
			}()
		}
	}
	sendWG.Wait()
	recvWG.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return float64(n) / elapsed.Seconds(), all
}

func report(b *testing.B, rate float64, lat []time.Duration) {
	slices.Sort(lat)
	q := func(f float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkThroughput moves messages between agent pairs as fast as acks
// allow ("max") and at half that rate ("half"), through one relay instance,
// across two instances sharing a Redis, and, as the baseline, through raw
// Redis PUBLISH/SUBSCRIBE. Each message carries a 256-byte payload.
func BenchmarkThroughput(b *testing.B) {
	keys := relaytest.DevKeys(b)
	v := relaytest.Verifier(b, keys)
	rd := relaytest.NewRedis(b)
	r1 := relaytest.NewRelay(b, v, "r1", rd.Addr, nil, nil)
	r2 := relaytest.NewRelay(b, v, "r1", rd.Addr, nil, nil)
	paths := []struct {
		name string
		pt   path
	}{
		{"redis-publish-baseline", newRedisPath(b, rd.Addr)},
		{"same-instance", newRelayPath(b, keys, "same", r1.URL, r1.URL)},
		{"cross-instance", newRelayPath(b, keys, "cross", r1.URL, r2.URL)},
	}
	var baseline float64
	for _, p := range paths {
		var maxRate float64
		b.Run(p.name+"/max", func(b *testing.B) {
			rate, lat := run(b, p.pt, b.N, 0)
			maxRate = rate
			report(b, rate, lat)
			if p.name == "redis-publish-baseline" {
				baseline = rate
			} else if baseline > 0 {
				// Throughput as a fraction of raw Redis PUBLISH on this machine.
				b.ReportMetric(rate/baseline, "x_baseline")
			}
		})
		b.Run(p.name+"/half", func(b *testing.B) {
			target := maxRate / 2
			if target == 0 {
				target = 5000
			}
			rate, lat := run(b, p.pt, b.N, target)
			report(b, rate, lat)
		})
	}
}

// BenchmarkThroughputTLS compares two regions' relays whose Redis (one per
// region, each envelope stored in both) speak plaintext without AUTH
// ("plain") with the same on TLS with AUTH ("tls-auth"), as Memorystore
// runs with in-transit encryption and AUTH. Agents send in one region and
// receive in the other. x_plain is tls-auth's throughput over plain's; in
// "alternating" both run by turns in eight rounds, so that the load of the
// machine weighs on both alike.
func BenchmarkThroughputTLS(b *testing.B) {
	keys := relaytest.DevKeys(b)
	v := relaytest.Verifier(b, keys)
	ca, err := pki.LoadOrCreateCA(b.TempDir(), "bench Redis CA")
	if err != nil {
		b.Fatal(err)
	}
	setups := []struct {
		name string
		opts relaytest.RedisOptions
	}{
		{"plain", relaytest.RedisOptions{}},
		{"tls-auth", relaytest.RedisOptions{CA: ca, Password: "bench-auth-string"}},
	}
	paths := make([]path, len(setups))
	for i, su := range setups {
		rdA, rdB := relaytest.NewRedisWith(b, su.opts), relaytest.NewRedisWith(b, su.opts)
		secure := func(c *relay.Config) { c.RedisPassword, c.RedisCAs = rdA.Target().Password, rdA.Target().CAs }
		ra := relaytest.NewRelay(b, v, "a", rdA.Addr, []string{rdB.Addr}, secure)
		rb := relaytest.NewRelay(b, v, "b", rdB.Addr, []string{rdA.Addr}, secure)
		paths[i] = newRelayPath(b, keys, su.name, ra.URL, rb.URL)
	}
	var plain float64
	for i, su := range setups {
		b.Run(su.name+"/cross-region", func(b *testing.B) {
			rate, lat := run(b, paths[i], b.N, 0)
			report(b, rate, lat)
			if i == 0 {
				plain = rate
			} else if plain > 0 {
				b.ReportMetric(rate/plain, "x_plain")
			}
		})
	}
	b.Run("alternating/cross-region", func(b *testing.B) {
		const rounds = 8
		var took [2]time.Duration
		n := max(b.N/rounds/2, 100)
		for r := 0; r < rounds; r++ {
			for i := range paths {
				start := time.Now()
				run(b, paths[(i+r)%2], n, 0)
				took[(i+r)%2] += time.Since(start)
			}
		}
		rates := [2]float64{float64(n*rounds) / took[0].Seconds(), float64(n*rounds) / took[1].Seconds()}
		b.ReportMetric(rates[0], "plain_msgs/s")
		b.ReportMetric(rates[1], "tls_auth_msgs/s")
		b.ReportMetric(rates[1]/rates[0], "x_plain")
		b.ReportMetric(0, "ns/op")
	})
}

// BenchmarkIdleConnections opens 10,000 idle agent connections to one relay
// process and reports its resident memory.
func BenchmarkIdleConnections(b *testing.B) {
	const conns = 10000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Logf("raise the open file limit to %d: %v (many connections may then fail)", lim.Max, err)
		}
	}
	keys := relaytest.DevKeys(b)
	rd := relaytest.NewRedis(b)
	p := startProc(b, keys, "r1", rd.Addr, "", "IDLE_TIMEOUT=10m", "PPROF_ADDR="+os.Getenv("RELAY_BENCH_PPROF"))
	base := rssKB(b, p.cmd.Process.Pid)
	tok := relaytest.Token(b, keys, "idle")
	h := http.Header{"Authorization": {"Bearer " + tok}}
	wss := make([]*websocket.Conn, conns)
	b.Cleanup(func() {
		for _, ws := range wss {
			if ws != nil {
				hangUp(ws)
			}
		}
	})
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	var dialErr atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= conns {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				ws, _, err := websocket.Dial(ctx, fmt.Sprintf("%s?label=i%d", p.URL, i), &websocket.DialOptions{HTTPHeader: h})
				cancel()
				if err != nil {
					dialErr.Store(err)
					return
				}
				wss[i] = ws
			}
		}()
	}
	wg.Wait()
	if err := dialErr.Load(); err != nil {
		b.Fatalf("dial: %v", err)
	}
	connectTime := time.Since(start)
	// Wait until the relay counts every connection, then let it settle.
	deadline := time.Now().Add(30 * time.Second)
	for gauge(b, p.ops, "relay_connections") < conns {
		if time.Now().After(deadline) {
			b.Fatalf("relay counts %v connections", gauge(b, p.ops, "relay_connections"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	rss := rssKB(b, p.cmd.Process.Pid)
	if f := os.Getenv("RELAY_BENCH_HEAP"); f != "" {
		for _, dump := range [][2]string{
			{f, "http://" + os.Getenv("RELAY_BENCH_PPROF") + "/debug/pprof/heap"},
			{f + ".metrics", p.ops + "/metrics"},
			{f + ".goroutine", "http://" + os.Getenv("RELAY_BENCH_PPROF") + "/debug/pprof/goroutine?debug=1"},
		} {
			if err := exec.Command("curl", "-s", "-o", dump[0], dump[1]).Run(); err != nil {
				b.Logf("RELAY_BENCH_HEAP: %s: %v", dump[1], err)
			}
		}
	}
	for i := 0; i < b.N; i++ {
	}
	b.ReportMetric(float64(rss)/1024, "rss_MB")
	b.ReportMetric(float64(rss-base)/conns, "KB/conn")
	b.ReportMetric(float64(conns)/connectTime.Seconds(), "conns/s")
	b.ReportMetric(0, "ns/op")
	if rss > 256*1024 {
		b.Errorf("resident memory %d MB over 256 MB", rss/1024)
	}
}

func rssKB(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func gauge(b *testing.B, base, name string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, line := range strings.Split(sb.String(), "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
	}
	return 0
}

// BenchmarkQuotas compares a relay enforcing every limit per identity
// (connections, labels, rates, bytes stored per recipient and per pair) and
// the byte budget per connection ("on", limits high enough never to refuse,
// so that only their cost is measured) with one enforcing none of them
// ("off"), both on one Redis, agents on one instance, in 16 alternating
// rounds so that the load of the machine weighs on both alike. x_off is
// on's throughput over off's; x_off_median the median of the rounds'
// ratios (two runs back to back each), which a load spike on a shared
// machine moves less; p99 of each at full speed; redis_us/msg the CPU time
// the Redis spent per envelope.
func BenchmarkQuotas(b *testing.B) {
	keys := relaytest.DevKeys(b)
	v := relaytest.Verifier(b, keys)
	rd := relaytest.NewRedis(b)
	on := relaytest.NewRelay(b, v, "r1", rd.Addr, nil, func(c *relay.Config) {
		c.MaxConnsPerIdentity, c.MaxLabelsPerIdentity, c.MaxMsgsPerSecPerIdentity, c.MaxBytesPerSecPerIdentity = 1<<20, 1<<20, 1<<30, 1<<40
		c.MaxStoredBytesPerRecipient, c.MaxStoredBytesPerPair, c.ConnByteBudget = 1<<40, 1<<40, 1<<20
	})
	off := relaytest.NewRelay(b, v, "r1", rd.Addr, nil, func(c *relay.Config) {
		c.MaxConnsPerIdentity, c.MaxLabelsPerIdentity, c.MaxMsgsPerSecPerIdentity, c.MaxBytesPerSecPerIdentity = -1, -1, -1, -1
		c.MaxStoredBytesPerRecipient, c.MaxStoredBytesPerPair, c.ConnByteBudget = -1, -1, -1
	})
	paths := []path{newRelayPath(b, keys, "on", on.URL, on.URL), newRelayPath(b, keys, "off", off.URL, off.URL)}
	const rounds = 16
	var took, rcpu [2]time.Duration
	var lats [2][]time.Duration
	ratios := make([]float64, 0, rounds)
	n := max(b.N/rounds/2, 200)
	for r := 0; r < rounds; r++ {
		var round [2]time.Duration
		for i := range paths {
			k := (i + r) % 2
			start, cpu := time.Now(), redisCPU(b, rd)
			_, lat := run(b, paths[k], n, 0)
			round[k] = time.Since(start)
			took[k] += round[k]
			rcpu[k] += redisCPU(b, rd) - cpu
			lats[k] = append(lats[k], lat...)
		}
		ratios = append(ratios, round[1].Seconds()/round[0].Seconds())
	}
	slices.Sort(ratios)
	p99 := func(l []time.Duration) float64 {
		slices.Sort(l)
		return float64(l[len(l)*99/100].Microseconds()) / 1000
	}
	rates := [2]float64{float64(n*rounds) / took[0].Seconds(), float64(n*rounds) / took[1].Seconds()}
	b.ReportMetric(rates[0], "on_msgs/s")
	b.ReportMetric(rates[1], "off_msgs/s")
	b.ReportMetric(rates[0]/rates[1], "x_off")
	b.ReportMetric(ratios[len(ratios)/2], "x_off_median")
	b.ReportMetric(p99(lats[0]), "on_p99_ms")
	b.ReportMetric(p99(lats[1]), "off_p99_ms")
	b.ReportMetric(float64(rcpu[0].Microseconds())/float64(n*rounds), "on_redis_us/msg")
	b.ReportMetric(float64(rcpu[1].Microseconds())/float64(n*rounds), "off_redis_us/msg")
	b.ReportMetric(0, "ns/op")
}

// redisCPU is the CPU time rd has used (INFO cpu): of every server of a
// cluster.
func redisCPU(b *testing.B, rd *relaytest.Redis) time.Duration {
	var t time.Duration
	for _, n := range rd.Servers() {
		rc := relaytest.ServerClient(n)
		info, err := rc.Info(context.Background(), "cpu").Result()
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(info, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
			if k == "used_cpu_user" || k == "used_cpu_sys" {
				s, _ := strconv.ParseFloat(v, 64)
				t += time.Duration(s * float64(time.Second))
			}
		}
	}
	return t
}
