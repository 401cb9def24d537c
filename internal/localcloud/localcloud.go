// Package localcloud is a local emulator of exactly the Google Cloud APIs the
// agentnet provider calls, speaking their real wire protocols and backed by
// real processes:
//
//   - google.cloud.redis.v1.CloudRedis (package memorystore): every instance
//     is a real redis-server behind its own loopback port, a gate that
//     admits a Cloud Run relay only from the instance's authorized network;
//   - google.cloud.run.v2.Services (package run): every service runs the
//     agentnet relay as real relay processes behind its URL, a reverse proxy
//     on its own loopback port, which applies Google's front end rules
//     (invoker IAM, ingress, reserved paths; see run's doc.go) and the
//     probes of the service spec. Image mapping: the only image accepted is the
//     relay's, any image whose last path element without tag or digest is
//     "agentnet-relay" (us-docker.pkg.dev/PROJECT/agentnet/agentnet-relay:1.4,
//     agentnet-relay:dev); it runs Config.RelayBinary (--relay-binary,
//     default "relay" next to the localcloud executable, then PATH). Any
//     other image is refused with INVALID_ARGUMENT on
//     template.containers[0].image;
//   - google.cloud.redis.cluster.v1.CloudRedisCluster (package
//     rediscluster): every cluster is shard_count × (1 + replica_count) real
//     redis-servers in cluster mode, each behind a gate as an instance is;
//   - google.longrunning.Operations (package operations);
//   - google.cloud.kms.v1.KeyManagementService (package kms): key rings and
//     MAC keys, MacSign and MacVerify, key material kept under kms/;
//   - the Cloud Storage JSON API (package storage, fake-gcs-server on disk).
//
// One TCP listener serves everything: gRPC over HTTP/2 without TLS (prior
// knowledge, "h2c") for requests with Content-Type application/grpc*, the
// Cloud Storage HTTP API, and the admin endpoints under /_localcloud/.
// Every request must name a loopback Host and must not be cross-site
// (guard.go); the admin endpoints except ca.pem need
// "Authorization: Bearer TOKEN", TOKEN being the content of
// <DataDir>/localcloud.token, made anew at each start (package admin):
//
//	GET  /_localcloud/health     {"status":"ok","addr":...,"pid":...,"data_dir":...}
//	GET  /_localcloud/oplog      operation log, oldest first (?since=SEQ for entries after SEQ)
//	GET  /_localcloud/instances  Memorystore instances with port, pid, restarts
//	GET  /_localcloud/clusters   Memorystore for Redis Cluster clusters, their nodes with role, shard, ports, pid
//	GET  /_localcloud/cluster-token?cluster=NAME  {"token": ...}: the access token a cluster with IAM
//	                             authorization accepts as AUTH password (what an identity granted
//	                             roles/redis.dbConnectionUser would send; localcloud has no IAM)
//	GET  /computeMetadata/v1/instance/service-accounts/default/token  the metadata server of the
//	                             Cloud Run relays (their GCE_METADATA_HOST): that access token, to
//	                             relay processes only (metadata.go); no admin token
//	GET  /_localcloud/services   Cloud Run services with their URL and instances (run.ServiceStatus)
//	GET  /_localcloud/regions    {"down":["us-east1"],"api":{"us-east1":"hang"}}
//	GET  /_localcloud/compute    load balancer: URL maps and front doors (compute.Status)
//	GET  /_localcloud/ca.pem     the front doors' certificate authority (also <DataDir>/ca/ca.pem)
//	GET  /_localcloud/faults     the accepted fault kinds
//	GET  /_localcloud/delays     the timing profile and the delays it applied (profile.Status)
//	POST /_localcloud/faults     {"kind":"redis-kill","instance":"projects/p/locations/r/instances/n","hold":true}
//
// GET /_localcloud/services answers, per service:
//
//	{"name": "projects/p/locations/r/services/s", "region": "r",
//	 "uri": "http://127.0.0.1:PORT", "port": PORT, "url_open": true,
//	 "serving_revision": "s-00002-abc", "latest_created_revision": "s-00002-abc",
//	 "desired_instances": 3, "held": false, "region_down": false, "reconciling": false,
//	 "instances": [{"id": "s-00002-abc-4", "revision": "s-00002-abc", "pid": 1234,
//	   "port": 40001, "ready": true, "state": "ready", "restarts": 0,
//	   "connections": 12, "active_connections": 2, "last_exit": ""}],
//	 "recent_connections": [{"time": "...", "instance": "s-00002-abc-4",
//	   "remote": "127.0.0.1:51234", "path": "/ws", "websocket": true}]}
//
// where connections counts the connections and requests the service URL sent
// to the instance (its INSTANCE_ID is the id, which relay clients see in the
// hello frame; plain HTTP answers carry it in X-Localcloud-Instance),
// recent_connections lists the last 200 routed, and state is starting,
// ready, unready, "down (restarting)", "down (held)" or "down (region)".
//
// Operation log entries are {"seq", "time", "phase", "method", "resource",
// "operation", "outcome"}, in the order things happened:
//
//   - phase "call": a mutating call was received. CloudRedis methods
//     (method google.cloud.redis.v1.CloudRedis.CreateInstance, ...) have
//     outcome RUNNING when they started an operation, else the error as
//     "<CODE>: <message>". Cloud Storage mutations (storage.buckets.insert,
//     storage.objects.insert, storage.objects.delete, ...; resource
//     gs://bucket/object or projects/_/buckets/bucket) have OK or
//     "HTTP <status>: <message>".
//   - phase "done": the operation of an earlier call finished: OK or
//     "<CODE>: <message>".
//     Cloud Run methods are google.cloud.run.v2.Services.CreateService,
//     UpdateService and DeleteService (reads are not logged).
//     Cloud KMS methods (google.cloud.kms.v1.KeyManagementService.CreateKeyRing,
//     CreateCryptoKey, CreateCryptoKeyVersion, UpdateCryptoKeyVersion) are
//     logged with their outcome; MacSign and MacVerify, which change
//     nothing, are not.
//   - phase "event": injected faults (localcloud.Fault.<kind>, logged before
//     their effects, outcome filled in when applied), supervision
//     (localcloud.Supervisor.RedisExited, localcloud.Supervisor.Repair,
//     localcloud.Supervisor.RelayExited, localcloud.Supervisor.RelayRestart,
//     localcloud.Supervisor.LivenessFailed)
//     and Cloud Run rollouts (localcloud.Run.TrafficSwitched: the service
//     URL now sends every new connection to the new revision;
//     localcloud.Run.Scaled: instances added or removed without a new
//     revision; localcloud.Run.URLPortChanged).
//
// Fault kinds (POST /_localcloud/faults, or "localcloud fault"):
//
//	redis-kill       {"instance": NAME, "hold": bool}  SIGKILL the redis-server; repaired after the repair delay unless hold
//	redis-release    {"instance": NAME}                end a held redis-kill
//	redis-corrupt    {"instance": NAME, "fraction": F} overwrite a sample of keys with random bytes, delete some (default 0.5)
//	service-kill     {"service": NAME, "hold": bool}   SIGKILL every relay instance of a Cloud Run service; restarted
//	                                                   after the repair delay unless hold (then down until service-release
//	                                                   or the next UpdateService)
//	service-release  {"service": NAME}                 end a held service-kill; answers once the instances are ready
//	region-down      {"region": "us-east1",            region outage (see below); "api": "hang" holds the
//	                  "api": "unavailable"|"hang"}     region's API calls unanswered instead of UNAVAILABLE
//	region-up        {"region": "us-east1"}            end it; answers once the region's processes are ready
//	cluster-primary-kill {"cluster": NAME, "shard": N, "hold": bool}  SIGKILL shard N's primary (default 0); its
//	                                                   replica is promoted by the cluster; the node comes back as a
//	                                                   replica after the repair delay unless hold
//	cluster-shard-kill   {"cluster": NAME, "shard": N, "hold": bool}  SIGKILL every node of shard N (its keys are
//	                                                   unavailable until they are back, with what they last saved)
//	cluster-release      {"cluster": NAME}             start the held nodes of a cluster again
//
// An unknown kind answers 400 naming the accepted kinds, an unknown
// instance or service 404.
//
// Regions fail independently (package regions). region-down SIGKILLs every
// process of the region and holds it down: its redis-servers and its relay
// instances; from then on every gRPC request whose name or parent is under
// projects/*/locations/{region} (CloudRedis, Cloud Run, the region's
// operations), and every Compute Engine REST request under
// /compute/v1/projects/*/regions/{region}, answers UNAVAILABLE (HTTP 503)
// with a message naming the region; with "api": "hang" they get no answer
// at all until the caller's deadline or cancellation, as an API that stopped
// responding. The URLs of the region's services are closed: a connection
// to one is refused (ECONNREFUSED), as an unreachable region looks to a
// client. Cloud Storage and other global APIs keep working. region-up
// restarts the region's redis-servers from their data folders (data saved
// before the outage is back), then reopens the service URLs on the same
// ports and restarts the relay instances. A region that is down stays down
// across a localcloud restart (state/regions.json).
//
// Clients reach it with the official Go clients:
//
//	redis.NewCloudRedisClient(ctx,
//		option.WithEndpoint(addr),
//		option.WithoutAuthentication(),
//		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
//	run.NewServicesClient(ctx, ...the same options...)
//	storage.NewClient(ctx, option.WithEndpoint("http://"+addr+"/storage/v1/"), option.WithoutAuthentication())
//
// State (instances, services, operations, the operation log) lives under
// <DataDir>/state and is written atomically; a localcloud started on an
// existing DataDir, even after SIGKILL, brings every instance back with its
// data, every Cloud Run service back on the same URL port (when it is still
// free; relays left running by the killed localcloud are terminated first)
// and keeps every finished operation. Child processes (redis-servers,
// relays) get SIGTERM from the kernel when localcloud dies (Pdeathsig). Layout of DataDir:
//
//	localcloud.lock                 held while a localcloud uses the directory
//	localcloud.addr                 address, written by "localcloud serve"
//	localcloud.token                the admin endpoints' token (owner-only, new at each start)
//	ca/ca.pem, ca/ca-key.pem        the front doors' certificate authority (kept across restarts)
//	state/instances.json            instances with port, pid, data folder, restarts
//	state/instance-auth.json        Memorystore AUTH strings (owner-only)
//	state/clusters.json             Memorystore for Redis Cluster clusters with their nodes' ports, pids, folders
//	state/cluster-tokens.json       access tokens of the clusters with IAM authorization (owner-only)
//	state/access-token.json         localcloud's IAM access token (owner-only)
//	state/run-services.json         Cloud Run services: Service, URL port, revisions, instances with pid
//	state/regions.json              regions that are down, and what their outage stopped
//	state/operations.json           long-running operations
//	state/oplog.json                operation log
//	kms/keys.json                   Cloud KMS key rings, keys and key material (owner-only)
//	gcs/<bucket>/<object>           Cloud Storage objects (fake-gcs-server layout)
//	memorystore/<project>/<region>/<instance>/
//	    dump.rdb                    the instance's data
//	    dump.rdb.before-import      data as it was before the last import
//	    redis.log                   redis-server's log
//	    tls/                        the instance's CA and server certificate (transit encryption)
//	    auth.conf                   requirepass, read by redis-server (owner-only)
//	rediscluster/<project>/<region>/<cluster>/
//	    ca/                         the cluster's CA (transit encryption)
//	    node-N/                     a node: dump.rdb, nodes.conf, redis.log, tls/, auth.conf (owner-only)
//	run/<project>/<region>/<service>/
//	    <instance-id>.log           the relay instance's output
//
// Extending: new fault kinds are registered on Faults(); cross-cutting
// behaviour for the gRPC APIs (such as a region outage) can be added with
// AddUnaryInterceptor; another emulated API is one more Register call in
// Start.
package localcloud

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/compute"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/faults"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/kms"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/memorystore"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/rediscluster"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/regions"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/run"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
	"google.golang.org/grpc"
)

