package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
)

func capture(t *testing.T, f func() error) string {
	t.Helper()
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	err := f()
	w.Close()
	os.Stdout = old
	out, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestDevkeysAndToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	out := capture(t, func() error { return devkeys([]string{"-dir", dir}) })
	if !strings.Contains(out, "JWKS_FILE="+filepath.Join(dir, auth.DevJWKSFile)) {
		t.Fatalf("devkeys output %q", out)
	}
	tok := strings.TrimSpace(capture(t, func() error { return token([]string{"-dir", dir, "-sub", "agent-1"}) }))
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWKSFile: filepath.Join(dir, auth.DevJWKSFile), Issuer: auth.DevIssuer, Audience: auth.DevAudience})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c, err := v.Verify(context.Background(), tok)
	if err != nil || c.Subject != "agent-1" {
		t.Fatalf("dev token: %v %+v", err, c)
	}
	if err := token([]string{"-dir", dir, "-sub", "a/b"}); err == nil {
		t.Fatal("invalid subject accepted")
	}
	// A token the relay would refuse is not minted.
	if err := token([]string{"-dir", dir, "-sub", "agent-1", "-ttl", "48h"}); err == nil || !strings.Contains(err.Error(), "TOKEN_MAX_LIFETIME") {
		t.Fatalf("-ttl 48h: %v, want a refusal naming TOKEN_MAX_LIFETIME", err)
	}
}

// TestPprofLoopbackOnly: profiles show memory contents, so they are served
// on a loopback address only.
func TestPprofLoopbackOnly(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, addr := range []string{"0.0.0.0:0", ":0", "10.0.0.3:6060", "example.com:6060"} {
		if err := servePprof(addr, log); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("PPROF_ADDR=%s: %v, want a refusal", addr, err)
		}
	}
	if err := servePprof("127.0.0.1:0", log); err != nil {
		t.Fatal(err)
	}
}

// TestServeRefusesLooseTokenSettings: the relay does not start with a JWKS
// fetched in clear text or a malformed token limit, and says which setting.
func TestServeRefusesLooseTokenSettings(t *testing.T) {
	t.Setenv("RELAY_DEV_KEYS", "")
	t.Setenv("REDIS_ADDR", "127.0.0.1:1")
	t.Setenv("JWT_ISSUER", "https://securetoken.google.com/p")
	t.Setenv("JWT_AUDIENCE", "p")
	for _, tc := range []struct{ k, v, want string }{
		{"JWKS_URL", "http://idp.example/jwks.json", "JWKS_URL"},
		{"TOKEN_MAX_LIFETIME", "1y", "TOKEN_MAX_LIFETIME"},
		{"JWKS_CACHE_MAX_AGE", "0s", "JWKS_CACHE_MAX_AGE"},
	} {
		t.Run(tc.k, func(t *testing.T) {
			t.Setenv("JWKS_URL", "https://idp.example/jwks.json")
			t.Setenv(tc.k, tc.v)
			if err := serve(nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s=%s: %v, want a refusal naming %s", tc.k, tc.v, err, tc.want)
			}
		})
	}
}
