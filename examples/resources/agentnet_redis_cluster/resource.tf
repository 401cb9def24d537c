# A region's Redis sharded over three primaries, each with a replica that
# Memorystore promotes when the primary fails.
resource "agentnet_redis_cluster" "relay" {
  name          = "relay-us-central1"
  region        = "us-central1"
  shard_count   = 3
  replica_count = 1
  node_type     = "REDIS_HIGHMEM_MEDIUM"

  # The discovery endpoint gets an address on the relays' network through
  # Private Service Connect (the network needs a service connection policy
  # for gcp-memorystore-redis in the region).
  network = "projects/my-agentnet-project/global/networks/agentnet"

  # The defaults, written out: TLS, and IAM authentication (the relay's
  # service account needs roles/redis.dbConnectionUser; no password exists).
  transit_encryption_mode = "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
  authorization_mode      = "AUTH_MODE_IAM_AUTH"

  # Memorystore's default policy (volatile-lru) would evict acknowledged
  # envelopes, which all carry a TTL.
  redis_configs = {
    "maxmemory-policy" = "noeviction"
  }

  timeouts {
    update = "3h" # resharding a large cluster takes time
  }
}

# The relay of the region uses the cluster as its Redis.
resource "agentnet_relay_service" "relay" {
  name           = "relay"
  region         = "us-central1"
  image          = "us-docker.pkg.dev/my-agentnet-project/agentnet/agentnet-relay:1.4.2"
  redis_instance = agentnet_redis_cluster.relay.id
  vpc_network    = "projects/my-agentnet-project/global/networks/agentnet"
}