// DefaultListen is the address localcloud listens on when Config.Listen is
// empty.
const DefaultListen = "127.0.0.1:8790"

// ErrRedisServerNotFound is returned when no redis-server binary is found.
var ErrRedisServerNotFound = errors.New("redis-server not found: install it (on Debian/Ubuntu: apt-get install redis-server) or pass its path with --redis-server")

// Config configures a localcloud server.
type Config struct {
	// DataDir holds all state; required.
	DataDir string
	// Listen is host:port; default 127.0.0.1:8790. Port 0 picks a free port.
	Listen string
	// AllowNonLoopback permits a listen address that is not loopback.
	AllowNonLoopback bool
	// RedisServerPath is the redis-server binary; default: looked up in PATH
	// and /usr/bin, /usr/local/bin.
	RedisServerPath string
	Logger          *slog.Logger
	// RepairDelay is how long a crashed redis-server or relay instance stays
	// down before the supervisor restarts it; default 2s.
	RepairDelay time.Duration
	// RelayBinary is the relay binary that runs the agentnet-relay image of
	// Cloud Run services; default: "relay" next to the running executable,
	// then in PATH. If none is found localcloud still starts, and creating a
	// service fails with FAILED_PRECONDITION saying so.
	RelayBinary string
	// RunReadyTimeout bounds how long a Cloud Run instance may take to
	// pass its startup probe before its revision fails; default 60s.
	RunReadyTimeout time.Duration
	// Profile is the timing modelled (profile.Load); default: none, every
	// change live when its operation is done.
	Profile *profile.Profile
}

