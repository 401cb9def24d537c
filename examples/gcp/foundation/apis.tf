# The APIs the relay and this foundation use. Disabling them on destroy
# would break whatever else the project runs: they stay enabled.
locals {
  apis = toset(concat(
    [
      "compute.googleapis.com",           # VPC, load balancer
      "servicenetworking.googleapis.com", # private services access
      "redis.googleapis.com",             # Memorystore for Redis
      "run.googleapis.com",               # Cloud Run
      "storage.googleapis.com",           # state and snapshot buckets
      "iam.googleapis.com",               # service accounts, custom roles
      "iamcredentials.googleapis.com",    # impersonation of the deployer
      "artifactregistry.googleapis.com",  # the relay image
      "cloudkms.googleapis.com",          # snapshot signing (and CMEK)
      "monitoring.googleapis.com",        # the relays' metrics (Managed Service for Prometheus)
    ],
    var.dns_zone == null ? [] : ["dns.googleapis.com"],
  ))
}

resource "google_project_service" "apis" {
  for_each = local.apis

  service            = each.value
  disable_on_destroy = false
}

data "google_project" "this" {}

locals {
  # Memorystore for Redis's service agent: it writes and reads the snapshot
  # objects (export, import) and uses the instances' CMEK keys.
  redis_service_agent = "serviceAccount:service-${data.google_project.this.number}@cloud-redis.iam.gserviceaccount.com"
}
