# Each region's relay through the front door, for the status page.
data "agentnet_relay_health" "region" {
  for_each    = toset([for r in agentnet_relay_failover_group.global.regions : r.region])
  url         = agentnet_relay_failover_group.global.front_door_url
  token_file  = var.probe_token_file
  region      = each.key
  server_name = "relay.example.com"
}

locals {
  group = agentnet_relay_failover_group.global
  # A region follows the failover group: drained, or found unhealthy by the
  # group's plan or by a round trip through the front door, it is degraded.
  degraded = {
    for r in local.group.regions : r.region => (r.state == "drained" ||
    contains(local.group.unhealthy_regions, r.region) || !data.agentnet_relay_health.region[r.region].healthy)
  }
}

resource "agentnet_status_page" "status" {
  bucket = "agentnet-status" # public: allUsers holds roles/storage.objectViewer
  prefix = "status/"
  title  = "AI Agent Network status"

  components = concat(
    [for r in local.group.regions : {
      name    = "Relay ${r.region}"
      group   = "region"
      state   = local.degraded[r.region] ? "degraded" : "operational"
      message = r.state == "drained" ? "Agents reconnect to the other regions by themselves" : null
    }],
    [
      { name = "Identity provider", group = "dependency", state = "operational" },
      { name = "Calendar", group = "dependency", state = "degraded", message = "Offline calendar mode: operations are queued" },
      { name = "Language model API", group = "dependency", state = "operational" },
    ],
  )

  incidents = [
    {
      id                   = "2026-03-01-calendar"
      title                = "Calendar changes are delayed"
      status               = "identified"
      components           = ["Calendar"]
      started_at           = "2026-03-01T10:00:00Z"
      estimated_resolution = "2026-03-01T12:00:00Z"
      updates = [
        { template = "initial_notification", at = "2026-03-01T10:05:00Z" },
        { template = "recovery_in_progress", at = "2026-03-01T10:40:00Z", message = "The calendar provider is recovering; queued operations will be applied in order." },
      ]
    },
    # Resolved incidents stay on the page; removed from here, they stay in
    # its history (read back from the published JSON feed).
  ]

  # Each new or changed incident, posted to the team's channel.
  notification {
    url_wo = var.incidents_webhook # write-only: never in the plan or the state
    format = "slack"
  }
}

output "status_page" {
  value = agentnet_status_page.status.url
}
