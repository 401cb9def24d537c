package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// logBuffer collects a relay's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > d {
			t.Fatalf("not within %s: %s", d, what)
		}
	}
}

// memorystoreAPI answers GetInstance and GetInstanceAuthString as
// Memorystore does, for the relay's resolver; unavailable makes the first
// calls fail as an instance being imported or an API outage does.
type memorystoreAPI struct {
	redispb.UnimplementedCloudRedisServer
	addr        string
	instances   map[string]*redispb.Instance
	auth        map[string]string
	unavailable atomic.Int32
	authCalls   atomic.Int32
}

func (m *memorystoreAPI) GetInstance(_ context.Context, req *redispb.GetInstanceRequest) (*redispb.Instance, error) {
	if m.unavailable.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "try again")
	}
	inst, ok := m.instances[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "instance %s not found", req.GetName())
	}
	return inst, nil
}

func (m *memorystoreAPI) GetInstanceAuthString(_ context.Context, req *redispb.GetInstanceAuthStringRequest) (*redispb.InstanceAuthString, error) {
	m.authCalls.Add(1)
	if !m.instances[req.GetName()].GetAuthEnabled() {
		return &redispb.InstanceAuthString{}, nil
	}
	return &redispb.InstanceAuthString{AuthString: m.auth[req.GetName()]}, nil
}

func (m *memorystoreAPI) add(t *testing.T, name string, r *relaytest.Redis) {
	t.Helper()
	host, port, _ := net.SplitHostPort(r.Addr)
	p, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		t.Fatalf("redis address %s: %v", r.Addr, err)
	}
	inst := &redispb.Instance{Name: name, Host: host, Port: int32(p), State: redispb.Instance_READY,
		AuthEnabled: r.Opts.Password != "", TransitEncryptionMode: redispb.Instance_DISABLED}
	if r.Opts.CA != nil {
		inst.TransitEncryptionMode = redispb.Instance_SERVER_AUTHENTICATION
		inst.ServerCaCerts = []*redispb.TlsCertificate{{Cert: string(r.Opts.CA.PEM)}}
	}
	m.instances[name] = inst
	m.auth[name] = r.Opts.Password
}