// Server is a running localcloud.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
	addr string
	http *http.Server
	grpc *grpc.Server
	ops  *operations.Manager
	// timing is the profile in force and the delays it applied.
	timing   *profile.Ledger
	gcs      *storage.Service
	redis    *memorystore.Service
	clusters *rediscluster.Service
	// accessToken is what the metadata server gives Cloud Run relays and
	// clusters with IAM authorization accept (metadata.go).
	accessToken string
	kms         *kms.Service
	run         *run.Service
	// compute is the global load balancer: URL maps and their front doors.
	compute *compute.Service
	region  *regions.Controller
	faults  *faults.Registry
	lock    *os.File
	served  chan struct{}
	// token is what the admin endpoints require (package admin).
	token string

	interceptMu  sync.RWMutex
	interceptors []grpc.UnaryServerInterceptor
	closeErr     error
	once         sync.Once
}

// FindRedisServer returns the redis-server binary to use: path if set (it
// must exist), else redis-server from PATH, /usr/bin or /usr/local/bin.
func FindRedisServer(path string) (string, error) {
	if path != "" {
		p, err := exec.LookPath(path)
		if err != nil {
			return "", fmt.Errorf("redis-server %q: %w; install it (on Debian/Ubuntu: apt-get install redis-server) or pass the right path with --redis-server", path, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", ErrRedisServerNotFound
}

// ErrRelayNotFound is returned when no relay binary is found.
var ErrRelayNotFound = errors.New("relay binary not found: build it (go build -o DIR/relay ./cmd/relay) next to the localcloud binary or in PATH, or pass its path with --relay-binary")

// FindRelayBinary returns the relay binary that runs the agentnet-relay
// image: path if set (it must exist), else "relay" next to the running
// executable, else "relay" in PATH.
func FindRelayBinary(path string) (string, error) {
	if path != "" {
		p, err := exec.LookPath(path)
		if err != nil {
			return "", fmt.Errorf("relay binary %q (--relay-binary): %w; build it with go build -o %s ./cmd/relay", path, err, path)
		}
		return filepath.Abs(p)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "relay")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("relay"); err == nil {
		return filepath.Abs(p)
	}
	return "", ErrRelayNotFound
}

// CheckListen refuses a non-loopback address unless allowNonLoopback.
func CheckListen(addr string, allowNonLoopback bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %v; use host:port, for example %s", addr, err, DefaultListen)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("listen address %q: port %q is not a number 0-65535", addr, port)
	}
	if allowNonLoopback {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		shown := host
		if shown == "" {
			shown = "all interfaces"
		}
		return fmt.Errorf("listen address %q is not a loopback address (%s): localcloud has no authentication, so it only listens on 127.0.0.1 or ::1 unless non-loopback listening is explicitly allowed (--allow-non-loopback)", addr, shown)
	}
	return nil
}

// Start starts localcloud and returns once every API is being served and
// every instance saved in DataDir is back.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("localcloud: DataDir is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.RepairDelay <= 0 {
		cfg.RepairDelay = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if err := CheckListen(cfg.Listen, cfg.AllowNonLoopback); err != nil {
		return nil, err
	}
	redisBin, err := FindRedisServer(cfg.RedisServerPath)
	if err != nil {
		return nil, err
	}
	cfg.RedisServerPath = redisBin
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dataDir
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("localcloud: data dir: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, served: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.abort()
		}
	}()
	if s.lock, err = lockDataDir(dataDir); err != nil {
		return nil, err
	}
	if s.token, err = admin.CreateToken(dataDir); err != nil {
		return nil, fmt.Errorf("localcloud: %w", err)
	}
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("localcloud: listen on %s: %w", cfg.Listen, err)
	}
	s.addr = s.ln.Addr().String()
	// lbSecret marks the requests the load balancer proxies to Cloud Run
	// service URLs (run.LoadBalancerHeader); made anew by each process.
	lbSecret := rand.Text()

	store, err := state.Open(filepath.Join(dataDir, "state"))
	if err != nil {
		return nil, err
	}
	s.timing = profile.NewLedger(cfg.Profile)
	if s.accessToken, err = loadAccessToken(store); err != nil {
		return nil, fmt.Errorf("localcloud: access token: %w", err)
	}
	if s.ops, err = operations.New(store, cfg.Logger.With("component", "operations")); err != nil {
		return nil, err
	}
	if s.gcs, err = storage.New(filepath.Join(dataDir, "gcs"), s.addr, cfg.Logger.With("component", "storage")); err != nil {
		return nil, err
	}
	if s.region, err = regions.New(store); err != nil {
		return nil, err
	}
	relayBin, relayErr := FindRelayBinary(cfg.RelayBinary)
	if relayErr != nil {
		cfg.Logger.Warn("no relay binary: Cloud Run services cannot be created", "err", relayErr)
	}
	// Cloud Run claims its interrupted operations before Memorystore takes
	// the rest; its services are started once the redis-servers are back.
	s.run, err = run.New(run.Config{
		DataDir:        filepath.Join(dataDir, "run"),
		RelayBinary:    relayBin,
		RelayBinaryErr: relayErr,
		RepairDelay:    cfg.RepairDelay,
		ReadyTimeout:   cfg.RunReadyTimeout,
		// The relays reach the Memorystore API here.
		EmulatorHost:       s.addr,
		LoadBalancerSecret: lbSecret,
		Ops:                s.ops,
		State:              store,
		Regions:            s.region,
		Logger:             cfg.Logger,
		Timing:             s.timing,
	})
	if err != nil {
		return nil, err
	}
	s.redis, err = memorystore.New(memorystore.Config{
		DataDir:         filepath.Join(dataDir, "memorystore"),
		RedisServerPath: redisBin,
		RepairDelay:     cfg.RepairDelay,
		Ops:             s.ops,
		Storage:         s.gcs,
		State:           store,
		Logger:          cfg.Logger,
		Timing:          s.timing,
	})
	if err != nil {
		return nil, err
	}
	if s.clusters, err = rediscluster.New(rediscluster.Config{
		DataDir:         filepath.Join(dataDir, "rediscluster"),
		RedisServerPath: redisBin,
		RepairDelay:     cfg.RepairDelay,
		Ops:             s.ops,
		State:           store,
		Logger:          cfg.Logger,
		Timing:          s.timing,
		AccessToken:     s.accessToken,
	}); err != nil {
		return nil, err
	}
	if s.kms, err = kms.New(kms.Config{Dir: filepath.Join(dataDir, "kms"), Log: s.ops}); err != nil {
		return nil, err
	}
	s.run.Start()
	// The front doors' certificate authority: clients trust its ca.pem.
	frontCA, err := pki.LoadOrCreateCA(frontDoorCADir(dataDir), "localcloud front door CA")
	if err != nil {
		return nil, fmt.Errorf("localcloud: front door CA: %w", err)
	}
	if s.compute, err = compute.New(compute.Config{
		DataDir:           filepath.Join(dataDir, "compute"),
		Ops:               s.ops,
		Logger:            cfg.Logger.With("component", "compute"),
		ResolveRunService: s.run.URL,
		RegionAvailable:   s.region.Available,
		CA:                frontCA,
		// What the front doors add to every request they proxy to Cloud Run.
		LoadBalancerSecret: lbSecret,
		Timing:             s.timing,
	}); err != nil {
		return nil, err
	}
	s.region.Register("memorystore", regions.Subsystem{
		Down: func(ctx context.Context, region string) (json.RawMessage, error) {
			names, err := s.redis.StopRegion(region)
			if names == nil {
				names = []string{}
			}
			b, jerr := json.Marshal(names)
			return b, errors.Join(err, jerr)
		},
		Up: func(ctx context.Context, region string, stopped json.RawMessage) error {
			var names []string
			if len(stopped) > 0 {
				if err := json.Unmarshal(stopped, &names); err != nil {
					return err
				}
			}
			return s.redis.StartRegion(names)
		},
	})
	s.region.Register("run", regions.Subsystem{Down: s.run.RegionDown, Up: s.run.RegionUp})
	s.interceptors = append(s.interceptors, s.region.Interceptor())
	if err := s.region.Reassert(ctx); err != nil {
		cfg.Logger.Warn("region outage could not be applied again to every process", "err", err)
	}

	s.faults = faults.NewRegistry()
	s.faults.Before = func(req faults.Request) any {
		target := req.Instance
		if target == "" {
			target = req.Region
		}
		if target == "" {
			target, _ = req.String("service")
		}
		if target == "" {
			target, _ = req.String("cluster")
		}
		return s.ops.BeginEvent("localcloud.Fault."+req.Kind, target)
	}
	s.faults.After = func(req faults.Request, token any, result any, err error) {
		outcome := "OK"
		if err != nil {
			outcome = "FAILED: " + err.Error()
		} else if b, jerr := json.Marshal(result); jerr == nil {
			outcome = "OK: " + string(b)
		}
		seq, ok := token.(int64)
		if !ok {
			s.log.Error("localcloud: fault event not ended: Before returned no event", "kind", req.Kind, "token", token)
			return
		}
		s.ops.EndEvent(seq, outcome)
	}
	registerRedisFaults(s.faults, s.redis)
	registerClusterFaults(s.faults, s.clusters)
	registerRunFaults(s.faults, s.run)
	registerRegionFaults(s.faults, s.region, s.run.WaitRegion)

	s.grpc = grpc.NewServer(grpc.ChainUnaryInterceptor(s.intercept))
	redispb.RegisterCloudRedisServer(s.grpc, s.redis)
	clusterpb.RegisterCloudRedisClusterServer(s.grpc, s.clusters)
	runpb.RegisterServicesServer(s.grpc, s.run)
	longrunningpb.RegisterOperationsServer(s.grpc, s.ops.Server())
	kmspb.RegisterKeyManagementServiceServer(s.grpc, s.kms)

	mux := http.NewServeMux()
	mux.HandleFunc(metadataTokenPath, s.handleMetadataToken)
	mux.HandleFunc("/_localcloud/health", s.handleHealth)
	mux.HandleFunc("/_localcloud/oplog", s.handleOplog)
	mux.HandleFunc("/_localcloud/instances", s.handleInstances)
	mux.HandleFunc("/_localcloud/clusters", s.handleClusters)
	mux.HandleFunc("/_localcloud/cluster-token", s.handleClusterToken)
	mux.HandleFunc("/_localcloud/services", s.handleServices)
	mux.HandleFunc("/_localcloud/regions", s.handleRegions)
	mux.HandleFunc("/_localcloud/delays", s.handleDelays)
	mux.Handle("/_localcloud/compute", s.compute.AdminHandler())
	mux.HandleFunc("/_localcloud/ca.pem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(frontCA.PEM) // a failed write means the client left
	})
	mux.Handle("/compute/v1/", s.region.HoldHTTP(s.compute.Handler()))
	mux.Handle("/_localcloud/faults", s.faults)
	mux.HandleFunc("/_localcloud/", func(w http.ResponseWriter, r *http.Request) {
		admin.WriteJSON(w, http.StatusNotFound, map[string]any{"error": "unknown admin path " + r.URL.Path,
			"paths": []string{"/_localcloud/health", "/_localcloud/oplog", "/_localcloud/instances", "/_localcloud/clusters", "/_localcloud/cluster-token", "/_localcloud/services", "/_localcloud/regions", "/_localcloud/compute", "/_localcloud/ca.pem", "/_localcloud/faults", "/_localcloud/delays"}})
	})
	s.gcs.OnMutation = func(m storage.Mutation) {
		outcome := "OK"
		if m.Status >= 300 {
			outcome = fmt.Sprintf("HTTP %d: %s", m.Status, m.Message)
		}
		s.ops.Call(m.Method, m.Resource, outcome)
	}
	mux.Handle("/", s.gcs.Handler())

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s.http = &http.Server{
		Handler: s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
				s.grpc.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})),
		Protocols:         &protocols,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.served)
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	ok = true
	s.log.Info("localcloud listening", "addr", s.addr, "data_dir", dataDir, "redis_server", redisBin, "relay", relayBin)
	return s, nil
}

