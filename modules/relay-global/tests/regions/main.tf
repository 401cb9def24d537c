# Three regions for the failover group under test, each peered with the
# other two, built with modules/relay-region and its defaults: one network,
# Redis with AUTH and TLS, relays reachable only through the load balancer.
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

variable "relay_dev_keys" {
  type = string
}

variable "bucket" {
  type = string
}

variable "signing_key" {
  type = string
}

locals {
  common = {
    image          = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay:1.0"
    tier           = "BASIC"
    memory_size_gb = 1
    env            = { RELAY_DEV_KEYS = var.relay_dev_keys }
    network        = "projects/agentnet-test/global/networks/agentnet"
    account        = "agentnet-relay@agentnet-test.iam.gserviceaccount.com"
  }
}

module "us" {
  source = "../../../relay-region"

  region               = "us-central1"
  image                = local.common.image
  tier                 = local.common.tier
  memory_size_gb       = local.common.memory_size_gb
  env                  = local.common.env
  vpc_network          = local.common.network
  service_account      = local.common.account
  backup_bucket        = var.bucket
  snapshot_signing_key = var.signing_key
  peer_redis_instances = [module.eu.redis_instance_id, module.asia.redis_instance_id]
}

module "eu" {
  source = "../../../relay-region"

  region               = "europe-west1"
  image                = local.common.image
  tier                 = local.common.tier
  memory_size_gb       = local.common.memory_size_gb
  env                  = local.common.env
  vpc_network          = local.common.network
  service_account      = local.common.account
  backup_bucket        = var.bucket
  snapshot_signing_key = var.signing_key
  peer_redis_instances = [module.us.redis_instance_id, module.asia.redis_instance_id]
}

module "asia" {
  source = "../../../relay-region"

  region               = "asia-east1"
  image                = local.common.image
  tier                 = local.common.tier
  memory_size_gb       = local.common.memory_size_gb
  env                  = local.common.env
  vpc_network          = local.common.network
  service_account      = local.common.account
  backup_bucket        = var.bucket
  snapshot_signing_key = var.signing_key
  peer_redis_instances = [module.us.redis_instance_id, module.eu.redis_instance_id]
}

output "services" {
  value = {
    "us-central1"  = module.us.service_id
    "europe-west1" = module.eu.service_id
    "asia-east1"   = module.asia.service_id
  }
}
