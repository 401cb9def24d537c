output "snapshot_uri" {
  description = "`gs://` URI of the snapshot of the current slot. To restore, select by time under `prefix` (`agentnet_redis_snapshot_restore.snapshots_prefix` and `created_before`) rather than wiring this output, which changes with every slot."
  value       = agentnet_redis_snapshot.this.uri
}

output "snapshot_generation" {
  description = "Cloud Storage generation of that snapshot (`agentnet_redis_snapshot_restore.source_generation`)."
  value       = agentnet_redis_snapshot.this.generation
}

output "snapshot_crc32c" {
  description = "CRC32C of that snapshot (`agentnet_redis_snapshot_restore.expected_crc32c`)."
  value       = agentnet_redis_snapshot.this.crc32c
}

output "snapshot_created_at" {
  description = "When that snapshot was written (RFC 3339)."
  value       = agentnet_redis_snapshot.this.created_at
}

output "snapshot_signed" {
  description = "Whether that snapshot's manifest is signed with `signing_key`."
  value       = agentnet_redis_snapshot.this.signed
}

output "snapshot_manifest_uri" {
  description = "`gs://` URI of that snapshot's manifest (generation, CRC32C, size, key count, Redis version; signed with `signing_key`)."
  value       = agentnet_redis_snapshot.this.manifest_uri
}

output "snapshot_key_count" {
  description = "Number of keys in that snapshot, from its manifest."
  value       = agentnet_redis_snapshot.this.key_count
}

output "slot" {
  description = "The schedule slot the snapshot belongs to, for example `2026-11-25T18:00Z`."
  value       = local.slot
}

output "prefix" {
  description = "`gs://BUCKET/PREFIX/` the snapshots are written under."
  value       = local.destination
}

output "latest" {
  description = "The newest snapshot under the prefix (uri, generation, crc32c, created_at, size_bytes); null when there is none."
  value       = data.agentnet_redis_snapshots.this.latest
}

output "snapshot_count" {
  description = "How many snapshots are under the prefix."
  value       = length(data.agentnet_redis_snapshots.this.snapshots)
}

output "latest_age_seconds" {
  description = "Age of the newest snapshot in seconds, when it was read; null when there is none."
  value       = data.agentnet_redis_snapshots.this.latest_age_seconds
}

output "rpo_met" {
  description = "Whether the newest snapshot was within `rpo_seconds` when it was read; null when `rpo_seconds` is null."
  value       = var.rpo_seconds == null ? null : coalesce(data.agentnet_redis_snapshots.this.latest_age_seconds, 1e9) <= var.rpo_seconds
}

output "lifecycle_rule" {
  description = "The retention rule the bucket needs on Google Cloud: delete objects under `matches_prefix` older than `age` days (a google_storage_bucket lifecycle_rule); null when `retention_days` is null."
  value = var.retention_days == null ? null : {
    age            = var.retention_days
    matches_prefix = local.prefix
  }
}
