package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func fileVerifier(t *testing.T, d *DevKeys) *Verifier {
	t.Helper()
	v, err := NewVerifier(context.Background(), Config{JWKSFile: d.JWKSPath(), Issuer: d.Issuer, Audience: d.Audience, MinRefresh: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestDevKeysReload(t *testing.T) {
	dir := t.TempDir()
	d1, err := LoadOrCreateDevKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := LoadOrCreateDevKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d1.KeyID != d2.KeyID {
		t.Fatalf("key changed on reload: %s vs %s", d1.KeyID, d2.KeyID)
	}
	st, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v %v", st.Mode(), err)
	}
}

func TestVerify(t *testing.T) {
	d, err := LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := fileVerifier(t, d)
	ctx := context.Background()

	tok, _ := d.Token("alice", time.Minute)
	c, err := v.Verify(ctx, tok)
	if err != nil || c.Subject != "alice" {
		t.Fatalf("valid token: %v %+v", err, c)
	}
	now := time.Now()
	sign := func(k *DevKeys, m jwt.MapClaims) string {
		base := jwt.MapClaims{"iss": d.Issuer, "aud": d.Audience, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
		for key, val := range m {
			if val == nil {
				delete(base, key)
			} else {
				base[key] = val
			}
		}
		s, err := k.Sign(base)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": d.Issuer, "aud": d.Audience, "sub": "a", "exp": now.Add(time.Minute).Unix()}).SignedString([]byte("secret"))
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"missing", "", ErrMissingToken},
		{"expired", sign(d, jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}), ErrExpired},
		{"no exp", sign(d, jwt.MapClaims{"exp": nil}), ErrInvalid},
		{"issuer", sign(d, jwt.MapClaims{"iss": "https://evil"}), ErrIssuer},
		{"audience", sign(d, jwt.MapClaims{"aud": "other"}), ErrAudience},
		{"unknown kid", sign(other, nil), ErrUnknownKey},
		{"bad subject", sign(d, jwt.MapClaims{"sub": "a/b"}), ErrSubject},
		{"hmac", hs, ErrInvalid},
		{"garbage", "not.a.jwt", ErrInvalid},
	}
	for _, tc := range cases {
		if _, err := v.Verify(ctx, tc.tok); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v want %v", tc.name, err, tc.want)
		}
	}
}

// TestURLOutage serves an RS256 JWKS over HTTP, then takes the provider
// down: cached keys keep verifying, and a new verifier starts from the
// cache file.
func TestURLOutage(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": enc(key.N.Bytes()), "e": enc(big.NewInt(int64(key.E)).Bytes()),
	}}})
	var down atomic.Bool
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(jwks) // a short body fails the verifier's fetch
	}))
	defer srv.Close()
	cache := filepath.Join(t.TempDir(), "jwks-cache.json")
	cfg := Config{JWKSURL: srv.URL, Issuer: "https://securetoken.google.com/p", Audience: "p", CacheFile: cache, MinRefresh: time.Millisecond}
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tk := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": cfg.Issuer, "aud": "p", "sub": "uid123", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	tk.Header["kid"] = "k1"
	tok, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	// A token with an unknown kid forces a refresh, which fails; the cached
	// keys must survive it.
	tk2 := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": cfg.Issuer, "aud": "p", "sub": "u", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	tk2.Header["kid"] = "k2"
	tok2, _ := tk2.SignedString(key)
	before := hits.Load()
	if _, err := v.Verify(context.Background(), tok2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid during outage: %v", err)
	}
	if hits.Load() == before {
		t.Fatal("unknown kid did not trigger a refresh")
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("cached key lost during outage: %v", err)
	}
	v2, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if _, err := v2.Verify(context.Background(), tok); err != nil {
		t.Fatalf("restart during outage with cache file: %v", err)
	}
}
