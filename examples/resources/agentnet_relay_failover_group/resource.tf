resource "agentnet_relay_failover_group" "global" {
  name = "agentnet-relay"

  regions = [
    { region = "us-central1", service = agentnet_relay_service.us.id, weight = 500 },
    { region = "europe-west1", service = agentnet_relay_service.eu.id, weight = 500 },
    # A region outage: set state = "drained" and apply. Back: "active" again.
    { region = "asia-east1", service = agentnet_relay_service.asia.id, state = "standby" },
  ]

  # HTTPS on port 443 of a static address (reserved as agentnet-relay-ip
  # unless `address` names one); port 80 redirects to HTTPS. Point the
  # domain's DNS record at ip_address: Google provisions the certificate
  # once it resolves there.
  tls = {
    managed_domains = ["relay.example.com"]
  }

  capacity = {
    total_min_instances    = 6 # spread over the regions taking traffic
    baseline_min_instances = 1
  }

  # Probes go through the front door, pinned to one region at a time by the
  # X-Agentnet-Region header: the relay services can keep
  # ingress = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER".
  # The token is write-only (never in plan or state), so it may come from an
  # ephemeral variable or resource; bump token_wo_version when rotating it
  # to have the next apply health-check the regions with the new one.
  health_check = {
    token_wo            = var.probe_token
    token_wo_version    = 1
    timeout             = "5s"
    unhealthy_threshold = 2
  }

  min_active_regions = 1
  automatic_failover = true # an outage shows in `tofu plan -detailed-exitcode`; the apply fails over

  reintroduction = {
    steps = [10, 50, 100]
    soak  = "60s"
  }
  drain_grace_period = "30s"
}

output "front_door" {
  value = agentnet_relay_failover_group.global.front_door_url # agents use wss://<host>/ws
}

output "dns_address" {
  value = agentnet_relay_failover_group.global.ip_address
}
