// Package gcpclient builds the official Google Cloud clients the provider
// uses, for Google Cloud itself or for localcloud. There is one code path:
// against localcloud the same clients are pointed at a loopback address,
// without authentication or TLS; the provider never swaps in a fake.
package gcpclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	redis "cloud.google.com/go/redis/apiv1"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Config selects where each API is reached.
type Config struct {
	Project string
	Region  string

	// EmulatorHost points every API at localcloud (host:port), plaintext and
	// without credentials.
	EmulatorHost string

	// Per-API endpoint overrides, as the google provider's custom endpoints:
	// host:port for the gRPC APIs, a base URL for the REST ones.
	RedisEndpoint   string
	RunEndpoint     string
	ComputeEndpoint string
	StorageEndpoint string

	UserAgent string
}

// Clients holds one client per API, shared by every resource of a provider
// instance.
type Clients struct {
	Project string
	Region  string

	Redis   *redis.CloudRedisClient
	Storage *storage.Client

	// Endpoints names, per API, the address the clients talk to, so that an
	// unreachable API can be reported by where it was looked for.
	Endpoints map[string]string
}

// API names used as keys of Clients.Endpoints and in error messages.
const (
	APIRedis   = "Memorystore for Redis"
	APIStorage = "Cloud Storage"
)

// New builds the clients. With EmulatorHost set it first checks that
// something listens there, so a localcloud that is not running is reported
// at once, by address.
func New(ctx context.Context, cfg Config) (*Clients, error) {
	c := &Clients{Project: cfg.Project, Region: cfg.Region, Endpoints: map[string]string{}}

	var redisOpts, storageOpts []option.ClientOption
	if cfg.UserAgent != "" {
		redisOpts = append(redisOpts, option.WithUserAgent(cfg.UserAgent))
		storageOpts = append(storageOpts, option.WithUserAgent(cfg.UserAgent))
	}
	redisEndpoint, storageEndpoint := cfg.RedisEndpoint, cfg.StorageEndpoint
	if cfg.EmulatorHost != "" {
		if err := checkReachable(ctx, cfg.EmulatorHost); err != nil {
			return nil, err
		}
		if redisEndpoint == "" {
			redisEndpoint = cfg.EmulatorHost
		}
		if storageEndpoint == "" {
			storageEndpoint = "http://" + cfg.EmulatorHost + "/storage/v1/"
		}
		plain := []option.ClientOption{
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}
		redisOpts = append(redisOpts, plain...)
		storageOpts = append(storageOpts, option.WithoutAuthentication())
	}
	c.Endpoints[APIRedis] = "redis.googleapis.com:443"
	if redisEndpoint != "" {
		redisOpts = append(redisOpts, option.WithEndpoint(redisEndpoint))
		c.Endpoints[APIRedis] = redisEndpoint
	}
	c.Endpoints[APIStorage] = "https://storage.googleapis.com/storage/v1/"
	if storageEndpoint != "" {
		storageOpts = append(storageOpts, option.WithEndpoint(storageEndpoint))
		c.Endpoints[APIStorage] = storageEndpoint
	}

	var err error
	if c.Redis, err = redis.NewCloudRedisClient(ctx, redisOpts...); err != nil {
		return nil, fmt.Errorf("creating the %s client for %s: %w", APIRedis, c.Endpoints[APIRedis], err)
	}
	if c.Storage, err = storage.NewClient(ctx, storageOpts...); err != nil {
		c.Redis.Close()
		return nil, fmt.Errorf("creating the %s client for %s: %w", APIStorage, c.Endpoints[APIStorage], err)
	}
	return c, nil
}

// Close releases every client.
func (c *Clients) Close() error {
	return errors.Join(c.Redis.Close(), c.Storage.Close())
}

func checkReachable(ctx context.Context, hostport string) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return fmt.Errorf("cannot reach localcloud at %s (emulator_host / AGENTNET_EMULATOR_HOST): %w; start it with `localcloud serve` or unset emulator_host to use Google Cloud", hostport, err)
	}
	return conn.Close()
}
