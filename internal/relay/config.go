package relay

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
)

// TokenVerifier checks a bearer token; *auth.Verifier is the production one.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*auth.Claims, error)
}

// Config configures a relay instance.
type Config struct {
	// ListenAddr is host:port for Run: /ws, /ready, /live.
	ListenAddr string
	// OpsListenAddr is host:port of the operations endpoints for Run:
	// /metrics and /ready with detail. Empty: not served by Run.
	OpsListenAddr string

	// Direct mode: RedisAddr is this region's Redis; PeerRedisAddrs are the
	// other regions'. RedisPassword is the AUTH string of each; RedisCAs,
	// when set, makes every connection TLS trusting these roots.
	RedisAddr      string
	PeerRedisAddrs []string
	RedisPassword  string
	RedisCAs       *x509.CertPool
	// RedisCluster says that every Redis of direct mode is a Redis Cluster,
	// its address one node of it (a seed: the others are discovered).
	RedisCluster bool

	// Memorystore mode, instead of direct mode: full instance names
	// (projects/P/locations/R/instances/I), or Memorystore for Redis
	// Cluster names (projects/P/locations/R/clusters/C), that Resolver
	// turns into each
	// Redis's address, AUTH string and CA at start, retrying until it
	// succeeds. A Redis counts as unreachable until resolved.
	RedisInstance      string
	PeerRedisInstances []string
	Resolver           Resolver

	// EvictionCheckInterval is how often each Redis's maxmemory_policy is
	// read (default 30s).
	EvictionCheckInterval time.Duration

	Region     string
	InstanceID string

	Verifier TokenVerifier

	// MaxFrameBytes bounds one WebSocket message (header + ciphertext).
	MaxFrameBytes int
	// RateLimit is frames per second per connection; RateBurst its bucket.
	RateLimit float64
	RateBurst int
	// MaxInflightSends bounds a connection's sends not yet acked; past it the
	// relay stops reading from that connection (backpressure).
	MaxInflightSends int
	// DeliveryWindow bounds envelopes delivered to a connection and not yet
	// acknowledged by it.
	DeliveryWindow int
	// MaxInbox bounds the envelopes queued for one address; past it sends to
	// that address are refused with a retryable nack.
	MaxInbox int
	// MessageTTL is how long an undelivered envelope is kept.
	MessageTTL time.Duration
	// IdleTimeout closes a connection that sent nothing (not even a ping).
	IdleTimeout time.Duration
	// MaxConnsPerIdentity bounds the open connections of one token subject
	// (labels included) across the instances sharing a Redis; default 64,
	// negative: unlimited.
	MaxConnsPerIdentity int
	// ConnQuotaLease is how long a connection counts without its instance
	// renewing it (every third of it): a crashed instance's connections stop
	// counting within it. Default 60s.
	ConnQuotaLease time.Duration
	// MaxMsgsPerSecPerIdentity and MaxBytesPerSecPerIdentity bound what
	// one token subject sends per second across the instances sharing a
	// Redis; defaults 1000 and 8 MiB, negative: unlimited.
	MaxMsgsPerSecPerIdentity  int
	MaxBytesPerSecPerIdentity int
	// MaxLabelsPerIdentity bounds the distinct labels one token subject
	// holds connections with at a time (the bare subject is no label);
	// default 16, negative: unlimited.
	MaxLabelsPerIdentity int
	// MaxStoredBytesPerRecipient bounds the bytes queued in one address's
	// inbox on each Redis, MaxStoredBytesPerPair those of one sender
	// identity in it (quota_stored.go); defaults 64 MiB and 8 MiB,
	// negative: unlimited.
	MaxStoredBytesPerRecipient int
	MaxStoredBytesPerPair      int
	// ConnByteBudget bounds the bytes of the deliveries in flight to one
	// connection (read and not yet acknowledged), default 1 MiB; negative:
	// no budget (benchmarks).
	ConnByteBudget int
	// WriteTimeout bounds one write to an agent; default: the time to write
	// ConnByteBudget at 256 KiB/s (4s for 1 MiB), at least 1s.
	WriteTimeout time.Duration
	// PollInterval is the safety net re-reading every inbox in case a wake-up
	// was lost.
	PollInterval time.Duration
	// WaitReplicas, if > 0, makes the relay wait for that many Redis replicas
	// to confirm a batch before acking it (Redis WAIT).
	WaitReplicas int
	// AckCopies is how many Redis servers (this region's and peers') must
	// store an envelope before it is acked. Default 2 with peers, 1 without;
	// at most the number of Redis servers. When fewer are reachable, an
	// envelope is acked once stored on all reachable ones (at least one).
	AckCopies int
	// ShutdownGrace bounds Shutdown.
	ShutdownGrace time.Duration

	Logger *slog.Logger
	// LogAddressKey keys the hash that stands for an agent's address in
	// logs. Default: random per process.
	LogAddressKey []byte
	// LogClientIP puts the client's IP and port in logs; off by default.
	LogClientIP bool

	// Notices, when set, is read every NoticePoll (default 250ms) for the
	// dependency notice pushed to every agent (notice.go).
	Notices    NoticeSource
	NoticePoll time.Duration
}

