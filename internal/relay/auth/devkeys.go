package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer and audience of dev tokens.
const (
	DevIssuer   = "https://agentnet.local/relay-dev"
	DevAudience = "agentnet-relay"
)

// File names inside a dev key folder.
const (
	DevKeyFile  = "relay-dev-key.pem" // private key, mode 0600; never commit it
	DevJWKSFile = "jwks.json"         // public key set for JWKS_FILE
)

// DevKeys is a local signing key pair for development and tests: it issues
// ES256 tokens that a relay configured with its JWKS file accepts.
type DevKeys struct {
	Dir      string
	Issuer   string
	Audience string
	KeyID    string
	key      *ecdsa.PrivateKey
}

// LoadOrCreateDevKeys loads the dev key pair in dir, generating it (and its
// JWKS) on first use.
func LoadOrCreateDevKeys(dir string) (*DevKeys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, DevKeyFile)
	b, err := os.ReadFile(keyPath)
	var key *ecdsa.PrivateKey
	switch {
	case err == nil:
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("auth: %s: no PEM block", keyPath)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", keyPath, err)
		}
		var ok bool
		if key, ok = k.(*ecdsa.PrivateKey); !ok {
			return nil, fmt.Errorf("auth: %s: not an ECDSA key", keyPath)
		}
	case errors.Is(err, os.ErrNotExist):
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := writeFileAtomic(keyPath, pemBytes, 0o600); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	d := &DevKeys{Dir: dir, Issuer: DevIssuer, Audience: DevAudience, key: key}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pub)
	d.KeyID = "dev-" + base64.RawURLEncoding.EncodeToString(sum[:9])
	jwks, err := d.JWKS()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(d.JWKSPath(), jwks, 0o644); err != nil {
		return nil, err
	}
	return d, nil
}

// JWKSPath is the public key set file to give the relay as JWKS_FILE.
func (d *DevKeys) JWKSPath() string { return filepath.Join(d.Dir, DevJWKSFile) }

// JWKS returns the public key set.
func (d *DevKeys) JWKS() ([]byte, error) {
	raw, err := d.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": d.KeyID,
		"x": enc(raw[1:33]), "y": enc(raw[33:65]),
	}}}
	return json.MarshalIndent(set, "", "  ")
}

// Token issues a token for subject, valid for ttl.
func (d *DevKeys) Token(subject string, ttl time.Duration) (string, error) {
	now := time.Now()
	return d.Sign(jwt.MapClaims{
		"iss": d.Issuer,
		"aud": d.Audience,
		"sub": subject,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	})
}

// Sign signs arbitrary claims with the dev key (tests use it for bad tokens).
func (d *DevKeys) Sign(claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = d.KeyID
	return t.SignedString(d.key)
}
