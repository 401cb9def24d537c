package resources_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
)

const relayImage = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay"

// relayEnv is env plus the relay's dev keys, for tests that run relays.
type relayEnv struct {
	*env
	keys *auth.DevKeys
	// redisTLSAuth gives every Redis instance AUTH and in-transit
	// encryption, as the modules do.
	redisTLSAuth bool
}

func newRelayEnv(t *testing.T) *relayEnv { return relayEnvOf(t, newEnv(t)) }

func relayEnvOf(t *testing.T, e *env) *relayEnv {
	keys, err := auth.LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &relayEnv{env: e, keys: keys}
}

func (e *relayEnv) token(t testing.TB, subject string) client.TokenSource {
	tok, err := e.keys.Token(subject, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return client.StaticToken(tok)
}

// regionHCL declares one region: its Redis instance and a public relay
// service (agents authenticate with relay tokens) egressing into the
// Redis's network.
func (e *relayEnv) regionHCL(region, tag string, minInstances int, peers string, extra string) string {
	return e.regionHCLWith(region, tag, minInstances, peers, extra, "invoker_iam_disabled = true")
}

// regionHCLWith is regionHCL with the service's access settings given.
func (e *relayEnv) regionHCLWith(region, tag string, minInstances int, peers, extra, access string) string {
	return fmt.Sprintf(`
resource "agentnet_redis_instance" "%[1]s" {
  name           = "relay-%[1]s"
  region         = %[2]q
  memory_size_gb = 1
  redis_configs  = { "maxmemory-policy" = "noeviction" }
  %[10]s
}

resource "agentnet_relay_service" "%[1]s" {
  name                 = "relay"
  region               = %[2]q
  image                = "%[3]s:%[4]s"
  redis_instance       = agentnet_redis_instance.%[1]s.id
  peer_redis_instances = %[5]s
  min_instances        = %[6]d
  vpc_network          = "default"
  %[9]s
  env = {
    RELAY_DEV_KEYS = %[7]q
    %[8]s
  }
}
`, regionKey(region), region, relayImage, tag, peers, minInstances, e.keys.Dir, extra, access, e.redisSecurity())
}

// redisSecurity is the Redis instances' AUTH and TLS settings.
func (e *relayEnv) redisSecurity() string {
	if !e.redisTLSAuth {
		return ""
	}
	return `auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"`
}

// regionKey names a region's resources in test configurations:
// us-central1 -> us, europe-west1 -> europe.
func regionKey(region string) string {
	key, _, _ := strings.Cut(region, "-")
	return key
}

func (e *relayEnv) twoRegions(tag string, minUS int, extra string) string {
	return e.config(
		e.regionHCL("us-central1", tag, minUS, "[agentnet_redis_instance.europe.id]", extra) +
			e.regionHCL("europe-west1", tag, 1, "[agentnet_redis_instance.us.id]", ""))
}

func serviceURL(s *terraform.State, address string) (string, error) {
	rs, ok := s.RootModule().Resources[address]
	if !ok {
		return "", fmt.Errorf("%s not in state", address)
	}
	return rs.Primary.Attributes["url"], nil
}

// stream sends numbered envelopes from one agent to another until stopped,
// and checks that every acknowledged one arrives exactly once.
type stream struct {
	t        testing.TB
	from, to *client.Client
	stop     chan struct{}
	done     sync.WaitGroup
	mu       sync.Mutex
	acked    map[string]bool
	received map[string]int
}

func startStream(t testing.TB, from, to *client.Client) *stream {
	s := &stream{t: t, from: from, to: to, stop: make(chan struct{}), acked: map[string]bool{}, received: map[string]int{}}
	s.done.Add(2)
	go func() {
		defer s.done.Done()
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			id, err := from.Send(ctx, to.Address(), fmt.Sprintf("m-%06d", i), []byte("ciphertext"))
			cancel()
			if err == nil {
				s.mu.Lock()
				s.acked[id] = true
				s.mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() {
		defer s.done.Done()
		for env := range to.Receive() {
			s.mu.Lock()
			s.received[env.ID]++
			s.mu.Unlock()
		}
	}()
	return s
}

// finish stops sending, waits for every acked envelope and checks each
// arrived exactly once.
func (s *stream) finish() error {
	close(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		missing := 0
		for id := range s.acked {
			if s.received[id] == 0 {
				missing++
			}
		}
		acked := len(s.acked)
		s.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d acknowledged messages never arrived", missing, acked)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.from.Close()
	s.to.Close()
	s.done.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, n := range s.received {
		if n != 1 {
			return fmt.Errorf("message %s arrived %d times at the application", id, n)
		}
	}
	if len(s.acked) < 10 {
		return fmt.Errorf("only %d messages were acknowledged while the stream ran", len(s.acked))
	}
	s.t.Logf("stream: %d messages acknowledged, every one received exactly once", len(s.acked))
	return nil
}

// The WebSocket Server Recovery procedure as applies, across two regions.
func TestAccRelayService_twoRegions(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	var rolling *stream
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{ // two regions; agents on each exchange messages across them
				Config: e.twoRegions("1.0", 1, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "ready", "true"),
					func(s *terraform.State) error {
						redis := s.RootModule().Resources["agentnet_redis_instance.us"].Primary.Attributes
						got := s.RootModule().Resources["agentnet_relay_service.us"].Primary.Attributes["redis_address"]
						if want := redis["host"] + ":" + redis["port"]; got != want {
							return fmt.Errorf("redis_address %q, want %q", got, want)
						}
						return nil
					},
					func(s *terraform.State) error {
						usURL, _ := serviceURL(s, "agentnet_relay_service.us")
						euURL, _ := serviceURL(s, "agentnet_relay_service.europe")
						alice, err := client.Dial(ctx, []string{usURL}, e.token(t, "alice"))
						if err != nil {
							return fmt.Errorf("alice via %s: %w", usURL, err)
						}
						bob, err := client.Dial(ctx, []string{euURL}, e.token(t, "bob"))
						if err != nil {
							return fmt.Errorf("bob via %s: %w", euURL, err)
						}
						rolling = startStream(t, alice, bob)
						return nil
					},
				),
			},
			{ // an env change rolls a new revision while alice keeps sending
				Config: e.twoRegions("1.0", 1, `LOG_LEVEL = "debug"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_relay_service.us", plancheck.ResourceActionUpdate),
				}},
				Check: func(s *terraform.State) error {
					st := e.lc.Service(t, serviceID("us-central1"))
					if st.ServingRevision != s.RootModule().Resources["agentnet_relay_service.us"].Primary.Attributes["latest_ready_revision"] {
						return fmt.Errorf("localcloud serves %s, state says %s", st.ServingRevision, s.RootModule().Resources["agentnet_relay_service.us"].Primary.Attributes["latest_ready_revision"])
					}
					return rolling.finish()
				},
			},
			{ // min instances 1 -> 3 without a new revision
				Config: e.twoRegions("1.0", 3, `LOG_LEVEL = "debug"`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "min_instances", "3"),
					func(s *terraform.State) error {
						st := e.lc.Service(t, serviceID("us-central1"))
						ready := 0
						for _, in := range st.Instances {
							if in.Ready {
								ready++
							}
						}
						if ready != 3 {
							return fmt.Errorf("%d ready instances, want 3: %+v", ready, st.Instances)
						}
						return nil
					},
				),
			},
			{
				ResourceName:            "agentnet_relay_service.us",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
			{ // the service deleted behind Terraform's back comes back with the apply
				PreConfig: func() {
					op, err := e.clients.Run.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: serviceID("europe-west1")})
					if err == nil {
						_, err = gcpclient.Wait(ctx, op)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: e.twoRegions("1.0", 3, `LOG_LEVEL = "debug"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_relay_service.europe", plancheck.ResourceActionCreate),
				}},
				Check: resource.TestCheckResourceAttr("agentnet_relay_service.europe", "ready", "true"),
			},
		},
	})
}

