# The two buckets of the backup table, and the status page's:
#   Terraform State  state file backup  after each change  90 days
#   Redis Data       RDB snapshots      hourly             7 days
# Both are private (uniform access, public access prevention) and, with
# var.cmek, encrypted with a key of this project.

locals {
  state_bucket    = coalesce(var.state_bucket, "${var.project}-agentnet-tfstate")
  snapshot_bucket = coalesce(var.snapshot_bucket, "${var.project}-agentnet-redis-snapshots")
  status_bucket   = coalesce(var.status_bucket, "${var.project}-agentnet-status")
}

# Every write of the state keeps the previous version (object versioning);
# a version replaced more than state_noncurrent_days ago is deleted. The
# current state is never deleted by the rule.
resource "google_storage_bucket" "state" {
  name                        = local.state_bucket
  location                    = var.buckets_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.state_noncurrent_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.cmek ? [google_kms_crypto_key.storage[0].id] : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  lifecycle {
    prevent_destroy = true # losing the state loses track of the relay
  }

  depends_on = [google_kms_crypto_key_iam_member.storage]
}

# Redis snapshots, written by Memorystore's export under relay-<region>/
# (modules/redis-backup), deleted snapshot_retention_days after they are
# written. Each export is a new object: no versioning needed. The recovery
# records of ../ go under records/, which the rule keeps.
resource "google_storage_bucket" "snapshots" {
  name                        = local.snapshot_bucket
  location                    = var.buckets_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age            = var.snapshot_retention_days # module.region[*].backup_lifecycle_rule.age
      matches_prefix = ["relay-"]                  # each region writes under relay-<region>/
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.cmek ? [google_kms_crypto_key.storage[0].id] : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  lifecycle {
    prevent_destroy = true # the backups
  }

  depends_on = [google_kms_crypto_key_iam_member.storage]
}

# The public status page (../status.tf): uniform bucket-level access, as
# Google recommends, and every object public through one IAM binding
# (allUsers: roles/storage.objectViewer); agentnet_status_page then sets no
# object ACL. So public access prevention is not enforced here, and nothing
# but the page is written here. Not encrypted with var.cmek: Google's caches
# serve public objects only without customer-managed keys.
resource "google_storage_bucket" "status" {
  name                        = local.status_bucket
  location                    = var.buckets_location
  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"
}

resource "google_storage_bucket_iam_member" "status_public" {
  bucket = google_storage_bucket.status.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}
