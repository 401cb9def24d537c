// Package run emulates Cloud Run Admin API v2 services
// (google.cloud.run.v2.Services) for localcloud. The Google Cloud rules it
// enforces, and the pages they come from, are listed in
// docs/gcp-fidelity.md.
//
// The package is split by concern: api.go (the RPCs), service.go (types and
// helpers), persist.go (state, start and shutdown), instances.go
// (reconciliation: rollouts, scaling, supervision), process.go (relay
// processes), probes.go (startup, liveness and readiness probes),
// serviceurl.go and access.go (the service URL and who may use it), faults.go
// (faults and GET /_localcloud/services), validate.go (request checks).
//
// Image mapping: localcloud runs no container engine. A service's first
// container (the ingress container) must use the agentnet relay image: any image whose last path
// element, without tag or digest, is "agentnet-relay"
// (us-docker.pkg.dev/PROJECT/agentnet/agentnet-relay:1.4, agentnet-relay:dev,
// ...@sha256:...). Each instance of such a service is a relay process
// started from the relay binary (Config.RelayBinary). Any other image is
// refused with INVALID_ARGUMENT on template.containers[0].image. Sidecars
// (containers.go) are checked as Cloud Run checks them, kept in the revision
// and logged as not run.
//
// Environment: each instance gets the container's env plus what Cloud Run
// sets: PORT (a free loopback port; container_port is echoed but not used),
// K_SERVICE, K_REVISION, K_CONFIGURATION; and what localcloud adds:
// LISTEN_HOST=127.0.0.1, INSTANCE_ID (the instance id shown by
// GET /_localcloud/services), OPS_PORT (a free loopback port, listed as
// ops_port: instances share one host, so the relay's default 9090 cannot
// be used), AGENTNET_EMULATOR_HOST (localcloud's own address: the relay
// reaches the Memorystore API there, as a real instance reaches
// redis.googleapis.com with its service account), GCE_METADATA_HOST (the
// same address: localcloud's metadata server gives the service identity's
// access token, which a Memorystore for Redis Cluster with IAM
// authorization accepts), LOCALCLOUD_VPC_NETWORK
// (the Direct VPC egress network, template.vpc_access.network_interfaces[0]
// .network as projects/P/global/networks/N, empty without one: Memorystore's
// gates admit a relay only from its instance's authorized network) and the
// LOCALCLOUD_RUN_INSTANCE marker.
//
// Probes: the container's startup probe decides when an instance is
// ready (HTTP GET answering 200-399, or a TCP connect); without one, Cloud
// Run's default TCP startup probe applies. A liveness probe restarts an
// instance after failure_threshold failures in a row; a readiness probe
// takes an instance out of rotation while it fails. Without them an
// instance serves until it exits.
//
// Each service has a service URL, http://127.0.0.1:PORT (the port is
// chosen at creation and kept across localcloud restarts when it is still
// free): a reverse proxy (WebSocket upgrades included) that sends each new
// connection or request to the next ready instance of the serving revision,
// round robin, and answers 503 when none is ready. Before it proxies, it
// applies Google's front end rules (access.go): a path ending in "z" gets
// 404; with ingress INTERNAL_ONLY or INTERNAL_LOAD_BALANCER, or
// default_uri_disabled, a request that did not come through localcloud's
// load balancer gets 404; without invoker_iam_disabled every request gets
// 403 (localcloud grants no invoker role). The load balancer marks what it
// proxies with the header X-Localcloud-Load-Balancer carrying a secret made
// per localcloud process (Config.LoadBalancerSecret); the header never
// reaches a relay. Responses carry the instance in the header
// X-Localcloud-Instance; the last connections routed are listed by
// Statuses.
//
// Instances: service-level scaling (scaling.manual_instance_count in MANUAL
// mode, else scaling.min_instance_count) if set, else
// template.scaling.min_instance_count; at least 1; at most the service-level
// or revision max_instance_count (default 100). A change of the template (or
// force_new_revision) creates a new revision: its instances are started,
// once all pass their startup probe the service URL switches to them, then
// the old ones get SIGTERM (the relay closes its agents with 1001 and they
// reconnect) and SIGKILL 10 s later if still running, as Cloud Run does
// (timing.go). The operation is done only when the new revision serves. If
// the new revision does not become ready the old one keeps serving and the
// operation fails with FAILED_PRECONDITION. A change of the service-level
// scaling only adds or removes instances of the serving revision. A crashed
// instance is restarted after the repair delay. A timing profile adds its
// revision deploy time before a new revision's instances start, its
// scale-up time before added instances start, and a cold start before each
// instance starts.
//
// Updates: UpdateService honours update_mask (top-level fields; an empty
// mask replaces every user-settable field) and etag (a stale one gets
// ABORTED). The etag changes with every change of the service.
//
// Faults (registered by localcloud): Kill (service-kill) SIGKILLs every
// instance, restarted after the repair delay unless held; Release
// (service-release) ends a hold, as does the next UpdateService. In a region
// outage (RegionDown) every instance of the region's services is SIGKILLed
// and held down and their service URLs are closed: connecting is refused
// (ECONNREFUSED) until RegionUp reopens them on the same port and restarts
// the instances.
//
// State (package state, document run-services): each Service, its URL
// port, its serving revision and its instances with their pids. New loads it
// and claims the interrupted Cloud Run operations; Start terminates relays
// left by a previous localcloud (recognised by the LOCALCLOUD_RUN_INSTANCE
// variable in their environment), reopens the service URLs and restarts the
// instances, then finishes those operations.
package run