func serviceID(region string) string {
	return fmt.Sprintf("projects/%s/locations/%s/services/relay", testProject, region)
}

// WebSocket server failure: every instance killed. localcloud restarts them
// as Cloud Run does; held down, the next apply redeploys the service.
func TestAccRelayService_serverFailureDrill(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	one := e.config(e.regionHCL("us-central1", "1.0", 2, "null", ""))
	var faultAt time.Time
	probe := func() error {
		st := e.lc.Service(t, serviceID("us-central1"))
		_, err := client.Probe(ctx, st.URI, e.token(t, "probe"))
		return err
	}
	waitHealthy := func(what string, start time.Time) error {
		for time.Since(start) < 30*time.Second {
			if probe() == nil {
				t.Logf("WebSocket server failure drill: %s restored service in %v", what, time.Since(start).Round(time.Millisecond))
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("%s did not restore service within 30s", what)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: one,
				Check: func(*terraform.State) error {
					start := time.Now()
					e.lc.FaultService(t, "service-kill", serviceID("us-central1"), nil)
					return waitHealthy("localcloud's restart", start)
				},
			},
			{
				PreConfig: func() {
					faultAt = time.Now()
					e.lc.FaultService(t, "service-kill", serviceID("us-central1"), map[string]any{"hold": true})
					if probe() == nil {
						t.Fatal("service still answers with every instance held down")
					}
				},
				// Cloud Run keeps a service Ready while its instances crash,
				// and the provider reads readiness from the API, not from the
				// service URL: the procedure is a redeploy from code.
				Config: e.config(e.regionHCL("us-central1", "1.1", 2, "null", "")),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_relay_service.us", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error { return waitHealthy("tofu plan and apply (fault to service)", faultAt) },
			},
		},
	})
}

