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

output "latest_snapshot" {
  value = data.agentnet_redis_snapshots.relay.latest.uri
}
