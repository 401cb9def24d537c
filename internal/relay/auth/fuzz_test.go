package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzParseJWKS: any bytes parse without panicking, and only usable
// signing keys come out.
func FuzzParseJWKS(f *testing.F) {
	d, err := LoadOrCreateDevKeys(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	jwks, _ := d.JWKS()
	f.Add(jwks)
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"","y":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := ParseJWKS(b)
		if err != nil {
			return
		}
		for kid, k := range ks {
			if kid == "" {
				t.Fatal("key without kid")
			}
			switch k := k.(type) {
			case *rsa.PublicKey:
				if k.N.BitLen() < 2048 || k.E < 3 || k.E%2 == 0 {
					t.Fatalf("weak RSA key %q kept: %d bits, e=%d", kid, k.N.BitLen(), k.E)
				}
			case *ecdsa.PublicKey:
				if k.Curve.Params().Name != "P-256" {
					t.Fatalf("EC key %q on %s kept", kid, k.Curve.Params().Name)
				}
			default:
				t.Fatalf("key %q of type %T kept", kid, k)
			}
		}
	})
}

// fuzzNow is the fuzzed verifier's clock, so that seeds keep their meaning.
var fuzzNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// FuzzVerify signs arbitrary claims with a trusted key: whatever the
// verifier accepts has numeric dates, an iat not in the future, a lifetime
// within the maximum, an exp not past and a valid subject.
func FuzzVerify(f *testing.F) {
	d, err := LoadOrCreateDevKeys(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), Config{JWKSFile: d.JWKSPath(), Issuer: d.Issuer, Audience: d.Audience, MinRefresh: time.Hour, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)
	n := fuzzNow.Unix()
	for _, c := range []string{
		`{"iss":%[1]q,"aud":%[2]q,"sub":"alice","iat":%[3]d,"exp":%[4]d}`,
		`{"iss":%[1]q,"aud":[%[2]q],"sub":"alice","iat":%[3]d,"exp":"%[4]d"}`,
		`{"iss":%[1]q,"aud":%[2]q,"sub":"alice","iat":%[3]d,"exp":%[4]d,"EXP":"%[4]d"}`,
		`{"iss":%[1]q,"aud":%[2]q,"sub":"alice","iat":%[3]d.5,"exp":%[4]de0,"nbf":%[3]d}`,
		`{"iss":%[1]q,"aud":%[2]q,"sub":"alice","iat":%[4]d,"exp":32503680000}`,
	} {
		f.Add([]byte(fmt.Sprintf(c, d.Issuer, d.Audience, n, n+3600)))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := v.Verify(context.Background(), signRaw(t, d, payload))
		if err != nil {
			return
		}
		checkAccepted(t, v, payload, c)
	})
}

// signRaw signs payload as it is, where jwt.MapClaims would re-encode it.
func signRaw(t *testing.T, d *DevKeys, payload []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	unsigned := enc([]byte(`{"alg":"ES256","typ":"JWT","kid":"`+d.KeyID+`"}`)) + "." + enc(payload)
	sig, err := jwt.SigningMethodES256.Sign(unsigned, d.key)
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + enc(sig)
}

// checkAccepted states what an accepted token must be.
func checkAccepted(t *testing.T, v *Verifier, payload []byte, c *Claims) {
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("accepted claims that are not a JSON object: %v", err)
	}
	dates := map[string]float64{}
	for k, val := range raw {
		for _, name := range dateClaims {
			if strings.EqualFold(k, name) {
				num, ok := val.(json.Number)
				if !ok {
					t.Fatalf("accepted %s = %#v, not a number", k, val)
				}
				f, _ := num.Float64()
				dates[strings.ToLower(k)] = f
			}
		}
	}
	iat, hasIat := dates["iat"]
	exp, hasExp := dates["exp"]
	now := float64(fuzzNow.Unix())
	leeway, maxLife := v.cfg.Leeway.Seconds(), v.cfg.MaxLifetime.Seconds()
	switch {
	case !hasIat || !hasExp:
		t.Fatalf("accepted without iat or exp: %s", payload)
	case iat > now+leeway+1:
		t.Fatalf("accepted iat %v in the future of %v", iat, now)
	case exp-iat > maxLife+1:
		t.Fatalf("accepted lifetime %vs over %vs", exp-iat, maxLife)
	case exp < now-leeway-1:
		t.Fatalf("accepted exp %v before %v", exp, now)
	case !ValidIdentity(c.Subject):
		t.Fatalf("accepted subject %q", c.Subject)
	}
}
