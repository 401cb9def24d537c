variable "name" {
  description = "Name of the failover group: also the name of its URL map, target proxy and forwarding rule, and the prefix of its NEGs and backend services."
  type        = string
  default     = "agentnet-relay"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,40}[a-z0-9])?$", var.name))
    error_message = "name must be up to 42 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "project" {
  description = "Project of the load balancer. Defaults to the provider's `project`."
  type        = string
  default     = null
}

variable "regions" {
  description = <<-EOT
    The regions behind the front door, by region name:
    - `service`: the region's relay service id (modules/relay-region output `service_id`), in that region;
    - `state`: `active` takes traffic while healthy (the default), `drained` takes none and its agents are moved away, `standby` takes none and is kept at baseline capacity, ready to activate;
    - `weight`: share of new connections while active, 0 to 1000 (default 100).
    A region failover is `state = "drained"` and an apply; the return is `state = "active"` again, ramped in through `reintroduction_steps`.
  EOT
  type = map(object({
    service = string
    state   = optional(string, "active")
    weight  = optional(number, 100)
  }))
  nullable = false

  validation {
    condition     = length(var.regions) >= 1
    error_message = "regions must name at least one region."
  }
  validation {
    condition     = alltrue([for name in keys(var.regions) : can(regex("^[a-z]+-[a-z]+[0-9]+$", name))])
    error_message = "regions must be keyed by region names such as \"us-central1\"."
  }
  validation {
    condition     = alltrue([for r in values(var.regions) : contains(["active", "drained", "standby"], r.state)])
    error_message = "regions: state must be active, drained or standby."
  }
  validation {
    condition     = alltrue([for r in values(var.regions) : r.weight >= 0 && r.weight <= 1000 && floor(r.weight) == r.weight])
    error_message = "regions: weight must be a whole number from 0 to 1000."
  }
  validation {
    condition     = alltrue([for r in values(var.regions) : can(regex("^projects/[^/]+/locations/[^/]+/services/[^/]+$", r.service))])
    error_message = "regions: service must be a relay service id, projects/PROJECT/locations/REGION/services/NAME (modules/relay-region output service_id)."
  }
  validation {
    condition     = alltrue([for name, r in var.regions : !can(regex("^projects/[^/]+/locations/[^/]+/", r.service)) || can(regex("^projects/[^/]+/locations/${name}/", r.service))])
    error_message = "regions: each region's service must be in that region (the key)."
  }
  validation {
    condition     = anytrue([for r in values(var.regions) : r.state == "active" && r.weight > 0])
    error_message = "regions: at least one region must take traffic (state active, weight above 0): draining every region leaves agents nowhere to connect."
  }
}

