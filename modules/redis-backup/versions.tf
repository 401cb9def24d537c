terraform {
  # Validation rules that refer to other variables, check blocks and
  # plantimestamp(): OpenTofu 1.9 or Terraform 1.9 and later.
  required_version = ">= 1.9.0"

  required_providers {
    agentnet = {
      source = "agentnet/agentnet"
    }
  }
}
