# Uptime checks on the front door: the relay's public /ready through the load
# balancer, once unpinned (what agents see) and once per region, pinned by
# the X-Agentnet-Region header that relay-global's URL map routes to that
# region only. A region's check fails when its relays are not ready even
# while the front door still serves from the others.
locals {
  # check key -> region header value ("" for the unpinned check)
  uptime_targets = merge({ "front-door" = "" }, { for r in var.regions : r => r })
}

resource "google_monitoring_uptime_check_config" "ready" {
  for_each = local.uptime_targets

  project      = var.project
  display_name = each.value == "" ? "${var.name_prefix} front door ${var.ready_path}" : "${var.name_prefix} ${each.key} ${var.ready_path}"
  period       = var.uptime_check_period
  timeout      = "10s"

  http_check {
    path         = var.ready_path
    port         = 443
    use_ssl      = true
    validate_ssl = true
    headers      = each.value == "" ? {} : { "X-Agentnet-Region" = each.value }

    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project
      host       = var.front_door_host
    }
  }
}
