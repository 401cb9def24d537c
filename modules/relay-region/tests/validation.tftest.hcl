# Inputs that make no sense are refused at plan time, naming the input.

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variables {
  region               = "us-central1"
  image                = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay:1.0"
  backup_bucket        = var.test_bucket # exists: the snapshot checks it at plan
  snapshot_signing_key = var.test_signing_key
  vpc_network          = "projects/agentnet-test/global/networks/agentnet"
  service_account      = null

  # No backup assertions: with a snapshot planned they are known only after
  # an apply, which a plan-only test reports as an error.
  backup_rpo_seconds    = null
  backup_retention_days = null
}

run "region_with_zone" {
  command = plan
  variables {
    region = "us-central1-a"
  }
  expect_failures = [var.region]
}

run "image_without_tag" {
  command = plan
  variables {
    image = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay"
  }
  expect_failures = [var.image]
}

run "image_latest" {
  command = plan
  variables {
    image = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay:latest"
  }
  expect_failures = [var.image]
}

run "memory_too_large" {
  command = plan
  variables {
    memory_size_gb = 301
  }
  expect_failures = [var.memory_size_gb]
}

run "memory_zero" {
  command = plan
  variables {
    memory_size_gb = 0
  }
  expect_failures = [var.memory_size_gb]
}

run "tier_unknown" {
  command = plan
  variables {
    tier = "PREMIUM"
  }
  expect_failures = [var.tier]
}

run "redis_version_unknown" {
  command = plan
  variables {
    redis_version = "REDIS_5_0"
  }
  expect_failures = [var.redis_version]
}

run "peer_not_an_id" {
  command = plan
  variables {
    peer_redis_instances = ["relay-europe-west1"]
  }
  expect_failures = [var.peer_redis_instances]
}

run "peer_in_own_region" {
  command = plan
  variables {
    peer_redis_instances = ["projects/agentnet-test/locations/us-central1/instances/other"]
  }
  expect_failures = [var.peer_redis_instances]
}

run "peer_twice" {
  command = plan
  variables {
    peer_redis_instances = [
      "projects/agentnet-test/locations/europe-west1/instances/relay-europe-west1",
      "projects/agentnet-test/locations/europe-west1/instances/relay-europe-west1",
    ]
  }
  expect_failures = [var.peer_redis_instances]
}

run "env_sets_redis_addr" {
  command = plan
  variables {
    env = { REDIS_ADDR = "10.0.0.3:6379" }
  }
  expect_failures = [var.env]
}

run "min_above_max" {
  command = plan
  variables {
    min_instances = 5
    max_instances = 2
  }
  expect_failures = [var.min_instances]
}

run "negative_min" {
  command = plan
  variables {
    min_instances = -1
  }
  expect_failures = [var.min_instances]
}

run "zero_max" {
  command = plan
  variables {
    min_instances = 0
    max_instances = 0
  }
  expect_failures = [var.max_instances]
}

run "cpu_unit" {
  command = plan
  variables {
    cpu = "1 core"
  }
  expect_failures = [var.cpu]
}

run "memory_unit" {
  command = plan
  variables {
    memory = "512MB"
  }
  expect_failures = [var.memory]
}

run "subnetwork_in_another_region" {
  command = plan
  variables {
    vpc_subnetwork = "projects/agentnet-test/regions/europe-west1/subnetworks/agentnet"
  }
  expect_failures = [var.vpc_subnetwork]
}

# Memorystore's authorized network and Cloud Run's egress must be the same
# string: a bare name would be read as another network by either.
run "network_as_a_bare_name" {
  command = plan
  variables {
    vpc_network = "agentnet"
  }
  expect_failures = [var.vpc_network]
}

run "eviction_policy" {
  command = plan
  variables {
    redis_configs = { "maxmemory-policy" = "volatile-lru" }
  }
  expect_failures = [var.redis_configs]
}

run "env_sets_redis_password" {
  command = plan
  variables {
    env = { REDIS_PASSWORD = "hunter2" }
  }
  expect_failures = [var.env]
}

run "env_sets_k_variable" {
  command = plan
  variables {
    env = { K_SERVICE = "relay" }
  }
  expect_failures = [var.env]
}

run "ingress_unknown" {
  command = plan
  variables {
    ingress = "PUBLIC"
  }
  expect_failures = [var.ingress]
}

run "connect_mode_unknown" {
  command = plan
  variables {
    connect_mode = "VPC_PEERING"
  }
  expect_failures = [var.connect_mode]
}

run "transit_encryption_unknown" {
  command = plan
  variables {
    transit_encryption_mode = "TLS"
  }
  expect_failures = [var.transit_encryption_mode]
}

run "reserved_range_garbage" {
  command = plan
  variables {
    reserved_ip_range = "10.0.0.0"
  }
  expect_failures = [var.reserved_ip_range]
}

run "key_in_another_region" {
  command = plan
  variables {
    customer_managed_key = "projects/agentnet-test/locations/europe-west1/keyRings/agentnet/cryptoKeys/redis"
  }
  expect_failures = [var.customer_managed_key]
}

