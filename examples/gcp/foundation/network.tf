# The relay's VPC network: one subnetwork per region for Cloud Run's Direct
# VPC egress, and private services access, through which Memorystore
# instances (connect_mode PRIVATE_SERVICE_ACCESS) get private addresses on
# the same network. A relay reaches only a Redis on its egress network.

resource "google_compute_network" "relay" {
  name                    = var.network
  description             = "agentnet relay: Memorystore instances and Cloud Run egress"
  auto_create_subnetworks = false
  routing_mode            = "GLOBAL" # relays reach the peer regions' Redis

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "relay" {
  for_each = var.regions

  name          = "${var.subnetwork_prefix}${each.key}"
  region        = each.key
  network       = google_compute_network.relay.id
  ip_cidr_range = each.value
  # The relay calls the Memorystore API (redis.googleapis.com) at start.
  private_ip_google_access = true
}

# Private services access: a range allocated to Google's services and the
# peering (service networking connection) that Memorystore allocates from.
resource "google_compute_global_address" "psa" {
  name          = "${var.network}-psa"
  description   = "agentnet relay: private services access range (Memorystore)"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = var.psa_prefix_length
  network       = google_compute_network.relay.id
}

resource "google_service_networking_connection" "psa" {
  network                 = google_compute_network.relay.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.psa.name]
}
