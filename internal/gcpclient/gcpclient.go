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

	compute "cloud.google.com/go/compute/apiv1"
	redis "cloud.google.com/go/redis/apiv1"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
	Run     *run.ServicesClient
	Storage *storage.Client
	Compute *ComputeClients

	// Endpoints names, per API, the address the clients talk to, so that an
	// unreachable API can be reported by where it was looked for.
	Endpoints map[string]string
	// EmulatorHost is localcloud's host:port when the clients talk to it
	// (see FrontDoorRoots).
	EmulatorHost string
}

// API names used as keys of Clients.Endpoints and in error messages.
const (
	APIRedis   = "Memorystore for Redis"
	APIRun     = "Cloud Run"
	APIStorage = "Cloud Storage"
	APICompute = "Compute Engine"
)

// ComputeClients are the Compute Engine REST clients of the global external
// load balancer in front of the relays.
type ComputeClients struct {
	NEGs              *compute.RegionNetworkEndpointGroupsClient
	BackendServices   *compute.BackendServicesClient
	URLMaps           *compute.UrlMapsClient
	TargetHTTPProxies *compute.TargetHttpProxiesClient
	ForwardingRules   *compute.GlobalForwardingRulesClient
	// The HTTPS front door: its certificates, proxy and static address.
	TargetHTTPSProxies *compute.TargetHttpsProxiesClient
	SSLCertificates    *compute.SslCertificatesClient
	Addresses          *compute.GlobalAddressesClient
}

// New builds the clients. With EmulatorHost set it first checks that
// something listens there, so a localcloud that is not running is reported
// at once, by address.
func New(ctx context.Context, cfg Config) (*Clients, error) {
	c := &Clients{Project: cfg.Project, Region: cfg.Region, Endpoints: map[string]string{}, EmulatorHost: cfg.EmulatorHost}

	if cfg.EmulatorHost != "" {
		if err := checkReachable(ctx, cfg.EmulatorHost); err != nil {
			return nil, err
		}
	}
	// options gives one API its endpoint: the override, else localcloud,
	// else Google's default (with Application Default Credentials).
	options := func(api, override, emulated, google string, grpcAPI bool) []option.ClientOption {
		var opts []option.ClientOption
		if cfg.UserAgent != "" {
			opts = append(opts, option.WithUserAgent(cfg.UserAgent))
		}
		endpoint := override
		if cfg.EmulatorHost != "" {
			opts = append(opts, option.WithoutAuthentication())
			if grpcAPI {
				opts = append(opts, option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
			}
			if endpoint == "" {
				endpoint = emulated
			}
		}
		c.Endpoints[api] = google
		if endpoint != "" {
			opts = append(opts, option.WithEndpoint(endpoint))
			c.Endpoints[api] = endpoint
		}
		return opts
	}
	host := cfg.EmulatorHost
	redisOpts := options(APIRedis, cfg.RedisEndpoint, host, "redis.googleapis.com:443", true)
	runOpts := options(APIRun, cfg.RunEndpoint, host, "run.googleapis.com:443", true)
	computeOpts := options(APICompute, cfg.ComputeEndpoint, "http://"+host, "https://compute.googleapis.com", false)
	storageOpts := options(APIStorage, cfg.StorageEndpoint, "http://"+host+"/storage/v1/", "https://storage.googleapis.com/storage/v1/", false)

	var err error
	if c.Redis, err = redis.NewCloudRedisClient(ctx, redisOpts...); err != nil {
		return nil, c.clientError(APIRedis, err)
	}
	if c.Run, err = run.NewServicesClient(ctx, runOpts...); err != nil {
		c.Close()
		return nil, c.clientError(APIRun, err)
	}
	// Cloud Run's reads retry UNAVAILABLE for 10 s by default. During a
	// region outage that hides the cause and stalls a failover, so retry
	// twice, briefly, and then report the region unavailable.
	briefly := []gax.CallOption{gax.WithTimeout(30 * time.Second), gax.WithRetry(func() gax.Retryer {
		return &boundedRetryer{left: 2, inner: gax.OnCodes([]codes.Code{codes.Unavailable},
			gax.Backoff{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond, Multiplier: 2})}
	})}
	c.Run.CallOptions.GetService = briefly
	c.Run.CallOptions.ListServices = briefly
	if c.Storage, err = storage.NewClient(ctx, storageOpts...); err != nil {
		c.Close()
		return nil, c.clientError(APIStorage, err)
	}
	if c.Compute, err = newComputeClients(ctx, computeOpts); err != nil {
		c.Close()
		return nil, c.clientError(APICompute, err)
	}
	return c, nil
}

// boundedRetryer gives up after a number of retries.
type boundedRetryer struct {
	left  int
	inner gax.Retryer
}

func (r *boundedRetryer) Retry(err error) (time.Duration, bool) {
	if r.left <= 0 {
		return 0, false
	}
	r.left--
	return r.inner.Retry(err)
}

func (c *Clients) clientError(api string, err error) error {
	return fmt.Errorf("creating the %s client for %s: %w", api, c.Endpoints[api], err)
}

// Close releases every client that was created.
func (c *Clients) Close() error {
	var errs []error
	if c.Redis != nil {
		errs = append(errs, c.Redis.Close())
	}
	if c.Run != nil {
		errs = append(errs, c.Run.Close())
	}
	if c.Storage != nil {
		errs = append(errs, c.Storage.Close())
	}
	if c.Compute != nil {
		errs = append(errs, c.Compute.NEGs.Close(), c.Compute.BackendServices.Close(), c.Compute.URLMaps.Close(),
			c.Compute.TargetHTTPProxies.Close(), c.Compute.ForwardingRules.Close(),
			c.Compute.TargetHTTPSProxies.Close(), c.Compute.SSLCertificates.Close(), c.Compute.Addresses.Close())
	}
	return errors.Join(errs...)
}

func newComputeClients(ctx context.Context, opts []option.ClientOption) (*ComputeClients, error) {
	var cc ComputeClients
	var err error
	if cc.NEGs, err = compute.NewRegionNetworkEndpointGroupsRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	if cc.BackendServices, err = compute.NewBackendServicesRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	if cc.URLMaps, err = compute.NewUrlMapsRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	if cc.TargetHTTPProxies, err = compute.NewTargetHttpProxiesRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	if cc.ForwardingRules, err = compute.NewGlobalForwardingRulesRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	if cc.TargetHTTPSProxies, err = compute.NewTargetHttpsProxiesRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	if cc.SSLCertificates, err = compute.NewSslCertificatesRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	if cc.Addresses, err = compute.NewGlobalAddressesRESTClient(ctx, opts...); err != nil {
		return nil, err
	}
	return &cc, nil
}

func checkReachable(ctx context.Context, hostport string) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return fmt.Errorf("cannot reach localcloud at %s (emulator_host / AGENTNET_EMULATOR_HOST): %w; start it with `localcloud serve` or unset emulator_host to use Google Cloud", hostport, err)
	}
	return conn.Close()
}
