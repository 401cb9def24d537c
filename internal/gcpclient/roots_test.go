package gcpclient

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
)

func TestFrontDoorRootsTrustLocalcloudsCA(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != localcloudCAPath {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(ca.PEM) // a short body fails the client's parse
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	verify := func(pool *x509.CertPool) error {
		cert, err := x509.ParseCertificate(leaf.TLS.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		_, err = cert.Verify(x509.VerifyOptions{Roots: pool})
		return err
	}
	pool, err := (&Clients{EmulatorHost: host}).FrontDoorRoots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(pool); err != nil {
		t.Fatalf("a front door certificate from localcloud's CA does not verify: %v", err)
	}
	// Against Google Cloud, the system roots only.
	pool, err = (&Clients{}).FrontDoorRoots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if verify(pool) == nil {
		t.Fatal("without emulator_host localcloud's CA must not be trusted")
	}
	// A localcloud that does not serve its CA is an error, not a silent
	// fallback.
	none := httptest.NewServer(http.NotFoundHandler())
	defer none.Close()
	if _, err := FrontDoorRoots(context.Background(), strings.TrimPrefix(none.URL, "http://")); err == nil {
		t.Fatal("no error when localcloud serves no CA")
	}
}
