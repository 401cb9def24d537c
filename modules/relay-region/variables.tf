variable "project" {
  description = "Project of the instance and the service. Defaults to the provider's `project`."
  type        = string
  default     = null
}

variable "region" {
  description = "Region of this relay: its Memorystore instance and Cloud Run service, for example `us-central1`."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region name such as \"us-central1\" or \"europe-west1\"."
  }
}

variable "image" {
  description = "Container image of the relay, pinned to a tag or a digest, for example `us-docker.pkg.dev/PROJECT/agentnet/agentnet-relay:1.4.2`. A recovery redeploys exactly this image. On localcloud, images named `agentnet-relay` run the relay binary."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^([a-z0-9][a-z0-9.-]*(:[0-9]+)?/)?[a-z0-9._-]+(/[a-z0-9._-]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$", var.image)) && !endswith(var.image, ":latest")
    error_message = "image must be a container image pinned to a tag or a digest ([REGISTRY/]PATH:TAG or [REGISTRY/]PATH@sha256:DIGEST), not :latest: a recovery must redeploy the same image."
  }
}

variable "service_name" {
  description = "Name of the Cloud Run service."
  type        = string
  default     = "relay"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$", var.service_name))
    error_message = "service_name must be up to 49 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "redis_engine" {
  description = "The region's Redis: `instance`, one Memorystore for Redis instance (one main thread; snapshots and restores), or `cluster`, a Memorystore for Redis Cluster sharded over `redis_cluster.shard_count` primaries, for a region whose traffic one Redis main thread cannot carry (docs/redis-scaling.md). A cluster has no snapshots or restores in this module (`backup_*` and `restore_from` are ignored; `restore_from` must be null). Changing it replaces the region's Redis: its queued envelopes are lost unless stored on a peer region too."
  type        = string
  default     = "instance"
  nullable    = false

  validation {
    condition     = contains(["instance", "cluster"], var.redis_engine)
    error_message = "redis_engine must be \"instance\" (a Memorystore for Redis instance) or \"cluster\" (a Memorystore for Redis Cluster)."
  }
}

variable "redis_cluster" {
  description = "The Memorystore for Redis Cluster with `redis_engine = \"cluster\"`: `shard_count` primaries (1 to 250), `replica_count` replicas per shard (0 to 5; keep at least 1, so that a failed primary's replica is promoted with the data), `node_type`, `authorization_mode` (`AUTH_MODE_IAM_AUTH`: the relay authenticates with its service account's access tokens, which needs `roles/redis.dbConnectionUser`; or `AUTH_MODE_DISABLED`) and `deletion_protection_enabled`. Its network is `vpc_network` (Private Service Connect) and its TLS follows `transit_encryption_mode`."
  type = object({
    shard_count                 = optional(number, 3)
    replica_count               = optional(number, 1)
    node_type                   = optional(string, "REDIS_HIGHMEM_MEDIUM")
    authorization_mode          = optional(string, "AUTH_MODE_IAM_AUTH")
    deletion_protection_enabled = optional(bool, true)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.redis_cluster.shard_count >= 1 && var.redis_cluster.shard_count <= 250 && floor(var.redis_cluster.shard_count) == var.redis_cluster.shard_count
    error_message = "redis_cluster.shard_count must be a whole number from 1 to 250."
  }
  validation {
    condition     = var.redis_cluster.replica_count >= 0 && var.redis_cluster.replica_count <= 5 && floor(var.redis_cluster.replica_count) == var.redis_cluster.replica_count
    error_message = "redis_cluster.replica_count must be a whole number from 0 to 5."
  }
  validation {
    condition     = contains(["REDIS_SHARED_CORE_NANO", "REDIS_STANDARD_SMALL", "REDIS_HIGHMEM_MEDIUM", "REDIS_HIGHMEM_XLARGE"], var.redis_cluster.node_type)
    error_message = "redis_cluster.node_type must be REDIS_SHARED_CORE_NANO, REDIS_STANDARD_SMALL, REDIS_HIGHMEM_MEDIUM or REDIS_HIGHMEM_XLARGE."
  }
  validation {
    condition     = contains(["AUTH_MODE_IAM_AUTH", "AUTH_MODE_DISABLED"], var.redis_cluster.authorization_mode)
    error_message = "redis_cluster.authorization_mode must be AUTH_MODE_IAM_AUTH or AUTH_MODE_DISABLED."
  }
}

variable "redis_name" {
  description = "Name of the Memorystore instance (or cluster). Defaults to `relay-<region>`."
  type        = string
  default     = null

  validation {
    condition     = var.redis_name == null || can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.redis_name))
    error_message = "redis_name must be 2 to 40 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "memory_size_gb" {
  description = "Memory of the Memorystore instance in GiB, 1 to 300. Changed in place."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.memory_size_gb >= 1 && var.memory_size_gb <= 300 && floor(var.memory_size_gb) == var.memory_size_gb
    error_message = "memory_size_gb must be a whole number of GiB from 1 to 300."
  }
}

