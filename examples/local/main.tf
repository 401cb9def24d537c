# The relay in three regions on localcloud, behind one HTTPS front door, built
# from the modules in modules/: per region a Memorystore instance (a real
# redis-server with AUTH and TLS), a relay service (real relay processes,
# reachable only through the load balancer) and hourly snapshots to Cloud
# Storage; a failover group over the regions. The same secure defaults as on
# Google Cloud, which localcloud enforces the same way: one VPC network for
# every Redis and relay, no Cloud Run invoker check (agents use relay tokens),
# ingress from the load balancer only, and a certificate from localcloud's CA.
#
# Every procedure of the runbook is a one-line change to local.regions and an
# apply (README.md):
#
#   region failover   "asia-east1"   = { state = "drained" }
#   region return     "asia-east1"   = { state = "active" }
#   Redis restore     "europe-west1" = { state = "active", restore_from = "latest" }
#   new region        "us-east1"     = { state = "standby" }

terraform {
  required_version = ">= 1.9.0"

  required_providers {
    agentnet = {
      source = "agentnet/agentnet"
    }
  }
}

provider "agentnet" {
  project = var.project
  region  = "us-central1"
  # emulator_host comes from AGENTNET_EMULATOR_HOST: the localcloud address.
}

locals {
  # The regions of the relay, one line each.
  #   state:        active (takes traffic), drained (none; its agents move
  #                 away) or standby (none; kept at baseline capacity)
  #   weight:       share of new connections while active (default 100)
  #   max_instances: most relay instances the region runs (default 5)
  #   restore_from: restores the region's Redis instance, once (a new value
  #                 restores again): "latest" (the newest verified snapshot
  #                 from before the plan), an RFC 3339 time (the newest from
  #                 before a corruption began) or a gs:// snapshot URI
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
      max_instances = try(r.max_instances, 5)
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

  # Recovery records: in the snapshot bucket, compared with the plan's
  # objectives (local.recovery.rto is this topology's own, tighter,
  # readiness target).
  records_prefix      = "gs://${var.bucket}/records/"
  recovery_objectives = { rto = "1h", rpo = "5m" }

  # One network for every region: a relay reaches only a Redis on its own
  # egress network.
  network = "projects/${var.project}/global/networks/${var.network}"
}

module "region" {
  source   = "../../modules/relay-region"
  for_each = local.settings

  region = each.key
  image  = var.image
  # localcloud runs one redis-server per instance whatever the tier.
  tier           = "BASIC"
  memory_size_gb = 1
  # A region of var.redis_cluster_regions gets a Memorystore for Redis
  # Cluster instead: three primaries with a replica each, real
  # redis-servers in cluster mode on localcloud.
  redis_engine = contains(var.redis_cluster_regions, each.key) ? "cluster" : "instance"
  redis_cluster = {
    shard_count   = 3
    replica_count = 1
    # IAM authentication, the module's default: localcloud's relays take
    # their access token from its metadata server, as Cloud Run's do.
    # A local demo is torn down and rebuilt at will.
    deletion_protection_enabled = false
  }
  peer_redis_instances = [for name, id in local.peers : id if name != each.key]
  env                  = { RELAY_DEV_KEYS = var.relay_dev_keys, DEPENDENCY_NOTICE_OBJECT = local.dependency_notice_object }
  max_instances        = each.value.max_instances

  # The module's secure defaults (AUTH, TLS, noeviction, private services
  # access, ingress from the load balancer only) stay on.
  vpc_network     = local.network
  service_account = "agentnet-relay@${var.project}.iam.gserviceaccount.com" # localcloud has no IAM; kept as on Google Cloud

  backup_bucket           = var.bucket
  backup_interval_minutes = local.recovery.snapshot_interval_minutes
  snapshot_signing_key    = var.snapshot_signing_key
  restore_from            = each.value.restore_from

  records_prefix      = local.records_prefix
  recovery_objectives = local.recovery_objectives
}

module "global" {
  source = "../../modules/relay-global"

  name = "agentnet-relay"
  # HTTPS with a managed certificate: on localcloud it is issued at once by
  # localcloud's CA (GET /_localcloud/ca.pem), which the provider trusts.
  tls = { managed_domains = [var.domain] }
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
  automatic_failover      = true # an outage shows in `tofu plan -detailed-exitcode`; the apply fails over

  reintroduction_steps = [10, 50, 100]
  reintroduction_soak  = local.recovery.reintroduction_soak
  drain_grace_period   = local.recovery.drain_grace_period

  # Every failover and restore leaves a recovery record for audit (the
  # drills write theirs here too): list them with
  # data.agentnet_recovery_records.
  records_prefix      = local.records_prefix
  recovery_objectives = local.recovery_objectives
}
