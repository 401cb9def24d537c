# Through the front door, to whichever region the load balancer picks.
# The token is read from a file at each probe: only its path is in state.
data "agentnet_relay_health" "front_door" {
  url        = agentnet_relay_failover_group.global.front_door_url
  token_file = var.probe_token_file
}

# Through the front door into one region (the failover group's route for
# the X-Agentnet-Region header), even while that region takes no traffic.
data "agentnet_relay_health" "europe" {
  url        = agentnet_relay_failover_group.global.front_door_url
  token_file = var.probe_token_file
  region     = "europe-west1"
}

check "message_delivery" {
  assert {
    condition     = data.agentnet_relay_health.front_door.healthy
    error_message = "Agents cannot exchange messages through the front door: ${coalesce(data.agentnet_relay_health.front_door.error, "?")}"
  }
}

check "europe_delivery" {
  assert {
    condition     = data.agentnet_relay_health.europe.healthy
    error_message = "europe-west1 does not deliver messages: ${coalesce(data.agentnet_relay_health.europe.error, "?")}"
  }
}
