variable "project" {
  description = "Project id (any id on localcloud)."
  type        = string
  default     = "agentnet-local"
}

variable "image" {
  description = "Relay image. On localcloud any image named agentnet-relay runs the relay binary."
  type        = string
  default     = "us-docker.pkg.dev/agentnet-local/agentnet/agentnet-relay:1.0"
}

variable "bucket" {
  description = "Existing Cloud Storage bucket for the Redis snapshots (create it on localcloud first: see README.md)."
  type        = string
  default     = "agentnet-demo-snapshots"
}

variable "relay_dev_keys" {
  description = "Folder of the relay's dev signing keys (`bin/relay devkeys -dir DIR`): the relays accept tokens signed with them."
  type        = string
}

variable "probe_token_file" {
  description = "File holding the token the health checks connect with: `bin/relay token -dir DIR -sub health-probe -ttl 24h > FILE`. The token is never stored in state."
  type        = string
}

variable "network" {
  description = "Name of the VPC network every Redis instance is authorized on and every relay egresses into."
  type        = string
  default     = "agentnet"
}

variable "domain" {
  description = "Domain of the front door's managed certificate (localcloud issues it from its own CA)."
  type        = string
  default     = "relay.agentnet.localhost"
}

variable "snapshot_signing_key" {
  description = "Cloud KMS MAC key that signs every region's snapshot manifests and that restores trust. The drills create it; by hand: `bin/localcloud kms create-mac-key projects/agentnet-local/locations/global/keyRings/agentnet/cryptoKeys/snapshots` (see README.md)."
  type        = string
  nullable    = false
  default     = "projects/agentnet-local/locations/global/keyRings/agentnet/cryptoKeys/snapshots"
}

variable "redis_cluster_regions" {
  description = "Regions (keys of local.regions) whose Redis is a Memorystore for Redis Cluster of three primaries with a replica each, instead of a Memorystore instance: `[\"us-central1\"]` runs that region's relays on a cluster (`make drill SCENARIO=redis-cluster-primary-failure` does). A cluster has no snapshots: such a region takes no `restore_from`."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for r in var.redis_cluster_regions : can(regex("^[a-z]+-[a-z]+[0-9]+$", r))])
    error_message = "redis_cluster_regions must hold region names such as \"us-central1\"."
  }
}
