output "redis_address" {
  description = "host:port of the instance."
  value       = "${agentnet_redis_instance.relay.host}:${agentnet_redis_instance.relay.port}"
}

output "instance_id" {
  value = agentnet_redis_instance.relay.id
}

output "snapshot_uri" {
  value = one(agentnet_redis_snapshot.latest[*].uri)
}

output "snapshot_crc32c" {
  value = one(agentnet_redis_snapshot.latest[*].crc32c)
}

output "restored_at" {
  value = one(agentnet_redis_snapshot_restore.recover[*].restored_at)
}

output "restored_from" {
  description = "The snapshot the restore selected and imported, gs://BUCKET/OBJECT#GENERATION."
  value       = one([for r in agentnet_redis_snapshot_restore.recover : "${r.source}#${r.imported_generation}"])
}
