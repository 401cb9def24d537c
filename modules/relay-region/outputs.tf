output "region" {
  description = "The region."
  value       = var.region
}

output "redis_engine" {
  description = "`instance` or `cluster`: what the region's Redis is."
  value       = var.redis_engine
}

output "redis_instance_id" {
  description = "Id of the region's Redis, the Memorystore instance or (`redis_engine = \"cluster\"`) the Memorystore for Redis Cluster: give it to the other regions' `peer_redis_instances`."
  value       = local.redis_id
}

output "redis_host" {
  description = "Address of the instance, or of the cluster's discovery endpoint."
  value       = split(":", local.redis_address)[0]
}

output "redis_port" {
  description = "Port of the instance, or of the cluster's discovery endpoint."
  value       = tonumber(split(":", local.redis_address)[1])
}

output "redis_address" {
  description = "`host:port` of the instance or of the cluster's discovery endpoint (a private address on `vpc_network`). The relay finds it through the Memorystore API, not through this output."
  value       = local.redis_address
}

output "redis_server_ca_certs" {
  description = "PEM certificates of the CA the instance's TLS certificate comes from (empty with `transit_encryption_mode = \"DISABLED\"`, and for a cluster, whose CA clients read with `GetClusterCertificateAuthority`): what a client trusts, and nothing else, to reach it."
  value       = local.cluster ? [] : try([for c in agentnet_redis_instance.this[0].server_ca_certs : c.cert], [])
}

output "vpc_network" {
  description = "The network of the instance (authorized network) and of the relay's egress."
  value       = var.vpc_network
}

output "service_id" {
  description = "Id of the relay service: the `service` of this region in modules/relay-global."
  value       = agentnet_relay_service.this.id
}

output "service_url" {
  description = "run.app URL of the relay service. With the default `ingress` it refuses connections that do not come through the load balancer: agents connect to relay-global's `front_door_url`."
  value       = agentnet_relay_service.this.url
}

output "service_ready" {
  description = "Whether the service reported a ready revision."
  value       = agentnet_relay_service.this.ready
}

output "latest_ready_revision" {
  description = "Revision serving traffic."
  value       = agentnet_relay_service.this.latest_ready_revision
}

output "peer_redis_addresses" {
  description = "Addresses of the peer instances, as resolved by the relay service (the relay itself looks them up in the Memorystore API)."
  value       = agentnet_relay_service.this.peer_redis_addresses
}

output "backup_prefix" {
  description = "`gs://BUCKET/PREFIX/` of this region's snapshots; null with a cluster, which has no snapshots here."
  value       = local.cluster ? null : module.backup[0].prefix
}

output "snapshot_uri" {
  description = "The snapshot of the current schedule slot; null with a cluster, which has no snapshots here."
  value       = local.cluster ? null : module.backup[0].snapshot_uri
}

output "latest_snapshot" {
  description = "The newest snapshot under the prefix (uri, generation, crc32c, created_at, size_bytes); null with a cluster, which has no snapshots here."
  value       = local.cluster ? null : module.backup[0].latest
}

output "backup_rpo_met" {
  description = "Whether the newest snapshot was within the recovery point objective when read."
  value       = local.cluster ? null : module.backup[0].rpo_met
}

output "backup_lifecycle_rule" {
  description = "The bucket lifecycle rule that keeps this region's snapshots `backup_retention_days` (age, matches_prefix)."
  value       = local.cluster ? null : module.backup[0].lifecycle_rule
}

output "restored_from" {
  description = "`gs://` URI and generation of the snapshot restored, null without a restore."
  value       = local.restore ? "${agentnet_redis_snapshot_restore.this[0].source}#${agentnet_redis_snapshot_restore.this[0].imported_generation}" : null
}

output "restored_at" {
  description = "When the restore finished (RFC 3339), null without a restore."
  value       = local.restore ? agentnet_redis_snapshot_restore.this[0].restored_at : null
}