variable "tier" {
  description = "Memorystore tier: `STANDARD_HA` (a replica in another zone with automatic failover) or `BASIC` (one node). Changing it replaces the instance."
  type        = string
  default     = "STANDARD_HA"
  nullable    = false

  validation {
    condition     = contains(["BASIC", "STANDARD_HA"], var.tier)
    error_message = "tier must be BASIC or STANDARD_HA."
  }
}

variable "redis_version" {
  description = "Redis version: `REDIS_6_X`, `REDIS_7_0` or `REDIS_7_2`. A newer version upgrades the instance in place (its data kept); an older one replaces it."
  type        = string
  default     = "REDIS_7_0"
  nullable    = false

  validation {
    condition     = contains(["REDIS_6_X", "REDIS_7_0", "REDIS_7_2"], var.redis_version)
    error_message = "redis_version must be REDIS_6_X, REDIS_7_0 or REDIS_7_2."
  }
}

variable "rdb_snapshot_period" {
  description = "Memorystore's own RDB persistence, which reloads the data after a node failure: `ONE_HOUR`, `SIX_HOURS`, `TWELVE_HOURS` or `TWENTY_FOUR_HOURS`; null turns it off. The disaster recovery snapshots to Cloud Storage are separate (`backup_*`)."
  type        = string
  default     = "ONE_HOUR"

  validation {
    condition     = var.rdb_snapshot_period == null || contains(["ONE_HOUR", "SIX_HOURS", "TWELVE_HOURS", "TWENTY_FOUR_HOURS"], var.rdb_snapshot_period)
    error_message = "rdb_snapshot_period must be ONE_HOUR, SIX_HOURS, TWELVE_HOURS, TWENTY_FOUR_HOURS or null."
  }
}

variable "labels" {
  description = "Labels of the Memorystore instance."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "peer_redis_instances" {
  description = "Ids of the other regions' Memorystore instances or clusters (their `redis_instance_id` outputs): the relay reaches agents connected to other regions through them. Leave out this region's own."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.peer_redis_instances : can(regex("^projects/[^/]+/locations/[^/]+/(instances|clusters)/[^/]+$", id))])
    error_message = "peer_redis_instances must hold instance or cluster ids, projects/PROJECT/locations/REGION/instances/NAME or projects/PROJECT/locations/REGION/clusters/NAME (another region's redis_instance_id)."
  }
  validation {
    condition     = length(distinct(var.peer_redis_instances)) == length(var.peer_redis_instances)
    error_message = "peer_redis_instances must not name an instance twice."
  }
  validation {
    condition     = alltrue([for id in var.peer_redis_instances : !can(regex("/locations/${var.region}/", id))])
    error_message = "peer_redis_instances must be other regions' instances: one is in ${var.region}, this module's own region."
  }
}

variable "env" {
  description = "Further environment of the relay: token verification (`JWKS_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`; or `RELAY_DEV_KEYS` on localcloud), limits. The Redis wiring (`REDIS_INSTANCE`, `PEER_REDIS_INSTANCES`), `REGION`, `PORT`, `OPS_PORT` and `K_*` are set by the relay service, and no Redis address or password is ever passed in `env` (it would be in state)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.env) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "env keys must be environment variable names: letters, digits and underscores, not starting with a digit."
  }
  validation {
    condition     = length(setintersection(keys(var.env), ["REDIS_INSTANCE", "PEER_REDIS_INSTANCES", "REDIS_ADDR", "PEER_REDIS_ADDRS", "REDIS_PASSWORD", "AGENTNET_EMULATOR_HOST", "REGION", "PORT", "OPS_PORT"])) == 0 && !anytrue([for k in keys(var.env) : startswith(k, "K_")])
    error_message = "env must not set REDIS_INSTANCE, PEER_REDIS_INSTANCES, REDIS_ADDR, PEER_REDIS_ADDRS, REDIS_PASSWORD, AGENTNET_EMULATOR_HOST, REGION, PORT, OPS_PORT or K_*: the relay service sets the Redis wiring and the relay reads addresses, AUTH strings and CAs from the Memorystore API, so that no secret is in state."
  }
}