// abort releases what a failed Start acquired.
func (s *Server) abort() {
	if s.compute != nil {
		s.compute.Close()
	}
	if s.run != nil {
		s.run.Close()
	}
	if s.redis != nil {
		s.redis.Close()
	}
	if s.clusters != nil {
		s.clusters.Close()
	}
	if s.ops != nil {
		s.ops.Close()
	}
	if s.gcs != nil {
		s.gcs.Close()
	}
	if s.ln != nil {
		s.ln.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
}

func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "localcloud.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localcloud: lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("localcloud: data dir %s is in use by another localcloud (pid %s)", dir, strings.TrimSpace(string(b)))
	}
	// The pid names the holder in another localcloud's refusal.
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("localcloud: write pid to %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("localcloud: write pid to %s: %w", path, err)
	}
	return f, nil
}

// Addr is the host:port localcloud listens on.
func (s *Server) Addr() string { return s.addr }

// DataDir is the absolute data directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// FrontDoorCAPath is the certificate of the front doors' certificate
// authority (also served at /_localcloud/ca.pem).
func (s *Server) FrontDoorCAPath() string { return pki.CertPath(frontDoorCADir(s.cfg.DataDir)) }

// frontDoorCADir is where the front doors' certificate authority is kept.
func frontDoorCADir(dataDir string) string { return filepath.Join(dataDir, "ca") }

