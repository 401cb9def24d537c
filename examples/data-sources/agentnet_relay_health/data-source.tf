data "agentnet_relay_health" "front_door" {
  url   = agentnet_relay_failover_group.global.front_door_url
  token = var.probe_token
}

check "message_delivery" {
  assert {
    condition     = data.agentnet_relay_health.front_door.healthy
    error_message = "Agents cannot exchange messages through the front door: ${coalesce(data.agentnet_relay_health.front_door.error, "?")}"
  }
}