func (c *Config) setDefaults() {
	if c.NoticePoll <= 0 {
		c.NoticePoll = 250 * time.Millisecond
	}
	if c.Region == "" {
		c.Region = "local"
	}
	if c.InstanceID == "" {
		h, _ := os.Hostname()
		c.InstanceID = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 64 << 10
	}
	if c.RateLimit <= 0 {
		c.RateLimit = 100
	}
	if c.RateBurst <= 0 {
		c.RateBurst = int(2 * c.RateLimit)
	}
	if c.MaxInflightSends <= 0 {
		c.MaxInflightSends = 1024
	}
	if c.DeliveryWindow <= 0 {
		c.DeliveryWindow = 256
	}
	if c.MaxInbox <= 0 {
		c.MaxInbox = 10000
	}
	if len(c.LogAddressKey) == 0 {
		c.LogAddressKey = randomLogAddressKey()
	}
	if c.MessageTTL <= 0 {
		c.MessageTTL = 24 * time.Hour
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 75 * time.Second
	}
	if c.MaxConnsPerIdentity == 0 {
		c.MaxConnsPerIdentity = defaultConnsPerIdent
	}
	if c.ConnQuotaLease <= 0 {
		c.ConnQuotaLease = time.Minute
	}
	c.ConnQuotaLease = max(c.ConnQuotaLease, time.Second)
	if c.MaxMsgsPerSecPerIdentity == 0 {
		c.MaxMsgsPerSecPerIdentity = defaultMsgRate
	}
	if c.MaxBytesPerSecPerIdentity == 0 {
		c.MaxBytesPerSecPerIdentity = defaultByteRate
	}
	if c.MaxLabelsPerIdentity == 0 {
		c.MaxLabelsPerIdentity = defaultLabelsPerIdent
	}
	if c.MaxStoredBytesPerRecipient == 0 {
		c.MaxStoredBytesPerRecipient = defaultStoredPerRecipient
	}
	if c.MaxStoredBytesPerPair == 0 {
		c.MaxStoredBytesPerPair = defaultStoredPerPair
	}
	if c.ConnByteBudget == 0 {
		c.ConnByteBudget = defaultConnByteBudget
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = writeTimeoutFor(max(c.ConnByteBudget, defaultConnByteBudget))
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Minute
	}
	if c.AckCopies <= 0 {
		c.AckCopies = 1
		if c.peers() > 0 {
			c.AckCopies = 2
		}
	}
	c.AckCopies = min(c.AckCopies, 1+c.peers())
	if c.EvictionCheckInterval <= 0 {
		c.EvictionCheckInterval = 30 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 8 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) peers() int {
	if c.RedisInstance != "" {
		return len(c.PeerRedisInstances)
	}
	return len(c.PeerRedisAddrs)
}

// EnvConfig is the environment as Cloud Run passes it, plus the relay's own
// settings. Verifier settings are returned separately so the caller builds
// the verifier (it needs a context and must be closed).
type EnvConfig struct {
	Config
	Auth auth.Config
	// EmulatorHost is where the Memorystore API is asked in Memorystore
	// mode instead of redis.googleapis.com (AGENTNET_EMULATOR_HOST), and
	// Cloud Storage for the dependency notice.
	EmulatorHost string
	// DependencyNoticeObject is the status page's published JSON feed,
	// gs://BUCKET/OBJECT (DEPENDENCY_NOTICE_OBJECT); see NewStorageNoticeSource.
	DependencyNoticeObject string
}

// ConfigFromEnv reads the configuration from environment variables:
//
//	PORT                 listen port of /ws, /ready, /live (default 8080)
//	OPS_PORT             listen port of /metrics and the detailed /ready
//	                     (default 9090; 0 picks a free port)
//	LISTEN_HOST          listen host of both (default 0.0.0.0 on Cloud Run,
//	                     i.e. when K_SERVICE is set, else 127.0.0.1)
//	REDIS_INSTANCE       this region's Memorystore instance (or Memorystore
//	                     for Redis Cluster), full name: its
//	                     address, AUTH string and CA come from the
//	                     Memorystore API at start
//	PEER_REDIS_INSTANCES other regions' instances, comma separated
//	AGENTNET_EMULATOR_HOST  host:port of an emulator of that API (plaintext);
//	                     unset: redis.googleapis.com with the service's
//	                     Application Default Credentials
//	REDIS_ADDR           direct mode instead: this region's Redis host:port
//	PEER_REDIS_ADDRS     other regions' Redis, comma separated
//	REDIS_PASSWORD       their AUTH string (optional)
//	REDIS_CA_FILE        PEM roots: connect to them with TLS (optional)
//	REDIS_CLUSTER        true: each of those addresses is a node of a Redis
//	                     Cluster (default false: single Redis servers)
//	REGION               region name (default "local")
//	INSTANCE_ID          instance name (default K_REVISION-hostname-pid)
//	JWKS_URL | JWKS_FILE, JWKS_CACHE_FILE, JWKS_CACHE_MAX_AGE, JWT_ISSUER,
//	JWT_AUDIENCE, TOKEN_MAX_LIFETIME: token verification, see
//	                     auth.ConfigFromEnv
//	MAX_FRAME_BYTES      default 65536
//	RATE_LIMIT           frames/s per connection (default 100)
//	RATE_BURST           default 2*RATE_LIMIT
//	MAX_INFLIGHT_SENDS   default 1024
//	DELIVERY_WINDOW      default 256
//	MAX_INBOX            default 10000
//	MAX_CONNS_PER_IDENTITY  open connections per token subject (default 64)
//	CONN_QUOTA_LEASE     a crashed instance's connections stop counting
//	                     after it (default 60s)
//	MAX_MSGS_PER_SEC_PER_IDENTITY   envelopes/s per token subject (default 1000)
//	MAX_BYTES_PER_SEC_PER_IDENTITY  bytes/s per token subject (default 8388608)
//	MAX_LABELS_PER_IDENTITY  labels connected at a time per token subject
//	                     (default 16)
//	MAX_STORED_BYTES_PER_RECIPIENT  bytes queued for one address per Redis
//	                     (default 67108864, at least MAX_FRAME_BYTES)
//	MAX_STORED_BYTES_PER_PAIR  bytes queued by one token subject for one
//	                     address per Redis (default 8388608, at least
//	                     MAX_FRAME_BYTES)
//	CONN_BYTE_BUDGET     bytes of deliveries in flight per connection
//	                     (default 1048576, at least MAX_FRAME_BYTES)
//	WRITE_TIMEOUT        one write to an agent (default: CONN_BYTE_BUDGET
//	                     at 256 KiB/s, 4s for 1 MiB)
//	MESSAGE_TTL          default 24h
//	IDLE_TIMEOUT         default 75s
//	WAIT_REPLICAS        default 0
//	ACK_COPIES           Redis servers an envelope is stored on before its
//	                     ack (default 2 with peers, 1 without)
//	SHUTDOWN_GRACE       default 8s (Cloud Run allows 10s after SIGTERM)
//	LOG_ADDRESS_KEY      key of the hash that stands for agent addresses in
//	                     logs, at least 16 bytes (default: random per
//	                     process, so hashes match within one instance only)
//	LOG_CLIENT_IP        true: log client IPs (default false)
//	DEPENDENCY_NOTICE_OBJECT  gs://BUCKET/OBJECT of the status page's JSON
//	                     feed (agentnet_status_page's feed.json): its
//	                     dependency states are pushed to every agent
//	DEPENDENCY_NOTICE_POLL  how often that object's generation is read
//	                     (default 250ms, 100ms to 1m)
func ConfigFromEnv(getenv func(string) string) (EnvConfig, error) {
	var ec EnvConfig
	var errs []error
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host := getenv("LISTEN_HOST")
	if host == "" {
		host = "127.0.0.1"
		if getenv("K_SERVICE") != "" {
			host = "0.0.0.0"
		}
	}
	ec.ListenAddr = net.JoinHostPort(host, port)
	opsPort := getenv("OPS_PORT")
	if opsPort == "" {
		opsPort = "9090"
	}
	if opsPort == port {
		errs = append(errs, fmt.Errorf("OPS_PORT %s is PORT: the operations endpoints need a port of their own", opsPort))
	}
	ec.OpsListenAddr = net.JoinHostPort(host, opsPort)
	list := func(name, self string) []string {
		var out []string
		for _, p := range strings.Split(getenv(name), ",") {
			if p = strings.TrimSpace(p); p != "" && p != self && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		return out
	}
	ec.RedisInstance = getenv("REDIS_INSTANCE")
	ec.RedisAddr = getenv("REDIS_ADDR")
	switch {
	case ec.RedisInstance != "" && ec.RedisAddr != "":
		errs = append(errs, errors.New("set one of REDIS_INSTANCE (Memorystore) and REDIS_ADDR (direct), not both"))
	case ec.RedisInstance != "":
		ec.PeerRedisInstances = list("PEER_REDIS_INSTANCES", ec.RedisInstance)
		ec.EmulatorHost = getenv("AGENTNET_EMULATOR_HOST")
		for _, n := range append([]string{ec.RedisInstance}, ec.PeerRedisInstances...) {
			if !validInstanceName(n) {
				errs = append(errs, fmt.Errorf("%q is not a Memorystore instance name (projects/P/locations/R/instances/I) or Memorystore for Redis Cluster name (projects/P/locations/R/clusters/C)", n))
			}
		}
		for _, k := range []string{"PEER_REDIS_ADDRS", "REDIS_PASSWORD", "REDIS_CA_FILE", "REDIS_CLUSTER"} {
			if getenv(k) != "" {
				errs = append(errs, fmt.Errorf("%s is for direct mode (REDIS_ADDR); with REDIS_INSTANCE the Memorystore API gives each Redis's address, AUTH string and CA", k))
			}
		}
	case ec.RedisAddr != "":
		ec.RedisPassword = getenv("REDIS_PASSWORD")
		ec.PeerRedisAddrs = list("PEER_REDIS_ADDRS", ec.RedisAddr)
		if err := boolEnv(getenv, "REDIS_CLUSTER", &ec.RedisCluster); err != nil {
			errs = append(errs, err)
		}
		if f := getenv("REDIS_CA_FILE"); f != "" {
			pem, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("REDIS_CA_FILE: %w", err))
			} else if ec.RedisCAs = x509.NewCertPool(); !ec.RedisCAs.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("REDIS_CA_FILE %s: no PEM certificate", f))
			}
		}
	default:
		errs = append(errs, errors.New("REDIS_INSTANCE (a Memorystore instance) or REDIS_ADDR (host:port) is required"))
	}
	ec.Region = getenv("REGION")
	ec.InstanceID = getenv("INSTANCE_ID")
	if ec.InstanceID == "" && getenv("K_REVISION") != "" {
		h, _ := os.Hostname()
		ec.InstanceID = fmt.Sprintf("%s-%s-%d", getenv("K_REVISION"), h, os.Getpid())
	}
	var err error
	if ec.Auth, err = auth.ConfigFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	intVar := func(name string, dst *int) {
		if s := getenv(name); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				errs = append(errs, fmt.Errorf("%s: not a non-negative integer: %q", name, s))
				return
			}
			*dst = v
		}
	}
	durVar := func(name string, dst *time.Duration) {
		if s := getenv(name); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v < 0 {
				errs = append(errs, fmt.Errorf("%s: not a duration: %q", name, s))
				return
			}
			*dst = v
		}
	}
	intVar("MAX_FRAME_BYTES", &ec.MaxFrameBytes)
	if s := getenv("RATE_LIMIT"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("RATE_LIMIT: not a positive number: %q", s))
		}
		ec.RateLimit = v
	}
	intVar("RATE_BURST", &ec.RateBurst)
	intVar("MAX_INFLIGHT_SENDS", &ec.MaxInflightSends)
	intVar("DELIVERY_WINDOW", &ec.DeliveryWindow)
	intVar("MAX_INBOX", &ec.MaxInbox)
	intVar("CONN_BYTE_BUDGET", &ec.ConnByteBudget)
	intVar("MAX_CONNS_PER_IDENTITY", &ec.MaxConnsPerIdentity)
	intVar("MAX_MSGS_PER_SEC_PER_IDENTITY", &ec.MaxMsgsPerSecPerIdentity)
	intVar("MAX_BYTES_PER_SEC_PER_IDENTITY", &ec.MaxBytesPerSecPerIdentity)
	intVar("MAX_LABELS_PER_IDENTITY", &ec.MaxLabelsPerIdentity)
	intVar("MAX_STORED_BYTES_PER_RECIPIENT", &ec.MaxStoredBytesPerRecipient)
	intVar("MAX_STORED_BYTES_PER_PAIR", &ec.MaxStoredBytesPerPair)
	frame := cmp.Or(ec.MaxFrameBytes, 64<<10)
	for _, v := range []struct {
		name  string
		bytes int
	}{{"CONN_BYTE_BUDGET", ec.ConnByteBudget}, {"MAX_STORED_BYTES_PER_RECIPIENT", ec.MaxStoredBytesPerRecipient}, {"MAX_STORED_BYTES_PER_PAIR", ec.MaxStoredBytesPerPair}} {
		if v.bytes != 0 && v.bytes < frame {
			errs = append(errs, fmt.Errorf("%s: %d bytes is below MAX_FRAME_BYTES (%d): accepted values are byte counts of at least one frame", v.name, v.bytes, frame))
		}
	}
	durVar("WRITE_TIMEOUT", &ec.WriteTimeout)
	durVar("CONN_QUOTA_LEASE", &ec.ConnQuotaLease)
	if ec.ConnQuotaLease != 0 && ec.ConnQuotaLease < time.Second {
		errs = append(errs, fmt.Errorf("CONN_QUOTA_LEASE: %s is under 1s: accepted values are durations of at least 1s", ec.ConnQuotaLease))
	}
	intVar("WAIT_REPLICAS", &ec.WaitReplicas)
	intVar("ACK_COPIES", &ec.AckCopies)
	durVar("MESSAGE_TTL", &ec.MessageTTL)
	durVar("IDLE_TIMEOUT", &ec.IdleTimeout)
	durVar("SHUTDOWN_GRACE", &ec.ShutdownGrace)
	if k := getenv("LOG_ADDRESS_KEY"); k != "" {
		if len(k) < minLogAddressKey {
			errs = append(errs, fmt.Errorf("LOG_ADDRESS_KEY: %d bytes, at least %d needed (a secret, e.g. openssl rand -hex 32)", len(k), minLogAddressKey))
		}
		ec.LogAddressKey = []byte(k)
	}
	if o := getenv("DEPENDENCY_NOTICE_OBJECT"); o != "" {
		if _, _, err := parseGSURI(o); err != nil {
			errs = append(errs, fmt.Errorf("DEPENDENCY_NOTICE_OBJECT: %w", err))
		}
		ec.DependencyNoticeObject = o
		ec.EmulatorHost = getenv("AGENTNET_EMULATOR_HOST")
	}
	durVar("DEPENDENCY_NOTICE_POLL", &ec.NoticePoll)
	if ec.NoticePoll != 0 && (ec.NoticePoll < 100*time.Millisecond || ec.NoticePoll > time.Minute) {
		errs = append(errs, fmt.Errorf("DEPENDENCY_NOTICE_POLL: %s: accepted values are durations from 100ms to 1m", ec.NoticePoll))
	}
	if err := boolEnv(getenv, "LOG_CLIENT_IP", &ec.LogClientIP); err != nil {
		errs = append(errs, err)
	}
	return ec, errors.Join(errs...)
}

// boolEnv reads the variable name, true or false (unset: false).
func boolEnv(getenv func(string) string, name string, dst *bool) error {
	switch v := getenv(name); v {
	case "", "false":
	case "true":
		*dst = true
	default:
		return fmt.Errorf("%s: %q, want true or false", name, v)
	}
	return nil
}

// validInstanceName checks projects/P/locations/R/instances/I or
// projects/P/locations/R/clusters/C.
func validInstanceName(n string) bool {
	p := strings.Split(n, "/")
	return len(p) == 6 && p[0] == "projects" && p[2] == "locations" && (p[4] == "instances" || p[4] == "clusters") && p[1] != "" && p[3] != "" && p[5] != ""
}

// isClusterName reports whether a valid name is a Memorystore for Redis
// Cluster's.
func isClusterName(n string) bool { return strings.Contains(n, "/clusters/") }
