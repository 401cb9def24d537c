resource "agentnet_redis_instance" "relay" {
  name                = "relay-us-central1"
  region              = "us-central1"
  tier                = "STANDARD_HA"
  memory_size_gb      = 5
  redis_version       = "REDIS_7_0"
  persistence_mode    = "RDB"
  rdb_snapshot_period = "ONE_HOUR"
  labels = {
    app = "agent-relay"
  }

  timeouts {
    create = "30m"
  }
}
