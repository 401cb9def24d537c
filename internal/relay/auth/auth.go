// Package auth verifies the bearer tokens agents present to the relay.
//
// Tokens are JWTs signed with RS256 or ES256 by an identity provider that
// publishes its public keys as a JWKS (Firebase Auth does exactly this). The
// verifier checks signature, expiry, issuer and audience, and that iat is
// present, not in the future and at most MaxLifetime before exp. Keys are
// cached in memory and, optionally, on disk: when the identity provider is
// unreachable the relay keeps accepting still-valid tokens signed with known
// keys for up to CacheMaxAge, so an outage of the provider does not stop
// agents from reconnecting.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors a verification can end with. Each is wrapped, so errors.Is works.
var (
	ErrMissingToken = errors.New("missing bearer token")
	ErrExpired      = errors.New("token expired")
	ErrIssuer       = errors.New("wrong token issuer")
	ErrAudience     = errors.New("wrong token audience")
	ErrUnknownKey   = errors.New("unknown signing key id")
	ErrInvalid      = errors.New("invalid token")
	ErrSubject      = errors.New("token subject is not a valid agent identity")
	ErrIssuedAt     = errors.New("token issued in the future")
	ErrLifetime     = errors.New("token lifetime over the maximum")
	ErrDateFormat   = errors.New("token date is not a number")
	ErrStaleKeys    = errors.New("signing keys too old: the identity provider has not answered")
)

// Claims is what the relay needs from a verified token.
type Claims struct {
	Subject string
	// Expiry is when the token stops being accepted: its exp plus the
	// clock-skew leeway.
	Expiry time.Time
}

// Config configures a Verifier. Exactly one of JWKSURL and JWKSFile is set.
type Config struct {
	JWKSURL  string
	JWKSFile string
	Issuer   string
	Audience string
	// CacheFile, if set, keeps the last JWKS fetched from JWKSURL so that a
	// restarted instance can verify tokens while the provider is down.
	CacheFile string
	// Refresh is how often keys are reloaded (default 15 minutes).
	Refresh time.Duration
	// MinRefresh bounds reloads triggered by an unknown key id (default 30s).
	MinRefresh time.Duration
	// Leeway tolerates clock skew on exp/nbf/iat (default 30s; negative for
	// none).
	Leeway time.Duration
	// MaxLifetime bounds exp-iat (default DefaultMaxLifetime).
	MaxLifetime time.Duration
	// CacheMaxAge is how long keys fetched from JWKSURL are trusted without
	// the provider answering again, in memory and in CacheFile (default
	// DefaultCacheMaxAge).
	CacheMaxAge time.Duration
	HTTPClient  *http.Client
	Logger      *slog.Logger
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Defaults of MaxLifetime and CacheMaxAge. Identity providers issue tokens
// for an hour (Firebase, Google) and the project's own tools for at most a
// day; keys rotate every few days, so three days of cache ride out a long
// provider outage without trusting a retired key for weeks.
const (
	DefaultMaxLifetime = 24 * time.Hour
	DefaultCacheMaxAge = 72 * time.Hour
)

type keySet = map[string]crypto.PublicKey

// Verifier verifies tokens against a cached JWKS. Safe for concurrent use.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	keys   atomic.Pointer[keySet]
	// fetched is when the provider last served the keys (UnixNano), zero
	// with JWKSFile: a file the operator gives does not go stale.
	fetched atomic.Int64

	mu          sync.Mutex
	lastAttempt time.Time
	inflight    chan struct{}

	stop chan struct{}
	done chan struct{}
}

// NewVerifier loads the keys and starts refreshing them in the background.
// A JWKS URL that cannot be fetched at start is not fatal when a cache file
// holds keys, or at all: the verifier retries and refuses tokens until then.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if (cfg.JWKSURL == "") == (cfg.JWKSFile == "") {
		return nil, errors.New("auth: set exactly one of JWKS URL and JWKS file")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: issuer and audience are required")
	}
	if cfg.JWKSURL != "" {
		if err := CheckJWKSURL(cfg.JWKSURL); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.CacheMaxAge <= 0 {
		cfg.CacheMaxAge = DefaultCacheMaxAge
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 15 * time.Minute
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 30 * time.Second
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	cfg.Leeway = max(cfg.Leeway, 0)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: checkRedirect}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "ES256"}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(cfg.Now),
	)
	empty := keySet{}
	v.keys.Store(&empty)
	err := v.load(ctx)
	if err != nil {
		if cfg.JWKSFile != "" {
			return nil, err
		}
		cfg.Logger.Warn("jwks fetch failed at start", "err", err)
		if cfg.CacheFile != "" {
			ks, at, cerr := readCache(cfg.CacheFile, cfg.CacheMaxAge, cfg.Now())
			if cerr != nil {
				cfg.Logger.Warn("jwks cache not used", "err", cerr)
			} else {
				v.keys.Store(&ks)
				v.fetched.Store(at.UnixNano())
				cfg.Logger.Info("using cached jwks", "keys", len(ks), "file", cfg.CacheFile, "fetched", at)
			}
		}
	}
	go v.refreshLoop(err != nil)
	return v, nil
}

// Close stops the background refresh.
func (v *Verifier) Close() {
	select {
	case <-v.stop:
	default:
		close(v.stop)
	}
	<-v.done
}

// KeyCount is the number of keys currently cached.
func (v *Verifier) KeyCount() int { return len(*v.keys.Load()) }

