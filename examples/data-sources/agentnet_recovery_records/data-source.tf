# The failover group's last five recoveries that failed or missed their RTO.
data "agentnet_recovery_records" "missed" {
  prefix      = "gs://example-dr-records/agentnet/"
  kind        = "failover"
  subject     = "relay"
  failed_only = true
  limit       = 5
}

output "missed_recoveries" {
  value = [for r in data.agentnet_recovery_records.missed.records : "${r.started} ${r.markdown_uri}"]
}
