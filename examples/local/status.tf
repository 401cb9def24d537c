# The public status page, published by every apply that changes what it
# shows (http://$AGENTNET_EMULATOR_HOST/<bucket>/status/index.html, and
# feed.json and feed.atom beside it). A region follows the failover group: a
# drained region, or one the group's last plan found unhealthy, is degraded,
# so the failover apply updates the page too.
#
# External Dependency Failure is a one-line change here and an apply, e.g.
#   "Calendar" = { state = "degraded", message = "Offline calendar mode: operations are queued" }
# and an incident is declared in local.incidents (see the
# agentnet_status_page documentation for their updates).

locals {
  dependencies = {
    "Identity provider"  = { state = "operational" }
    "Calendar"           = { state = "operational" }
    "Language model API" = { state = "operational" }
  }

  incidents = []
}

resource "agentnet_status_page" "status" {
  bucket = var.bucket
  prefix = "status/"
  title  = "AI Agent Network status"

  components = concat(
    [for name, r in local.settings : {
      name    = "Relay ${name}"
      group   = "region"
      state   = r.state == "drained" || contains(module.global.unhealthy_regions, name) ? "degraded" : "operational"
      message = r.state == "drained" ? "Agents reconnect to the other regions by themselves" : null
    }],
    [for name, d in local.dependencies : {
      name    = name
      group   = "dependency"
      state   = d.state
      message = try(d.message, null)
    }],
  )
  incidents = local.incidents
}

output "status_page" {
  description = "Public URL of the status page."
  value       = agentnet_status_page.status.url
}
