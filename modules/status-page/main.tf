# The public status page of the relay: a component per region of the
# failover group (degraded when drained or unhealthy) and per external
# dependency, and the incidents declared here.

resource "agentnet_status_page" "this" {
  bucket = var.bucket
  prefix = var.prefix
  title  = var.title

  components = concat(
    [for name in sort(keys(var.regions)) : {
      name    = "Relay ${name}"
      group   = "region"
      state   = var.regions[name] == "drained" || contains(var.unhealthy_regions, name) ? "degraded" : "operational"
      message = var.regions[name] == "drained" ? "Agents reconnect to the other regions by themselves" : null
    }],
    [for name, d in var.dependencies : {
      name    = name
      group   = "dependency"
      state   = d.state
      message = d.message
    }],
  )
  incidents = var.incidents
}