func startMemorystoreAPI(t *testing.T) (*memorystoreAPI, *relay.MemorystoreResolver) {
	t.Helper()
	m := &memorystoreAPI{instances: map[string]*redispb.Instance{}, auth: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	gs := grpc.NewServer()
	redispb.RegisterCloudRedisServer(gs, m)
	go func() {
		// nil once Stop is called; anything else is the server failing.
		if err := gs.Serve(ln); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(gs.Stop)
	r, err := relay.NewMemorystoreResolver(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return m, r
}

// secureRedis starts a redis-server as Memorystore runs one with AUTH and
// in-transit encryption: TLS only, its own CA, its own AUTH string.
func secureRedis(t *testing.T, name string) *relaytest.Redis {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir(), name+" server CA")
	if err != nil {
		t.Fatal(err)
	}
	// A Memorystore for Redis instance (the API these tests resolve through)
	// is one Redis, whichever Redis the other tests run on.
	return relaytest.NewRedisWith(t, relaytest.RedisOptions{CA: ca, Password: "auth-" + name + "-" + strings.Repeat("x", 12), Single: true})
}

// TestMemorystoreTLSAndAuth: two regions, each with a Redis on TLS only
// (its own CA) and AUTH (its own string). Each relay is given only instance
// names; it resolves address, CA and AUTH string through the Memorystore
// API (the first calls failing, as while an instance imports, and readiness
// false meanwhile), connects to both with TLS and AUTH, and envelopes cross
// the regions. No AUTH string reaches a log line.
func TestMemorystoreTLSAndAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA, rdB := secureRedis(t, "a"), secureRedis(t, "b")
	api, resolver := startMemorystoreAPI(t)
	const instA, instB = "projects/p/locations/region-a/instances/relay-a", "projects/p/locations/region-b/instances/relay-b"
	api.add(t, instA, rdA)
	api.add(t, instB, rdB)
	api.unavailable.Store(3)
	var logs logBuffer
	relayIn := func(region, local, peer string) *relaytest.Relay {
		return relaytest.NewRelay(t, e.v, region, "", nil, func(c *relay.Config) {
			c.RedisInstance, c.PeerRedisInstances, c.Resolver = local, []string{peer}, resolver
			c.Logger = logs.logger()
		})
	}
	ra := relayIn("a", instA, instB)
	if code, _ := get(t, "http://"+ra.Addr+"/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("ready before its Redis is resolved: %d", code)
	}
	rb := relayIn("b", instB, instA)
	waitAllRedisUp(t, ra.OpsAddr)
	waitAllRedisUp(t, rb.OpsAddr)
	_, detail := get(t, "http://"+ra.OpsAddr+"/ready")
	for _, want := range []string{rdA.Addr, rdB.Addr, `"tls": true`, `"auth": true`} {
		if !strings.Contains(detail, want) {
			t.Errorf("detailed ready lacks %s: %s", want, detail)
		}
	}
	if !strings.Contains(logs.String(), "memorystore instance not resolved; retrying") {
		t.Error("no log line for the failed resolution")
	}

	a, b := e.dial("alice", ra.URL), e.dial("bob", rb.URL)
	exchange(t, a, b, 20)
	// Each envelope was stored in both regions' Redis, over TLS with AUTH.
	for _, rd := range []*relaytest.Redis{rdA, rdB} {
		if n := redisKeys(t, rd); n == 0 {
			t.Errorf("no relay key in %s", rd.Addr)
		}
	}
	for _, rd := range []*relaytest.Redis{rdA, rdB} {
		if strings.Contains(logs.String(), rd.Opts.Password) {
			t.Fatal("an AUTH string reached the log")
		}
	}
	if api.authCalls.Load() < 4 {
		t.Errorf("GetInstanceAuthString called %d times, want once per relay and instance", api.authCalls.Load())
	}
}

// redisKeys counts the keys rd holds (AUTH and TLS as it needs).
func redisKeys(t *testing.T, rd *relaytest.Redis) int64 {
	t.Helper()
	c := relaytest.Client(rd)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRedisRefusesWrongSecrets: a wrong AUTH string, a CA that did not sign
// the server's certificate, or plaintext to a TLS port leave the relay not
// ready, and the detailed readiness and the log say why.
func TestRedisRefusesWrongSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := secureRedis(t, "a")
	otherCA, err := pki.LoadOrCreateCA(t.TempDir(), "someone else's CA")
	if err != nil {
		t.Fatal(err)
	}
	good := rd.Target()
	otherPool, _ := pki.Pool(otherCA.PEM)
	cases := []struct {
		name   string
		target relay.RedisTarget
		want   string
	}{
		{"wrong password", relay.RedisTarget{Addr: good.Addr, Password: "wrong", CAs: good.CAs}, "WRONGPASS"},
		{"no password", relay.RedisTarget{Addr: good.Addr, CAs: good.CAs}, "NOAUTH"},
		{"untrusted CA", relay.RedisTarget{Addr: good.Addr, Password: good.Password, CAs: otherPool}, "not trusted by the instance's CA"},
		{"plaintext", relay.RedisTarget{Addr: good.Addr, Password: good.Password}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			r := relaytest.NewRelay(t, e.v, "a", tc.target.Addr, nil, func(c *relay.Config) {
				c.RedisPassword, c.RedisCAs = tc.target.Password, tc.target.CAs
				c.Logger = logs.logger()
			})
			time.Sleep(300 * time.Millisecond)
			if code, body := get(t, "http://"+r.Addr+"/ready"); code != http.StatusServiceUnavailable || body != "not ready\n" {
				t.Fatalf("ready: %d %q", code, body)
			}
			code, detail := get(t, "http://"+r.OpsAddr+"/ready")
			if code != http.StatusServiceUnavailable || !strings.Contains(detail, tc.want) {
				t.Fatalf("detailed ready %d, want the reason %q: %s", code, tc.want, detail)
			}
			waitFor(t, 3*time.Second, "a log line saying why", func() bool {
				return strings.Contains(logs.String(), "redis unreachable") && strings.Contains(logs.String(), tc.want)
			})
			if strings.Contains(logs.String(), good.Password) {
				t.Fatal("the AUTH string reached the log")
			}
		})
	}
	// The right secrets, for contrast.
	r := relaytest.NewRelay(t, e.v, "a", good.Addr, nil, func(c *relay.Config) { c.RedisPassword, c.RedisCAs = good.Password, good.CAs })
	a, b := e.dial("alice", r.URL), e.dial("bob", r.URL)
	exchange(t, a, b, 5)
}

