# One region whose Redis is a Memorystore for Redis Cluster (three real
# redis-server primaries with a replica each on localcloud) instead of an
# instance: the relay resolves its discovery endpoint and CA through the
# clusters API and becomes ready on it.

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variables {
  region        = "us-central1"
  image         = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay:1.0"
  backup_bucket = var.test_bucket
  env           = { RELAY_DEV_KEYS = var.relay_dev_keys }
  vpc_network   = "projects/agentnet-test/global/networks/agentnet"
  # Ignored with a cluster (no snapshots), required by the module.
  snapshot_signing_key = var.test_signing_key
  # localcloud has no IAM; on Google Cloud this is the relay's own account.
  service_account = "agentnet-relay@agentnet-test.iam.gserviceaccount.com"
  redis_engine    = "cluster"
  redis_cluster = {
    deletion_protection_enabled = false # tofu test destroys it
  }
}

run "cluster" {
  assert {
    condition     = output.redis_engine == "cluster" && output.redis_instance_id == "projects/agentnet-test/locations/us-central1/clusters/relay-us-central1"
    error_message = "Unexpected Redis ${output.redis_engine} ${output.redis_instance_id}."
  }
  assert {
    condition     = length(agentnet_redis_instance.this) == 0 && output.backup_prefix == null && output.latest_snapshot == null
    error_message = "A cluster region has an instance or snapshots."
  }
  assert {
    condition     = agentnet_redis_cluster.this[0].state == "ACTIVE" && agentnet_redis_cluster.this[0].shard_count == 3 && agentnet_redis_cluster.this[0].replica_count == 1
    error_message = "The cluster is not ACTIVE with 3 shards of one replica each."
  }
  assert {
    condition     = agentnet_redis_cluster.this[0].transit_encryption_mode == "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION" && agentnet_redis_cluster.this[0].redis_configs["maxmemory-policy"] == "noeviction" && agentnet_redis_cluster.this[0].network == var.vpc_network
    error_message = "The cluster is not on the relay's network with TLS and noeviction."
  }
  assert {
    condition     = agentnet_relay_service.this.redis_instance == output.redis_instance_id && agentnet_relay_service.this.redis_address == output.redis_address
    error_message = "The relay's REDIS_INSTANCE is ${agentnet_relay_service.this.redis_instance} at ${agentnet_relay_service.this.redis_address}, not the cluster ${output.redis_instance_id} at ${output.redis_address}."
  }
  assert {
    condition     = output.service_ready
    error_message = "The relay did not become ready on the cluster."
  }
}
