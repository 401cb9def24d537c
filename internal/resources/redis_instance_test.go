package resources_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

const instanceHCL = `
resource "agentnet_redis_instance" "main" {
  name             = "relay-us"
  memory_size_gb   = %d
  persistence_mode = "RDB"
  labels           = { app = "relay" }
}
`

func TestAccRedisInstance_lifecycle(t *testing.T) {
	e := newEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(fmt.Sprintf(instanceHCL, 1)),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_instance.main", "id", instanceID("relay-us")),
					resource.TestCheckResourceAttr("agentnet_redis_instance.main", "state", "READY"),
					resource.TestCheckResourceAttr("agentnet_redis_instance.main", "tier", "BASIC"),
					resource.TestCheckResourceAttr("agentnet_redis_instance.main", "host", "127.0.0.1"),
					resource.TestCheckResourceAttr("agentnet_redis_instance.main", "rdb_snapshot_period", "TWENTY_FOUR_HOURS"),
					resource.TestCheckResourceAttrSet("agentnet_redis_instance.main", "port"),
					resource.TestCheckResourceAttrSet("agentnet_redis_instance.main", "current_location_id"),
					func(s *terraform.State) error { // the instance is a real redis-server
						c, err := redisOf(s, "agentnet_redis_instance.main")
						if err != nil {
							return err
						}
						defer c.Close()
						return c.Ping(context.Background()).Err()
					},
				),
			},
			{
				ResourceName:            "agentnet_redis_instance.main",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
			{ // memory is changed in place, not by replacement
				Config: e.config(fmt.Sprintf(instanceHCL, 2)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_instance.main", plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttr("agentnet_redis_instance.main", "memory_size_gb", "2"),
			},
		},
	})
}

// Changes made behind Terraform's back show up in the next plan, and the
// apply puts the declared state back.
func TestAccRedisInstance_drift(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := instanceID("relay-us")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(fmt.Sprintf(instanceHCL, 1))},
			{
				PreConfig: func() {
					op, err := e.clients.Redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{
						UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"memory_size_gb"}},
						Instance:   &redispb.Instance{Name: id, MemorySizeGb: 4},
					})
					if err == nil {
						_, err = gcpclient.Wait(ctx, op)
					}
					if err != nil {
						t.Fatalf("resizing behind Terraform's back: %v", err)
					}
				},
				Config: e.config(fmt.Sprintf(instanceHCL, 1)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_instance.main", plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue("agentnet_redis_instance.main", tfjsonpath.New("memory_size_gb"), knownvalue.Int64Exact(1)),
				}},
				Check: resource.TestCheckResourceAttr("agentnet_redis_instance.main", "memory_size_gb", "1"),
			},
			{
				PreConfig: func() {
					op, err := e.clients.Redis.DeleteInstance(ctx, &redispb.DeleteInstanceRequest{Name: id})
					if err == nil {
						err = op.Wait(ctx)
					}
					if err != nil {
						t.Fatalf("deleting behind Terraform's back: %v", err)
					}
				},
				Config: e.config(fmt.Sprintf(instanceHCL, 1)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_instance.main", plancheck.ResourceActionCreate),
				}},
				Check: resource.TestCheckResourceAttr("agentnet_redis_instance.main", "state", "READY"),
			},
		},
	})
}

