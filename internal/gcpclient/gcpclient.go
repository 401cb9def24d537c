// Package gcpclient builds the official Google Cloud clients the provider
// uses, for Google Cloud itself or for localcloud. There is one code path:
// against localcloud the same clients are pointed at a loopback address,
// without authentication or TLS; the provider never swaps in a fake.
//
// Against Google Cloud the clients authenticate as the google provider does
// (auth.go). Every call, on either, goes through one Policy (retry.go): a
// deadline per call and per attempt, retries of reads and operation polls
// with capped exponential backoff and jitter, and a memory of the regions
// that did not answer, so that a region whose API hangs counts as down
// within seconds instead of stalling a failover.
package gcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	kms "cloud.google.com/go/kms/apiv1"
	redis "cloud.google.com/go/redis/apiv1"
	rediscluster "cloud.google.com/go/redis/cluster/apiv1"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Config selects where each API is reached.
type Config struct {
	Project string
	Region  string
	// AdditionalRegions are regions accepted beyond Google Cloud's list
	// (internal/gcpregions), for regions newer than it.
	AdditionalRegions []string

	// EmulatorHost points every API at localcloud (host:port), plaintext and
	// without credentials.
	EmulatorHost string

	// Per-API endpoint overrides, as the google provider's custom endpoints:
	// host:port for the gRPC APIs, a base URL for the REST ones.
	RedisEndpoint   string
	RunEndpoint     string
	ComputeEndpoint string
	StorageEndpoint string
	KMSEndpoint     string

	UserAgent string

	// Authentication, as the google provider's: Credentials is a
	// credentials JSON file's path or contents, AccessToken an OAuth 2.0
	// token (at most one of the two; neither: Application Default
	// Credentials). Every call runs as ImpersonateServiceAccount when set,
	// through the Delegates chain. Scopes default to DefaultScopes. Ignored
	// with EmulatorHost.
	Credentials                        string
	AccessToken                        string
	ImpersonateServiceAccount          string
	ImpersonateServiceAccountDelegates []string
	Scopes                             []string
	// With UserProjectOverride, calls bill BillingProject (else Project)
	// for quota: X-Goog-User-Project.
	BillingProject      string
	UserProjectOverride bool

	// Retry and deadlines of every call; zero fields take the defaults.
	Policy Policy

	// iamClient, when set, is the HTTP client impersonation gets its
	// tokens with (tests point it at a local IAM Credentials API).
	iamClient *http.Client
}

// Clients holds one client per API, shared by every resource of a provider
// instance.
type Clients struct {
	Project string
	Region  string
	// AdditionalRegions are the configuration's regions beyond Google
	// Cloud's list.
	AdditionalRegions []string

	Redis *redis.CloudRedisClient
	// RedisCluster is Memorystore for Redis Cluster, served at the same
	// endpoint as Memorystore for Redis (redis_endpoint).
	RedisCluster *rediscluster.CloudRedisClusterClient
	Run          *run.ServicesClient
	Storage      *storage.Client
	Compute      *ComputeClients
	// KMS signs and verifies snapshot manifests (MAC keys).
	KMS *kms.KeyManagementClient

	// Endpoints names, per API, the address the clients talk to, so that an
	// unreachable API can be reported by where it was looked for.
	Endpoints map[string]string
	// EmulatorHost is localcloud's host:port when the clients talk to it
	// (see FrontDoorRoots).
	EmulatorHost string
	// Identity says how the clients authenticate.
	Identity Identity

	// health is what this run learnt of each region's APIs (retry.go).
	health *regionHealth
}

// API names used as keys of Clients.Endpoints and in error messages.
const (
	APIRedis = "Memorystore for Redis"
	// APIRedisCluster shares APIRedis's endpoint.
	APIRedisCluster = "Memorystore for Redis Cluster"
	APIRun          = "Cloud Run"
	APIStorage      = "Cloud Storage"
	APICompute      = "Compute Engine"
	APIKMS          = "Cloud KMS"
)

