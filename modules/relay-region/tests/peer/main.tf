# Another region's Memorystore instance, for the relay under test to peer
# with: on the same network, with AUTH, TLS and noeviction, as relay-region
# makes them.
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

variable "network" {
  type = string
}

resource "agentnet_redis_instance" "peer" {
  name           = "relay-europe-west1"
  region         = "europe-west1"
  memory_size_gb = 1

  authorized_network      = var.network
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  redis_configs           = { "maxmemory-policy" = "noeviction" }
}

output "instance_id" {
  value = agentnet_redis_instance.peer.id
}

output "address" {
  value = "${agentnet_redis_instance.peer.host}:${agentnet_redis_instance.peer.port}"
}
