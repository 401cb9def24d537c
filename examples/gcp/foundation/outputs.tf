output "relay_tfvars" {
  description = "Inputs of the relay configuration (../): `tofu output -json relay_tfvars > ../foundation.auto.tfvars.json`."
  value = {
    project               = var.project
    vpc_network           = google_compute_network.relay.id
    subnetwork_prefix     = var.subnetwork_prefix
    psa_range             = google_compute_global_address.psa.name
    relay_service_account = google_service_account.relay.email
    snapshot_bucket       = google_storage_bucket.snapshots.name
    status_bucket         = google_storage_bucket.status.name
    front_door_address    = google_compute_global_address.front_door.self_link
    domain                = trimsuffix(var.domain, ".")
    redis_kms_keys        = { for region, key in google_kms_crypto_key.redis : region => key.id }
    snapshot_signing_key  = google_kms_crypto_key.snapshots.id
  }
  depends_on = [google_service_networking_connection.psa]
}

output "state_bucket" {
  description = "Bucket of the relay configuration's state: `tofu init -backend-config=\"bucket=...\"` in ../."
  value       = google_storage_bucket.state.name
}

output "front_door_ip" {
  description = "The front door's static IPv4 address: point var.domain at it (done here when dns_zone is set)."
  value       = google_compute_global_address.front_door.address
}

output "deployer_service_account" {
  description = "Service account that runs plan/apply of the relay configuration (GOOGLE_IMPERSONATE_SERVICE_ACCOUNT, or the CI's service_account)."
  value       = google_service_account.deployer.email
}

output "relay_service_account" {
  description = "The relay's runtime service account."
  value       = google_service_account.relay.email
}
