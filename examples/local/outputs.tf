output "front_door_url" {
  description = "https:// URL of the front door; agents connect to <front_door_url>/ws (wss://), trusting localcloud's CA."
  value       = module.global.front_door_url

  precondition {
    condition     = length(setsubtract(keys(local.regions), keys(local.redis_instances))) == 0
    error_message = "Regions without a line in local.redis_instances would have no peers: ${join(", ", setsubtract(keys(local.regions), keys(local.redis_instances)))}. Add one line per region there."
  }
}

output "effective_weights" {
  description = "Share of new connections each region takes (0: none)."
  value       = module.global.effective_weights
}

output "serving_regions" {
  description = "Regions taking new connections."
  value       = module.global.serving_regions
}

output "unhealthy_regions" {
  description = "Active regions the last plan found unhealthy."
  value       = module.global.unhealthy_regions
}

output "min_instances" {
  description = "Minimum relay instances per region, from the capacity plan."
  value       = module.global.min_instances
}

output "front_door_healthy" {
  description = "Whether two agents exchanged a message through the front door after the last apply."
  value       = module.global.front_door_healthy
}

output "service_urls" {
  description = "Each region's relay service URL."
  value       = { for name, r in module.region : name => r.service_url }
}

output "network" {
  description = "The VPC network of every Redis instance and relay."
  value       = local.network
}

output "redis_addresses" {
  description = "Each region's Memorystore address (a redis-server on localcloud, with AUTH and TLS: the relays find the AUTH string and CA through the Memorystore API)."
  value       = { for name, r in module.region : name => r.redis_address }
}

output "redis_instances" {
  description = "Each region's Memorystore instance id (or Redis Cluster id)."
  value       = { for name, r in module.region : name => r.redis_instance_id }
}

output "latest_snapshots" {
  description = "Each region's newest Redis snapshot (null for a region on a Redis Cluster)."
  value       = { for name, r in module.region : name => try(r.latest_snapshot.uri, null) }
}

output "restored" {
  description = "Regions whose Redis was restored, with the snapshot and when."
  value       = { for name, r in module.region : name => { from = r.restored_from, at = r.restored_at } if r.restored_at != null }
}

output "records_prefix" {
  description = "Where every failover, restore and drill writes its recovery record (list them with data.agentnet_recovery_records)."
  value       = local.records_prefix
}
