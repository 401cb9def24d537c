# Another region's Memorystore instance, for the relay under test to peer with.
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

resource "agentnet_redis_instance" "peer" {
  name           = "relay-europe-west1"
  region         = "europe-west1"
  memory_size_gb = 1
}

output "instance_id" {
  value = agentnet_redis_instance.peer.id
}

output "address" {
  value = "${agentnet_redis_instance.peer.host}:${agentnet_redis_instance.peer.port}"
}
