# Alert policies. The relay's own metrics are Prometheus metrics scraped from
# its OPS_PORT by the Managed Service for Prometheus sidecar, so their
# metric types are their Prometheus names and kinds under
# prometheus.googleapis.com (see README.md); TestMonitoringMetricsExported
# checks every one against a running relay's /metrics.
locals {
  notify = var.notification_channels
}

# Region unhealthy: its pinned uptime check fails from more than one checker
# location (Google's recommended uptime alert: REDUCE_COUNT_FALSE > 1).
resource "google_monitoring_alert_policy" "region_unhealthy" {
  for_each = toset(var.regions)

  project               = var.project
  display_name          = "${var.name_prefix} region ${each.key} unhealthy"
  combiner              = "OR"
  notification_channels = local.notify
  user_labels           = { region = each.key, signal = "region-unhealthy" }

  conditions {
    display_name = "${each.key} ${var.ready_path} failing through the front door"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id=\"${google_monitoring_uptime_check_config.ready[each.key].uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "60s"
      aggregations {
        alignment_period     = "1200s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Region ${each.key} fails ${var.ready_path} through the front door. Follow docs/runbooks/region-failover.md; the recovery workflow (examples/ci/recover.yml) plans the failover."
  }
}

# Snapshots: every export Memorystore accepted, counted from its Admin
# Activity audit logs (always on), per instance.
resource "google_logging_metric" "snapshot_exports" {
  project = var.project
  name    = "${var.name_prefix}-snapshot-exports"
  filter  = "resource.type=\"audited_resource\" AND protoPayload.serviceName=\"redis.googleapis.com\" AND protoPayload.methodName=\"google.cloud.redis.v1.CloudRedis.ExportInstance\" AND severity<ERROR"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key         = "instance"
      value_type  = "STRING"
      description = "Memorystore instance name."
    }
  }
  label_extractors = {
    instance = "REGEXP_EXTRACT(protoPayload.resourceName, \"instances/([^/]+)$\")"
  }
}

# Newest snapshot older than the RPO: no export for snapshot_rpo_seconds.
resource "google_monitoring_alert_policy" "snapshot_rpo" {
  project               = var.project
  display_name          = "${var.name_prefix} newest Redis snapshot older than the RPO"
  combiner              = "OR"
  notification_channels = local.notify
  user_labels           = { signal = "snapshot-rpo" }

  conditions {
    display_name = "No Memorystore export for ${var.snapshot_rpo_seconds}s"
    condition_absent {
      filter   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.snapshot_exports.name}\""
      duration = "${var.snapshot_rpo_seconds}s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_COUNT"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.instance"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "No Redis snapshot was exported for ${var.snapshot_rpo_seconds}s. Snapshots are taken by tofu apply of modules/redis-backup; check the scheduled job, and its plan's check block \"backups\"."
  }
}

# Threshold alerts on one metric each: the relay error rate (failed Redis
# operations per second, per region), Redis memory above redis_memory_ratio
# (with noeviction a full Redis refuses sends), and acks with a single copy
# (envelopes acked with fewer Redis copies than ACK_COPIES because a peer
# region's Redis was unreachable).
locals {
  threshold_alerts = {
    relay_errors = {
      title     = "relay error rate"
      condition = "Failed Redis operations above ${var.relay_error_rate}/s"
      filter    = "metric.type=\"prometheus.googleapis.com/relay_redis_errors_total/counter\" AND resource.type=\"prometheus_target\""
      threshold = var.relay_error_rate
      duration  = "300s"
      aligner   = "ALIGN_RATE"
      group_by  = ["metric.label.region"]
      doc       = "A region's relays fail Redis operations (relay_redis_errors_total by redis and op on the dashboard). Follow docs/runbooks/redis-recovery.md."
    }
    redis_memory = {
      title     = "Redis memory above ${var.redis_memory_ratio * 100}%"
      condition = "Memorystore memory usage ratio above ${var.redis_memory_ratio}"
      filter    = "metric.type=\"redis.googleapis.com/stats/memory/usage_ratio\" AND resource.type=\"redis_instance\""
      threshold = var.redis_memory_ratio
      duration  = "300s"
      aligner   = "ALIGN_MEAN"
      group_by  = null # one series per instance
      doc       = "A relay Redis is above ${var.redis_memory_ratio * 100}% of its memory. Raise memory_size_gb in modules/relay-region before it refuses writes."
    }
    single_copy_acks = {
      title     = "envelopes acked with a single copy"
      condition = "relay_envelopes_acked_degraded_total increasing"
      filter    = "metric.type=\"prometheus.googleapis.com/relay_envelopes_acked_degraded_total/counter\" AND resource.type=\"prometheus_target\""
      threshold = 0
      duration  = "0s"
      aligner   = "ALIGN_DELTA"
      group_by  = ["metric.label.region"]
      doc       = "Envelopes are acknowledged with one Redis copy only: a region's loss now loses them. Check relay_redis_up on the dashboard (role peer) and the peer region."
    }
  }
}

resource "google_monitoring_alert_policy" "threshold" {
  for_each = local.threshold_alerts

  project               = var.project
  display_name          = "${var.name_prefix} ${each.value.title}"
  combiner              = "OR"
  notification_channels = local.notify
  user_labels           = { signal = replace(each.key, "_", "-") }

  conditions {
    display_name = each.value.condition
    condition_threshold {
      filter          = each.value.filter
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = each.value.duration
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = each.value.aligner
        cross_series_reducer = each.value.group_by == null ? null : "REDUCE_SUM"
        group_by_fields      = each.value.group_by
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = each.value.doc
  }
}