variable "min_instances" {
  description = "Instances kept running when the service is created. Once a failover group governs the service it manages this number (the service ignores later changes of it)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.min_instances >= 0 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number, 0 or more."
  }
  validation {
    condition     = var.min_instances <= var.max_instances
    error_message = "min_instances (${var.min_instances}) must not exceed max_instances (${var.max_instances})."
  }
}

variable "max_instances" {
  description = "Most instances the service scales to."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.max_instances >= 1 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number, 1 or more."
  }
}

variable "cpu" {
  description = "CPU limit of a relay instance (`1`, `2`, `1000m`)."
  type        = string
  default     = "1"
  nullable    = false

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?|[0-9]+m)$", var.cpu))
    error_message = "cpu must be a CPU quantity such as 1, 2 or 1000m."
  }
}

variable "memory" {
  description = "Memory limit of a relay instance (`512Mi`, `1Gi`)."
  type        = string
  default     = "512Mi"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.memory))
    error_message = "memory must be a memory quantity such as 512Mi or 2Gi."
  }
}

variable "vpc_network" {
  description = "VPC network of this region's relay and Redis, `projects/PROJECT/global/networks/NAME`: the Memorystore instance's authorized network and the relay's Direct VPC egress network. A relay reaches only a Redis on its own egress network, so every region of one relay names the same network. localcloud enforces it too."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^projects/[a-z][-a-z0-9.:]*[a-z0-9]/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.vpc_network))
    error_message = "vpc_network must be the network's full name, projects/PROJECT/global/networks/NAME (the same string for Memorystore's authorized network and Cloud Run's egress)."
  }
}

variable "vpc_subnetwork" {
  description = "Subnetwork of `vpc_network` in this region that relay instances take their egress addresses from (`projects/PROJECT/regions/REGION/subnetworks/NAME`). Null: Cloud Run picks the network's subnetwork in the region."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_subnetwork == null || can(regex("^(projects/[^/]+/regions/${var.region}/subnetworks/)?[a-z]([-a-z0-9]*[a-z0-9])?$", coalesce(var.vpc_subnetwork, "x")))
    error_message = "vpc_subnetwork must be a subnetwork name or projects/PROJECT/regions/${var.region}/subnetworks/NAME, in this module's region."
  }
}

variable "connect_mode" {
  description = "How Memorystore attaches to `vpc_network`: `PRIVATE_SERVICE_ACCESS` (an address from the network's private services access range; needs the service networking connection, see examples/gcp) or `DIRECT_PEERING`. Changing it replaces the instance."
  type        = string
  default     = "PRIVATE_SERVICE_ACCESS"
  nullable    = false

  validation {
    condition     = contains(["PRIVATE_SERVICE_ACCESS", "DIRECT_PEERING"], var.connect_mode)
    error_message = "connect_mode must be PRIVATE_SERVICE_ACCESS or DIRECT_PEERING."
  }
}

variable "reserved_ip_range" {
  description = "Where the instance's address comes from: with `PRIVATE_SERVICE_ACCESS`, the name of an allocated range of the service networking connection; with `DIRECT_PEERING`, an unused /29 CIDR. Null: Memorystore picks one."
  type        = string
  default     = null

  validation {
    condition     = var.reserved_ip_range == null || can(regex("^([a-z]([-a-z0-9]{0,61}[a-z0-9])?|[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2})$", coalesce(var.reserved_ip_range, "x")))
    error_message = "reserved_ip_range must be an allocated range name (private services access) or a CIDR such as 10.0.0.0/29 (direct peering)."
  }
}

variable "auth_enabled" {
  description = "Redis AUTH on the instance. The relay reads the AUTH string from the Memorystore API at start with its own service account (never through Terraform: no AUTH string in state or plan)."
  type        = bool
  default     = true
  nullable    = false
}

variable "transit_encryption_mode" {
  description = "`SERVER_AUTHENTICATION`: TLS between the relay and Redis, the relay trusting exactly the instance's own CA (`server_ca_certs`); `DISABLED`: plain TCP. Changing it replaces the instance."
  type        = string
  default     = "SERVER_AUTHENTICATION"
  nullable    = false

  validation {
    condition     = contains(["SERVER_AUTHENTICATION", "DISABLED"], var.transit_encryption_mode)
    error_message = "transit_encryption_mode must be SERVER_AUTHENTICATION or DISABLED."
  }
}

