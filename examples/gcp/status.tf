# The public status page (modules/status-page) at
# https://storage.googleapis.com/<status_bucket>/status/index.html, with
# feed.json and feed.atom beside it for subscribers. A region follows
# local.regions and the failover group's health, so the failover apply
# updates the page too; a dependency's trouble or an incident is a change of
# the locals below and an apply. The relays push the dependencies' states to
# every connected agent from the published feed.json (built from the bucket
# and prefix: the module's outputs depend on the regions' health).

locals {
  status_prefix            = "status/"
  dependency_notice_object = "gs://${var.status_bucket}/${local.status_prefix}feed.json"

  dependencies = {
    "Identity provider"  = { state = "operational" }
    "Calendar"           = { state = "operational" }
    "Language model API" = { state = "operational" }
  }

  incidents = []
}

module "status_page" {
  source = "../../modules/status-page"

  bucket            = var.status_bucket
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
