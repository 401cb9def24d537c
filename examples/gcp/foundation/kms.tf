# Customer-managed encryption keys (var.cmek): one key per region for the
# Memorystore instances there (a key must be in the instance's region), one
# in the buckets' location for both buckets. Rotated every 90 days; never
# destroyed by tofu (data encrypted with a destroyed key is lost).

locals {
  kms_regions     = var.cmek ? var.regions : {}
  bucket_key_ring = lower(var.buckets_location) # US -> us
}

resource "google_kms_key_ring" "redis" {
  for_each = local.kms_regions

  name     = "agentnet"
  location = each.key

  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "redis" {
  for_each = local.kms_regions

  name            = "redis"
  key_ring        = google_kms_key_ring.redis[each.key].id
  rotation_period = "7776000s" # 90 days

  lifecycle {
    prevent_destroy = true
  }
}

# Memorystore's service agent uses the key of each instance.
resource "google_kms_crypto_key_iam_member" "redis" {
  for_each = local.kms_regions

  crypto_key_id = google_kms_crypto_key.redis[each.key].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.redis_service_agent
}

resource "google_kms_key_ring" "storage" {
  count = var.cmek ? 1 : 0

  name     = "agentnet-storage"
  location = local.bucket_key_ring

  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "storage" {
  count = var.cmek ? 1 : 0

  name            = "buckets"
  key_ring        = google_kms_key_ring.storage[0].id
  rotation_period = "7776000s"

  lifecycle {
    prevent_destroy = true
  }
}

# Cloud Storage's service agent encrypts the objects of both buckets.
data "google_storage_project_service_account" "this" {}

resource "google_kms_crypto_key_iam_member" "storage" {
  count = var.cmek ? 1 : 0

  crypto_key_id = google_kms_crypto_key.storage[0].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.this.email_address}"
}
