output "uptime_check_ids" {
  description = "Uptime check ids by target: front-door (unpinned) and each region."
  value       = { for k, c in google_monitoring_uptime_check_config.ready : k => c.uptime_check_id }
}

output "alert_policy_names" {
  description = "Alert policy resource names (projects/P/alertPolicies/ID) by signal; region_unhealthy is a map by region."
  value = {
    region_unhealthy = { for r, p in google_monitoring_alert_policy.region_unhealthy : r => p.name }
    snapshot_rpo     = google_monitoring_alert_policy.snapshot_rpo.name
    relay_errors     = google_monitoring_alert_policy.threshold["relay_errors"].name
    redis_memory     = google_monitoring_alert_policy.threshold["redis_memory"].name
    single_copy_acks = google_monitoring_alert_policy.threshold["single_copy_acks"].name
  }
}

output "dashboard_id" {
  description = "Id of the dashboard (projects/P/dashboards/ID)."
  value       = google_monitoring_dashboard.relay.id
}
