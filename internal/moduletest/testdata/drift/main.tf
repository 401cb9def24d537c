# What `make drift` (scripts/drift.sh) is tested against: a Redis instance,
# its snapshot and the RPO check the modules and examples use.
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variable "bucket" {
  type = string
}

variable "rpo_seconds" {
  type    = number
  default = 3600
}

resource "agentnet_redis_instance" "this" {
  name           = "drift"
  memory_size_gb = 1
  labels         = { team = "messaging" }
}

resource "agentnet_redis_snapshot" "this" {
  instance    = agentnet_redis_instance.this.id
  destination = "gs://${var.bucket}/drift/"
}

data "agentnet_redis_snapshots" "all" {
  prefix     = "gs://${var.bucket}/drift/"
  depends_on = [agentnet_redis_snapshot.this]
}

check "redis_rpo" {
  assert {
    condition     = coalesce(data.agentnet_redis_snapshots.all.latest_age_seconds, 1e9) < var.rpo_seconds
    error_message = "The newest Redis snapshot is older than the ${var.rpo_seconds} second RPO."
  }
}
