package rediscluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

const (
	parent  = "projects/agentnet-test/locations/us-east1"
	network = "projects/agentnet-test/global/networks/relay-vpc"
)

// The official client creates, reads, lists and deletes a cluster whose
// nodes are real redis-servers in cluster mode: three primaries with a
// replica each, TLS verified against the cluster's CA, AUTH with the
// cluster's token required.
func TestClusterLifecycle(t *testing.T) {
	lc := localcloudtest.Start(t)
	cc := lc.ClusterAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := lc.CreateCluster(t, parent, "relay-a", localcloudtest.ThreeShards(network))
	name := parent + "/clusters/relay-a"
	if c.GetName() != name || c.GetState() != clusterpb.Cluster_ACTIVE || c.GetShardCount() != 3 || c.GetReplicaCount() != 1 {
		t.Fatalf("created cluster: %v", c)
	}
	eps := c.GetDiscoveryEndpoints()
	if len(eps) != 1 || eps[0].GetAddress() != "127.0.0.1" || eps[0].GetPort() == 0 || eps[0].GetPscConfig().GetNetwork() != network {
		t.Fatalf("discovery endpoints: %v", eps)
	}
	if len(c.GetPscConnections()) != 1 || c.GetPscConnections()[0].GetNetwork() != network {
		t.Fatalf("psc connections: %v", c.GetPscConnections())
	}
	if c.GetNodeType() != clusterpb.NodeType_REDIS_HIGHMEM_MEDIUM || c.GetSizeGb() != 39 || c.GetPersistenceConfig().GetMode() != clusterpb.ClusterPersistenceConfig_DISABLED {
		t.Fatalf("defaults: node type %s, size %d GB, persistence %v", c.GetNodeType(), c.GetSizeGb(), c.GetPersistenceConfig())
	}
	got, err := cc.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: name})
	if err != nil || !proto.Equal(got, c) {
		t.Fatalf("GetCluster: %v %v", got, err)
	}
	var listed []string
	it := cc.ListClusters(ctx, &clusterpb.ListClustersRequest{Parent: "projects/agentnet-test/locations/-"})
	for {
		l, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, l.GetName())
	}
	if len(listed) != 1 || listed[0] != name {
		t.Fatalf("ListClusters: %v", listed)
	}

	rc := lc.ClusterClient(t, name)
	for i := range 100 {
		if err := rc.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET through the cluster: %v", err)
		}
	}
	masters := map[string]bool{}
	if err := rc.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		masters[m.Options().Addr] = true
		n, err := m.DBSize(ctx).Result()
		if err == nil && n == 0 {
			err = fmt.Errorf("primary %s holds no key", m.Options().Addr)
		}
		return err
	}); err != nil || len(masters) != 3 {
		t.Fatalf("three primaries sharing the keys: %v %v", masters, err)
	}
	// Without the token the nodes refuse, as Google's do without an IAM
	// access token.
	opts := *rc.Options()
	opts.Password = ""
	anon := goredis.NewClusterClient(&opts)
	defer anon.Close()
	if err := anon.Get(ctx, "k1").Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("a client without the access token: %v", err)
	}
	// Without TLS the nodes do not answer in plain text.
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", eps[0].GetPort()), time.Second); err == nil {
		_, _ = conn.Write([]byte("PING\r\n"))
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		b := make([]byte, 16)
		n, _ := conn.Read(b)
		conn.Close()
		if strings.Contains(string(b[:n]), "PONG") || strings.Contains(string(b[:n]), "NOAUTH") {
			t.Fatalf("the discovery endpoint answered plain text: %q", b[:n])
		}
	}
	ca, err := cc.GetClusterCertificateAuthority(ctx, &clusterpb.GetClusterCertificateAuthorityRequest{Name: name + "/certificateAuthority"})
	if err != nil || len(ca.GetManagedServerCa().GetCaCerts()) != 1 {
		t.Fatalf("GetClusterCertificateAuthority: %v %v", ca, err)
	}

	op, err := cc.DeleteCluster(ctx, &clusterpb.DeleteClusterRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	if _, err := cc.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: name}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetCluster after delete: %v", err)
	}
	if err := rc.Ping(ctx).Err(); err == nil {
		t.Fatal("the deleted cluster still answers")
	}
}

