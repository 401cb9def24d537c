# Scheduled RDB snapshots of one Memorystore instance to Cloud Storage, and a
# check of the recovery point objective.
#
# There is no scheduler here: the schedule is a time slot in the snapshot's
# triggers. Every plan computes the slot plantimestamp() falls in; when it
# differs from the slot of the snapshot in state, the snapshot is replaced,
# which exports the instance again. Run `tofu apply` at least once a slot
# (a CI job or Cloud Scheduler) and every slot has its snapshot. Replaced
# snapshots keep their objects: the bucket's lifecycle rule deletes them
# after retention_days.

locals {
  instance_name = regex("[^/]+$", var.instance_id)
  prefix        = coalesce(var.prefix, "${local.instance_name}/")
  destination   = "gs://${var.bucket}/${local.prefix}"

  # The start of the slot the plan falls in, for example 2026-11-25T18:00Z.
  now           = plantimestamp()
  minute_of_day = tonumber(formatdate("h", local.now)) * 60 + tonumber(formatdate("m", local.now))
  slot_start    = floor(local.minute_of_day / var.interval_minutes) * var.interval_minutes
  slot          = format("%sT%02d:%02dZ", formatdate("YYYY-MM-DD", local.now), floor(local.slot_start / 60), local.slot_start % 60)

  # Snapshots written before this should have been deleted by the bucket's
  # lifecycle rule (which may take a day to act).
  retention_cutoff = var.retention_days == null ? null : timeadd(local.now, "-${(var.retention_days + 1) * 24}h")
}

resource "agentnet_redis_snapshot" "this" {
  instance    = var.instance_id
  destination = local.destination # a prefix: objects are named INSTANCE-TIMESTAMP.rdb
  triggers    = merge(var.triggers, { slot = local.slot })
  signing_key = var.signing_key

  # The new slot's snapshot is taken before the last one leaves state: if
  # its export fails, the last snapshot stays. During an outage of the
  # instance's region the export is skipped with a warning and the last
  # snapshot kept (export_skipped); the first apply after the region is
  # back takes the missed snapshot.
  lifecycle {
    create_before_destroy = true
  }
}

# Every snapshot under the prefix, whoever took it; read after this apply's
# export so that the check sees it.
data "agentnet_redis_snapshots" "this" {
  prefix     = local.destination
  depends_on = [agentnet_redis_snapshot.this]
}

# Warnings on every plan and apply (errors in `tofu test`): the recovery point
# objective, and the retention that the bucket's lifecycle rule keeps. Each
# is off when its input is null. While a new snapshot is planned their
# result is known only after the apply.
check "backups" {
  # Recovery point objective: the newest snapshot is at most rpo_seconds old.
  assert {
    condition     = var.rpo_seconds == null || coalesce(data.agentnet_redis_snapshots.this.latest_age_seconds, 1e9) <= coalesce(var.rpo_seconds, 0)
    error_message = "Recovery point objective missed: the newest Redis snapshot under ${local.destination} is ${coalesce(data.agentnet_redis_snapshots.this.latest_age_seconds, -1)}s old (-1: there is none), more than rpo_seconds (${coalesce(var.rpo_seconds, 0)}s)."
  }

  # Retention: nothing older than retention_days plus the day a lifecycle
  # rule may take to act. On localcloud nothing deletes snapshots.
  assert {
    condition     = local.retention_cutoff == null || alltrue([for s in data.agentnet_redis_snapshots.this.snapshots : timecmp(s.created_at, coalesce(local.retention_cutoff, local.now)) >= 0])
    error_message = "Snapshots older than retention_days (${coalesce(var.retention_days, 0)}) plus a day are under ${local.destination}: the bucket has no lifecycle rule deleting them (see the lifecycle_rule output)."
  }
}
