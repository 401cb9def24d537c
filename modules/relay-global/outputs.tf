output "id" {
  description = "Id of the failover group (`projects/PROJECT/global/urlMaps/NAME`)."
  value       = agentnet_relay_failover_group.this.id
}

output "front_door_url" {
  description = "`https://` URL of the front door; agents connect to `<front_door_url>/ws` over WebSocket with TLS (`wss://`)."
  value       = agentnet_relay_failover_group.this.front_door_url
}

output "ip_address" {
  description = "The front door's IP address (the given `address`, or the one the group reserved): what the managed domains' DNS records point at."
  value       = agentnet_relay_failover_group.this.ip_address
}

output "effective_weights" {
  description = "URL map weight of each region, as read from the load balancer (0: takes no new connections)."
  value       = agentnet_relay_failover_group.this.effective_weights
}

output "unhealthy_regions" {
  description = "Active regions the last plan found unhealthy (with `automatic_failover`, planned to weight 0)."
  value       = agentnet_relay_failover_group.this.unhealthy_regions
}

output "min_instances" {
  description = "Minimum instances the capacity plan gives each region."
  value       = agentnet_relay_failover_group.this.min_instances
}

output "serving_regions" {
  description = "Regions taking new connections (effective weight above 0), sorted."
  value       = sort([for name, w in agentnet_relay_failover_group.this.effective_weights : name if w > 0])
}

output "url_map" {
  description = "Self link of the URL map."
  value       = agentnet_relay_failover_group.this.url_map
}

output "front_door_healthy" {
  description = "Whether the last probe of the front door exchanged a message; null with `check_front_door = false`."
  value       = one(data.agentnet_relay_health.front_door[*].healthy)
}

output "region_health" {
  description = "With `check_regions`, per region taking traffic: whether a round trip into it through the front door worked (`healthy`), its `latency_ms` and `error`. Empty without."
  value       = { for name, h in data.agentnet_relay_health.region : name => { healthy = h.healthy, latency_ms = h.latency_ms, error = h.error } }
}

output "front_door_latency_ms" {
  description = "Round-trip time of the last front door probe in milliseconds; null when unhealthy or not probed."
  value       = one(data.agentnet_relay_health.front_door[*].latency_ms)
}
