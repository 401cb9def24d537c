# A Cloud Storage bucket for OpenTofu/Terraform state (the gcs backend):
# every write of the state keeps the previous one as a noncurrent version for
# noncurrent_retention_days, so an earlier state can be brought back
# (docs/runbooks/state-recovery.md).
resource "google_storage_bucket" "state" {
  project       = var.project
  name          = var.name
  location      = var.location
  force_destroy = var.force_destroy
  labels        = var.labels

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  # Noncurrent versions are deleted noncurrent_retention_days after they
  # became noncurrent; the live state is never touched by this rule.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  lifecycle {
    prevent_destroy = true # losing the state loses track of everything it manages
  }
}
