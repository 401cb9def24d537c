# The public status page (modules/status-page), published by every apply that
# changes what it shows: `tofu output -raw status_page`, with feed.json and
# feed.atom beside it. A region follows local.regions and the failover group's
# health: drained or unhealthy, it is degraded, so the failover apply updates
# the page too.
#
# External Dependency Failure is a one-line change of local.dependencies and
# an apply, e.g.
#   "Calendar" = { state = "degraded", message = "Offline calendar mode: operations are queued" }
# Incidents go in local.incidents (see the agentnet_status_page documentation).
# The relays push the dependencies' states to every connected agent: they read
# the published feed.json (DEPENDENCY_NOTICE_OBJECT, built here from the bucket
# and prefix: the module's outputs depend on the regions' health, which depends
# on the relays).

locals {
  status_prefix            = "status/"
  dependency_notice_object = "gs://${var.bucket}/${local.status_prefix}feed.json"

  dependencies = {
    "Identity provider"  = { state = "operational" }
    "Calendar"           = { state = "operational" }
    "Language model API" = { state = "operational" }
  }

  incidents = []
}

module "status_page" {
  source = "../../modules/status-page"

  bucket            = var.bucket
  prefix            = local.status_prefix
  regions           = { for name, r in local.settings : name => r.state }
  unhealthy_regions = module.global.unhealthy_regions
  dependencies      = local.dependencies
  incidents         = local.incidents
}

output "status_page" {
  description = "Public URL of the status page."
  value       = module.status_page.url
}
