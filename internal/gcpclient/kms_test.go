package gcpclient

import (
	"context"
	"net"
	"testing"
)

// The Cloud KMS client follows the other gRPC APIs: localcloud's address
// unless kms_endpoint overrides it.
func TestKMSEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range []struct{ override, want string }{
		{"", ln.Addr().String()},
		{"127.0.0.1:1", "127.0.0.1:1"},
	} {
		cl, err := New(context.Background(), Config{Project: "p", EmulatorHost: ln.Addr().String(), KMSEndpoint: c.override})
		if err != nil {
			t.Fatal(err)
		}
		if cl.KMS == nil || cl.Endpoints[APIKMS] != c.want {
			t.Errorf("kms_endpoint %q: client %v at %q, want %q", c.override, cl.KMS, cl.Endpoints[APIKMS], c.want)
		}
		cl.Close()
	}
}

// MacSign and MacVerify change nothing: they are retried as reads.
func TestMACCallsAreRetried(t *testing.T) {
	for method, want := range map[string]bool{
		"/google.cloud.kms.v1.KeyManagementService/MacSign":         true,
		"/google.cloud.kms.v1.KeyManagementService/MacVerify":       true,
		"/google.cloud.kms.v1.KeyManagementService/GetCryptoKey":    true,
		"/google.cloud.kms.v1.KeyManagementService/CreateCryptoKey": false,
	} {
		if got := isReadMethod(method); got != want {
			t.Errorf("%s: retried %v, want %v", method, got, want)
		}
	}
}