// Bad input is refused at plan time with the attribute named, and nothing
// is created.
func TestAccRedisInstance_invalidInput(t *testing.T) {
	e := newEnv(t)
	bad := func(attrs, want string) resource.TestStep {
		return resource.TestStep{
			Config:      e.config(`resource "agentnet_redis_instance" "bad" {` + "\n" + attrs + "\n}\n"),
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(want),
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			bad(`name = "r1"
memory_size_gb = 1
tier = "PREMIUM"`, `(?s)Attribute tier value must be one of:.*"BASIC".*"STANDARD_HA"`),
			bad(`name = "r1"
memory_size_gb = 0`, `Attribute memory_size_gb value must be between 1 and 300, got: 0`),
			bad(`name = "r1"
memory_size_gb = 301`, `Attribute memory_size_gb value must be between 1 and 300, got: 301`),
			bad(`name = "Relay_1"
memory_size_gb = 1`, `Attribute name must be 2 to 40 lowercase letters`),
			bad(`name = "r1"
memory_size_gb = 1
redis_version = "REDIS_5_0"`, `(?s)Attribute redis_version value must be one of:.*"REDIS_7_0"`),
			bad(`name = "r1"
memory_size_gb = 1
rdb_snapshot_period = "ONE_HOUR"`, `rdb_snapshot_period is only accepted with persistence_mode = "RDB"`),
			bad(`name = "r1"
memory_size_gb = 1
redis_configs = { "appendonly" = "yes" }`, `(?s)redis_configs\["appendonly"\] value must be one of:.*"maxmemory-policy".*got: "appendonly"`),
			bad(`name = "r1"
memory_size_gb = 1
transit_encryption_mode = "TLS"`, `(?s)Attribute transit_encryption_mode value must be one of:.*"SERVER_AUTHENTICATION"`),
			bad(`name = "r1"
memory_size_gb = 1
reserved_ip_range = "my-range"`, `With connect_mode = "DIRECT_PEERING", reserved_ip_range must be a free CIDR`),
			bad(`name = "r1"
memory_size_gb = 1
authorized_network = "default"`, `authorized_network must be a network's full name`),
		},
		CheckDestroy: func(*terraform.State) error {
			it := e.clients.Redis.ListInstances(context.Background(), &redispb.ListInstancesRequest{Parent: "projects/" + testProject + "/locations/" + testRegion})
			if inst, err := it.Next(); err == nil {
				t.Errorf("invalid input created %s", inst.GetName())
			}
			return nil
		},
	})
}

// A provider pointed at a localcloud that is not running says which
// address it could not reach.
func TestAccProvider_emulatorNotRunning(t *testing.T) {
	acctest.Setup(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      acctest.ProviderConfig("127.0.0.1:1") + `resource "agentnet_redis_instance" "x" {` + "\n name = \"r1\"\n memory_size_gb = 1\n}\n",
			ExpectError: regexp.MustCompile(`cannot reach localcloud at 127\.0\.0\.1:1`),
		}},
	})
}

// stateHolds reports whether any attribute of any resource in state
// contains s.
func stateHolds(st *terraform.State, s string) bool {
	for _, rs := range st.RootModule().Resources {
		for _, v := range rs.Primary.Attributes {
			if strings.Contains(v, s) {
				return true
			}
		}
	}
	return false
}

const secureHCL = `
resource "agentnet_redis_instance" "auth" {
  name               = "relay-auth"
  memory_size_gb     = 1
  auth_enabled       = true
  authorized_network = "projects/agentnet-test/global/networks/relay-vpc"
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  reserved_ip_range  = "google-managed-services-relay-vpc"
}

resource "agentnet_redis_instance" "tls" {
  name                    = "relay-tls"
  memory_size_gb          = 1
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  customer_managed_key    = "projects/agentnet-test/locations/us-central1/keyRings/relay/cryptoKeys/redis"
}
`

