terraform {
  required_version = ">= 1.9.0"

  required_providers {
    agentnet = {
      source = "agentnet/agentnet"
    }
  }
}
