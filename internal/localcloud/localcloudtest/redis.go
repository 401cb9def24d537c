package localcloudtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	redisapi "cloud.google.com/go/redis/apiv1"
	"cloud.google.com/go/redis/apiv1/redispb"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// RedisOptions resolves a Memorystore instance the way its clients must on
// Google Cloud: its address from GetInstance, with transit encryption TLS
// trusting exactly the instance's server_ca_certs (ServerName = host), and
// with AUTH the string from GetInstanceAuthString. emulator is localcloud's
// address (host:port); name is projects/P/locations/R/instances/I.
func RedisOptions(ctx context.Context, emulator, name string) (*goredis.Options, error) {
	rc, err := redisapi.NewCloudRedisClient(ctx, option.WithEndpoint(emulator), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	in, err := rc.GetInstance(ctx, &redispb.GetInstanceRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("localcloudtest: GetInstance %s: %w", name, err)
	}
	opts := &goredis.Options{Addr: net.JoinHostPort(in.GetHost(), strconv.Itoa(int(in.GetPort()))), ReadTimeout: 10 * time.Second}
	if in.GetAuthEnabled() {
		a, err := rc.GetInstanceAuthString(ctx, &redispb.GetInstanceAuthStringRequest{Name: name})
		if err != nil {
			return nil, fmt.Errorf("localcloudtest: GetInstanceAuthString %s: %w", name, err)
		}
		opts.Password = a.GetAuthString()
	}
	if in.GetTransitEncryptionMode() == redispb.Instance_SERVER_AUTHENTICATION {
		pool := x509.NewCertPool()
		for _, c := range in.GetServerCaCerts() {
			if !pool.AppendCertsFromPEM([]byte(c.GetCert())) {
				return nil, fmt.Errorf("localcloudtest: server_ca_certs of %s is not PEM", name)
			}
		}
		opts.TLSConfig = &tls.Config{RootCAs: pool, ServerName: in.GetHost(), MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// RedisClient connects to a Memorystore instance of this localcloud with
// its address, AUTH string and CA from the Memorystore API (RedisOptions).
// t.Cleanup closes it.
func (i *Instance) RedisClient(t testing.TB, name string) *goredis.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := RedisOptions(ctx, i.Addr(), name)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}
