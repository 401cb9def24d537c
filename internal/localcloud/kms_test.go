package localcloud_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/kms"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
)

// Cloud KMS is served on localcloud's port; a key ring in a region that is
// down answers UNAVAILABLE like the region's other APIs, while global keys
// keep working.
func TestKMSServedAndRegional(t *testing.T) {
	e := start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := kms.Dial(ctx, e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	regional := "projects/agentnet-test/locations/us-central1/keyRings/r/cryptoKeys/k"
	global := "projects/agentnet-test/locations/global/keyRings/r/cryptoKeys/k"
	for _, k := range []string{regional, global} {
		if _, err := kms.EnsureMACKey(ctx, c, k); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(key string) error {
		_, err := c.MacSign(ctx, &kmspb.MacSignRequest{Name: key + "/cryptoKeyVersions/1", Data: []byte("m")},
			gax.WithRetry(func() gax.Retryer { return nil }))
		return err
	}
	if _, err := e.srv.Regions().SetDown(ctx, "us-central1"); err != nil {
		t.Fatal(err)
	}
	if err := sign(regional); code(err) != codes.Unavailable || !strings.Contains(err.Error(), "us-central1") {
		t.Fatalf("MacSign in a region that is down: %v, want UNAVAILABLE naming it", err)
	}
	if err := sign(global); err != nil {
		t.Fatalf("MacSign with a global key during a regional outage: %v", err)
	}
	if _, err := e.srv.Regions().SetUp(ctx, "us-central1"); err != nil {
		t.Fatal(err)
	}
	if err := sign(regional); err != nil {
		t.Fatalf("MacSign after region-up: %v", err)
	}
}
