variable "instance_id" {
  description = "Id of the Memorystore instance to back up (`agentnet_redis_instance.<name>.id`): `projects/PROJECT/locations/REGION/instances/NAME`."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^projects/[^/]+/locations/[^/]+/instances/[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.instance_id))
    error_message = "instance_id must be an instance id, projects/PROJECT/locations/REGION/instances/NAME (agentnet_redis_instance.<name>.id)."
  }
}

variable "bucket" {
  description = "Existing Cloud Storage bucket the snapshots are written to. Retention is the bucket's lifecycle rule (see `lifecycle_rule`)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket))
    error_message = "bucket must be a Cloud Storage bucket name (3 to 63 lowercase letters, digits, dots, hyphens or underscores), without gs://."
  }
}

variable "prefix" {
  description = "Folder of the snapshots in the bucket, ending in `/`. Defaults to `<instance name>/`. Every object under it counts as a snapshot of this instance."
  type        = string
  default     = null

  validation {
    condition     = var.prefix == null || can(regex("^[^/\\s][^\\s]*/$", var.prefix))
    error_message = "prefix must be a folder such as \"relay-us-central1/\": not empty, not starting with / and ending with /."
  }
}

variable "interval_minutes" {
  description = "How often a new snapshot is taken, in minutes: the day is cut into slots of this length and an apply in a new slot exports again. 60 (hourly) is the disaster recovery plan's backup schedule."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.interval_minutes >= 1 && var.interval_minutes <= 1440 && floor(var.interval_minutes) == var.interval_minutes && 1440 % var.interval_minutes == 0
    error_message = "interval_minutes must be a whole number of minutes from 1 to 1440 that divides a day (5, 15, 30, 60, 360, 1440, ...)."
  }
}

variable "triggers" {
  description = "Further values that take a new snapshot when they change: a restore's id (a fresh snapshot of the restored data), or any value set before a risky change. The key `slot` is the schedule's."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = !contains(keys(var.triggers), "slot")
    error_message = "triggers may not use the key \"slot\": the schedule sets it."
  }
}

variable "rpo_seconds" {
  description = "Recovery point objective: the check `backups` warns when the newest snapshot under the prefix is older than this. Default 300 (5 minutes). Null: no RPO assertion."
  type        = number
  default     = 300

  validation {
    condition     = var.rpo_seconds == null || (try(var.rpo_seconds >= 1, false) && try(floor(var.rpo_seconds) == var.rpo_seconds, false))
    error_message = "rpo_seconds must be a whole number of seconds, at least 1 (or null for no RPO assertion)."
  }
}

variable "retention_days" {
  description = "How long snapshots are kept. Not enforced here: it is the `age` of the bucket's lifecycle rule (output `lifecycle_rule`); the check `backups` warns about snapshots a day older than that. Null: no retention rule and no retention assertion."
  type        = number
  default     = 7

  validation {
    condition     = var.retention_days == null || (try(var.retention_days >= 1, false) && try(floor(var.retention_days) == var.retention_days, false))
    error_message = "retention_days must be a whole number of days, at least 1 (or null for no retention rule)."
  }
}

variable "signing_key" {
  description = "Cloud KMS crypto key (purpose MAC) that signs each snapshot's manifest, `projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY`. Restores that trust this key refuse unsigned, forged or mismatched snapshots. Null: manifests are written unsigned."
  type        = string
  default     = null

  validation {
    condition     = var.signing_key == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.signing_key))
    error_message = "signing_key must be a Cloud KMS crypto key, projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY (not a key version)."
  }
}