variable "redis_configs" {
  description = "Further Redis configuration of the instance (Memorystore's supported keys, such as `notify-keyspace-events` or `maxmemory-gb`). `maxmemory-policy` is `noeviction`: the relay acknowledges an envelope once it is stored, so Redis must refuse a write under memory pressure (the relay nacks it) rather than evict a stored one."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = try(var.redis_configs["maxmemory-policy"], "noeviction") == "noeviction"
    error_message = "redis_configs: maxmemory-policy must stay noeviction. Any eviction policy can drop acknowledged envelopes (every relay key has a TTL, so even volatile-* policies evict them), and the relay reports not ready under one."
  }
}

variable "customer_managed_key" {
  description = "Cloud KMS key encrypting the instance's data at rest (`projects/P/locations/REGION/keyRings/R/cryptoKeys/K`, in this region). Memorystore's service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it (examples/gcp). Null: Google-managed encryption. Changing it replaces the instance."
  type        = string
  default     = null

  validation {
    condition     = var.customer_managed_key == null || can(regex("^projects/[^/]+/locations/${var.region}/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.customer_managed_key, "x")))
    error_message = "customer_managed_key must be projects/PROJECT/locations/${var.region}/keyRings/RING/cryptoKeys/KEY, a key in this module's region."
  }
}

variable "service_account" {
  description = "Email of the relay's runtime service account. Required on Google Cloud: the relay calls the Memorystore API as this identity at start (redis.instances.get and redis.instances.getAuthString, see examples/gcp), and the default Compute Engine account must not be used. Null only on localcloud, which has no IAM."
  type        = string

  validation {
    condition     = var.service_account == null || can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-a-z0-9.]+\\.gserviceaccount\\.com$", coalesce(var.service_account, "x")))
    error_message = "service_account must be the email of a service account made for the relay, NAME@PROJECT.iam.gserviceaccount.com with a 6 to 30 character NAME (not the Compute Engine default account), or null on localcloud."
  }
}

variable "ingress" {
  description = "Who may reach the relay service: `INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER` (only through Cloud Load Balancing and the VPC: agents come through the front door of relay-global), `INGRESS_TRAFFIC_INTERNAL_ONLY` (the VPC only: relay-global's external front door cannot reach it either) or `INGRESS_TRAFFIC_ALL`."
  type        = string
  default     = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  nullable    = false

  validation {
    condition     = contains(["INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_ALL"], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_ALL."
  }
}

variable "default_uri_disabled" {
  description = "Turn off the service's run.app URL altogether, for internal traffic too. Nothing needs it: agents, the failover group's health checks and `agentnet_relay_health` go through the load balancer, and the service's readiness is Cloud Run's own (terminal condition, latest ready revision). `false` keeps the URL for internal callers (ingress still refuses the internet)."
  type        = bool
  default     = true
  nullable    = false
}

variable "backup_bucket" {
  description = "Existing Cloud Storage bucket for this region's Redis snapshots (under `<redis name>/`). Its lifecycle rule is the retention (output `backup_lifecycle_rule`)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.backup_bucket))
    error_message = "backup_bucket must be a Cloud Storage bucket name (3 to 63 lowercase letters, digits, dots, hyphens or underscores), without gs://."
  }
}

variable "backup_interval_minutes" {
  description = "Minutes between snapshots (see modules/redis-backup). Default 60: hourly, as the backup table says."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.backup_interval_minutes >= 1 && var.backup_interval_minutes <= 1440 && floor(var.backup_interval_minutes) == var.backup_interval_minutes && 1440 % var.backup_interval_minutes == 0
    error_message = "backup_interval_minutes must be a whole number of minutes from 1 to 1440 that divides a day (5, 15, 30, 60, 360, 1440, ...)."
  }
}

variable "backup_rpo_seconds" {
  description = "Recovery point objective the backup check asserts, in seconds (see modules/redis-backup). Null: no RPO assertion."
  type        = number
  default     = 300

  validation {
    condition     = var.backup_rpo_seconds == null || (try(var.backup_rpo_seconds >= 1, false) && try(floor(var.backup_rpo_seconds) == var.backup_rpo_seconds, false))
    error_message = "backup_rpo_seconds must be a whole number of seconds, at least 1 (or null for no RPO assertion)."
  }
}

