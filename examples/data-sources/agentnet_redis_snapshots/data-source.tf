data "agentnet_redis_snapshots" "relay" {
  prefix = "gs://my-agentnet-snapshots/relay-us-central1/"
}

# Continuous verification of the recovery point objective (RPO < 5 minutes).
check "redis_rpo" {
  assert {
    condition     = coalesce(data.agentnet_redis_snapshots.relay.latest_age_seconds, 1e9) < 300
    error_message = "The newest Redis snapshot is older than the 5 minute RPO."
  }
}

# The candidates for a restore after a data corruption: written before it
# began, holding keys. `latest` is the one a restore with the same
# snapshots_prefix and created_before selects.
data "agentnet_redis_snapshots" "before_corruption" {
  prefix         = "gs://my-agentnet-snapshots/relay-us-central1/"
  created_before = "2026-11-26T14:05:00Z"
  min_key_count  = 1
}

output "restore_candidate" {
  value = data.agentnet_redis_snapshots.before_corruption.latest
}