func (v *Verifier) refreshLoop(failing bool) {
	defer close(v.done)
	for {
		wait := v.cfg.Refresh
		if failing {
			wait = v.cfg.MinRefresh
		}
		t := time.NewTimer(wait)
		select {
		case <-v.stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := v.refresh(ctx, true)
		cancel()
		failing = err != nil
		if err != nil {
			v.cfg.Logger.Warn("jwks refresh failed; keeping cached keys", "err", err, "keys", v.KeyCount())
		}
	}
}

// refresh reloads the keys, at most once per MinRefresh unless forced;
// concurrent callers share one reload.
func (v *Verifier) refresh(ctx context.Context, force bool) error {
	v.mu.Lock()
	if ch := v.inflight; ch != nil {
		v.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !force && v.cfg.Now().Sub(v.lastAttempt) < v.cfg.MinRefresh {
		v.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	v.inflight = ch
	v.lastAttempt = v.cfg.Now()
	v.mu.Unlock()
	err := v.load(ctx)
	v.mu.Lock()
	v.inflight = nil
	v.mu.Unlock()
	close(ch)
	return err
}

func (v *Verifier) load(ctx context.Context) error {
	var b []byte
	var err error
	if v.cfg.JWKSFile != "" {
		b, err = os.ReadFile(v.cfg.JWKSFile)
	} else {
		b, err = v.fetch(ctx)
	}
	if err != nil {
		return err
	}
	ks, err := ParseJWKS(b)
	if err != nil {
		return err
	}
	if len(ks) == 0 {
		return errors.New("auth: jwks holds no usable keys")
	}
	v.keys.Store(&ks)
	if v.cfg.JWKSURL != "" {
		v.fetched.Store(v.cfg.Now().UnixNano())
		if v.cfg.CacheFile != "" {
			if err := writeCache(v.cfg.CacheFile, b); err != nil {
				v.cfg.Logger.Warn("cannot write jwks cache", "err", err)
			}
		}
	}
	return nil
}

func (v *Verifier) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: jwks fetch: HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// Verify checks a token and returns its claims.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissingToken
	}
	claims, err := v.verify(token)
	if errors.Is(err, ErrUnknownKey) {
		// The provider may have rotated its keys: reload (rate limited) and retry.
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rerr := v.refresh(rctx, false)
		cancel()
		if rerr == nil {
			claims, err = v.verify(token)
		}
	}
	return claims, err
}

func (v *Verifier) verify(token string) (*Claims, error) {
	if err := v.checkKeyAge(); err != nil {
		return nil, err
	}
	var tc tokenClaims
	rc := &tc.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, fmt.Errorf("%w: token has no kid", ErrUnknownKey)
		}
		k, ok := (*v.keys.Load())[kid]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownKey, kid)
		}
		return k, nil
	})
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownKey):
		return nil, err
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return nil, ErrIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return nil, ErrAudience
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, fmt.Errorf("%w: iat %s is after now (leeway %s)", ErrIssuedAt, rc.IssuedAt.UTC().Format(time.RFC3339), v.cfg.Leeway)
	case errors.Is(err, ErrDateFormat):
		return nil, err
	default:
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := checkLifetime(rc, v.cfg.MaxLifetime); err != nil {
		return nil, err
	}
	if !ValidIdentity(rc.Subject) {
		return nil, ErrSubject
	}
	return &Claims{Subject: rc.Subject, Expiry: rc.ExpiresAt.Add(v.cfg.Leeway)}, nil
}

// checkKeyAge refuses every token once the keys are older than CacheMaxAge:
// a key the provider retired during its outage would otherwise be trusted
// for as long as the outage lasts.
func (v *Verifier) checkKeyAge() error {
	at := v.fetched.Load()
	if at == 0 {
		return nil
	}
	if age := v.cfg.Now().Sub(time.Unix(0, at)); age > v.cfg.CacheMaxAge {
		return fmt.Errorf("%w for %s (JWKS_CACHE_MAX_AGE %s)", ErrStaleKeys, age.Round(time.Second), v.cfg.CacheMaxAge)
	}
	return nil
}

// ValidIdentity reports whether sub can be used as an agent identity: the
// address characters without "/" (labels follow the identity after "/").
func ValidIdentity(sub string) bool {
	if sub == "" || len(sub) > 128 {
		return false
	}
	for i := 0; i < len(sub); i++ {
		c := sub[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != ':' && c != '-' && c != '@' {
			return false
		}
	}
	return true
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS parses a JSON Web Key Set, keeping the RSA and P-256 signing keys.
func ParseJWKS(b []byte) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	ks := keySet{}
	for _, k := range set.Keys {
		if k.Kid == "" || k.Use == "enc" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err1 := b64(k.N)
			e, err2 := b64(k.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
				continue
			}
			pk := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			// RFC 8017: e is odd and at least 3 (crypto/rsa refuses the rest
			// only when a signature is checked).
			if pk.N.BitLen() < 2048 || pk.E < 3 || pk.E%2 == 0 {
				continue
			}
			ks[k.Kid] = pk
		case "EC":
			if k.Crv != "P-256" {
				continue
			}
			x, err1 := b64(k.X)
			y, err2 := b64(k.Y)
			if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
				continue
			}
			raw := append(append([]byte{4}, x...), y...)
			pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
			if err != nil {
				continue
			}
			ks[k.Kid] = pk
		}
	}
	return ks, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