// ComputeClients are the Compute Engine REST clients of the global external
// load balancer in front of the relays. Every field is a client: Close
// closes them all, and New turns off their library retries, field by field.
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
	c := &Clients{Project: cfg.Project, Region: cfg.Region, AdditionalRegions: cfg.AdditionalRegions, Endpoints: map[string]string{}, EmulatorHost: cfg.EmulatorHost}

	if cfg.EmulatorHost != "" {
		if err := checkReachable(ctx, cfg.EmulatorHost); err != nil {
			return nil, err
		}
	}
	authOpts, id, creds, err := authOptions(cfg)
	if err != nil {
		return nil, err
	}
	c.Identity = id
	policy := cfg.Policy.withDefaults()
	if creds != nil {
		tctx, cancel := context.WithTimeout(ctx, policy.RequestTimeout)
		err := checkCredentials(tctx, creds, id, cfg)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	health := newRegionHealth()
	c.health = health
	// options gives one API its endpoint (the override, else localcloud,
	// else Google's default) and credentials; every gRPC call goes through
	// the retry and deadline policy.
	options := func(api, override, emulated, google string, grpcAPI bool) (opts, endpointOpts []option.ClientOption) {
		opts = append(opts, authOpts...)
		if cfg.UserAgent != "" {
			opts = append(opts, option.WithUserAgent(cfg.UserAgent))
		}
		if grpcAPI {
			opts = append(opts, option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(policy.unaryInterceptor(api, health))))
		}
		endpoint := override
		if cfg.EmulatorHost != "" {
			if grpcAPI {
				opts = append(opts, option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
			}
			if endpoint == "" {
				endpoint = emulated
			}
		}
		c.Endpoints[api] = google
		if endpoint != "" {
			endpointOpts = []option.ClientOption{option.WithEndpoint(endpoint)}
			c.Endpoints[api] = endpoint
		}
		return append(opts, endpointOpts...), endpointOpts
	}
	grpcOptions := func(api, override, google string) []option.ClientOption {
		opts, _ := options(api, override, cfg.EmulatorHost, google, true)
		return opts
	}
	// restOptions gives a REST API an HTTP client, authenticated, whose
	// transport runs every request through the policy (REST clients take
	// no interceptor); the client then gets only that and its endpoint.
	restOptions := func(api, override, emulated, google string, noRetry bool) ([]option.ClientOption, error) {
		opts, endpointOpts := options(api, override, emulated, google, false)
		if cfg.EmulatorHost == "" {
			opts = append(opts, option.WithScopes(scopesOr(cfg.Scopes)...))
		}
		hc, _, err := htransport.NewClient(ctx, opts...)
		if err != nil {
			return nil, c.clientError(api, err)
		}
		hc.Transport = &roundTripper{api: api, policy: policy, health: health, base: hc.Transport, noRetry: noRetry}
		return append(endpointOpts, option.WithHTTPClient(hc)), nil
	}
	host := cfg.EmulatorHost
	redisOpts := grpcOptions(APIRedis, cfg.RedisEndpoint, "redis.googleapis.com:443")
	clusterOpts := grpcOptions(APIRedisCluster, cfg.RedisEndpoint, "redis.googleapis.com:443")
	runOpts := grpcOptions(APIRun, cfg.RunEndpoint, "run.googleapis.com:443")
	kmsOpts := grpcOptions(APIKMS, cfg.KMSEndpoint, "cloudkms.googleapis.com:443")
	computeOpts, err := restOptions(APICompute, cfg.ComputeEndpoint, "http://"+host, "https://compute.googleapis.com", false)
	if err != nil {
		return nil, err
	}
	storageOpts, err := restOptions(APIStorage, cfg.StorageEndpoint, "http://"+host+"/storage/v1/", "https://storage.googleapis.com/storage/v1/", true)
	if err != nil {
		return nil, err
	}

	if c.Redis, err = redis.NewCloudRedisClient(ctx, redisOpts...); err != nil {
		return nil, c.clientError(APIRedis, err)
	}
	if c.RedisCluster, err = rediscluster.NewCloudRedisClusterClient(ctx, clusterOpts...); err != nil {
		c.Close()
		return nil, c.clientError(APIRedisCluster, err)
	}
	if c.Run, err = run.NewServicesClient(ctx, runOpts...); err != nil {
		c.Close()
		return nil, c.clientError(APIRun, err)
	}
	if c.KMS, err = kms.NewKeyManagementClient(ctx, kmsOpts...); err != nil {
		c.Close()
		return nil, c.clientError(APIKMS, err)
	}
	if c.Storage, err = storage.NewClient(ctx, storageOpts...); err != nil {
		c.Close()
		return nil, c.clientError(APIStorage, err)
	}
	// Cloud Storage retries its idempotent calls itself: same codes and
	// backoff, attempts bounded.
	c.Storage.SetRetry(storage.WithBackoff(policy.Backoff), storage.WithMaxAttempts(policy.MaxAttempts), storage.WithErrorFunc(Retryable))
	if c.Compute, err = newComputeClients(ctx, computeOpts); err != nil {
		c.Close()
		return nil, c.clientError(APICompute, err)
	}
	// The policy retries; the libraries' own retries (Cloud Run's reads
	// retry UNAVAILABLE for 10 s, Compute's 503 and 504 for minutes) would
	// stack on top of it and stall a failover.
	withoutLibraryRetries(c.Redis, c.Redis.LROClient, c.RedisCluster, c.RedisCluster.LROClient, c.Run, c.Run.LROClient, c.KMS)
	withoutLibraryRetries(fieldsOf(c.Compute)...)
	return c, nil
}

// AssumeRegionOut makes this run treat region as out, as an earlier run
// found it at since (a plan, for its apply): calls to it fail at once, and
// at most one a second probes it briefly, as for a region whose call failed
// as an outage in this run. Nothing this run has seen of region is
// overridden: once a call of this run got an answer from it or found it
// out, it does nothing and reports false.
func (c *Clients) AssumeRegionOut(region string, since time.Time, reason string) bool {
	if c.health == nil {
		return false
	}
	return c.health.assumeOut(region, since, errors.New(reason))
}

// CheckRegion drops an outage of region that was only assumed
// (AssumeRegionOut), so that the next call to it is made: for a region the
// caller needs, an earlier run's finding is no reason not to ask.
func (c *Clients) CheckRegion(region string) {
	if c.health != nil {
		c.health.unassume(region)
	}
}

// RegionsOut lists the regions out in this run, each with when it was found
// out and why.
func (c *Clients) RegionsOut() map[string]RegionOutage {
	if c.health == nil {
		return nil
	}
	return c.health.outages()
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
	if c.RedisCluster != nil {
		errs = append(errs, c.RedisCluster.Close())
	}
	if c.Run != nil {
		errs = append(errs, c.Run.Close())
	}
	if c.KMS != nil {
		errs = append(errs, c.KMS.Close())
	}
	if c.Storage != nil {
		errs = append(errs, c.Storage.Close())
	}
	if c.Compute != nil {
		for _, f := range fieldsOf(c.Compute) {
			cl, ok := f.(io.Closer)
			if !ok {
				errs = append(errs, fmt.Errorf("compute client %T cannot be closed", f))
				continue
			}
			errs = append(errs, cl.Close())
		}
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
