# The front door's static address and its DNS record (the disaster recovery
# plan's DNS step). The address is reserved here, not by the failover group:
# it outlives any change of the load balancer, so DNS never has to move
# during a failover, a region return or a new region. The failover group
# (../, relay-global `address`) puts its HTTPS and redirect forwarding rules
# on it, and its Google-managed certificate for var.domain is issued once
# the record below resolves to it.

resource "google_compute_global_address" "front_door" {
  name         = "agentnet-relay-front-door"
  description  = "agentnet relay: front door (HTTPS, and HTTP redirecting to it)"
  address_type = "EXTERNAL"
  ip_version   = "IPV4"

  lifecycle {
    prevent_destroy = true # DNS and clients point here
  }

  depends_on = [google_project_service.apis]
}

resource "google_dns_record_set" "front_door" {
  count = var.dns_zone == null ? 0 : 1

  managed_zone = var.dns_zone
  name         = "${trimsuffix(var.domain, ".")}."
  type         = "A"
  ttl          = var.dns_ttl
  rrdatas      = [google_compute_global_address.front_door.address]
}
