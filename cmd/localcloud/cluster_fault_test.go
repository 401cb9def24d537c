package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

// `localcloud fault` kills a cluster's primary, or a whole shard held down
// until cluster-release, by the cluster's short name; a shard that does not
// exist is refused naming "shard".
func TestClusterFaultCLI(t *testing.T) {
	t.Parallel()
	lc := localcloudtest.Start(t)
	name := lc.CreateCluster(t, "projects/agentnet-test/locations/us-east1", "cache", &clusterpb.Cluster{
		ShardCount: proto.Int32(1), ReplicaCount: proto.Int32(1),
		PscConfigs: []*clusterpb.PscConfig{{Network: "projects/agentnet-test/global/networks/default"}},
	}).GetName()
	fault := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, nil, append(append([]string{"fault"}, args...), "--host", lc.Addr(), "--data-dir", lc.DataDir())...)
	}
	if out, errOut, code := fault("cluster-primary-kill", "--cluster", "cache"); code != 0 || !strings.Contains(out, `"ports"`) {
		t.Fatalf("cluster-primary-kill: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := fault("cluster-shard-kill", "--cluster", "cache", "--shard", "1"); code != 1 || !strings.Contains(errOut, `"shard": 1`) {
		t.Fatalf("a shard that does not exist: exit %d: %s", code, errOut)
	}
	// The promoted replica serves; then the whole shard goes down, held.
	rc := lc.ClusterClient(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for rc.Set(ctx, "k", "v", 0).Err() != nil {
		if ctx.Err() != nil {
			t.Fatal("the cluster did not serve again after its primary was killed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, errOut, code := fault("cluster-shard-kill", "--cluster", "cache", "--hold"); code != 0 {
		t.Fatalf("cluster-shard-kill: exit %d\n%s%s", code, out, errOut)
	}
	if err := rc.Get(ctx, "k").Err(); err == nil {
		t.Fatal("a held-down shard still answers")
	}
	if out, errOut, code := fault("cluster-release", "--cluster", "cache"); code != 0 {
		t.Fatalf("cluster-release: exit %d\n%s%s", code, out, errOut)
	}
	for rc.Ping(ctx).Err() != nil {
		if ctx.Err() != nil {
			t.Fatal("the released shard does not answer")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
