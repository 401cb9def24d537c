# Three regions of at most 5 relay instances, 6 needed in all, hourly
# snapshots against a 5 minute RPO: not ready (snapshot_schedule).
data "agentnet_recovery_readiness" "plan" {
  regions = {
    "us-central1"  = { min_instances = 2, max_instances = 5, redis_memory_size_gb = 5, redis_expected_usage_gb = 3 }
    "europe-west1" = { min_instances = 2, max_instances = 5 }
    "asia-east1"   = { min_instances = 2, max_instances = 5 }
  }
  total_min_instances = 6
  snapshot_interval   = "1h"
  rto                 = "15m"
  rpo                 = "5m"
  drain_grace_period  = "30s"
  snapshots_prefix    = "gs://my-snapshots/redis/us-central1/"
}

# A plan warns, and a drift job (make drift) fails, while it is not ready.
check "recovery_readiness" {
  assert {
    condition     = data.agentnet_recovery_readiness.plan.ready
    error_message = data.agentnet_recovery_readiness.plan.report
  }
}
