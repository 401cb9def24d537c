# The dashboard is dashboard.json, kept as JSON in the repository (the plan
# backs dashboards up as JSON). The module sets its display name and the
# name of the snapshot exports metric (the file's one template variable).
resource "google_monitoring_dashboard" "relay" {
  project = var.project
  dashboard_json = jsonencode(merge(
    jsondecode(templatefile("${path.module}/dashboard.json", { snapshot_exports_metric = google_logging_metric.snapshot_exports.name })),
    { displayName = "${var.name_prefix} relay" },
  ))
}
