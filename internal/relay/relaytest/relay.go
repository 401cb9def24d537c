package relaytest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
)

// DevKeys creates a dev key pair in a temporary folder.
func DevKeys(tb testing.TB) *auth.DevKeys {
	tb.Helper()
	d, err := auth.LoadOrCreateDevKeys(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// Verifier verifies the tokens of keys, from its JWKS file, with no clock
// skew leeway.
func Verifier(tb testing.TB, keys *auth.DevKeys) *auth.Verifier {
	tb.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWKSFile: keys.JWKSPath(), Issuer: keys.Issuer, Audience: keys.Audience, Leeway: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(v.Close)
	return v
}

// Token issues a one-hour token for sub.
func Token(tb testing.TB, keys *auth.DevKeys, sub string) string {
	tb.Helper()
	t, err := keys.Token(sub, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// Relay is an in-process relay instance on a free 127.0.0.1 port, with its
// operations endpoints on another.
type Relay struct {
	*relay.Server
	Addr    string // host:port
	URL     string // ws://host:port/ws
	OpsAddr string // host:port of /metrics and the detailed /ready
	ln      net.Listener
}

// Logger logs to stderr at warn level, or debug with RELAY_TEST_LOG=debug.
func Logger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("RELAY_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// NewRelay starts a relay on redisAddr with peers; mut adjusts the config
// (a ListenAddr set there is used instead of a free port).
// It is shut down at the end of the test.
func NewRelay(tb testing.TB, v relay.TokenVerifier, region, redisAddr string, peers []string, mut func(*relay.Config)) *Relay {
	tb.Helper()
	cfg := relay.Config{
		RedisAddr:      redisAddr,
		RedisCluster:   IsCluster(redisAddr),
		PeerRedisAddrs: peers,
		Region:         region,
		Verifier:       v,
		Logger:         Logger(),
		RateLimit:      100000,
		RateBurst:      100000,
		// Benchmarks and load tests send faster than one agent may:
		// the per-identity rates are counted, not reached.
		MaxMsgsPerSecPerIdentity:  1 << 30,
		MaxBytesPerSecPerIdentity: 1 << 40,
	}
	if mut != nil {
		mut(&cfg)
	}
	s, err := relay.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	addr := cfg.ListenAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	ops, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Relay{Server: s, Addr: ln.Addr().String(), OpsAddr: ops.Addr().String(), ln: ln}
	r.URL = "ws://" + r.Addr + "/ws"
	serve := func(what string, serve func(net.Listener) error, l net.Listener) {
		if err := serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("relay %s listener: %v", what, err)
		}
	}
	go serve("client", s.Serve, ln)
	go serve("ops", s.ServeOps, ops)
	// As Cloud Run's startup probe does, no traffic before every Redis has
	// been checked once (whatever the verdict: a test may start one down).
	for deadline := time.Now().Add(10 * time.Second); !s.Checked(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("relay: its Redis servers not checked within 10s")
		}
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Connections still open at the deadline are cut: what a test
		// checks happened before, so the slow drain is only logged.
		if err := s.Shutdown(ctx); err != nil {
			tb.Logf("relay shutdown: %v", err)
		}
	})
	return r
}