// AUTH and transit encryption as Memorystore runs them: a client without
// the AUTH string gets NOAUTH, plain TCP to a TLS instance fails, TLS
// trusting the instance's server_ca_certs with the AUTH string works; the
// AUTH string is nowhere in state.
func TestAccRedisInstance_authAndTLS(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	authString := func(name string) string {
		a, err := e.clients.Redis.GetInstanceAuthString(ctx, &redispb.GetInstanceAuthStringRequest{Name: instanceID(name)})
		if err != nil {
			t.Fatalf("GetInstanceAuthString: %v", err)
		}
		return a.GetAuthString()
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config: e.config(secureHCL),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("agentnet_redis_instance.auth", "auth_enabled", "true"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.auth", "authorized_network", "projects/agentnet-test/global/networks/relay-vpc"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.auth", "connect_mode", "PRIVATE_SERVICE_ACCESS"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.auth", "reserved_ip_range", "google-managed-services-relay-vpc"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.auth", "transit_encryption_mode", "DISABLED"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.auth", "server_ca_certs.#", "0"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.tls", "authorized_network", "projects/agentnet-test/global/networks/default"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.tls", "connect_mode", "DIRECT_PEERING"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.tls", "transit_encryption_mode", "SERVER_AUTHENTICATION"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.tls", "customer_managed_key", "projects/agentnet-test/locations/us-central1/keyRings/relay/cryptoKeys/redis"),
				resource.TestCheckResourceAttr("agentnet_redis_instance.tls", "server_ca_certs.#", "1"),
				resource.TestCheckResourceAttrSet("agentnet_redis_instance.tls", "server_ca_certs.0.sha1_fingerprint"),
				func(s *terraform.State) error {
					// AUTH: NOAUTH without the string, served with it.
					anon, err := redisOf(s, "agentnet_redis_instance.auth")
					if err != nil {
						return err
					}
					defer anon.Close()
					if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
						return fmt.Errorf("PING without the AUTH string = %v; want NOAUTH", err)
					}
					if err := e.lc.RedisClient(t, instanceID("relay-auth")).Ping(ctx).Err(); err != nil {
						return fmt.Errorf("PING with the AUTH string: %v", err)
					}
					// TLS: plain TCP fails, TLS with the state's CA and AUTH works.
					plain, err := redisOf(s, "agentnet_redis_instance.tls")
					if err != nil {
						return err
					}
					defer plain.Close()
					if err := plain.Ping(ctx).Err(); err == nil {
						return fmt.Errorf("plain TCP PING to a TLS instance answered")
					}
					attrs := s.RootModule().Resources["agentnet_redis_instance.tls"].Primary.Attributes
					pool := x509.NewCertPool()
					if !pool.AppendCertsFromPEM([]byte(attrs["server_ca_certs.0.cert"])) {
						return fmt.Errorf("server_ca_certs.0.cert is not PEM")
					}
					tlsOpts := &goredis.Options{Addr: attrs["host"] + ":" + attrs["port"],
						TLSConfig: &tls.Config{RootCAs: pool, ServerName: attrs["host"]}}
					noAuth := goredis.NewClient(tlsOpts)
					defer noAuth.Close()
					if err := noAuth.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
						return fmt.Errorf("TLS PING without the AUTH string = %v; want NOAUTH", err)
					}
					withAuth := *tlsOpts
					withAuth.Password = authString("relay-tls")
					c := goredis.NewClient(&withAuth)
					defer c.Close()
					if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
						return fmt.Errorf("TLS with server_ca_certs and AUTH: %v", err)
					}
					for _, n := range []string{"relay-auth", "relay-tls"} {
						if a := authString(n); a == "" || stateHolds(s, a) {
							return fmt.Errorf("the AUTH string of %s is in state (or empty)", n)
						}
					}
					return nil
				},
			),
		}, {
			// AUTH is changed in place.
			Config: e.config(strings.Replace(secureHCL, "auth_enabled       = true", "auth_enabled       = false", 1)),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("agentnet_redis_instance.auth", plancheck.ResourceActionUpdate),
			}},
			Check: func(s *terraform.State) error {
				c, err := redisOf(s, "agentnet_redis_instance.auth")
				if err != nil {
					return err
				}
				defer c.Close()
				return c.Ping(ctx).Err()
			},
		}},
	})
}

const configsHCL = `
resource "agentnet_redis_instance" "main" {
  name           = "relay-us"
  memory_size_gb = 1
  %s
}
`

// maxmemory-policy is Memorystore's volatile-lru unless redis_configs sets
// it; redis_configs changes in place.
func TestAccRedisInstance_redisConfigs(t *testing.T) {
	e := newEnv(t)
	policy := func(want string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			c, err := redisOf(s, "agentnet_redis_instance.main")
			if err != nil {
				return err
			}
			defer c.Close()
			v, err := c.ConfigGet(context.Background(), "maxmemory-policy").Result()
			if err != nil {
				return err
			}
			if v["maxmemory-policy"] != want {
				return fmt.Errorf("CONFIG GET maxmemory-policy = %q; want %q", v["maxmemory-policy"], want)
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(fmt.Sprintf(configsHCL, "")), Check: policy("volatile-lru")},
			{
				Config: e.config(fmt.Sprintf(configsHCL, `redis_configs = { "maxmemory-policy" = "noeviction", "maxmemory-gb" = "0.5" }`)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_instance.main", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(policy("noeviction"),
					resource.TestCheckResourceAttr("agentnet_redis_instance.main", "redis_configs.maxmemory-gb", "0.5")),
			},
		},
	})
}

