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

variable "redis_name" {
  description = "Name of the Memorystore instance. Defaults to `relay-<region>`."
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
  description = "Redis version: `REDIS_6_X`, `REDIS_7_0` or `REDIS_7_2`. Changing it replaces the instance."
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
  description = "Ids of the other regions' Memorystore instances (their `redis_instance_id` outputs): the relay reaches agents connected to other regions through them. Leave out this region's own instance."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.peer_redis_instances : can(regex("^projects/[^/]+/locations/[^/]+/instances/[^/]+$", id))])
    error_message = "peer_redis_instances must hold instance ids, projects/PROJECT/locations/REGION/instances/NAME (another region's redis_instance_id)."
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
  description = "Further environment of the relay: token verification (`JWKS_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`; or `RELAY_DEV_KEYS` on localcloud), limits. `REDIS_ADDR`, `PEER_REDIS_ADDRS`, `REGION`, `PORT` and `K_*` are set by the service resource."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.env) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "env keys must be environment variable names: letters, digits and underscores, not starting with a digit."
  }
  validation {
    condition     = length(setintersection(keys(var.env), ["REDIS_ADDR", "PEER_REDIS_ADDRS", "REGION", "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"])) == 0
    error_message = "env must not set REDIS_ADDR, PEER_REDIS_ADDRS, REGION, PORT or K_*: the relay service sets them from the Redis wiring."
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
  description = "VPC network for Direct VPC egress, how Cloud Run reaches Memorystore's private address on Google Cloud (`projects/PROJECT/global/networks/NAME`). Ignored by localcloud."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_network == null || can(regex("^(projects/[^/]+/global/networks/)?[a-z]([-a-z0-9]*[a-z0-9])?$", var.vpc_network))
    error_message = "vpc_network must be a network name or projects/PROJECT/global/networks/NAME."
  }
}

variable "vpc_subnetwork" {
  description = "Subnetwork for Direct VPC egress, in this region (`projects/PROJECT/regions/REGION/subnetworks/NAME`). Needs `vpc_network`."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_subnetwork == null || var.vpc_network != null
    error_message = "vpc_subnetwork needs vpc_network."
  }
  validation {
    condition     = var.vpc_subnetwork == null || can(regex("^(projects/[^/]+/regions/${var.region}/subnetworks/)?[a-z]([-a-z0-9]*[a-z0-9])?$", coalesce(var.vpc_subnetwork, "x")))
    error_message = "vpc_subnetwork must be a subnetwork name or projects/PROJECT/regions/${var.region}/subnetworks/NAME, in this module's region."
  }
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
  description = "Restore the instance from a snapshot: `latest` (the newest snapshot under this region's backup prefix when the restore is first planned) or a `gs://` URI. Null: no restore. Setting it once runs the import once; a different value runs it again. After a restore a fresh snapshot is taken."
  type        = string
  default     = null

  validation {
    condition     = var.restore_from == null || var.restore_from == "latest" || can(regex("^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/[^\\s]+[^/]$", coalesce(var.restore_from, "x")))
    error_message = "restore_from must be \"latest\" or the gs://BUCKET/OBJECT URI of a snapshot."
  }
}
