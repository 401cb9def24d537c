package localcloudtest

import (
	"context"
	"testing"
	"time"

	kmsapi "cloud.google.com/go/kms/apiv1"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/kms"
)

// KMSClient is a Cloud KMS client of this localcloud, closed when the test
// ends.
func (i *Instance) KMSClient(t testing.TB) *kmsapi.KeyManagementClient {
	t.Helper()
	c, err := kms.Dial(context.Background(), i.Addr())
	if err != nil {
		t.Fatalf("Cloud KMS client for localcloud at %s: %v", i.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// CreateMACKey creates the crypto key cryptoKey
// (projects/P/locations/L/keyRings/R/cryptoKeys/K), purpose MAC, algorithm
// HMAC_SHA256, and its key ring, unless they exist, and returns its name.
func (i *Instance) CreateMACKey(t testing.TB, cryptoKey string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kms.EnsureMACKey(ctx, i.KMSClient(t), cryptoKey); err != nil {
		t.Fatal(err)
	}
	return cryptoKey
}
