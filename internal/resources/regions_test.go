package resources_test

import (
	"context"
	"fmt"
	"testing"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/resources"
)

// Every region attribute refuses, at plan, a mistyped region (with the
// nearest one suggested) and a zone (with its region), naming the region;
// nothing is created.
func TestAccRegions_refusedAtPlan(t *testing.T) {
	e := newEnv(t)
	instance := func(region string) string {
		return e.config(fmt.Sprintf(`
resource "agentnet_redis_instance" "bad" {
  name           = "bad"
  region         = %q
  memory_size_gb = 1
}
`, region))
	}
	service := func(region string) string {
		return e.config(fmt.Sprintf(`
resource "agentnet_relay_service" "bad" {
  name           = "bad"
  region         = %q
  image          = "relay"
  redis_instance = "projects/agentnet-test/locations/us-east1/instances/r"
  peer_redis_instances = ["projects/agentnet-test/locations/us-central1/instances/r"]
}
`, region))
	}
	group := func(region string) string {
		return e.config(fmt.Sprintf(`
resource "agentnet_relay_failover_group" "bad" {
  name    = "bad"
  regions = [
    { region = "us-central1", service = "projects/agentnet-test/locations/us-central1/services/relay" },
    { region = %[1]q, service = "projects/agentnet-test/locations/%[1]s/services/relay" },
  ]
  health_check = { token = "t" }
  tls          = { managed_domains = ["relay.example.com"] }
}
`, region))
	}
	step := func(cfg string, want ...string) resource.TestStep {
		return resource.TestStep{Config: cfg, PlanOnly: true, ExpectError: errorText(want...)}
	}
	typo := func(in string) []string {
		return []string{`Unknown region "us-eats1"`, in, "us-eats1 is not a Google Cloud region. Did you mean us-east1?", "additional_regions"}
	}
	zone := []string{`"us-east1-b" is a zone, not a region`, "us-east1-b is a zone; use its region us-east1."}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			step(instance("us-eats1"), typo("with agentnet_redis_instance.bad")...),
			step(instance("us-east1-b"), zone...),
			step(service("us-eats1"), typo("with agentnet_relay_service.bad")...),
			step(service("us-east1-b"), zone...),
			step(group("us-eats1"), typo("with agentnet_relay_failover_group.bad")...),
			step(group("us-east1-b"), zone...),
			step(e.config(`
data "agentnet_relay_health" "bad" {
  url    = "https://127.0.0.1:1"
  token  = "t"
  region = "us-east1-b"
}
`), zone...),
			step(e.config(`
provider "agentnet" {
  alias         = "zone"
  region        = "us-eats1"
  emulator_host = "`+e.lc.Addr()+`"
}

resource "agentnet_redis_instance" "bad" {
  provider       = agentnet.zone
  name           = "bad"
  memory_size_gb = 1
}
`), typo(`with provider["registry.opentofu.org/agentnet/agentnet"].zone`)...),
		},
		CheckDestroy: func(*terraform.State) error {
			for _, region := range []string{"us-eats1", "us-east1-b", "us-central1"} {
				it := e.clients.Redis.ListInstances(context.Background(), &redispb.ListInstancesRequest{Parent: "projects/" + testProject + "/locations/" + region})
				if inst, err := it.Next(); err == nil {
					t.Errorf("an invalid region created %s", inst.GetName())
				}
			}
			return nil
		},
	})
}

// A region newer than the provider's list is accepted once named in the
// provider's additional_regions or in AGENTNET_ADDITIONAL_REGIONS (serial:
// the in-process provider reads that variable from the process).
func TestAccRegions_additionalRegions(t *testing.T) {
	e := newSerialEnv(t)
	instance := func(provider string) string {
		return e.config(provider + `
resource "agentnet_redis_instance" "new" {
  provider       = agentnet.next
  name           = "new"
  region         = "us-central9"
  memory_size_gb = 1
}
`)
	}
	withList := func(list string) string {
		return fmt.Sprintf(`
provider "agentnet" {
  alias              = "next"
  emulator_host      = %q
  additional_regions = %s
}
`, e.lc.Addr(), list)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: instance(withList(`["us-central8"]`)), PlanOnly: true, ExpectError: errorText(`Unknown region "us-central9"`, "us-central9 is not a Google Cloud region")},
			{Config: instance(withList(`["us-central9-a"]`)), PlanOnly: true, ExpectError: errorText(`"us-central9-a" is a zone, not a region`)},
			{Config: instance(withList(`["us-central9"]`)), PlanOnly: true, ExpectNonEmptyPlan: true},
			{
				PreConfig:          func() { t.Setenv(resources.AdditionalRegionsEnv, "us-central8, us-central9") },
				Config:             instance(withList("null")),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}
