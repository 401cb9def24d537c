# A real message round trip through a relay URL.
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

variable "url" {
  type = string
}

variable "token_file" {
  type = string
}

data "agentnet_relay_health" "this" {
  url        = var.url
  token_file = var.token_file
  timeout    = "10s"
}

output "healthy" {
  value = data.agentnet_relay_health.this.healthy
}

output "error" {
  value = data.agentnet_relay_health.this.error
}
