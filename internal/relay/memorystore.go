package relay

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	redisapi "cloud.google.com/go/redis/apiv1"
	"cloud.google.com/go/redis/apiv1/redispb"
	clusterapi "cloud.google.com/go/redis/cluster/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// MemorystoreResolver resolves instances through the Memorystore for Redis
// API: GetInstance for the address, transit encryption and server CAs, and
// GetInstanceAuthString for the AUTH string, so that no secret travels in
// the service's configuration. It calls the API as the service's own
// identity (Application Default Credentials), or an emulator.
type MemorystoreResolver struct {
	c  *redisapi.CloudRedisClient
	cc *clusterapi.CloudRedisClusterClient
	// IAMToken gives the access token a Memorystore for Redis Cluster with
	// IAM authentication takes as AUTH password: the service identity's
	// (Application Default Credentials, cloud-platform scope); with an
	// emulator, the metadata server's of MetadataHostEnv, else unset
	// (whoever runs it sets it).
	IAMToken func(context.Context) (string, error)
}

// MetadataHostEnv names the metadata server (host:port) of a relay run by
// an emulator that gives it an identity (localcloud's Cloud Run): with an
// emulator, IAM access tokens come from there, else there are none.
const MetadataHostEnv = "GCE_METADATA_HOST"

// NewMemorystoreResolver connects to redis.googleapis.com with Application
// Default Credentials or, when emulatorHost (host:port) is set, to that
// emulator over plaintext gRPC without credentials, as Google's metadata
// server gives a real instance its credentials and localcloud needs none.
func NewMemorystoreResolver(ctx context.Context, emulatorHost string) (*MemorystoreResolver, error) {
	var opts []option.ClientOption
	if emulatorHost != "" {
		opts = append(opts, option.WithEndpoint(emulatorHost), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	c, err := redisapi.NewCloudRedisClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("memorystore client: %w", err)
	}
	cc, err := clusterapi.NewCloudRedisClusterClient(ctx, opts...)
	if err != nil {
		_ = c.Close() // the resolver is not made: nothing else uses it
		return nil, fmt.Errorf("memorystore for redis cluster client: %w", err)
	}
	m := &MemorystoreResolver{c: c, cc: cc}
	switch {
	case emulatorHost == "":
		if m.IAMToken, err = iamToken(ctx); err != nil {
			_ = m.Close() // the resolver is not made: nothing else uses it
			return nil, err
		}
	case os.Getenv(MetadataHostEnv) != "":
		m.IAMToken = metadataToken()
	}
	return m, nil
}

// Close releases the API connections.
func (m *MemorystoreResolver) Close() error { return errors.Join(m.c.Close(), m.cc.Close()) }

// Resolve implements Resolver. An instance without an address yet (being
// created) is an error: the caller retries.
func (m *MemorystoreResolver) Resolve(ctx context.Context, name string) (RedisTarget, error) {
	if isClusterName(name) {
		return m.resolveCluster(ctx, name)
	}
	inst, err := m.c.GetInstance(ctx, &redispb.GetInstanceRequest{Name: name})
	if err != nil {
		return RedisTarget{}, fmt.Errorf("GetInstance %s: %w", name, err)
	}
	return targetOf(ctx, inst, func(ctx context.Context) (string, error) {
		a, err := m.c.GetInstanceAuthString(ctx, &redispb.GetInstanceAuthStringRequest{Name: name})
		if err != nil {
			return "", fmt.Errorf("GetInstanceAuthString %s: %w", name, err)
		}
		return a.GetAuthString(), nil
	})
}

func targetOf(ctx context.Context, inst *redispb.Instance, authString func(context.Context) (string, error)) (RedisTarget, error) {
	switch inst.GetState() {
	case redispb.Instance_CREATING, redispb.Instance_DELETING:
		return RedisTarget{}, fmt.Errorf("instance %s is %s", inst.GetName(), inst.GetState())
	}
	if inst.GetHost() == "" || inst.GetPort() == 0 {
		return RedisTarget{}, fmt.Errorf("instance %s has no address yet (state %s)", inst.GetName(), inst.GetState())
	}
	t := RedisTarget{Addr: net.JoinHostPort(inst.GetHost(), strconv.Itoa(int(inst.GetPort())))}
	if inst.GetTransitEncryptionMode() == redispb.Instance_SERVER_AUTHENTICATION {
		pool := x509.NewCertPool()
		for _, c := range inst.GetServerCaCerts() {
			pool.AppendCertsFromPEM([]byte(c.GetCert()))
		}
		if len(inst.GetServerCaCerts()) == 0 || pool.Equal(x509.NewCertPool()) {
			return RedisTarget{}, fmt.Errorf("instance %s has in-transit encryption but no usable server_ca_certs", inst.GetName())
		}
		t.CAs = pool
	}
	if inst.GetAuthEnabled() {
		s, err := authString(ctx)
		if err != nil {
			return RedisTarget{}, err
		}
		if s == "" {
			return RedisTarget{}, errors.New("instance " + inst.GetName() + " has AUTH enabled but an empty AUTH string")
		}
		t.Password = s
	}
	return t, nil
}