// Bad input is refused naming the field and the accepted values, and
// nothing is created or changed.
func TestClusterRefusesBadInput(t *testing.T) {
	lc := localcloudtest.Start(t)
	cc := lc.ClusterAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	with := func(f func(c *clusterpb.Cluster)) *clusterpb.Cluster {
		c := localcloudtest.ThreeShards(network)
		f(c)
		return c
	}
	for _, tc := range []struct {
		id, field string
		cluster   *clusterpb.Cluster
	}{
		{"Bad_Id", "cluster_id", localcloudtest.ThreeShards(network)},
		{"a-" + strings.Repeat("x", 62), "cluster_id", localcloudtest.ThreeShards(network)},
		{"no-shards", "cluster.shard_count", with(func(c *clusterpb.Cluster) { c.ShardCount = nil })},
		{"zero-shards", "cluster.shard_count", with(func(c *clusterpb.Cluster) { c.ShardCount = proto.Int32(0) })},
		{"replicas", "cluster.replica_count", with(func(c *clusterpb.Cluster) { c.ReplicaCount = proto.Int32(6) })},
		{"node-type", "cluster.node_type", with(func(c *clusterpb.Cluster) { c.NodeType = 42 })},
		{"transit", "cluster.transit_encryption_mode", with(func(c *clusterpb.Cluster) { c.TransitEncryptionMode = 9 })},
		{"auth", "cluster.authorization_mode", with(func(c *clusterpb.Cluster) { c.AuthorizationMode = 9 })},
		{"no-psc", "cluster.psc_configs", with(func(c *clusterpb.Cluster) { c.PscConfigs = nil })},
		{"no-network", "cluster.psc_configs[0].network", with(func(c *clusterpb.Cluster) { c.PscConfigs[0].Network = "" })},
		{"bad-network", "cluster.psc_configs[0].network", with(func(c *clusterpb.Cluster) { c.PscConfigs[0].Network = "relay-vpc" })},
		{"config", "cluster.redis_configs", with(func(c *clusterpb.Cluster) { c.RedisConfigs = map[string]string{"maxmemory-policy": "sometimes"} })},
	} {
		_, err := cc.CreateCluster(ctx, &clusterpb.CreateClusterRequest{Parent: parent, ClusterId: tc.id, Cluster: tc.cluster})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v; want INVALID_ARGUMENT naming %s", tc.id, err, tc.field)
		}
	}
	it := cc.ListClusters(ctx, &clusterpb.ListClustersRequest{Parent: parent})
	if c, err := it.Next(); !errors.Is(err, iterator.Done) {
		t.Fatalf("a refused create left a cluster: %v %v", c, err)
	}

	c := lc.CreateCluster(t, parent, "small", &clusterpb.Cluster{ShardCount: proto.Int32(1), PscConfigs: []*clusterpb.PscConfig{{Network: network}}})
	for path, code := range map[string]codes.Code{"shard_count": codes.Unimplemented, "replica_count": codes.Unimplemented, "name": codes.InvalidArgument} {
		in := proto.CloneOf(c)
		in.ShardCount = proto.Int32(3)
		_, err := cc.UpdateCluster(ctx, &clusterpb.UpdateClusterRequest{Cluster: in, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}}})
		if status.Code(err) != code || !strings.Contains(err.Error(), path) {
			t.Errorf("UpdateCluster %s: %v; want %s naming it", path, err, code)
		}
	}
	if got, err := cc.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: c.GetName()}); err != nil || !proto.Equal(got, c) {
		t.Fatalf("a refused update changed the cluster: %v %v", got, err)
	}
}
