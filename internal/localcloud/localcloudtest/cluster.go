package localcloudtest

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
)

// ClusterOptions resolves a Memorystore for Redis Cluster the way the relay
// does: its discovery endpoint from GetCluster, with transit encryption TLS
// trusting exactly GetClusterCertificateAuthority's CA, and with IAM
// authorization the cluster's access token as AUTH password, which
// localcloud gives through its admin endpoint (token).
func ClusterOptions(ctx context.Context, emulator, name string, token func(context.Context) (string, error)) (*goredis.ClusterOptions, error) {
	r, err := relay.NewMemorystoreResolver(ctx, emulator)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	r.IAMToken = token
	t, err := r.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	o, err := t.ClusterOptions(ctx)
	if err != nil {
		return nil, err
	}
	o.ReadTimeout = 10 * time.Second
	return o, nil
}

// ClusterClient connects to a Memorystore for Redis Cluster of this
// localcloud (ClusterOptions). t.Cleanup closes it.
func (i *Instance) ClusterClient(t testing.TB, name string) *goredis.ClusterClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := ClusterOptions(ctx, i.Addr(), name, func(ctx context.Context) (string, error) {
		return i.Admin().ClusterToken(ctx, name)
	})
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClusterClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// CreateCluster creates cluster id under parent (projects/P/locations/R)
// and waits for its operation.
func (i *Instance) CreateCluster(t testing.TB, parent, id string, in *clusterpb.Cluster) *clusterpb.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	op, err := i.ClusterAPI(t).CreateCluster(ctx, &clusterpb.CreateClusterRequest{Parent: parent, ClusterId: id, Cluster: in})
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	c, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	return c
}

// ThreeShards is a cluster of three primaries with a replica each on
// network, with transit encryption and IAM authorization, noeviction as
// the relay needs.
func ThreeShards(network string) *clusterpb.Cluster {
	return &clusterpb.Cluster{
		ShardCount: proto.Int32(3), ReplicaCount: proto.Int32(1),
		TransitEncryptionMode: clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION,
		AuthorizationMode:     clusterpb.AuthorizationMode_AUTH_MODE_IAM_AUTH,
		PscConfigs:            []*clusterpb.PscConfig{{Network: network}},
		RedisConfigs:          map[string]string{"maxmemory-policy": "noeviction"},
	}
}
