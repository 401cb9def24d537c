package auth

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestStrictTokens: dates are numbers, iat is present and not in the
// future, and exp is at most the maximum lifetime after iat.
func TestStrictTokens(t *testing.T) {
	d, err := LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := fileVerifier(t, d)
	ctx := context.Background()
	now := time.Now()
	sign := func(m jwt.MapClaims) string {
		c := jwt.MapClaims{"iss": d.Issuer, "aud": d.Audience, "sub": "alice"}
		for k, val := range m {
			c[k] = val
		}
		s, err := d.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	year2999 := time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, tc := range []struct {
		name, tok, reason string
	}{
		{"exp in 2999", sign(jwt.MapClaims{"iat": now.Unix(), "exp": year2999}), "lifetime"},
		{"lifetime 25h", sign(jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(25 * time.Hour).Unix()}), "lifetime"},
		{"iat in 24h", sign(jwt.MapClaims{"iat": now.Add(24 * time.Hour).Unix(), "exp": now.Add(25 * time.Hour).Unix()}), "future"},
		{"no iat", sign(jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}), "no iat"},
		{"exp a string", sign(jwt.MapClaims{"iat": now.Unix(), "exp": jsonNumberString(now.Add(time.Hour))}), "not a number"},
		{"EXP a string", sign(jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "EXP": jsonNumberString(now.Add(time.Hour))}), "not a number"},
		{"iat a string", sign(jwt.MapClaims{"iat": jsonNumberString(now), "exp": now.Add(time.Hour).Unix()}), "not a number"},
		{"nbf a string", sign(jwt.MapClaims{"iat": now.Unix(), "nbf": jsonNumberString(now), "exp": now.Add(time.Hour).Unix()}), "not a number"},
	} {
		_, err := v.Verify(ctx, tc.tok)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: got %v, want a refusal saying %q", tc.name, err, tc.reason)
		}
	}
	// What the project's own tools mint must pass: the drill's probe token
	// (6h), the module tests' (2h), the examples' (24h), and an iat a few
	// seconds ahead of this clock.
	for _, ttl := range []time.Duration{time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour} {
		tok, _ := d.Token("alice", ttl)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("token for %s: %v", ttl, err)
		}
	}
	skewed := sign(jwt.MapClaims{"iat": now.Add(10 * time.Second).Unix(), "exp": now.Add(time.Hour).Unix()})
	if _, err := v.Verify(ctx, skewed); err != nil {
		t.Errorf("iat within the leeway: %v", err)
	}
}

// jsonNumberString is a date as the string "1790000000": a number of
// seconds, but in a JSON string.
func jsonNumberString(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// TestJWKSOverHTTPSOnly: keys fetched in clear text could be replaced on
// the way; plain http is only for a loopback identity provider.
func TestJWKSOverHTTPSOnly(t *testing.T) {
	base := Config{Issuer: "i", Audience: "a", HTTPClient: &http.Client{Timeout: time.Second}}
	for _, u := range []string{"http://idp.example/jwks.json", "http://10.0.0.3/jwks", "ftp://idp.example/jwks", "//idp.example/jwks", "jwks.json"} {
		cfg := base
		cfg.JWKSURL = u
		v, err := NewVerifier(context.Background(), cfg)
		if err == nil {
			v.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "https is required") && !strings.Contains(err.Error(), "absolute URL") {
			t.Errorf("JWKS URL %s: %v, want a refusal naming https", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:1/jwks", "http://localhost:1/jwks", "http://[::1]:1/jwks"} {
		cfg := base
		cfg.JWKSURL = u
		v, err := NewVerifier(context.Background(), cfg)
		if err != nil {
			t.Errorf("loopback JWKS URL %s: %v", u, err)
			continue
		}
		v.Close()
	}
}

// jwksProvider serves d's JWKS on loopback until down is set.
func jwksProvider(t *testing.T, d *DevKeys) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	body, err := d.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(body) // a short body fails the verifier's fetch
	}))
	t.Cleanup(srv.Close)
	return srv, &down
}

// TestJWKSCache: the cache is written 0600, and at start a cache older than
// the maximum age is not trusted: the identity provider must answer.
func TestJWKSCache(t *testing.T) {
	d, err := LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, down := jwksProvider(t, d)
	cache := filepath.Join(t.TempDir(), "jwks-cache.json")
	// A cache left 0644 by an older relay is replaced, not kept readable.
	if err := os.WriteFile(cache, []byte(`{"keys":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{JWKSURL: srv.URL, Issuer: d.Issuer, Audience: d.Audience, CacheFile: cache, MinRefresh: time.Hour}
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	st, err := os.Stat(cache)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("jwks cache mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	tok, _ := d.Token("alice", time.Hour)
	down.Store(true)
	start := func() (*Verifier, error) {
		v, err := NewVerifier(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		_, err = v.Verify(context.Background(), tok)
		return v, err
	}
	if _, err := start(); err != nil {
		t.Fatalf("fresh cache during an outage: %v", err)
	}
	old := time.Now().Add(-73 * time.Hour)
	if err := os.Chtimes(cache, old, old); err != nil {
		t.Fatal(err)
	}
	if v, err := start(); err == nil || v.KeyCount() != 0 {
		t.Fatalf("cache written 73h ago trusted at start: %v, %d keys", err, v.KeyCount())
	}
}

// TestKeysGoStale: keys the provider has not confirmed for longer than the
// maximum age stop verifying tokens in a running relay too.
func TestKeysGoStale(t *testing.T) {
	d, err := LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, down := jwksProvider(t, d)
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	v, err := NewVerifier(context.Background(), Config{JWKSURL: srv.URL, Issuer: d.Issuer, Audience: d.Audience, CacheMaxAge: time.Hour, Refresh: time.Hour, MinRefresh: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	down.Store(true)
	tok, _ := d.Token("alice", time.Hour)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(61 * time.Minute))
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrStaleKeys) {
		t.Fatalf("keys unconfirmed for 61m with a 1h maximum age: %v, want %v", err, ErrStaleKeys)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	base := map[string]string{"JWKS_URL": "https://idp.example/jwks", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a", "TOKEN_MAX_LIFETIME": "2h", "JWKS_CACHE_MAX_AGE": "24h"}
	c, err := ConfigFromEnv(env(base))
	if err != nil || c.MaxLifetime != 2*time.Hour || c.CacheMaxAge != 24*time.Hour {
		t.Fatalf("%+v %v", c, err)
	}
	for k, bad := range map[string]string{"JWKS_URL": "http://idp.example/jwks", "TOKEN_MAX_LIFETIME": "forever", "JWKS_CACHE_MAX_AGE": "-1h"} {
		m := maps.Clone(base)
		m[k] = bad
		if _, err := ConfigFromEnv(env(m)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming %s", k, bad, err, k)
		}
	}
}
