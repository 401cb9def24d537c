output "url" {
  description = "Public URL of the page (`index.html`)."
  value       = agentnet_status_page.this.url
}

output "json_feed_url" {
  description = "Public URL of the JSON feed, one item per incident update."
  value       = agentnet_status_page.this.json_feed_url
}

output "atom_feed_url" {
  description = "Public URL of the Atom feed."
  value       = agentnet_status_page.this.atom_feed_url
}

output "components" {
  description = "Each component's state, as published."
  value       = { for c in agentnet_status_page.this.components : c.name => c.state }
}
