package relay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// TestLocalRedisDown stops region A's Redis: region A's relay queues new
// envelopes in region B's Redis instead, and region B's agent gets them.
func TestLocalRedisDown(t *testing.T) {
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
	} {
		if _, err := relay.ConfigFromEnv(env(bad)); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}
