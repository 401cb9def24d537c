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
	return apiClient(t, i, redisapi.NewCloudRedisClient)
}

// ClusterAPI is the official Memorystore for Redis Cluster client of this
// localcloud. t.Cleanup closes it.
func (i *Instance) ClusterAPI(t testing.TB) *clusterapi.CloudRedisClusterClient {
	t.Helper()
	return apiClient(t, i, clusterapi.NewCloudRedisClusterClient)
}

// RunAPI is the official Cloud Run client of this localcloud. t.Cleanup
// closes it.
func (i *Instance) RunAPI(t testing.TB) *runapi.ServicesClient {
	t.Helper()
	return apiClient(t, i, runapi.NewServicesClient)
}

// apiClient opens a Google client (its generated constructor) on this
// localcloud's gRPC APIs as the Google clients reach an emulator: its
// address, plaintext, no credentials. t.Cleanup closes it.
func apiClient[C interface{ Close() error }](t testing.TB, i *Instance, open func(context.Context, ...option.ClientOption) (C, error)) C {
	t.Helper()
	c, err := open(context.Background(), option.WithEndpoint(i.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