// A higher redis_version upgrades the instance in place with its data
// (UpgradeInstance); a lower one replaces it.
func TestAccRedisInstance_versionUpgrade(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := dataset{prefix: "upgrade", n: 2000}
	version := func(v string) string {
		return e.config(fmt.Sprintf(configsHCL, `redis_version = "`+v+`"`))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: version("REDIS_6_X"),
				Check: func(s *terraform.State) error {
					c, err := redisOf(s, "agentnet_redis_instance.main")
					if err != nil {
						return err
					}
					defer c.Close()
					return data.write(ctx, c)
				},
			},
			{
				Config: version("REDIS_7_2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_instance.main", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_instance.main", "redis_version", "REDIS_7_2"),
					func(s *terraform.State) error {
						c, err := redisOf(s, "agentnet_redis_instance.main")
						if err != nil {
							return err
						}
						defer c.Close()
						if bad, err := data.verify(ctx, c); err != nil || bad > 0 {
							return fmt.Errorf("after the upgrade %d keys are wrong (%v)", bad, err)
						}
						for _, l := range e.lc.Oplog(t) {
							if l.Method == "google.cloud.redis.v1.CloudRedis.UpgradeInstance" && l.Phase == "done" && l.Outcome == "OK" {
								return nil
							}
						}
						return fmt.Errorf("no UpgradeInstance in the operation log")
					},
				),
			},
			{
				Config: version("REDIS_7_0"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_instance.main", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.TestCheckResourceAttr("agentnet_redis_instance.main", "redis_version", "REDIS_7_0"),
			},
		},
	})
}

// An instance agentnet did not create is neither taken over nor deleted.
func TestAccRedisInstance_ownership(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	setLabels := func(name string, labels map[string]string) {
		op, err := e.clients.Redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
			Instance:   &redispb.Instance{Name: instanceID(name), Labels: labels},
		})
		if err == nil {
			_, err = gcpclient.Wait(ctx, op)
		}
		if err != nil {
			t.Fatalf("labels of %s: %v", name, err)
		}
	}
	op, err := e.clients.Redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{
		Parent: "projects/" + testProject + "/locations/" + testRegion, InstanceId: "someone-elses",
		Instance: &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1, Labels: map[string]string{"team": "other"}},
	})
	if err == nil {
		_, err = gcpclient.Wait(ctx, op)
	}
	if err != nil {
		t.Fatal(err)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(`resource "agentnet_redis_instance" "taken" {
  name           = "someone-elses"
  memory_size_gb = 2
}`),
				ExpectError: errorText(`already exists and was not created by agentnet`,
					`tofu import agentnet_redis_instance.<name> `+instanceID("someone-elses")),
			},
			{
				Config: e.config(fmt.Sprintf(instanceHCL, 1)),
				Check: func(*terraform.State) error {
					in, err := e.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: instanceID("relay-us")})
					if err != nil {
						return err
					}
					if in.Labels["managed-by"] != "agentnet" || in.Labels["app"] != "relay" {
						return fmt.Errorf("labels %v: want the marker beside the configured ones", in.Labels)
					}
					return nil
				},
			},
			{
				PreConfig:   func() { setLabels("relay-us", map[string]string{"app": "relay"}) },
				Config:      e.config(fmt.Sprintf(instanceHCL, 1)),
				Destroy:     true,
				ExpectError: errorText(`was not created by agentnet`, `is not deleted`),
			},
			{
				PreConfig: func() { setLabels("relay-us", map[string]string{"app": "relay", "managed-by": "agentnet"}) },
				Config:    e.config(fmt.Sprintf(instanceHCL, 1)),
			},
		},
		CheckDestroy: func(*terraform.State) error {
			in, err := e.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: instanceID("someone-elses")})
			if err != nil || in.MemorySizeGb != 1 || in.Labels["team"] != "other" {
				return fmt.Errorf("the instance agentnet did not create changed: %v, %v", in, err)
			}
			return nil
		},
	})
}