variable "backup_retention_days" {
  description = "Days snapshots are kept: the bucket's lifecycle rule, which the backup check verifies (see modules/redis-backup). Null: no retention rule."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days == null || (try(var.backup_retention_days >= 1, false) && try(floor(var.backup_retention_days) == var.backup_retention_days, false))
    error_message = "backup_retention_days must be a whole number of days, at least 1 (or null for no retention rule)."
  }
}

variable "restore_from" {
  description = "Restore the instance from a snapshot, once. `latest`: the newest non-empty snapshot under this region's backup prefix written by the end of the second of the plan that asks for the restore (never one this apply takes). An RFC 3339 time such as `2026-11-26T14:05:00Z` (when a data corruption began): the newest non-empty snapshot written before it. A `gs://BUCKET/OBJECT` URI: that snapshot, at the generation it has when the restore is created. The choice is pinned in state: newer snapshots never run the import again, a different value does. The snapshot is verified before the instance is touched (its manifest, signed with `snapshot_signing_key`). After a restore a fresh snapshot is taken. Null: no restore."
  type        = string
  default     = null

  validation {
    condition     = var.restore_from == null || var.restore_from == "latest" || can(regex("^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/[^\\s]+[^/]$", coalesce(var.restore_from, "x"))) || can(formatdate("YYYY", coalesce(var.restore_from, "x")))
    error_message = "restore_from must be \"latest\", an RFC 3339 time such as \"2026-11-26T14:05:00Z\" (restore the newest snapshot from before it), or the gs://BUCKET/OBJECT URI of a snapshot."
  }
  validation {
    condition     = var.restore_from == null || var.redis_engine == "instance"
    error_message = "restore_from must be null with redis_engine = \"cluster\": snapshots and restores are of a Memorystore instance."
  }
}

variable "snapshot_signing_key" {
  description = "Cloud KMS MAC key (`projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY`, purpose MAC, HMAC-SHA256) that signs this region's snapshot manifests and that a restore trusts. A restore refuses a snapshot whose manifest does not verify with it (unless `restore_allow_unsigned`). Required: a snapshot bucket is only as trustworthy as everyone who can write to it, and the signature is what a restore checks."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.snapshot_signing_key))
    error_message = "snapshot_signing_key must be a Cloud KMS key: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY."
  }
}

variable "restore_allow_unsigned" {
  description = "Let a restore import a snapshot without a manifest signed by `snapshot_signing_key` (for snapshots taken before signing was set up, or without a key). Anyone who can write to the bucket can then choose the data restored."
  type        = bool
  default     = false
  nullable    = false
}

variable "restore_allow_empty" {
  description = "Let a restore import a snapshot that holds no keys, deleting every key of the instance. Off by default, so that \"latest\" never restores the empty export of a rebuilt instance."
  type        = bool
  default     = false
  nullable    = false
}

variable "metrics_sidecar" {
  description = <<-EOT
    The relay's metrics sidecar (`agentnet_relay_service`'s `metrics_sidecar`): an OpenTelemetry Collector next to each
    relay that scrapes its `/metrics` on `port` (the relay's `OPS_PORT`) and writes the series to Managed Service for
    Prometheus, which `modules/monitoring` queries. `null` (the default) deploys the relay alone. The relay's service
    account needs `roles/monitoring.metricWriter` (examples/gcp/foundation grants it). localcloud accepts the sidecar
    and does not run it.
  EOT
  type = object({
    image  = optional(string, "us-docker.pkg.dev/cloud-ops-agents-artifacts/google-cloud-opentelemetry-collector/otelcol-google:0.130.0")
    port   = optional(number, 9090)
    path   = optional(string, "/metrics")
    cpu    = optional(string, "1")
    memory = optional(string, "512Mi")
  })
  default = null
}

variable "records_prefix" {
  # Checked by the provider (gs://BUCKET/ or gs://BUCKET/PREFIX/).
  description = "`gs://BUCKET/PREFIX/` under which a restore (`restore_from`) writes its recovery record (JSON and Markdown: the snapshot restored, each step with its timing, the checks' results, the data-loss window against `recovery_objectives`); null for none."
  type        = string
  default     = null
}

variable "recovery_objectives" {
  description = "The recovery time and point objectives a restore's record is compared with (Go durations); the plan's are 1h and 5m."
  type = object({
    rto = optional(string, "1h")
    rpo = optional(string, "5m")
  })
  default  = {}
  nullable = false
}
