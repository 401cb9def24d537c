package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
)

// TestVerifyRedisCert: the server certificate must chain to the instance's
// CA and name the address, in a subject alternative name or, as
// Memorystore's certificates do, only in the common name.
func TestVerifyRedisCert(t *testing.T) {
	t.Parallel()
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "instance CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.LoadOrCreateCA(t.TempDir(), "another instance's CA")
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := pki.Pool(ca.PEM)
	issue := func(signer *pki.CA, cn string, ips ...string) *x509.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		for _, ip := range ips {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, signer.Cert, &key.PublicKey, signer.Key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	cases := []struct {
		name string
		cert *x509.Certificate
		want string // "" accepted, else part of the error
	}{
		{"IP SAN", issue(ca, "redis", "10.0.0.3"), ""},
		{"IP only in the common name", issue(ca, "10.0.0.3"), ""},
		{"another address", issue(ca, "10.0.0.4", "10.0.0.4"), "10.0.0.3"},
		{"another CA", issue(other, "10.0.0.3", "10.0.0.3"), "not trusted by the instance's CA"},
	}
	for _, tc := range cases {
		err := verifyRedisCert([]*x509.Certificate{tc.cert}, roots, "10.0.0.3")
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := verifyRedisCert(nil, roots, "10.0.0.3"); err == nil {
		t.Error("no certificate accepted")
	}
}