variable "tls" {
  description = <<-EOT
    The front door's certificate, exactly one of:
    - `managed_domains`: a Google-managed certificate for these domains (Google issues it once each domain resolves to the front door's address, output `ip_address`: give `address` and point DNS at it first);
    - `certificates`: self links of existing SSL certificates (`projects/P/global/sslCertificates/NAME`);
    - `certificate_map`: a Certificate Manager map (`projects/P/locations/global/certificateMaps/NAME`).
    The front door serves HTTPS on 443 (agents use `wss://.../ws`) and answers plain HTTP on 80 with a redirect to it.
  EOT
  type = object({
    managed_domains = optional(list(string))
    certificates    = optional(list(string))
    certificate_map = optional(string)
  })
  nullable = false

  validation {
    condition     = length([for v in [var.tls.managed_domains, var.tls.certificates, var.tls.certificate_map] : v if v != null]) == 1
    error_message = "tls must set exactly one of managed_domains, certificates or certificate_map."
  }
  validation {
    condition     = var.tls.managed_domains == null || (length(coalesce(var.tls.managed_domains, [])) >= 1 && alltrue([for d in coalesce(var.tls.managed_domains, []) : can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z][-a-z0-9]{0,61}[a-z0-9]$", d))]))
    error_message = "tls.managed_domains must list at least one fully qualified domain name such as relay.example.com (lowercase, no wildcard, no trailing dot)."
  }
  validation {
    condition     = var.tls.certificates == null || (length(coalesce(var.tls.certificates, [])) >= 1 && alltrue([for c in coalesce(var.tls.certificates, []) : can(regex("^(https://www.googleapis.com/compute/v1/)?projects/[^/]+/global/sslCertificates/[a-z]([-a-z0-9]*[a-z0-9])?$", c))]))
    error_message = "tls.certificates must list self links of global SSL certificates, projects/PROJECT/global/sslCertificates/NAME."
  }
  validation {
    condition     = var.tls.certificate_map == null || can(regex("^(//certificatemanager.googleapis.com/)?projects/[^/]+/locations/global/certificateMaps/[a-z]([-a-z0-9]*[a-z0-9])?$", coalesce(var.tls.certificate_map, "x")))
    error_message = "tls.certificate_map must be projects/PROJECT/locations/global/certificateMaps/NAME."
  }
}

variable "address" {
  description = "Existing global static IP address of the front door (`projects/P/global/addresses/NAME`), kept whatever happens to the group: the address DNS points at. Null: the group reserves `<name>-ip` itself, which goes with the group."
  type        = string
  default     = null

  validation {
    condition     = var.address == null || can(regex("^(https://www.googleapis.com/compute/v1/)?projects/[^/]+/global/addresses/[a-z]([-a-z0-9]*[a-z0-9])?$", coalesce(var.address, "x")))
    error_message = "address must be the self link of a global address, projects/PROJECT/global/addresses/NAME."
  }
}

variable "min_active_regions" {
  description = "Safety rule: a change that would leave fewer healthy regions taking traffic is refused at plan time. Draining the last healthy region is always refused."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.min_active_regions >= 1 && floor(var.min_active_regions) == var.min_active_regions
    error_message = "min_active_regions must be a whole number, at least 1."
  }
  validation {
    condition     = var.min_active_regions <= length(var.regions)
    error_message = "min_active_regions (${var.min_active_regions}) must not exceed the number of regions (${length(var.regions)})."
  }
}

variable "total_min_instances" {
  description = "Capacity plan: minimum relay instances across the regions taking traffic, spread by weight, so draining a region raises the others' minimum before traffic moves; at least the number of active regions (one instance each). The group sets the services' minimum instances (modules/relay-region ignores its own `min_instances` after creation). Default: one per region."
  type        = number
  default     = null

  validation {
    condition     = var.total_min_instances == null || (try(var.total_min_instances >= 0, false) && try(floor(var.total_min_instances) == var.total_min_instances, false))
    error_message = "total_min_instances must be a whole number, 0 or more."
  }
  validation {
    condition     = var.total_min_instances == null || try(var.total_min_instances >= length([for r in values(var.regions) : r if r.state == "active"]), true)
    error_message = "total_min_instances (${coalesce(var.total_min_instances, 0)}) must be at least the number of active regions (${join(", ", [for name, r in var.regions : name if r.state == "active"])}): each needs one instance."
  }
}

variable "baseline_min_instances" {
  description = "Capacity plan: minimum instances of a region that takes no traffic (drained or standby), so that it can take traffic again quickly."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.baseline_min_instances >= 0 && floor(var.baseline_min_instances) == var.baseline_min_instances
    error_message = "baseline_min_instances must be a whole number, 0 or more."
  }
}

variable "health_check_token_file" {
  description = "Path of a file holding the bearer token the probe agents of the health checks connect with (a token the relays accept), read at each plan and apply. The token never goes into state: the group takes it write-only (`token_wo`) and the checks read the file (`token_file`)."
  type        = string
  nullable    = false

  validation {
    condition     = length(trimspace(var.health_check_token_file)) > 0
    error_message = "health_check_token_file must name the file holding the health checks' token."
  }
}

variable "health_check_token_version" {
  description = "Change it (any number) when the token in `health_check_token_file` is rotated: the next apply then health-checks every region taking traffic with the new token (the group's `token_wo_version`). The token itself is read at each run anyway."
  type        = number
  default     = null
}

variable "health_check_timeout" {
  description = "Time one health-check round trip may take."
  type        = string
  default     = "5s"
  nullable    = false

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", var.health_check_timeout))
    error_message = "health_check_timeout must be a duration such as 500ms, 5s or 1m."
  }
}

