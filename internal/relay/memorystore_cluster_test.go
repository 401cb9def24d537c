package relay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// TestMemorystoreCluster: a relay given the name of a Memorystore for Redis
// Cluster that localcloud created (three primaries with a replica each,
// real redis-servers) resolves its discovery endpoint and CA through the
// clusters API, reaches every node over TLS verified against that CA,
// authenticates every connection with the cluster's access token and
// delivers through the cluster (its inboxes hash-tagged on the shards). Without
// credentials for IAM authentication it is not ready and says why.
func TestMemorystoreCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lc := localcloudtest.Start(t)
	const parent = "projects/p/locations/us-east1"
	name := lc.CreateCluster(t, parent, "relay-a", localcloudtest.ThreeShards("projects/p/global/networks/relay")).GetName()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token, err := lc.Admin().ClusterToken(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	resolver := func(withToken bool) *relay.MemorystoreResolver {
		r, err := relay.NewMemorystoreResolver(context.Background(), lc.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() }) // the test's end
		if withToken {
			r.IAMToken = func(context.Context) (string, error) { return token, nil }
		}
		return r
	}

	noCreds := relaytest.NewRelay(t, e.v, "a", "", nil, func(c *relay.Config) {
		c.RedisAddr, c.RedisInstance, c.Resolver = "", name, resolver(false)
	})
	waitFor(t, 5*time.Second, "the detailed readiness naming IAM authentication", func() bool {
		code, body := get(t, "http://"+noCreds.OpsAddr+"/ready")
		return code == 503 && strings.Contains(body, "IAM authentication")
	})

	r := relaytest.NewRelay(t, e.v, "a", "", nil, func(c *relay.Config) {
		c.RedisAddr, c.RedisInstance, c.Resolver = "", name, resolver(true)
	})
	waitAllRedisUp(t, r.OpsAddr)
	alice := e.dial("alice", r.URL)
	for i := range 5 {
		if _, err := alice.Send(ctx, "bob", fmt.Sprintf("m%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	rc := lc.ClusterClient(t, name)
	if n := rc.XLen(ctx, relay.AddressKey(true, "relay:inbox:", "bob")).Val(); n != 5 {
		t.Fatalf("bob's hash-tagged inbox holds %d entries, want 5", n)
	}
	bob := e.dial("bob", r.URL)
	for i := range 5 {
		if got := recv(t, bob, 5*time.Second); got.ID != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s, want m%d", got.ID, i)
		}
	}
}