// Faults is the fault registry; more kinds can be registered on it.
func (s *Server) Faults() *faults.Registry { return s.faults }

// Operations is the long-running operations manager and operation log.
func (s *Server) Operations() *operations.Manager { return s.ops }

// Memorystore is the CloudRedis service.
func (s *Server) Memorystore() *memorystore.Service { return s.redis }

// RedisClusters is the Memorystore for Redis Cluster service.
func (s *Server) RedisClusters() *rediscluster.Service { return s.clusters }

// Run is the Cloud Run Services service.
func (s *Server) Run() *run.Service { return s.run }

// Regions tracks which regions are down.
func (s *Server) Regions() *regions.Controller { return s.region }

// Storage is the embedded Cloud Storage.
func (s *Server) Storage() *storage.Service { return s.gcs }

// Timing is the profile in force and the delays it applied.
func (s *Server) Timing() *profile.Ledger { return s.timing }

// AddUnaryInterceptor adds an interceptor in front of every gRPC method
// (for example to answer UNAVAILABLE for a region that is down). It may be
// called while serving; interceptors run in the order they were added.
func (s *Server) AddUnaryInterceptor(i grpc.UnaryServerInterceptor) {
	s.interceptMu.Lock()
	defer s.interceptMu.Unlock()
	s.interceptors = append(s.interceptors, i)
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	s.interceptMu.RLock()
	chain := append([]grpc.UnaryServerInterceptor(nil), s.interceptors...)
	s.interceptMu.RUnlock()
	h := handler
	for i := len(chain) - 1; i >= 0; i-- {
		next, ic := h, chain[i]
		h = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, next) }
	}
	return h(ctx, req)
}

