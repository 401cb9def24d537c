variable "bucket" {
  description = "Existing public bucket the page is published to: uniform bucket-level access with allUsers holding roles/storage.objectViewer (no object ACLs), or fine-grained access control (each object made public with publicRead)."
  type        = string
}

variable "prefix" {
  description = "Folder of the page in the bucket, ending in `/`."
  type        = string
  default     = "status/"
}

variable "title" {
  description = "Title of the page and its feeds."
  type        = string
  default     = "AI Agent Network status"
}

variable "regions" {
  description = "State of each region in the failover group (`active`, `drained` or `standby`), such as the failover group's regions as a map: a drained region is shown degraded."
  type        = map(string)

  validation {
    condition     = alltrue([for s in values(var.regions) : contains(["active", "drained", "standby"], s)])
    error_message = "Each value of regions must be active, drained or standby (the failover group's region states)."
  }
}

variable "unhealthy_regions" {
  description = "Regions found unhealthy (the failover group's `unhealthy_regions`, or regions whose `agentnet_relay_health` failed): shown degraded."
  type        = list(string)
  default     = []
}

variable "dependencies" {
  description = "External dependencies (identity provider, calendar, language model API) with their `state` (`operational`, `degraded` or `outage`) and an optional `message` saying what users should expect."
  type = map(object({
    state   = string
    message = optional(string)
  }))
  default = {
    "Identity provider"  = { state = "operational" }
    "Calendar"           = { state = "operational" }
    "Language model API" = { state = "operational" }
  }
}

variable "incidents" {
  description = "Incidents, as `agentnet_status_page`'s `incidents` (status, estimated resolution, updates from the communication templates)."
  type = list(object({
    id                   = string
    title                = string
    status               = string
    components           = list(string)
    started_at           = string
    estimated_resolution = optional(string)
    updates = list(object({
      template = string
      at       = string
      message  = optional(string)
    }))
  }))
  default = []
}
