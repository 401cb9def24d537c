resource "agentnet_relay_service" "us" {
  name           = "relay"
  region         = "us-central1"
  image          = "us-docker.pkg.dev/my-agentnet-project/agentnet/agentnet-relay:1.0.0"
  redis_instance = agentnet_redis_instance.us.id
  # Agents connected to other regions are reached through their Redis.
  peer_redis_instances = [agentnet_redis_instance.eu.id]

  env = {
    JWKS_URL     = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
    JWT_ISSUER   = "https://securetoken.google.com/my-agentnet-project"
    JWT_AUDIENCE = "my-agentnet-project"
  }

  min_instances = 1
  max_instances = 20
  cpu           = "1"
  memory        = "512Mi"

  # Direct VPC egress: how Cloud Run reaches Memorystore's private address.
  # It must be the authorized_network of every Redis instance above.
  vpc_network    = "projects/my-agentnet-project/global/networks/agentnet"
  vpc_subnetwork = "projects/my-agentnet-project/regions/us-central1/subnetworks/agentnet-us-central1"

  # Agents authenticate with the relay's own tokens, not Google identities;
  # only the failover group's load balancer reaches the service.
  invoker_iam_disabled = true
  ingress              = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  default_uri_disabled = true

  # The relay's identity toward the Memorystore API (addresses, AUTH, CA).
  service_account = "agentnet-relay@my-agentnet-project.iam.gserviceaccount.com"

  # A failover group manages minimum instances once it governs this service.
  lifecycle {
    ignore_changes = [min_instances]
  }
}
