package provider_test

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// Mistakes in the provider block fail the plan, naming the attribute.
// Nothing here reaches Google Cloud: each is refused before any call.
func TestAccProvider_configurationErrors(t *testing.T) {
	acctest.Setup(t)
	config := func(block string) string {
		return `
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
` + block + `
}

resource "agentnet_redis_instance" "x" {
  name           = "config-check"
  memory_size_gb = 1
}
`
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      config(`credentials = "{}"` + "\n" + `access_token = "ya29.token"`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid Attribute Combination.*access_token`),
			},
			{
				Config:      config(`access_token = "ya29.token"` + "\n" + `impersonate_service_account_delegates = ["hop@p.iam.gserviceaccount.com"]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)impersonate_service_account_delegates.*need impersonate_service_account`),
			},
			{
				Config:      config(`credentials = "{\"type\": \"gdch_service_account\"}"`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid credentials.*gdch_service_account.*not accepted`),
			},
			{
				Config:      config(`request_timeout = "soon"`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)request_timeout.*duration`),
			},
		},
	})
}
