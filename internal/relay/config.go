package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
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
	// ListenAddr is host:port for Run.
	ListenAddr string
	// RedisAddr is this region's Redis; PeerRedisAddrs are the other regions'.
	RedisAddr      string
	PeerRedisAddrs []string
	RedisPassword  string
	Region         string
	InstanceID     string

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
	// WriteTimeout bounds one write to an agent.
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
}

func (c *Config) setDefaults() {
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
	if c.MessageTTL <= 0 {
		c.MessageTTL = 24 * time.Hour
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 75 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Minute
	}
	if c.AckCopies <= 0 {
		c.AckCopies = 1
		if len(c.PeerRedisAddrs) > 0 {
			c.AckCopies = 2
		}
	}
	c.AckCopies = min(c.AckCopies, 1+len(c.PeerRedisAddrs))
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 8 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// EnvConfig is the environment as Cloud Run passes it, plus the relay's own
// settings. Verifier settings are returned separately so the caller builds
// the verifier (it needs a context and must be closed).
type EnvConfig struct {
	Config
	Auth auth.Config
}

// ConfigFromEnv reads the configuration from environment variables:
//
//	PORT                 listen port (default 8080)
//	LISTEN_HOST          listen host (default 0.0.0.0 on Cloud Run, i.e. when
//	                     K_SERVICE is set, else 127.0.0.1)
//	REDIS_ADDR           this region's Redis host:port (required)
//	REDIS_PASSWORD       Redis AUTH string (optional)
//	PEER_REDIS_ADDRS     other regions' Redis, comma separated
//	REGION               region name (default "local")
//	INSTANCE_ID          instance name (default K_REVISION-hostname-pid)
//	JWKS_URL | JWKS_FILE where the token signing keys are
//	JWKS_CACHE_FILE      keeps the last fetched JWKS for restarts during an
//	                     identity provider outage
//	JWT_ISSUER           expected iss
//	JWT_AUDIENCE         expected aud
//	MAX_FRAME_BYTES      default 65536
//	RATE_LIMIT           frames/s per connection (default 100)
//	RATE_BURST           default 2*RATE_LIMIT
//	MAX_INFLIGHT_SENDS   default 1024
//	DELIVERY_WINDOW      default 256
//	MAX_INBOX            default 10000
//	MESSAGE_TTL          default 24h
//	IDLE_TIMEOUT         default 75s
//	WAIT_REPLICAS        default 0
//	ACK_COPIES           Redis servers an envelope is stored on before its
//	                     ack (default 2 with peers, 1 without)
//	SHUTDOWN_GRACE       default 8s (Cloud Run allows 10s after SIGTERM)
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
	ec.RedisAddr = getenv("REDIS_ADDR")
	if ec.RedisAddr == "" {
		errs = append(errs, errors.New("REDIS_ADDR is required"))
	}
	ec.RedisPassword = getenv("REDIS_PASSWORD")
	for _, p := range strings.Split(getenv("PEER_REDIS_ADDRS"), ",") {
		if p = strings.TrimSpace(p); p != "" && p != ec.RedisAddr {
			ec.PeerRedisAddrs = append(ec.PeerRedisAddrs, p)
		}
	}
	ec.Region = getenv("REGION")
	ec.InstanceID = getenv("INSTANCE_ID")
	if ec.InstanceID == "" && getenv("K_REVISION") != "" {
		h, _ := os.Hostname()
		ec.InstanceID = fmt.Sprintf("%s-%s-%d", getenv("K_REVISION"), h, os.Getpid())
	}
	ec.Auth = auth.Config{
		JWKSURL:   getenv("JWKS_URL"),
		JWKSFile:  getenv("JWKS_FILE"),
		CacheFile: getenv("JWKS_CACHE_FILE"),
		Issuer:    getenv("JWT_ISSUER"),
		Audience:  getenv("JWT_AUDIENCE"),
	}
	if (ec.Auth.JWKSURL == "") == (ec.Auth.JWKSFile == "") {
		errs = append(errs, errors.New("set exactly one of JWKS_URL and JWKS_FILE"))
	}
	if ec.Auth.Issuer == "" || ec.Auth.Audience == "" {
		errs = append(errs, errors.New("JWT_ISSUER and JWT_AUDIENCE are required"))
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
	intVar("WAIT_REPLICAS", &ec.WaitReplicas)
	intVar("ACK_COPIES", &ec.AckCopies)
	durVar("MESSAGE_TTL", &ec.MessageTTL)
	durVar("IDLE_TIMEOUT", &ec.IdleTimeout)
	durVar("SHUTDOWN_GRACE", &ec.ShutdownGrace)
	return ec, errors.Join(errs...)
}
