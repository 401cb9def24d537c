# A Memorystore instance for the module's tests to back up.
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

variable "name" {
  type    = string
  default = "backup-test"
}

resource "agentnet_redis_instance" "this" {
  name           = var.name
  region         = "us-central1"
  memory_size_gb = 1
}

output "instance_id" {
  value = agentnet_redis_instance.this.id
}