// GRPCServer is the gRPC server serving every emulated API.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Close stops serving, then saves and stops every redis-server and persists
// the state. It is safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			s.log.Warn("localcloud: requests still running at shutdown, closing their connections", "err", err)
			s.http.Close()
		}
		s.grpc.Stop()
		<-s.served
		s.ops.Close() // cancels running operations
		s.compute.Close()
		s.run.Close() // relays first: they use the redis-servers
		err := errors.Join(s.redis.Close(), s.clusters.Close())
		s.gcs.Close()
		s.lock.Close()
		s.closeErr = err
		s.log.Info("localcloud stopped", "addr", s.addr)
	})
	return s.closeErr
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	admin.WriteJSON(w, http.StatusOK, admin.Health{Status: "ok", Addr: s.addr, PID: os.Getpid(), DataDir: s.cfg.DataDir})
}

func (s *Server) handleOplog(w http.ResponseWriter, r *http.Request) {
	log := s.ops.Oplog()
	if v := r.URL.Query().Get("since"); v != "" {
		since, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			admin.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "since: must be an integer sequence number"})
			return
		}
		i := 0
		for i < len(log) && log[i].Seq <= since {
			i++
		}
		log = log[i:]
	}
	if log == nil {
		log = []operations.LogEntry{}
	}
	admin.WriteJSON(w, http.StatusOK, log)
}