// TestEvictionPolicyUnsafe: Memorystore's default policy, volatile-lru,
// would evict inboxes (every relay key has a TTL) when Redis fills up. The
// relay reads the policy at start and periodically: it is not ready, says
// why in the detailed readiness and a log line, and sets the metric; once
// the policy is noeviction it is ready again.
func TestEvictionPolicyUnsafe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA := relaytest.NewRedisWith(t, relaytest.RedisOptions{Policy: "volatile-lru"})
	rdB := relaytest.NewRedis(t)
	var logs logBuffer
	r := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{rdB.Addr}, func(c *relay.Config) {
		c.Logger = logs.logger()
		c.EvictionCheckInterval = 200 * time.Millisecond
	})
	if code, body := get(t, "http://"+r.Addr+"/ready"); code != http.StatusServiceUnavailable || body != "not ready\n" {
		t.Fatalf("ready at volatile-lru: %d %q", code, body)
	}
	code, detail := get(t, "http://"+r.OpsAddr+"/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(detail, "maxmemory_policy volatile-lru: acknowledged envelopes could be evicted") {
		t.Fatalf("detailed ready %d: %s", code, detail)
	}
	if l := logs.String(); !strings.Contains(l, "redis can evict acknowledged envelopes") || !strings.Contains(l, "maxmemory_policy=volatile-lru") {
		t.Fatalf("no log line naming the policy: %s", l)
	}
	if v := labelled(t, r.OpsAddr, "relay_redis_eviction_unsafe", `redis="local"`); v != "1" {
		t.Fatalf("relay_redis_eviction_unsafe{redis=local} = %q", v)
	}
	if v := labelled(t, r.OpsAddr, "relay_redis_eviction_unsafe", `redis="peer"`); v != "0" {
		t.Fatalf("relay_redis_eviction_unsafe{redis=peer} = %q", v)
	}

	redisConfigSet(t, rdA, "noeviction")
	waitFor(t, 3*time.Second, "ready once the policy is noeviction", func() bool {
		code, _ := get(t, "http://"+r.Addr+"/ready")
		return code == 200
	})
	if v := labelled(t, r.OpsAddr, "relay_redis_eviction_unsafe", `redis="local"`); v != "0" {
		t.Fatalf("relay_redis_eviction_unsafe{redis=local} = %q after the fix", v)
	}
	// A peer switched to an evicting policy makes the relay not ready too.
	redisConfigSet(t, rdB, "allkeys-lru")
	waitFor(t, 3*time.Second, "not ready with a peer at allkeys-lru", func() bool {
		code, _ := get(t, "http://"+r.Addr+"/ready")
		return code == http.StatusServiceUnavailable && labelled(t, r.OpsAddr, "relay_redis_eviction_unsafe", `redis="peer"`) == "1"
	})
}

func redisConfigSet(t *testing.T, rd *relaytest.Redis, policy string) {
	t.Helper()
	for _, n := range rd.Servers() {
		c := relaytest.ServerClient(n)
		err := c.ConfigSet(context.Background(), "maxmemory-policy", policy).Err()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// labelled reads the sample of a metric whose labels include label.
func labelled(t *testing.T, ops, name, label string) string {
	t.Helper()
	_, m := get(t, "http://"+ops+"/metrics")
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, name+"{") && strings.Contains(l, label) {
			return l[strings.LastIndexByte(l, ' ')+1:]
		}
	}
	return ""
}

