# The relay on Google Cloud: the same modules as examples/local, with
# Memorystore STANDARD_HA instances (private services access, AUTH, TLS,
# noeviction, optional CMEK) reached over Direct VPC egress by relays that
# run as their own least-privilege service account and take traffic only
# from the load balancer, an HTTPS front door with a Google-managed
# certificate on a static address, tokens verified against Firebase Auth,
# and state in Cloud Storage.
#
# Everything that needs the google provider (the network, private services
# access, service accounts and roles, buckets, KMS keys, the front door's
# address and DNS record) is in foundation/, applied first; its output
# relay_tfvars is this configuration's input (README.md).
#
# Every procedure of the runbook is a one-line change to local.regions and an
# apply (README.md):
#
#   region failover   "asia-east1"   = { state = "drained" }
#   region return     "asia-east1"   = { state = "active" }
#   Redis restore     "europe-west1" = { state = "active", restore_from = "latest" }
#   new region        "us-east1"     = { state = "standby" }

provider "agentnet" {
  project = var.project
  region  = var.default_region
  # No emulator_host: Google Cloud, with Application Default Credentials.
}

locals {
  # The regions of the relay, one line each.
  #   state:        active (takes traffic), drained (none; its agents move
  #                 away) or standby (none; kept at baseline capacity)
  #   weight:       share of new connections while active (default 100)
  #   max_instances: most relay instances the region runs (default var.max_instances_per_region)
  #   restore_from: restores the region's Memorystore instance, once (a new
  #                 value restores again): "latest" (the newest verified
  #                 snapshot from before the plan), an RFC 3339 time (the
  #                 newest from before a corruption began) or a gs:// URI
  regions = {
    "us-central1"  = { state = "active" }
    "europe-west1" = { state = "active" }
    "asia-east1"   = { state = "active" }
  }

  settings = {
    for name, r in local.regions : name => {
      state         = try(r.state, "active")
      weight        = try(r.weight, 100)
      restore_from  = try(r.restore_from, null)
      max_instances = try(r.max_instances, var.max_instances_per_region)
    }
  }

  # Each region's Memorystore instance, for the other regions' relays to
  # route through. One line per region this configuration can run: a
  # relay's peers are other instances of the same module call, which
  # OpenTofu lets a configuration refer to only with a written-out key.
  # Lines of regions not in local.regions are ignored.
  redis_instances = {
    "us-central1"          = try(module.region["us-central1"].redis_instance_id, null)
    "us-east1"             = try(module.region["us-east1"].redis_instance_id, null)
    "us-west1"             = try(module.region["us-west1"].redis_instance_id, null)
    "europe-west1"         = try(module.region["europe-west1"].redis_instance_id, null)
    "europe-west4"         = try(module.region["europe-west4"].redis_instance_id, null)
    "asia-east1"           = try(module.region["asia-east1"].redis_instance_id, null)
    "asia-northeast1"      = try(module.region["asia-northeast1"].redis_instance_id, null)
    "australia-southeast1" = try(module.region["australia-southeast1"].redis_instance_id, null)
    "southamerica-east1"   = try(module.region["southamerica-east1"].redis_instance_id, null)
  }
  peers = { for name, id in local.redis_instances : name => id if contains(keys(local.regions), name) }

  # Token verification: Firebase Auth ID tokens of the project.
  firebase_project = coalesce(var.firebase_project, var.project)
  relay_env = merge({
    JWKS_URL     = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
    JWT_ISSUER   = "https://securetoken.google.com/${local.firebase_project}"
    JWT_AUDIENCE = local.firebase_project
    # The dependency notice pushed to every agent (status.tf).
    DEPENDENCY_NOTICE_OBJECT = local.dependency_notice_object
  }, var.relay_env)
}

module "region" {
  source   = "../../modules/relay-region"
  for_each = local.settings

  project        = var.project
  region         = each.key
  image          = var.image
  tier           = "STANDARD_HA"
  memory_size_gb = var.redis_memory_size_gb
  redis_version  = "REDIS_7_2"
  labels         = { app = "agent-relay" }

  peer_redis_instances = [for name, id in local.peers : id if name != each.key]
  env                  = local.relay_env
  max_instances        = each.value.max_instances
  cpu                  = "1"
  memory               = "512Mi"

  # One network: Memorystore's authorized network (private services access,
  # from the range foundation/ allocated) and the relays' Direct VPC egress,
  # one subnetwork per region named <subnetwork_prefix><region>.
  vpc_network       = var.vpc_network
  vpc_subnetwork    = "projects/${var.project}/regions/${each.key}/subnetworks/${var.subnetwork_prefix}${each.key}"
  reserved_ip_range = var.psa_range
  # AUTH, TLS and noeviction are the module's defaults.
  customer_managed_key = lookup(var.redis_kms_keys, each.key, null)

  # The relay's own identity: it reads each Redis's address, CA and AUTH
  # string from the Memorystore API, and nothing else.
  service_account = var.relay_service_account
  # The relay's metrics reach Cloud Monitoring (modules/monitoring's
  # dashboard and alerts) through a collector sidecar; the account needs
  # roles/monitoring.metricWriter (foundation/iam.tf).
  metrics_sidecar = { image = var.metrics_collector_image }

  backup_bucket           = var.snapshot_bucket
  backup_interval_minutes = local.recovery.snapshot_interval_minutes
  backup_retention_days   = 7 # the bucket's lifecycle rule (README.md)
  backup_rpo_seconds      = var.rpo_seconds
  snapshot_signing_key    = var.snapshot_signing_key
  restore_from            = each.value.restore_from

  records_prefix      = local.records_prefix
  recovery_objectives = local.recovery_objectives
}

module "global" {
  source = "../../modules/relay-global"

  project = var.project
  name    = "agentnet-relay"

  # HTTPS on the static address foundation/ reserved, which DNS points at;
  # the Google-managed certificate is issued once it does.
  tls     = { managed_domains = [var.domain] }
  address = var.front_door_address

  regions = {
    for name, r in local.settings : name => {
      service = module.region[name].service_id
      state   = r.state
      weight  = r.weight
    }
  }

  total_min_instances    = local.recovery.total_min_instances
  baseline_min_instances = local.recovery.baseline_min_instances
  min_active_regions     = 1

  health_check_token_file = var.probe_token_file
  health_check_timeout    = "5s"
  unhealthy_threshold     = 2
  automatic_failover      = true # an outage shows in `tofu plan -detailed-exitcode`; the apply fails over

  reintroduction_steps = [10, 50, 100]
  reintroduction_soak  = local.recovery.reintroduction_soak
  drain_grace_period   = local.recovery.drain_grace_period

  # Every failover and restore leaves a recovery record for audit, listed
  # by data.agentnet_recovery_records.
  records_prefix      = local.records_prefix
  recovery_objectives = local.recovery_objectives
}

locals {
  # In foundation/'s snapshot bucket, outside the relay-<region>/ prefixes
  # its lifecycle rule deletes: records are kept. The deployer's role there
  # creates objects and never overwrites one; each record is a new object.
  records_prefix      = "gs://${var.snapshot_bucket}/records/"
  recovery_objectives = { rto = "1h", rpo = "5m" } # the plan's objectives
}
