resource "agentnet_redis_instance" "relay" {
  name                = "relay-us-central1"
  region              = "us-central1"
  tier                = "STANDARD_HA"
  memory_size_gb      = 5
  redis_version       = "REDIS_7_2" # raising it later upgrades in place; lowering it replaces the instance
  persistence_mode    = "RDB"
  rdb_snapshot_period = "ONE_HOUR"
  labels = {
    app = "agent-relay"
  }

  # On the relays' VPC network, through private services access.
  authorized_network = "projects/my-agentnet-project/global/networks/agentnet"
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  reserved_ip_range  = "agentnet-memorystore"

  # AUTH and TLS: relays read the AUTH string from the Memorystore API and
  # trust exactly server_ca_certs; neither secret passes through Terraform.
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  # Memorystore's default policy (volatile-lru) would evict acknowledged
  # envelopes, which all carry a TTL.
  redis_configs = {
    "maxmemory-policy" = "noeviction"
  }

  customer_managed_key = "projects/my-agentnet-project/locations/us-central1/keyRings/agentnet/cryptoKeys/redis"

  timeouts {
    create = "30m"
  }
}

output "redis_ca" {
  description = "The CA relays and operators trust for this instance."
  value       = agentnet_redis_instance.relay.server_ca_certs[0].cert
}