// TestMemoryPressure: Redis with noeviction and 8 MB. Alice's 5 envelopes
// to an offline agent are acked; then mallory floods another agent's inbox
// until Redis is full: the flood gets retryable nacks, never an ack it
// cannot keep. Carol then connects and gets all 5 of alice's envelopes, and
// their deletion after delivery works at maxmemory.
//
// With a peer region's Redis that has room, the envelope that this region's
// full Redis refused is not acked with the peer's copy alone either.
func TestMemoryPressure(t *testing.T) {
	t.Parallel()
	t.Run("single", func(t *testing.T) { memoryPressure(t, false) })
	t.Run("with-peer", func(t *testing.T) { memoryPressure(t, true) })
}

func memoryPressure(t *testing.T, withPeer bool) {
	e := newEnv(t)
	rd := relaytest.NewRedisWith(t, relaytest.RedisOptions{MaxMemory: "8mb", Policy: "noeviction"})
	var peers []string
	if withPeer {
		peers = []string{relaytest.NewRedis(t).Addr}
	}
	var logs logBuffer
	r := relaytest.NewRelay(t, e.v, "a", rd.Addr, peers, func(c *relay.Config) { c.Logger = logs.logger() })
	if withPeer {
		waitAllRedisUp(t, r.OpsAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice := e.dial("alice", r.URL)
	for i := 0; i < 5; i++ {
		if _, err := alice.Send(ctx, "carol", fmt.Sprintf("kept-%d", i), []byte("acked before the flood")); err != nil {
			t.Fatal(err)
		}
	}

	ws, _, err := rawDial(t, r.URL, relaytest.Token(t, e.keys, "mallory"))
	if err != nil {
		t.Fatal(err)
	}
	defer hangUp(ws)
	if _, _, err := ws.Read(ctx); err != nil { // hello
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("f"), 32<<10)
	acked, nacked := 0, 0
	var nack envelope.Nack
	for i := 0; nacked == 0; i++ {
		if i > 2000 {
			t.Fatalf("no nack after %d envelopes of 32 KiB into 8 MB", i)
		}
		env := envelope.Envelope{ID: fmt.Sprintf("flood-%d", i), To: "dave", Payload: payload}
		if err := ws.Write(ctx, websocket.MessageBinary, envelope.AppendEnvelope(nil, envelope.TypeSend, &env)); err != nil {
			t.Fatal(err)
		}
		for answered := false; !answered; {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f, err := envelope.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			switch f.Type {
			case envelope.TypeAck:
				acked += len(f.IDs)
				answered = true
			case envelope.TypeNack:
				nacked++
				nack = f.Nack
				answered = true
			}
		}
	}
	if !nack.Code.Retryable() || !strings.Contains(nack.Reason, "out of memory") {
		t.Fatalf("nack %v %q, want a retryable out-of-memory nack", nack.Code, nack.Reason)
	}
	// Redis stays full: more sends are nacked too, but for one that comes
	// after Redis freed a transient buffer (a notice a subscriber has just
	// read, a client's query buffer) and is under maxmemory again for a
	// moment: Redis takes that write, and the envelope is acked and kept like
	// any other (dave receives it below). Under noeviction Redis refuses
	// writes only while it is over maxmemory.
	moreNacked := 0
	for i := 0; i < 5; i++ {
		env := envelope.Envelope{ID: fmt.Sprintf("more-%d", i), To: "dave", Payload: payload}
		if err := ws.Write(ctx, websocket.MessageBinary, envelope.AppendEnvelope(nil, envelope.TypeSend, &env)); err != nil {
			t.Fatal(err)
		}
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch f, _ := envelope.Decode(data); f.Type {
		case envelope.TypeNack:
			if !f.Nack.Code.Retryable() || !strings.Contains(f.Nack.Reason, "out of memory") {
				t.Fatalf("send %d at maxmemory: nack %v %q, want a retryable out-of-memory nack", i, f.Nack.Code, f.Nack.Reason)
			}
			moreNacked++
		case envelope.TypeAck:
			acked += len(f.IDs)
		default:
			t.Fatalf("send %d at maxmemory answered %v, want a nack or an ack", i, f.Type)
		}
	}
	if moreNacked == 0 {
		t.Fatal("none of 5 more sends at maxmemory was nacked")
	}
	t.Logf("flood: %d acked, then nacked: %s", acked, nack.Reason)
	if !strings.Contains(logs.String(), "redis out of memory") {
		t.Error("no log line for the full Redis")
	}

	carol := e.dial("carol", r.URL)
	got := map[string]bool{}
	for len(got) < 5 {
		env := recv(t, carol, 10*time.Second)
		got[env.ID] = true
	}
	// Delivery acks delete carol's entries although Redis is full.
	c := relaytest.Client(rd)
	defer c.Close()
	waitFor(t, 5*time.Second, "carol's delivered envelopes deleted", func() bool {
		n, err := c.XLen(ctx, relaytest.Key(rd, "relay:inbox:", "carol")).Result()
		return err == nil && n == 0
	})
	// And dave, the flood's recipient, drains what was acked to mallory.
	dave := e.dial("dave", r.URL)
	for i := 0; i < acked; i++ {
		recv(t, dave, 10*time.Second)
	}
}

// TestRelayProcessFromMemorystore runs the relay binary as Cloud Run runs it
// on localcloud: REDIS_INSTANCE, PEER_REDIS_INSTANCES and
// AGENTNET_EMULATOR_HOST only. Both regions' processes reach both Redis
// with TLS and AUTH and deliver across regions; their logs hold no AUTH
// string.
func TestRelayProcessFromMemorystore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA, rdB := secureRedis(t, "a"), secureRedis(t, "b")
	api, _ := startMemorystoreAPI(t)
	const instA, instB = "projects/p/locations/region-a/instances/relay-a", "projects/p/locations/region-b/instances/relay-b"
	api.add(t, instA, rdA)
	api.add(t, instB, rdB)
	var logs logBuffer
	start := func(region, local, peer string) *proc {
		return startProcLogged(t, e.keys, region, &logs, "REDIS_INSTANCE="+local, "PEER_REDIS_INSTANCES="+peer,
			"AGENTNET_EMULATOR_HOST="+api.addr, "LOG_LEVEL=debug")
	}
	pa, pb := start("a", instA, instB), start("b", instB, instA)
	waitAllRedisUp(t, strings.TrimPrefix(pa.ops, "http://"))
	waitAllRedisUp(t, strings.TrimPrefix(pb.ops, "http://"))
	a, b := e.dial("alice", pa.URL), e.dial("bob", pb.URL)
	exchange(t, a, b, 20)
	l := logs.String()
	if !strings.Contains(l, "memorystore instance resolved") {
		t.Errorf("no resolution in the log:\n%s", l)
	}
	for _, rd := range []*relaytest.Redis{rdA, rdB} {
		if strings.Contains(l, rd.Opts.Password) {
			t.Fatal("an AUTH string reached the log")
		}
	}
}

// TestPeerInstanceUnresolved: a peer region's instance that cannot be
// resolved (its region's API is down) counts as that peer's Redis down: the
// relay is ready, degraded, and delivers through its own region's Redis.
func TestPeerInstanceUnresolved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA := secureRedis(t, "a")
	api, resolver := startMemorystoreAPI(t)
	const instA, instB = "projects/p/locations/region-a/instances/relay-a", "projects/p/locations/region-b/instances/relay-b"
	api.add(t, instA, rdA) // region-b's instance is not found
	var logs logBuffer
	r := relaytest.NewRelay(t, e.v, "a", "", nil, func(c *relay.Config) {
		c.RedisInstance, c.PeerRedisInstances, c.Resolver = instA, []string{instB}, resolver
		c.Logger = logs.logger()
	})
	waitFor(t, 5*time.Second, "ready with the peer unresolved", func() bool {
		code, _ := get(t, "http://"+r.Addr+"/ready")
		return code == 200
	})
	if _, detail := get(t, "http://"+r.OpsAddr+"/ready"); !strings.Contains(detail, `"status": "degraded"`) || !strings.Contains(detail, "not resolved") {
		t.Fatalf("detailed ready: %s", detail)
	}
	a, b := e.dial("alice", r.URL), e.dial("bob", r.URL)
	exchange(t, a, b, 5)
	if !strings.Contains(logs.String(), "NotFound") {
		t.Error("the failed resolution is not logged")
	}
}
