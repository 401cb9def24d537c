terraform {
  required_version = ">= 1.9.0"

  required_providers {
    agentnet = {
      source = "agentnet/agentnet"
    }
  }

  # State in Cloud Storage, with object versioning on the bucket. The bucket
  # is given at init, so this file does not name a project:
  #   tofu init -backend-config="bucket=my-agentnet-project-tfstate"
  backend "gcs" {
    prefix = "agentnet/relay"
  }
}
