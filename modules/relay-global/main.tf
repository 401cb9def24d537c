# The global front door of the relay and its region failover: one
# agentnet_relay_failover_group over the regions' relay services (an HTTPS
# load balancer on a static address, port 80 redirecting to 443), and a
# check that agents can exchange messages through the front door.

resource "agentnet_relay_failover_group" "this" {
  name    = var.name
  project = var.project

  # Sorted by region name: the list order is stable whatever the map's.
  regions = [for name in sort(keys(var.regions)) : {
    region  = name
    service = var.regions[name].service
    state   = var.regions[name].state
    weight  = var.regions[name].weight
  }]

  capacity = {
    total_min_instances    = coalesce(var.total_min_instances, length(var.regions))
    baseline_min_instances = var.baseline_min_instances
  }

  # The token is write-only: read from the file at each plan and apply,
  # never stored in state.
  health_check = {
    token_wo            = trimspace(file(var.health_check_token_file))
    token_wo_version    = var.health_check_token_version
    timeout             = var.health_check_timeout
    unhealthy_threshold = var.unhealthy_threshold
    healthy_threshold   = var.healthy_threshold
  }

  # HTTPS on a static address; port 80 redirects to it.
  tls = {
    managed_domains = var.tls.managed_domains
    certificates    = var.tls.certificates
    certificate_map = var.tls.certificate_map
  }
  address = var.address

  min_active_regions = var.min_active_regions
  automatic_failover = var.automatic_failover

  reintroduction = {
    steps = var.reintroduction_steps
    soak  = var.reintroduction_soak
  }
  drain_grace_period = var.drain_grace_period

  # Every apply leaves a recovery record for audit.
  records_prefix      = var.records_prefix
  recovery_objectives = var.recovery_objectives
}

# Read after the group's changes are applied, so it sees the new routing.
data "agentnet_relay_health" "front_door" {
  count = var.check_front_door ? 1 : 0

  url = agentnet_relay_failover_group.this.front_door_url
  # The front door is reached by its address; its certificate names the
  # domains (a Google-managed certificate names nothing else).
  server_name = try(var.tls.managed_domains[0], null)
  token_file  = var.health_check_token_file
  timeout     = var.health_check_timeout
  depends_on  = [agentnet_relay_failover_group.this]
}

# "Verify message delivery between agents", on every plan and apply.
check "front_door" {
  assert {
    condition     = !var.check_front_door || one(data.agentnet_relay_health.front_door[*].healthy)
    error_message = "Agents cannot exchange messages through the front door ${agentnet_relay_failover_group.this.front_door_url}: ${jsonencode(one(data.agentnet_relay_health.front_door[*].error))}."
  }
}

locals {
  # Regions that take traffic according to the configuration.
  serving = var.check_regions ? toset([for name, r in var.regions : name if r.state == "active" && r.weight > 0]) : toset([])
}

# "Verify health checks are passing in target regions": a round trip into
# each serving region through the front door, pinned to it by the group's
# region route (the same path the group's health gate takes).
data "agentnet_relay_health" "region" {
  for_each = local.serving

  url         = agentnet_relay_failover_group.this.front_door_url
  region      = each.key
  server_name = try(var.tls.managed_domains[0], null)
  token_file  = var.health_check_token_file
  timeout     = var.health_check_timeout
  depends_on  = [agentnet_relay_failover_group.this]
}

check "regions" {
  assert {
    condition     = alltrue([for name, h in data.agentnet_relay_health.region : h.healthy || try(agentnet_relay_failover_group.this.effective_weights[name], 0) == 0])
    error_message = "Regions taking traffic where agents cannot exchange messages: ${jsonencode({ for name, h in data.agentnet_relay_health.region : name => h.error if !h.healthy })}."
  }
}
