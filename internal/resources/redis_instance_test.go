package resources_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
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
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      acctest.ProviderConfig("127.0.0.1:1") + `resource "agentnet_redis_instance" "x" {` + "\n name = \"r1\"\n memory_size_gb = 1\n}\n",
			ExpectError: regexp.MustCompile(`cannot reach localcloud at 127\.0\.0\.1:1`),
		}},
	})
}
