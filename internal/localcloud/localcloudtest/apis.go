package localcloudtest

import (
	"context"
	"testing"

	redisapi "cloud.google.com/go/redis/apiv1"
	clusterapi "cloud.google.com/go/redis/cluster/apiv1"
	runapi "cloud.google.com/go/run/apiv2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// MemorystoreAPI is the official Memorystore for Redis client of this
// localcloud. t.Cleanup closes it.
func (i *Instance) MemorystoreAPI(t testing.TB) *redisapi.CloudRedisClient {
	t.Helper()
	c, err := redisapi.NewCloudRedisClient(context.Background(), i.clientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ClusterAPI is the official Memorystore for Redis Cluster client of this
// localcloud. t.Cleanup closes it.
func (i *Instance) ClusterAPI(t testing.TB) *clusterapi.CloudRedisClusterClient {
	t.Helper()
	c, err := clusterapi.NewCloudRedisClusterClient(context.Background(), i.clientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// RunAPI is the official Cloud Run client of this localcloud. t.Cleanup
// closes it.
func (i *Instance) RunAPI(t testing.TB) *runapi.ServicesClient {
	t.Helper()
	c, err := runapi.NewServicesClient(context.Background(), i.clientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clientOptions reach this localcloud's gRPC APIs as the Google clients do
// an emulator: its address, plaintext, no credentials.
func (i *Instance) clientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(i.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
}