func (s *Server) handleInstances(w http.ResponseWriter, r *http.Request) {
	admin.WriteJSON(w, http.StatusOK, s.redis.Statuses())
}

func (s *Server) handleServices(w http.ResponseWriter, r *http.Request) {
	admin.WriteJSON(w, http.StatusOK, s.run.Statuses())
}

func (s *Server) handleRegions(w http.ResponseWriter, r *http.Request) {
	admin.WriteJSON(w, http.StatusOK, map[string]any{"down": s.region.Down(), "api": s.region.APIs()})
}

func (s *Server) handleDelays(w http.ResponseWriter, r *http.Request) {
	admin.WriteJSON(w, http.StatusOK, s.timing.Status())
}

func registerRunFaults(reg *faults.Registry, rs *run.Service) {
	target := func(req faults.Request) (string, error) {
		name, err := req.String("service")
		if err != nil {
			return "", err
		}
		if name == "" {
			return "", fmt.Errorf("%w: %q needs \"service\": projects/{project}/locations/{region}/services/{id}", faults.ErrInvalid, req.Kind)
		}
		return name, nil
	}
	notFound := func(err error) error {
		if errors.Is(err, run.ErrNotFound) {
			return fmt.Errorf("%w: %v", faults.ErrNotFound, err)
		}
		return err
	}
	reg.Register("service-kill", "SIGKILL every instance of a Cloud Run service (WebSocket server failure); they are restarted after the repair delay unless \"hold\": true, which keeps them down until service-release or the next UpdateService",
		func(ctx context.Context, req faults.Request) (any, error) {
			name, err := target(req)
			if err != nil {
				return nil, err
			}
			hold, err := req.Bool("hold")
			if err != nil {
				return nil, err
			}
			res, err := rs.Kill(name, hold)
			return res, notFound(err)
		})
	reg.Register("service-release", "end a held service-kill: start the service's instances now (answers once they are ready)",
		func(ctx context.Context, req faults.Request) (any, error) {
			name, err := target(req)
			if err != nil {
				return nil, err
			}
			msg, err := rs.Release(ctx, name)
			return map[string]string{"message": msg}, notFound(err)
		})
}

