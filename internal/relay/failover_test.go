package relay_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// TestLocalRedisDown stops region A's Redis: region A's relay queues new
// envelopes in region B's Redis instead, and region B's agent gets them.
func TestLocalRedisDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA, rdB := relaytest.NewRedis(t), relaytest.NewRedis(t)
	ra := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{rdB.Addr}, nil)
	rb := relaytest.NewRelay(t, e.v, "b", rdB.Addr, []string{rdA.Addr}, nil)
	a, b := e.dial("alice", ra.URL), e.dial("bob", rb.URL)
	exchange(t, a, b, 10)
	rdA.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 50; i++ {
		if _, err := a.Send(ctx, b.Address(), fmt.Sprintf("after-%d", i), []byte("ct")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		if got := recv(t, b, 5*time.Second); got.ID != fmt.Sprintf("after-%d", i) {
			t.Fatalf("got %s", got.ID)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	base := map[string]string{"REDIS_ADDR": "10.0.0.3:6379", "JWKS_URL": "https://example/jwks", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a",
		"PEER_REDIS_ADDRS": " 10.1.0.3:6379, ,10.0.0.3:6379,10.2.0.3:6379", "PORT": "9000", "MESSAGE_TTL": "1h", "RATE_LIMIT": "5"}
	c, err := relay.ConfigFromEnv(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:9000" {
		t.Errorf("local listen %s", c.ListenAddr)
	}
	if len(c.PeerRedisAddrs) != 2 || c.PeerRedisAddrs[0] != "10.1.0.3:6379" || c.PeerRedisAddrs[1] != "10.2.0.3:6379" {
		t.Errorf("peers %q", c.PeerRedisAddrs)
	}
	if c.MessageTTL != time.Hour || c.RateLimit != 5 || c.Auth.JWKSURL == "" {
		t.Errorf("config %+v", c)
	}
	base["ACK_COPIES"] = "3"
	if c, err := relay.ConfigFromEnv(env(base)); err != nil || c.AckCopies != 3 {
		t.Errorf("ACK_COPIES: %d %v", c.AckCopies, err)
	}
	delete(base, "ACK_COPIES")
	base["K_SERVICE"] = "relay"
	if c, _ := relay.ConfigFromEnv(env(base)); c.ListenAddr != "0.0.0.0:9000" {
		t.Errorf("Cloud Run listen %s", c.ListenAddr)
	}
	base["LISTEN_HOST"] = "::1"
	if c, _ := relay.ConfigFromEnv(env(base)); c.ListenAddr != "[::1]:9000" {
		t.Errorf("LISTEN_HOST %s", c.ListenAddr)
	}
	for _, bad := range []map[string]string{
		{"JWKS_URL": "u", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"},
		{"REDIS_ADDR": "r", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"},
		{"REDIS_ADDR": "r", "JWKS_URL": "u", "JWKS_FILE": "f", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"},
		{"REDIS_ADDR": "r", "JWKS_URL": "u"},
		{"REDIS_ADDR": "r", "JWKS_URL": "u", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a", "MESSAGE_TTL": "soon"},
		{"REDIS_ADDR": "r", "JWKS_URL": "u", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a", "CONN_BYTE_BUDGET": "1000"},
		{"REDIS_ADDR": "r", "JWKS_URL": "u", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a", "CONN_QUOTA_LEASE": "500ms"},
		{"REDIS_ADDR": "r", "JWKS_URL": "u", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a", "MAX_STORED_BYTES_PER_PAIR": "1000"},
		{"REDIS_ADDR": "r", "JWKS_URL": "u", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a", "MAX_STORED_BYTES_PER_RECIPIENT": "1000"},
		{"REDIS_ADDR": "r", "JWKS_URL": "u", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a", "MAX_LABELS_PER_IDENTITY": "-1"},
	} {
		if _, err := relay.ConfigFromEnv(env(bad)); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

// TestConfigFromEnvRedisModes: Memorystore instances (resolved at start) or
// direct addresses, never both; the operations port apart from PORT.
func TestConfigFromEnvRedisModes(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	jwt := map[string]string{"JWKS_URL": "https://example/jwks", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range jwt {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	const a, b = "projects/p/locations/us-central1/instances/relay-a", "projects/p/locations/europe-west1/instances/relay-b"
	c, err := relay.ConfigFromEnv(env(with(map[string]string{"REDIS_INSTANCE": a, "PEER_REDIS_INSTANCES": b + "," + a + ", " + b,
		"AGENTNET_EMULATOR_HOST": "127.0.0.1:8085", "PORT": "8080", "OPS_PORT": "9191"})))
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisInstance != a || len(c.PeerRedisInstances) != 1 || c.PeerRedisInstances[0] != b || c.EmulatorHost != "127.0.0.1:8085" {
		t.Errorf("instances %q %q emulator %q", c.RedisInstance, c.PeerRedisInstances, c.EmulatorHost)
	}
	if c.OpsListenAddr != "127.0.0.1:9191" || c.ListenAddr != "127.0.0.1:8080" {
		t.Errorf("listen %s ops %s", c.ListenAddr, c.OpsListenAddr)
	}
	if c, _ := relay.ConfigFromEnv(env(with(map[string]string{"REDIS_ADDR": "10.0.0.3:6378"}))); c.OpsListenAddr != "127.0.0.1:9090" {
		t.Errorf("default ops %s", c.OpsListenAddr)
	}
	caDir := t.TempDir()
	if _, err := pki.LoadOrCreateCA(caDir, "ca"); err != nil {
		t.Fatal(err)
	}
	c, err = relay.ConfigFromEnv(env(with(map[string]string{"REDIS_ADDR": "10.0.0.3:6378", "REDIS_CA_FILE": pki.CertPath(caDir)})))
	if err != nil || c.RedisCAs == nil {
		t.Errorf("REDIS_CA_FILE: %v", err)
	}
	const cl = "projects/p/locations/us-central1/clusters/relay-a"
	if c, err := relay.ConfigFromEnv(env(with(map[string]string{"REDIS_INSTANCE": cl, "PEER_REDIS_INSTANCES": b}))); err != nil || c.RedisInstance != cl {
		t.Errorf("a Memorystore for Redis Cluster name: %q %v", c.RedisInstance, err)
	}
	if _, err := relay.ConfigFromEnv(env(with(map[string]string{"REDIS_INSTANCE": "projects/p/locations/r/clusters"}))); err == nil || !strings.Contains(err.Error(), "clusters/C") {
		t.Errorf("a truncated cluster name: %v", err)
	}
	if c, err := relay.ConfigFromEnv(env(with(map[string]string{"REDIS_ADDR": "10.0.0.3:6378", "REDIS_CLUSTER": "true"}))); err != nil || !c.RedisCluster {
		t.Errorf("REDIS_CLUSTER=true: %v %v", c.RedisCluster, err)
	}
	if _, err := relay.ConfigFromEnv(env(with(map[string]string{"REDIS_ADDR": "10.0.0.3:6378", "REDIS_CLUSTER": "yes"}))); err == nil || !strings.Contains(err.Error(), "REDIS_CLUSTER") || !strings.Contains(err.Error(), "true") {
		t.Errorf("REDIS_CLUSTER=yes: %v", err)
	}
	for _, bad := range []map[string]string{
		{"REDIS_INSTANCE": a, "REDIS_ADDR": "10.0.0.3:6379"},
		{"REDIS_INSTANCE": a, "REDIS_CLUSTER": "true"},
		{"REDIS_INSTANCE": a, "REDIS_PASSWORD": "secret"},
		{"REDIS_INSTANCE": a, "PEER_REDIS_ADDRS": "10.0.0.4:6379"},
		{"REDIS_INSTANCE": "relay-a"},
		{"REDIS_INSTANCE": a, "PEER_REDIS_INSTANCES": "projects/p/instances/x"},
		{"REDIS_ADDR": "10.0.0.3:6379", "REDIS_CA_FILE": "/nonexistent"},
		{"REDIS_ADDR": "10.0.0.3:6379", "PORT": "9090"},
	} {
		if _, err := relay.ConfigFromEnv(env(with(bad))); err == nil {
			t.Errorf("accepted %v", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestPeerDown: a peer region's Redis dies. Round trips through a relay of
// another region stay fast (the dead peer is skipped, not waited for), and a
// relay that starts while the peer is down is ready and serves at once.
func TestPeerDown(t *testing.T) {
	// Not in parallel: it holds round trips to a 300 ms bound.
	e := newEnv(t)
	rdA, rdB, rdC := relaytest.NewRedis(t), relaytest.NewRedis(t), relaytest.NewRedis(t)
	peers := []string{rdB.Addr, rdC.Addr}
	r1 := relaytest.NewRelay(t, e.v, "a", rdA.Addr, peers, nil)
	tokens := client.StaticToken(relaytest.Token(t, e.keys, "prober"))
	probe := func(url string) time.Duration {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		if _, err := client.Probe(ctx, url, tokens); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	probe(r1.URL)
	rdC.Stop()
	// Before the dead peer was skipped, each probe took about a second
	// (go-redis dial retries on every inbox read).
	const fast = 300 * time.Millisecond
	for i := 0; i < 6; i++ {
		if d := probe(r1.URL); d > fast {
			t.Errorf("probe %d after the peer died took %s", i, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	r2 := relaytest.NewRelay(t, e.v, "a", rdA.Addr, peers, nil)
	for {
		if code, _ := get(t, "http://"+r2.Addr+"/ready"); code == 200 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("relay with a dead peer not ready within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := time.Since(start); d > fast {
		t.Errorf("relay with a dead peer ready after %s", d)
	}
	if d := probe(r2.URL); d > fast {
		t.Errorf("probe through the new relay took %s", d)
	}
}

// TestPeerHangs: a peer region's Redis stops answering without closing its
// connections (a network partition). Delivery through this region's Redis
// goes on meanwhile, and the envelopes queued in the peer before it hung
// arrive once it answers again, also for a recipient that connected while
// the relay counted the peer down.
func TestPeerHangs(t *testing.T) {
	// Not in parallel: it holds delivery to a time bound.
	e := newEnv(t)
	// Single Redis servers even on the cluster backend: a cluster client
	// learns every node's own address and would go around the proxy.
	single := relaytest.RedisOptions{Single: true}
	rdA, rdB := relaytest.NewRedisWith(t, single), relaytest.NewRedisWith(t, single)
	px := newFreezeProxy(t, rdB.Addr)
	ra := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{px.addr()}, nil)
	peerUp := func() string {
		_, m := get(t, "http://"+ra.OpsAddr+"/metrics")
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "relay_redis_up{") && strings.Contains(l, px.addr()) {
				return l[strings.LastIndexByte(l, ' ')+1:]
			}
		}
		return ""
	}
	for start := time.Now(); peerUp() != "1"; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("peer not up")
		}
	}
	// Envelopes for bob and dave waiting in the peer's Redis.
	rb := relaytest.NewRelay(t, e.v, "b", rdB.Addr, nil, nil)
	a := e.dial("alice", rb.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, to := range []string{"bob", "dave"} {
		for i := 0; i < 5; i++ {
			if _, err := a.Send(ctx, to, fmt.Sprintf("early-%d", i), []byte("ct")); err != nil {
				t.Fatal(err)
			}
		}
	}
	px.freeze(true)
	// bob connects while the relay still counts the peer up.
	b := e.dial("bob", ra.URL)
	c := e.dial("carol", ra.URL)
	// The sends' acks wait for their copy in the peer until the relay finds
	// the peer down (a slow write asks for a health check, whose ping times
	// out after 1s); delivery through the local Redis does not wait.
	start := time.Now()
	sent := make(chan error, 5)
	for i := 0; i < 5; i++ {
		go func() {
			_, err := c.Send(ctx, "bob", fmt.Sprintf("local-%d", i), []byte("ct"))
			sent <- err
		}()
	}
	local := map[string]bool{}
	for i := 0; i < 5; i++ {
		local[recv(t, b, 5*time.Second).ID] = true
	}
	for i := 0; i < 5; i++ {
		if !local[fmt.Sprintf("local-%d", i)] {
			t.Fatalf("got %v, want local-0..4", local)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("delivery through the local Redis took %s while the peer hung", d)
	}
	for i := 0; i < 5; i++ {
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	}
	// Acks wait for the peer copy at most until the peer is found down or
	// the write times out (5s); they must not hang beyond that.
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("acks took %s while the peer hung", d)
	}
	// The health check finds the peer down (its ping times out after 1s);
	// dave connects then.
	for start := time.Now(); peerUp() != "0"; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("hung peer not found down")
		}
	}
	d := e.dial("dave", ra.URL)
	if _, err := c.Send(ctx, "dave", "local", []byte("ct")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, d, 5*time.Second); got.ID != "local" {
		t.Fatalf("dave got %s first, want local", got.ID)
	}
	// The peer answers again: its inboxes are read.
	px.freeze(false)
	for _, rc := range []*client.Client{b, d} {
		got := map[string]bool{}
		for len(got) < 5 {
			got[recv(t, rc, 15*time.Second).ID] = true
		}
		for i := 0; i < 5; i++ {
			if !got[fmt.Sprintf("early-%d", i)] {
				t.Fatalf("%s: early-%d not delivered: %v", rc.Address(), i, got)
			}
		}
	}
}

// freezeProxy forwards TCP connections to a Redis; frozen, it accepts
// connections and stops forwarding in both directions, like a partitioned
// network.
type freezeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target, thaw: make(chan struct{})}
	close(p.thaw)
	t.Cleanup(func() { ln.Close(); p.freeze(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) freeze(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && !p.frozen {
		p.thaw = make(chan struct{})
	} else if !on && p.frozen {
		close(p.thaw)
	}
	p.frozen = on
}

func (p *freezeProxy) wait() {
	p.mu.Lock()
	ch := p.thaw
	p.mu.Unlock()
	<-ch
}

func (p *freezeProxy) serve(c net.Conn) {
	defer c.Close()
	p.wait()
	r, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer r.Close()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.wait()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(r, c)
	pipe(c, r)
}