// Bad input is refused with the attribute named, and nothing is created.
func TestAccRelayService_invalidInput(t *testing.T) {
	e := newRelayEnv(t)
	base := e.regionHCL("us-central1", "1.0", 1, "null", "")
	usRedis := `
resource "agentnet_redis_instance" "us" {
  name           = "relay-us"
  region         = "us-central1"
  memory_size_gb = 1
  redis_configs  = { "maxmemory-policy" = "noeviction" }
}
`
	svc := func(attrs string) string {
		return e.config(usRedis + `
resource "agentnet_relay_service" "bad" {
  name   = "bad"
  region = "us-central1"
` + attrs + "\n}\n")
	}
	ok := `image = "` + relayImage + `:1"
  redis_instance = agentnet_redis_instance.us.id
`
	// A Redis on another network beside the region's.
	otherNetwork := func(extra string) string {
		return e.config(usRedis + `
resource "agentnet_redis_instance" "other" {
  name               = "other-net"
  region             = "us-central1"
  memory_size_gb     = 1
  authorized_network = "projects/agentnet-test/global/networks/other"
}
` + extra)
	}
	const otherCluster = `
resource "agentnet_redis_cluster" "other" {
  name                        = "other-net"
  region                      = "us-central1"
  shard_count                 = 1
  replica_count               = 0
  network                     = "projects/agentnet-test/global/networks/other"
  deletion_protection_enabled = false
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: svc(ok + "min_instances = 4\nmax_instances = 2"), PlanOnly: true,
				ExpectError: errorText("min_instances above max_instances", "min_instances (4) must not exceed max_instances (2)")},
			{Config: svc(ok + "min_instances = -1"), PlanOnly: true,
				ExpectError: errorText("Attribute min_instances value must be at least 0, got: -1")},
			{Config: svc(ok + `env = { REDIS_ADDR = "x" }`), PlanOnly: true,
				ExpectError: errorText(`env`, `value must be none of`)},
			{Config: svc(ok + `env = { REDIS_PASSWORD = "secret" }`), PlanOnly: true,
				ExpectError: errorText(`env`, `value must be none of`)},
			{Config: svc(ok + `env = { K_SERVICE = "x" }`), PlanOnly: true,
				ExpectError: errorText(`env`, `must not start with K_`)},
			{Config: svc(ok + `ingress = "INTERNAL"`), PlanOnly: true,
				ExpectError: errorText(`ingress`, `INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER`)},
			{Config: svc(ok + `service_account = "relay"`), PlanOnly: true,
				ExpectError: errorText(`service_account`, `must be a service account email`)},
			{Config: svc(`image = "nginx:latest"
  vpc_network = "default"
  redis_instance = agentnet_redis_instance.us.id`),
				ExpectError: errorText("image", "localcloud runs only the agentnet-relay image")},
			{Config: svc(`image = "` + relayImage + `:1"
  redis_instance = "projects/agentnet-test/locations/us-central1/instances/nope"`),
				ExpectError: errorText("Redis instance not found", "redis_instance", "instances/nope does not exist")},
			{Config: svc(`image = "` + relayImage + `:1"
  redis_instance = "projects/agentnet-test/locations/us-central1/clusters/nope"`),
				ExpectError: errorText("Redis instance not found", "redis_instance", "clusters/nope does not exist")},
			{Config: svc(`image = "` + relayImage + `:1"
  redis_instance = "projects/agentnet-test/locations/europe-west1/instances/relay-eu"`), PlanOnly: true,
				ExpectError: errorText("Redis instance in another region", "redis_instance is in europe-west1 but the service is in us-central1")},
			{Config: svc(`image = "` + relayImage + `:1"
  redis_instance = "relay-us"`), PlanOnly: true,
				ExpectError: errorText("redis_instance", "must be a Memorystore instance id", "projects/PROJECT/locations/REGION/instances/NAME",
					"or a Memorystore for Redis Cluster id", "projects/PROJECT/locations/REGION/clusters/NAME")},
			{Config: svc(`image = "` + relayImage + `:1"
  redis_instance = "projects/agentnet-test/locations/europe-west1/clusters/relay-eu"`), PlanOnly: true,
				ExpectError: errorText("Redis instance in another region", "redis_instance is in europe-west1 but the service is in us-central1")},
			// Networks: a relay without Direct VPC egress, or egressing into
			// another network than the Redis's authorized one, could not
			// connect; the plan says so.
			{Config: svc(ok), PlanOnly: true,
				ExpectError: errorText("Relay service without a VPC network", "relay-us is reachable only from network",
					"projects/agentnet-test/global/networks/default")},
			{Config: otherNetwork("")},
			{Config: otherNetwork(`
resource "agentnet_relay_service" "bad" {
  name           = "bad"
  region         = "us-central1"
  image          = "` + relayImage + `:1"
  vpc_network    = "default"
  redis_instance = agentnet_redis_instance.other.id
}`), PlanOnly: true,
				ExpectError: errorText("Redis instance on another network", "redis_instance",
					"reachable only from network projects/agentnet-test/global/networks/other",
					"vpc_network is projects/agentnet-test/global/networks/default")},
			// A cluster's network is its PSC network.
			{Config: otherNetwork(otherCluster)},
			{Config: otherNetwork(otherCluster + `
resource "agentnet_relay_service" "bad" {
  name           = "bad"
  region         = "us-central1"
  image          = "` + relayImage + `:1"
  vpc_network    = "default"
  redis_instance = agentnet_redis_cluster.other.id
}`), PlanOnly: true,
				ExpectError: errorText("Redis instance on another network", "redis_instance", "clusters/other-net",
					"reachable only from network projects/agentnet-test/global/networks/other",
					"vpc_network is projects/agentnet-test/global/networks/default")},
			{
				Config: e.config(base),
				Check: func(*terraform.State) error {
					e.lc.FaultRegion(t, "region-down", "us-central1")
					return nil
				},
			},
			{
				Config:      e.config(e.regionHCL("us-central1", "2.0", 1, "null", "")),
				ExpectError: errorText("unavailable", "us-central1"),
			},
			{
				PreConfig: func() { e.lc.FaultRegion(t, "region-up", "us-central1") },
				Config:    e.config(base),
			},
		},
	})
}

// Cloud Run's access rules, as localcloud enforces them on the service URL:
// without invoker_iam_disabled a valid relay token still gets 403 (agents
// have no Google identity); with it the WebSocket upgrade gets 101; with
// ingress internal-and-load-balancing the service URL refuses a direct
// WebSocket (the failover group's front door serves it); a path ending in
// z is Google's, never the relay's.
func TestAccRelayService_access(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	cfg := func(access string) string {
		return e.config(e.regionHCLWith("us-central1", "1.0", 1, "null", "", access))
	}
	tok, err := e.keys.Token("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	upgrade := func(s *terraform.State, want int, fromInstance bool) error {
		url, err := serviceURL(s, "agentnet_relay_service.us")
		if err != nil {
			return err
		}
		code, inst := localcloudtest.UpgradeStatus(t, url+"/ws", tok, nil)
		if code != want || (inst != "") != fromInstance {
			return fmt.Errorf("WebSocket upgrade with a valid relay token: %d from instance %q, want %d (from an instance: %v)", code, inst, want, fromInstance)
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg(""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "invoker_iam_disabled", "false"),
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "ingress", "INGRESS_TRAFFIC_ALL"),
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "ready", "true"),
					func(s *terraform.State) error { return upgrade(s, http.StatusForbidden, false) },
				),
			},
			{
				Config: cfg("invoker_iam_disabled = true"),
				Check: resource.ComposeAggregateTestCheckFunc(
					func(s *terraform.State) error { return upgrade(s, http.StatusSwitchingProtocols, true) },
					func(s *terraform.State) error {
						url, _ := serviceURL(s, "agentnet_relay_service.us")
						if _, err := client.Probe(ctx, url, e.token(t, "probe")); err != nil {
							return fmt.Errorf("relay round trip through the service URL: %w", err)
						}
						for _, p := range []string{"/readyz", "/healthz"} {
							code, inst := localcloudtest.UpgradeStatus(t, url+p, tok, nil)
							if code != http.StatusNotFound || inst != "" {
								return fmt.Errorf("GET %s: %d from instance %q, want 404 from Google's front end", p, code, inst)
							}
						}
						return nil
					},
				),
			},
			{
				Config: cfg("invoker_iam_disabled = true\n  ingress = \"INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER\""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "ingress", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"),
					func(s *terraform.State) error { return upgrade(s, http.StatusNotFound, false) },
					func(s *terraform.State) error {
						url, _ := serviceURL(s, "agentnet_relay_service.us")
						if _, err := client.Probe(ctx, url, e.token(t, "probe")); err == nil {
							return fmt.Errorf("a direct relay round trip succeeded with ingress internal-and-load-balancing")
						}
						return nil
					},
				),
			},
		},
	})
}

// An update writes only what the resource manages (update mask, etag): a
// label another writer set through the Cloud Run API stays. The ownership
// marker is on the service and never in the configuration's view; destroy
// leaves a service without it, and a service of the same name that agentnet
// did not create is not taken over.
func TestAccRelayService_otherWriters(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	name := serviceID("us-central1")
	labels := func() map[string]string {
		svc, err := e.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return svc.GetLabels()
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(e.regionHCL("us-central1", "1.0", 1, "null", "")),
				Check: func(*terraform.State) error {
					if l := labels(); l["managed-by"] != "agentnet" {
						return fmt.Errorf("labels %v: no ownership marker", l)
					}
					return nil
				},
			},
			{
				PreConfig: func() { e.setLabel(t, name, "cost-center", "messaging") },
				Config:    e.config(e.regionHCL("us-central1", "1.0", 1, "null", `LOG_LEVEL = "debug"`)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_relay_service.us", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "env.LOG_LEVEL", "debug"),
					func(s *terraform.State) error {
						if l := labels(); l["cost-center"] != "messaging" || l["managed-by"] != "agentnet" {
							return fmt.Errorf("labels after the update: %v, want the other writer's cost-center and the marker", l)
						}
						st := e.lc.Service(t, name)
						if st.ServingRevision != s.RootModule().Resources["agentnet_relay_service.us"].Primary.Attributes["latest_ready_revision"] {
							return fmt.Errorf("localcloud serves %s", st.ServingRevision)
						}
						return nil
					},
				),
			},
			{
				// Without the marker (someone else's service now), destroy
				// leaves it alone.
				PreConfig:   func() { e.setLabel(t, name, "managed-by", "platform-team") },
				Config:      e.config(e.regionHCL("us-central1", "1.0", 1, "null", `LOG_LEVEL = "debug"`)),
				Destroy:     true,
				ExpectError: errorText("was not created by agentnet", "is not deleted"),
			},
			{
				PreConfig: func() {
					if _, err := e.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: name}); err != nil {
						t.Fatalf("the unmarked service after destroy: %v", err)
					}
					e.setLabel(t, name, "managed-by", "agentnet")
					// A service agentnet did not create, under the name
					// another configuration wants.
					op, err := e.clients.Run.CreateService(ctx, &runpb.CreateServiceRequest{
						Parent: "projects/" + testProject + "/locations/europe-west1", ServiceId: "relay",
						Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{
							Image: relayImage + ":other",
							Env:   []*runpb.EnvVar{{Name: "REDIS_ADDR", Values: &runpb.EnvVar_Value{Value: "127.0.0.1:1"}}},
						}}}},
					})
					if err != nil {
						t.Fatalf("someone else's service: %v", err)
					}
					// It exists whether or not its revision becomes ready.
					_, _ = gcpclient.Wait(ctx, op)
				},
				Config: e.config(e.regionHCL("us-central1", "1.0", 1, "null", `LOG_LEVEL = "debug"`) +
					e.regionHCL("europe-west1", "1.0", 1, "null", "")),
				ExpectError: errorText("already exists and was not created by agentnet", "tofu import agentnet_relay_service.<name>",
					serviceID("europe-west1")),
			},
		},
	})
}

// rawCodec passes gRPC messages through as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: marshal a %T, want *[]byte", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: unmarshal into a %T, want *[]byte", v)
	}
	*b = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// racingWriter is a proxy in front of localcloud (gRPC and HTTP on one
// port, as localcloud serves them) that lets another writer change a
// service's labels just before each of the first `times` UpdateService
// calls reaches localcloud: the provider's update then carries a stale etag.
func racingWriter(t *testing.T, e *relayEnv, times int) string {
	t.Helper()
	conn, err := grpc.NewClient(e.lc.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var updates atomic.Int32
	forward := func(_ any, ss grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(ss)
		var req []byte
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		if strings.HasSuffix(method, "/UpdateService") && int(updates.Add(1)) <= times {
			var in runpb.UpdateServiceRequest
			if err := proto.Unmarshal(req, &in); err != nil {
				return err
			}
			e.setLabel(t, in.GetService().GetName(), "racer", fmt.Sprint(updates.Load()))
		}
		md, _ := metadata.FromIncomingContext(ss.Context())
		var resp []byte
		err := conn.Invoke(metadata.NewOutgoingContext(ss.Context(), md), method, &req, &resp, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			return err
		}
		return ss.SendMsg(&resp)
	}
	gs := grpc.NewServer(grpc.UnknownServiceHandler(forward), grpc.ForceServerCodec(rawCodec{}))
	rest := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: e.lc.Addr()})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	}), Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("gRPC and REST server: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// setLabel sets one label of a service through the Cloud Run API, as
// another writer would (update mask, etag).
func (e *relayEnv) setLabel(t *testing.T, name, key, value string) {
	t.Helper()
	ctx := context.Background()
	svc, err := e.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	l := svc.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[key] = value
	op, err := e.clients.Run.UpdateService(ctx, &runpb.UpdateServiceRequest{
		Service:    &runpb.Service{Name: name, Labels: l, Etag: svc.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	})
	if err == nil {
		_, err = gcpclient.Wait(ctx, op)
	}
	if err != nil {
		t.Fatalf("another writer's label %s=%s: %v", key, value, err)
	}
}

// An update that loses the race with another writer (stale etag, ABORTED)
// reads the service again and retries once, keeping what the other writer
// did; losing twice fails, naming what the other writer changed.
func TestAccRelayService_conflict(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	name := serviceID("us-central1")
	hcl := func(logLevel string) string {
		return e.regionHCL("us-central1", "1.0", 1, "null", `LOG_LEVEL = "`+logLevel+`"`)
	}
	once, twice := racingWriter(t, e, 1), racingWriter(t, e, 2)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(hcl("info"))},
			{
				Config: acctest.ProviderConfig(once) + hcl("debug"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "env.LOG_LEVEL", "debug"),
					func(*terraform.State) error {
						svc, err := e.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: name})
						if err != nil {
							return err
						}
						if svc.Labels["racer"] != "1" {
							return fmt.Errorf("labels %v: the other writer's change is lost", svc.Labels)
						}
						aborted := 0
						for _, l := range e.lc.Oplog(t) {
							if l.Method == "google.cloud.run.v2.Services.UpdateService" && strings.HasPrefix(l.Outcome, "Aborted") {
								aborted++
							}
						}
						if aborted != 1 {
							return fmt.Errorf("%d updates refused for a stale etag, want 1 (then the retry)", aborted)
						}
						return nil
					},
				),
			},
			{
				Config:      acctest.ProviderConfig(twice) + hcl("warn"),
				ExpectError: errorText("another writer changed the service twice", "fields changed: labels"),
			},
		},
	})
}

// The Redis Recovery runbook's "instance failure: new instance" step: the
// instance replaced (-replace) and, later, deleted outside OpenTofu and
// created again. Every relay service using it (its region's and the peer's)
// rolls a new revision in the same apply, with no inconsistent result.
func TestAccRelayService_redisRecreated(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	cfg := e.twoRegions("1.0", 1, "")
	var revisions map[string]string
	rolled := func(s *terraform.State) error {
		for _, addr := range []string{"agentnet_relay_service.us", "agentnet_relay_service.europe"} {
			attrs := s.RootModule().Resources[addr].Primary.Attributes
			if attrs["ready"] != "true" || attrs["latest_ready_revision"] == revisions[addr] {
				return fmt.Errorf("%s: ready %s, revision %s (before: %s): no new revision", addr, attrs["ready"],
					attrs["latest_ready_revision"], revisions[addr])
			}
		}
		redis := s.RootModule().Resources["agentnet_redis_instance.us"].Primary.Attributes
		if got, want := s.RootModule().Resources["agentnet_relay_service.us"].Primary.Attributes["redis_address"],
			redis["host"]+":"+redis["port"]; got != want {
			return fmt.Errorf("redis_address %q, want the new instance's %q", got, want)
		}
		return nil
	}
	remember := func(s *terraform.State) error {
		revisions = map[string]string{}
		for _, addr := range []string{"agentnet_relay_service.us", "agentnet_relay_service.europe"} {
			revisions[addr] = s.RootModule().Resources[addr].Primary.Attributes["latest_ready_revision"]
		}
		return nil
	}
	updated := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
		plancheck.ExpectResourceAction("agentnet_relay_service.us", plancheck.ResourceActionUpdate),
		plancheck.ExpectResourceAction("agentnet_relay_service.europe", plancheck.ResourceActionUpdate),
		plancheck.ExpectUnknownValue("agentnet_relay_service.us", tfjsonpath.New("latest_ready_revision")),
	}}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg, Check: remember},
			{ // tofu apply -replace=agentnet_redis_instance.us
				Config:           cfg,
				Taint:            []string{"agentnet_redis_instance.us"},
				ConfigPlanChecks: updated,
				Check:            resource.ComposeAggregateTestCheckFunc(rolled, remember),
			},
			{ // deleted outside OpenTofu: the apply creates it again
				PreConfig: func() {
					op, err := e.clients.Redis.DeleteInstance(ctx, &redispb.DeleteInstanceRequest{Name: instanceID("relay-us")})
					if err == nil {
						err = op.Wait(ctx)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config:           cfg,
				ConfigPlanChecks: updated,
				Check:            rolled,
			},
		},
	})
}

// A create whose revision never becomes ready (the relay exits at start on
// a bad setting) leaves the service in Cloud Run, as Google's does: it is
// recorded tainted with its id, and the apply after the fix replaces it
// instead of failing on ALREADY_EXISTS.
func TestAccRelayService_failedCreate(t *testing.T) {
	e := newRelayEnv(t)
	hcl := func(rateLimit string) string {
		return e.config(e.regionHCL("us-central1", "1.0", 1, "null", `RATE_LIMIT = "`+rateLimit+`"`))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      hcl("fast"),
				ExpectError: errorText("Creating relay service", "RATE_LIMIT", "recorded as tainted", "next apply replaces it"),
			},
			{ // tainted: an env change alone would be an update
				Config: hcl("100"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_relay_service.us", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "id", serviceID("us-central1")),
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "ready", "true"),
					resource.TestCheckResourceAttr("agentnet_relay_service.us", "env.RATE_LIMIT", "100"),
					func(*terraform.State) error {
						for _, l := range e.lc.Oplog(t) {
							if strings.Contains(l.Outcome, "AlreadyExists") {
								return fmt.Errorf("a create was refused: %+v", l)
							}
						}
						return nil
					},
				),
			},
		},
	})
}