run "default_compute_service_account" {
  command = plan
  variables {
    service_account = "123456789012-compute@developer.gserviceaccount.com"
  }
  expect_failures = [var.service_account]
}

# The secure defaults, as planned.
run "defaults" {
  command = plan

  assert {
    condition     = agentnet_redis_instance.this[0].auth_enabled && agentnet_redis_instance.this[0].transit_encryption_mode == "SERVER_AUTHENTICATION" && agentnet_redis_instance.this[0].connect_mode == "PRIVATE_SERVICE_ACCESS"
    error_message = "The instance is not planned with AUTH, TLS and private services access."
  }
  assert {
    condition     = agentnet_redis_instance.this[0].redis_configs["maxmemory-policy"] == "noeviction"
    error_message = "The instance is not planned with maxmemory-policy noeviction."
  }
  assert {
    condition     = agentnet_redis_instance.this[0].authorized_network == var.vpc_network && agentnet_relay_service.this.vpc_network == var.vpc_network
    error_message = "The instance's authorized network and the relay's egress network differ."
  }
  assert {
    condition     = agentnet_relay_service.this.ingress == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" && agentnet_relay_service.this.invoker_iam_disabled && agentnet_relay_service.this.default_uri_disabled
    error_message = "The relay service is not planned internal-and-load-balancer, invoker check off, run.app URL off."
  }
}

# Other Redis settings are kept beside noeviction.
run "redis_configs_merged" {
  command = plan
  variables {
    redis_configs = { "notify-keyspace-events" = "Ex" }
  }

  assert {
    condition     = agentnet_redis_instance.this[0].redis_configs == tomap({ "maxmemory-policy" = "noeviction", "notify-keyspace-events" = "Ex" })
    error_message = "redis_configs were not merged with maxmemory-policy noeviction: ${jsonencode(agentnet_redis_instance.this[0].redis_configs)}."
  }
}

run "bucket_as_uri" {
  command = plan
  variables {
    backup_bucket = "gs://agentnet-snapshots"
  }
  expect_failures = [var.backup_bucket]
}

run "restore_from_a_prefix" {
  command = plan
  variables {
    restore_from = "gs://agentnet-snapshots/relay-us-central1/"
  }
  expect_failures = [var.restore_from]
}

run "restore_from_yesterday" {
  command = plan
  variables {
    restore_from = "yesterday"
  }
  expect_failures = [var.restore_from]
}

run "backup_interval_not_dividing_a_day" {
  command = plan
  variables {
    backup_interval_minutes = 7
  }
  expect_failures = [var.backup_interval_minutes]
}

run "backup_rpo_zero" {
  command = plan
  variables {
    backup_rpo_seconds = 0
  }
  expect_failures = [var.backup_rpo_seconds]
}

run "backup_retention_negative" {
  command = plan
  variables {
    backup_retention_days = -7
  }
  expect_failures = [var.backup_retention_days]
}

run "redis_engine_unknown" {
  command = plan
  variables {
    redis_engine = "valkey"
  }
  expect_failures = [var.redis_engine]
}

run "cluster_shards_zero" {
  command = plan
  variables {
    redis_engine  = "cluster"
    redis_cluster = { shard_count = 0 }
  }
  expect_failures = [var.redis_cluster]
}

run "cluster_authorization_unknown" {
  command = plan
  variables {
    redis_engine  = "cluster"
    redis_cluster = { authorization_mode = "AUTH_MODE_PASSWORD" }
  }
  expect_failures = [var.redis_cluster]
}

run "cluster_restore" {
  command = plan
  variables {
    redis_engine = "cluster"
    restore_from = "latest"
  }
  expect_failures = [var.restore_from]
}

# A cluster instead of an instance, with the same secure defaults: on the
# relay's network, TLS, IAM authentication, noeviction, a replica per shard,
# deletion protection; no instance, no snapshots.
run "cluster_defaults" {
  command = plan
  variables {
    redis_engine = "cluster"
  }

  assert {
    condition     = length(agentnet_redis_instance.this) == 0 && length(module.backup) == 0 && output.backup_prefix == null
    error_message = "A cluster region still plans an instance or its snapshots."
  }
  assert {
    condition     = agentnet_redis_cluster.this[0].name == "relay-us-central1" && agentnet_redis_cluster.this[0].shard_count == 3 && agentnet_redis_cluster.this[0].replica_count == 1
    error_message = "The cluster is not planned as relay-us-central1 with 3 shards of one replica each."
  }
  assert {
    condition     = agentnet_redis_cluster.this[0].authorization_mode == "AUTH_MODE_IAM_AUTH" && agentnet_redis_cluster.this[0].transit_encryption_mode == "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION" && agentnet_redis_cluster.this[0].deletion_protection_enabled
    error_message = "The cluster is not planned with IAM authentication, TLS and deletion protection."
  }
  assert {
    condition     = agentnet_redis_cluster.this[0].network == var.vpc_network && agentnet_redis_cluster.this[0].redis_configs["maxmemory-policy"] == "noeviction"
    error_message = "The cluster is not planned on the relay's network with maxmemory-policy noeviction."
  }
}