// registerRegionFaults registers region-down and region-up; afterUp waits
// for what a region restarts once its APIs answer again (relay instances).
func registerRegionFaults(reg *faults.Registry, rc *regions.Controller, afterUp func(ctx context.Context, region string) error) {
	target := func(req faults.Request) error {
		if req.Region == "" {
			return fmt.Errorf("%w: %q needs \"region\", for example us-east1", faults.ErrInvalid, req.Kind)
		}
		if !regions.ValidRegion(req.Region) {
			return fmt.Errorf("%w: \"region\": %q is not a region name (for example us-east1)", faults.ErrInvalid, req.Region)
		}
		return nil
	}
	reg.Register("region-down", "region outage: SIGKILL every process of the region (redis-servers, relay instances) and hold them down; the region's APIs answer UNAVAILABLE (\"api\": \"unavailable\", the default) or hang without answering until the caller gives up (\"api\": \"hang\"), and its service URLs refuse connections; global APIs keep working",
		func(ctx context.Context, req faults.Request) (any, error) {
			if err := target(req); err != nil {
				return nil, err
			}
			api, err := req.String("api")
			if err != nil {
				return nil, err
			}
			mode, err := regions.ParseAPIMode(api)
			if err != nil {
				return nil, fmt.Errorf("%w: \"api\": %v", faults.ErrInvalid, err)
			}
			return rc.SetDownAPI(ctx, req.Region, mode)
		})
	reg.Register("region-up", "end a region outage: restart the region's redis-servers from their data folders, then its relay instances; answers once they are ready",
		func(ctx context.Context, req faults.Request) (any, error) {
			if err := target(req); err != nil {
				return nil, err
			}
			res, err := rc.SetUp(ctx, req.Region)
			if err != nil {
				return res, err
			}
			return res, afterUp(ctx, req.Region)
		})
}

func registerRedisFaults(reg *faults.Registry, ms *memorystore.Service) {
	target := func(req faults.Request) error {
		if req.Instance == "" {
			return fmt.Errorf("%w: %q needs \"instance\": projects/{project}/locations/{region}/instances/{id}", faults.ErrInvalid, req.Kind)
		}
		return nil
	}
	notFound := func(err error) error {
		if errors.Is(err, memorystore.ErrNotFound) {
			return fmt.Errorf("%w: %v", faults.ErrNotFound, err)
		}
		return err
	}
	reg.Register("redis-kill", "SIGKILL the instance's redis-server (Redis failure); the supervisor repairs it after the repair delay unless \"hold\": true, which keeps it down until redis-release",
		func(ctx context.Context, req faults.Request) (any, error) {
			if err := target(req); err != nil {
				return nil, err
			}
			hold, err := req.Bool("hold")
			if err != nil {
				return nil, err
			}
			res, err := ms.Kill(req.Instance, hold)
			return res, notFound(err)
		})
	reg.Register("redis-release", "end a held redis-kill: restart the instance's redis-server from its last snapshot now",
		func(ctx context.Context, req faults.Request) (any, error) {
			if err := target(req); err != nil {
				return nil, err
			}
			msg, err := ms.Release(req.Instance)
			return map[string]string{"message": msg}, notFound(err)
		})
	reg.Register("redis-corrupt", "data corruption: overwrite a sample of keys (\"fraction\", default 0.5) with random bytes and delete a quarter of the sample",
		func(ctx context.Context, req faults.Request) (any, error) {
			if err := target(req); err != nil {
				return nil, err
			}
			f, err := req.Float("fraction", 0.5)
			if err != nil {
				return nil, err
			}
			if f <= 0 || f > 1 {
				return nil, fmt.Errorf("%w: \"fraction\" must be in (0, 1], got %v", faults.ErrInvalid, f)
			}
			res, err := ms.Corrupt(ctx, req.Instance, f)
			return res, notFound(err)
		})
}
