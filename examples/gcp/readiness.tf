# Readiness: whether this topology can meet its recovery objectives, from the
# values main.tf declares (local.recovery and local.regions), evaluated by
# agentnet_recovery_readiness before the day it is needed. A plan warns
# (check "recovery_readiness", which make drift reports); make readiness
# DIR=examples/gcp fails with the findings as text.

locals {
  # The recovery plan: objectives, and the figures main.tf's modules use.
  recovery = {
    rto                       = "15m"
    rpo                       = "${var.rpo_seconds}s"
    snapshot_interval_minutes = 60 # hourly, the backup table
    total_min_instances       = var.total_min_instances
    baseline_min_instances    = 1
    reintroduction_soak       = "60s"
    drain_grace_period        = "30s"
  }

  active_weight = sum(concat([0], [for r in local.settings : r.weight if r.state == "active"]))
}

variable "enforce_readiness" {
  description = "Fail the plan when the readiness evaluation finds an error (make readiness sets it); otherwise check \"recovery_readiness\" only warns."
  type        = bool
  default     = false
  nullable    = false
}

data "agentnet_recovery_readiness" "this" {
  regions = {
    for name, r in local.settings : name => {
      weight = r.state == "active" ? r.weight : 0
      # As the failover group spreads total_min_instances by weight.
      min_instances        = r.state == "active" && local.active_weight > 0 ? max(local.recovery.baseline_min_instances, floor(local.recovery.total_min_instances * r.weight / local.active_weight)) : local.recovery.baseline_min_instances
      max_instances        = r.max_instances
      redis_memory_size_gb = var.redis_memory_size_gb
    }
  }
  total_min_instances = local.recovery.total_min_instances
  snapshot_interval   = "${local.recovery.snapshot_interval_minutes}m"
  rto                 = local.recovery.rto
  rpo                 = local.recovery.rpo
  drain_grace_period  = local.recovery.drain_grace_period

  lifecycle {
    postcondition {
      condition     = !var.enforce_readiness || self.ready
      error_message = "The topology cannot meet its recovery objectives:\n${self.report}"
    }
  }
}

check "recovery_readiness" {
  assert {
    condition     = data.agentnet_recovery_readiness.this.ready
    error_message = "The topology cannot meet its recovery objectives:\n${data.agentnet_recovery_readiness.this.report}"
  }
}

output "recovery_readiness" {
  description = "The readiness findings as text (agentnet_recovery_readiness)."
  value       = data.agentnet_recovery_readiness.this.report
}
