# The Cloud KMS MAC key that signs every snapshot's manifest, and that the
# relay configuration's restores trust: a snapshot in the bucket whose
# manifest does not verify with it (written by anyone else who can write to
# the bucket) is refused before it touches an instance. The deployer, which
# takes the snapshots and runs the restores, signs and verifies; nobody else
# needs the key.
resource "google_kms_key_ring" "snapshots" {
  name     = "agentnet-snapshots"
  location = "global"

  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "snapshots" {
  name     = "snapshot-manifests"
  key_ring = google_kms_key_ring.snapshots.id
  purpose  = "MAC"

  version_template {
    algorithm = "HMAC_SHA256"
  }

  lifecycle {
    # Destroying it would make every signed snapshot unrestorable.
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "snapshots_deployer" {
  crypto_key_id = google_kms_crypto_key.snapshots.id
  role          = "roles/cloudkms.signerVerifier"
  member        = "serviceAccount:${google_service_account.deployer.email}"
}

# Signing uses the newest enabled key version (MAC keys have no primary),
# found with cryptoKeyVersions.list, which roles/cloudkms.signerVerifier
# does not grant; roles/cloudkms.viewer on this key alone does.
resource "google_kms_crypto_key_iam_member" "snapshots_deployer_viewer" {
  crypto_key_id = google_kms_crypto_key.snapshots.id
  role          = "roles/cloudkms.viewer"
  member        = "serviceAccount:${google_service_account.deployer.email}"
}
