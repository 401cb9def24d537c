package localcloudtest_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

// RedisClient reaches an instance with AUTH and TLS through what the
// Memorystore API tells about it.
func TestRedisClientResolvesAuthAndCA(t *testing.T) {
	lc := localcloudtest.Start(t)
	rc, _ := clients(t, lc.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := rc.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: parent, InstanceId: "secure",
		Instance: &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1, AuthEnabled: true,
			TransitEncryptionMode: redispb.Instance_SERVER_AUTHENTICATION}})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := op.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := lc.RedisClient(t, inst.Name)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS with AUTH: %v", err)
	}
}