variable "unhealthy_threshold" {
  description = "Consecutive failed probes that make a region unhealthy, 1 to 10."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.unhealthy_threshold >= 1 && var.unhealthy_threshold <= 10 && floor(var.unhealthy_threshold) == var.unhealthy_threshold
    error_message = "unhealthy_threshold must be a whole number from 1 to 10."
  }
}

variable "healthy_threshold" {
  description = "Consecutive successful probes that make a region healthy again, 1 to 10."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.healthy_threshold >= 1 && var.healthy_threshold <= 10 && floor(var.healthy_threshold) == var.healthy_threshold
    error_message = "healthy_threshold must be a whole number from 1 to 10."
  }
}

variable "automatic_failover" {
  description = "Probe every region at plan time and plan an unhealthy active region to weight 0 (and a healthy one back): an outage makes `tofu plan -detailed-exitcode` exit 2, and the apply is the failover."
  type        = bool
  default     = false
  nullable    = false
}

variable "reintroduction_steps" {
  description = "How a region returns to traffic: the percentages of its weight it goes through, increasing and ending at 100, each held for `reintroduction_soak` while it is probed (rolled back to 0 if a probe fails)."
  type        = list(number)
  default     = [10, 50, 100]
  nullable    = false

  validation {
    condition     = length(var.reintroduction_steps) >= 1 && alltrue([for s in var.reintroduction_steps : s >= 1 && s <= 100 && floor(s) == s])
    error_message = "reintroduction_steps must be whole percentages from 1 to 100."
  }
  validation {
    condition     = alltrue([for i in range(1, length(var.reintroduction_steps)) : var.reintroduction_steps[i] > var.reintroduction_steps[i - 1]])
    error_message = "reintroduction_steps must increase: each step larger than the one before."
  }
  validation {
    condition     = try(var.reintroduction_steps[length(var.reintroduction_steps) - 1] == 100, false)
    error_message = "reintroduction_steps must end at 100, so that a returning region gets its full weight back."
  }
}

variable "reintroduction_soak" {
  description = "How long each reintroduction step is held and probed."
  type        = string
  default     = "60s"
  nullable    = false

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", var.reintroduction_soak))
    error_message = "reintroduction_soak must be a duration such as 10s, 1m or 1m30s."
  }
}

variable "drain_grace_period" {
  description = "Time between taking a region out of the URL map and telling its connected agents to reconnect elsewhere."
  type        = string
  default     = "30s"
  nullable    = false

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", var.drain_grace_period))
    error_message = "drain_grace_period must be a duration such as 500ms, 30s or 1m."
  }
}

variable "check_regions" {
  description = "Also probe each region that takes traffic through the front door, pinned to it (check `regions`, output `region_health`): one more round trip per region on every plan and apply."
  type        = bool
  default     = false
  nullable    = false
}

variable "check_front_door" {
  description = "Probe the front door with a real message round trip after every apply and on every plan (check `front_door`; a warning when agents cannot exchange messages)."
  type        = bool
  default     = true
  nullable    = false
}

variable "records_prefix" {
  # Checked by the provider (gs://BUCKET/ or gs://BUCKET/PREFIX/).
  description = "`gs://BUCKET/PREFIX/` under which every apply of the failover group writes a recovery record (JSON and Markdown: what moved, each step with its timing, health results, recovery time against `recovery_objectives`); null for none."
  type        = string
  default     = null
}

variable "recovery_objectives" {
  description = "The recovery time and point objectives the records compare each failover with (Go durations); the plan's are 1h and 5m."
  type = object({
    rto = optional(string, "1h")
    rpo = optional(string, "5m")
  })
  default  = {}
  nullable = false
}
