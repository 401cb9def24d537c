# Least-privilege identities.
#
# - agentnet-relay: the relay's runtime service account (Cloud Run). At start
#   the relay reads each Redis's address, CA and AUTH string from the
#   Memorystore API: redis.instances.get and redis.instances.getAuthString,
#   nothing else. roles/redis.viewer lacks getAuthString and the predefined
#   roles that have it also administer instances, hence a custom role. Its
#   metrics sidecar writes the relay's metrics to Cloud Monitoring
#   (Managed Service for Prometheus): roles/monitoring.metricWriter, which
#   only writes time series and reads nothing.
# - agentnet-deployer: runs `tofu plan/apply` of the relay configuration
#   (../), by impersonation (deployer_members).
# - Memorystore's service agent: writes and reads the snapshot objects on
#   the snapshot bucket only (export, import), through a bucket-level grant.

resource "google_service_account" "relay" {
  account_id   = "agentnet-relay"
  display_name = "agentnet relay (Cloud Run runtime)"
  description  = "Reads the Memorystore instances' connection details (address, CA, AUTH string) at start."

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_custom_role" "relay_redis_client" {
  role_id     = "agentnetRelayRedisClient"
  title       = "agentnet relay: Memorystore connection details"
  description = "Read a Memorystore for Redis instance and its AUTH string, to connect to it."
  permissions = [
    "redis.instances.get",
    "redis.instances.getAuthString",
  ]
}

resource "google_project_iam_member" "relay_redis_client" {
  project = var.project
  role    = google_project_iam_custom_role.relay_redis_client.name
  member  = "serviceAccount:${google_service_account.relay.email}"
}

resource "google_project_iam_member" "relay_metric_writer" {
  project = var.project
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.relay.email}"
}

# Export and import, as Memorystore's service agent does them.
resource "google_project_iam_custom_role" "redis_snapshot_io" {
  role_id     = "agentnetRedisSnapshotIO"
  title       = "agentnet: Redis snapshot export and import"
  description = "Write new snapshot objects and read them back; never delete or overwrite one."
  permissions = [
    "storage.buckets.get",
    "storage.objects.create",
    "storage.objects.get",
    "storage.objects.list",
  ]
}

resource "google_storage_bucket_iam_member" "redis_agent_snapshots" {
  bucket = google_storage_bucket.snapshots.name
  role   = google_project_iam_custom_role.redis_snapshot_io.name
  member = local.redis_service_agent
}

resource "google_service_account" "deployer" {
  account_id   = "agentnet-deployer"
  display_name = "agentnet deployer (tofu plan/apply of the relay)"
  description  = "Applies the relay configuration: Memorystore, Cloud Run, the load balancer."

  depends_on = [google_project_service.apis]
}

locals {
  deployer_project_roles = toset([
    "roles/redis.admin",               # instances: create, update, upgrade, export, import
    "roles/run.admin",                 # relay services
    "roles/compute.loadBalancerAdmin", # URL maps, backend services, NEGs, proxies, certificates, forwarding rules
    "roles/compute.networkViewer",     # Direct VPC egress and authorized network: read the network
    "roles/serviceusage.serviceUsageConsumer",
  ])
}

resource "google_project_iam_member" "deployer" {
  for_each = local.deployer_project_roles

  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# Deploying a service that runs as agentnet-relay needs actAs on that
# account only, not on every service account of the project.
resource "google_service_account_iam_member" "deployer_acts_as_relay" {
  service_account_id = google_service_account.relay.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}

# Snapshots: the data source lists them, a restore checks an object's
# generation and CRC32C before importing it.
resource "google_storage_bucket_iam_member" "deployer_snapshots" {
  bucket = google_storage_bucket.snapshots.name
  role   = google_project_iam_custom_role.redis_snapshot_io.name
  member = "serviceAccount:${google_service_account.deployer.email}"
}

# State: read, write, and the lock object (created and deleted).
resource "google_storage_bucket_iam_member" "deployer_state" {
  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.deployer.email}"
}

# The status page: write, read and delete its objects (public through the
# bucket's IAM policy, storage.tf), and read the bucket's access control
# (storage.buckets.get), which tells the resource to set no object ACL.
resource "google_storage_bucket_iam_member" "deployer_status" {
  for_each = toset(["roles/storage.objectUser", "roles/storage.legacyBucketReader"])

  bucket = google_storage_bucket.status.name
  role   = each.value
  member = "serviceAccount:${google_service_account.deployer.email}"
}

# Who may act as the deployer: a workload identity pool's principals (CI)
# through workload identity federation, people through impersonation.
resource "google_service_account_iam_member" "deployer_users" {
  for_each = toset(var.deployer_members)

  service_account_id = google_service_account.deployer.name
  role               = startswith(each.value, "principal") ? "roles/iam.workloadIdentityUser" : "roles/iam.serviceAccountTokenCreator"
  member             = each.value
}
