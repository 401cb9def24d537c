variable "project" {
  type        = string
  description = "Project that holds the uptime checks, alert policies, log-based metric and dashboard (the relay's project)."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a Google Cloud project ID: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "front_door_host" {
  type        = string
  description = "Host name of the front door (relay-global's domain, served over HTTPS), for example relay.example.com. The uptime checks request https://HOST/ready."
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", var.front_door_host)) && !can(regex("://|/", var.front_door_host))
    error_message = "front_door_host must be a bare host name such as relay.example.com (no scheme, port or path)."
  }
}

variable "regions" {
  type        = list(string)
  description = "Regions of the relay. Each gets an uptime check pinned to it through the front door (header X-Agentnet-Region, which relay-global's URL map routes to that region only) and a region-unhealthy alert."
  validation {
    condition     = length(var.regions) > 0 && length(var.regions) == length(distinct(var.regions)) && alltrue([for r in var.regions : can(regex("^[a-z]+-[a-z]+[0-9]+$", r))])
    error_message = "regions must list at least one region, without duplicates, each named like us-central1."
  }
}

variable "ready_path" {
  type        = string
  default     = "/ready"
  description = "Path of the relay's public readiness endpoint. Cloud Run reserves paths ending in z (such as /readyz), so the relay serves /ready."
  validation {
    condition     = startswith(var.ready_path, "/") && !endswith(var.ready_path, "z")
    error_message = "ready_path must start with / and must not end in z (Cloud Run reserves such paths): the relay serves /ready."
  }
}

variable "uptime_check_period" {
  type        = string
  default     = "60s"
  description = "How often each uptime check runs from each checker location: 60s, 300s, 600s or 900s."
  validation {
    condition     = contains(["60s", "300s", "600s", "900s"], var.uptime_check_period)
    error_message = "uptime_check_period must be one of 60s, 300s, 600s, 900s."
  }
}

variable "notification_channels" {
  type        = list(string)
  default     = []
  description = "Notification channels every alert policy notifies, as projects/PROJECT/notificationChannels/ID (email, Slack, PagerDuty, or a webhook that starts the recovery workflow of examples/ci/recover.yml)."
  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels must each be projects/PROJECT/notificationChannels/ID."
  }
}

variable "snapshot_rpo_seconds" {
  type        = number
  default     = 3900
  description = "Recovery point objective of the Redis snapshots, in seconds: the snapshot alert fires when no Memorystore export finished for this long. The default is one hourly slot plus five minutes; 120 to 86400 (Cloud Monitoring's limits for an absence condition)."
  validation {
    condition     = var.snapshot_rpo_seconds >= 120 && var.snapshot_rpo_seconds <= 86400 && floor(var.snapshot_rpo_seconds / 60) * 60 == var.snapshot_rpo_seconds
    error_message = "snapshot_rpo_seconds must be a whole number of minutes from 120 to 86400."
  }
}

variable "relay_error_rate" {
  type        = number
  default     = 1
  description = "Failed Redis operations per second in one region (the relay's relay_redis_errors_total) above which the relay error rate alert fires after five minutes."
  validation {
    condition     = var.relay_error_rate > 0
    error_message = "relay_error_rate must be greater than 0 (operations per second)."
  }
}

variable "redis_memory_ratio" {
  type        = number
  default     = 0.8
  description = "Memorystore memory usage ratio (redis.googleapis.com/stats/memory/usage_ratio) above which the Redis memory alert fires after five minutes. The relay's Redis has maxmemory-policy noeviction: a full Redis refuses sends."
  validation {
    condition     = var.redis_memory_ratio > 0 && var.redis_memory_ratio < 1
    error_message = "redis_memory_ratio must be between 0 and 1 exclusive, for example 0.8."
  }
}

variable "name_prefix" {
  type        = string
  default     = "agentnet-relay"
  description = "Prefix of the display names of the checks, policies and dashboard, and of the log-based metric's name."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,40}$", var.name_prefix))
    error_message = "name_prefix must be 1 to 41 lowercase letters, digits or hyphens, starting with a letter."
  }
}
