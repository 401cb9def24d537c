variable "project" {
  description = "Google Cloud project of the relay."
  type        = string
  nullable    = false
}

variable "default_region" {
  description = "Region the google provider uses where a resource names none."
  type        = string
  default     = "us-central1"
  nullable    = false
}

variable "regions" {
  description = "Every region the relay may run in, with the CIDR of its subnetwork for Cloud Run's Direct VPC egress (at least a /26; a /24 leaves room for scaling and revisions). A region the relay configuration adds later needs its line here first."
  type        = map(string)
  default = {
    "us-central1"  = "10.10.0.0/24"
    "europe-west1" = "10.10.1.0/24"
    "asia-east1"   = "10.10.2.0/24"
    "us-east1"     = "10.10.3.0/24"
  }
  nullable = false

  validation {
    condition     = alltrue([for name, cidr in var.regions : can(regex("^[a-z]+-[a-z]+[0-9]+$", name)) && can(cidrhost(cidr, 0)) && tonumber(split("/", cidr)[1]) <= 26])
    error_message = "regions must map region names (us-central1) to subnetwork CIDRs of /26 or larger."
  }
}

variable "network" {
  description = "Name of the VPC network of the relay: every Memorystore instance's authorized network and every relay's egress network."
  type        = string
  default     = "agentnet"
  nullable    = false
}

variable "subnetwork_prefix" {
  description = "Each region's subnetwork is named <subnetwork_prefix><region>."
  type        = string
  default     = "agentnet-"
  nullable    = false
}

variable "psa_prefix_length" {
  description = "Size of the range allocated to private services access, from which Memorystore takes its instances' addresses (a /29 each for BASIC, more for STANDARD_HA and read replicas). /20 leaves room for many instances and other Google services."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.psa_prefix_length >= 8 && var.psa_prefix_length <= 24
    error_message = "psa_prefix_length must be from 8 to 24."
  }
}

variable "buckets_location" {
  description = "Location of the state and snapshot buckets: a multi-region (US, EU, ASIA) keeps them readable through a region's outage."
  type        = string
  default     = "US"
  nullable    = false
}

variable "state_bucket" {
  description = "Name of the bucket of the Terraform state (the relay configuration's backend). Default: <project>-agentnet-tfstate."
  type        = string
  default     = null
}

variable "snapshot_bucket" {
  description = "Name of the bucket of the Redis snapshots. Default: <project>-agentnet-redis-snapshots."
  type        = string
  default     = null
}

variable "status_bucket" {
  description = "Name of the bucket of the public status page. Default: <project>-agentnet-status."
  type        = string
  default     = null
}

variable "snapshot_retention_days" {
  description = "Days a Redis snapshot is kept (the backup table: 7). The relay configuration's backup check warns about older ones."
  type        = number
  default     = 7
  nullable    = false
}

variable "state_noncurrent_days" {
  description = "Days an old version of the Terraform state is kept after a newer one replaces it (the backup table: 90)."
  type        = number
  default     = 90
  nullable    = false
}

variable "cmek" {
  description = "Encrypt the Memorystore instances and both buckets with Cloud KMS keys made here (customer-managed encryption keys), rotated every 90 days. Off: Google-managed encryption."
  type        = bool
  default     = false
  nullable    = false
}

variable "domain" {
  description = "Domain agents connect to (wss://<domain>/ws): the front door's Google-managed certificate is issued for it once it resolves to the front door's static address."
  type        = string
  nullable    = false
}

variable "dns_zone" {
  description = "Cloud DNS managed zone (its name, not its DNS name) that holds `domain`. Null: the A record is made elsewhere; point `domain` at output front_door_ip."
  type        = string
  default     = null
}

variable "dns_ttl" {
  description = "TTL of the front door's A record, in seconds. The address is static (failovers move traffic behind it, not the record), so a long TTL is safe; a short one only matters when moving to another load balancer."
  type        = number
  default     = 300
  nullable    = false
}

variable "deployer_members" {
  description = "Principals allowed to impersonate the deployer service account, which runs `tofu plan/apply` of the relay configuration (for example a CI workload identity: principalSet://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/attribute.repository/ORG/REPO)."
  type        = list(string)
  default     = []
  nullable    = false
}
