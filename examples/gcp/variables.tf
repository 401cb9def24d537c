variable "project" {
  description = "Google Cloud project of the relay."
  type        = string
}

variable "default_region" {
  description = "Region the provider uses where a resource names none."
  type        = string
  default     = "us-central1"
}

variable "image" {
  description = "Relay image in Artifact Registry, pinned to a tag or digest, e.g. us-docker.pkg.dev/PROJECT/agentnet/agentnet-relay:1.4.2."
  type        = string
}

variable "snapshot_bucket" {
  description = "Existing Cloud Storage bucket for the Redis snapshots, with a lifecycle rule deleting them after 7 days (README.md)."
  type        = string
}

variable "vpc_network" {
  description = "Name of the VPC network Memorystore is attached to (authorized network) and Cloud Run egresses into."
  type        = string
  default     = "agentnet"
}

variable "subnetwork_prefix" {
  description = "Each region's subnetwork for Direct VPC egress is <subnetwork_prefix><region>, e.g. agentnet-us-central1."
  type        = string
  default     = "agentnet-"
}

variable "firebase_project" {
  description = "Firebase project whose ID tokens the relay accepts (JWT issuer and audience). Defaults to project."
  type        = string
  default     = null
}

variable "relay_env" {
  description = "Further relay environment (limits, log level); overrides the Firebase settings when it names them."
  type        = map(string)
  default     = {}
}

variable "redis_memory_size_gb" {
  description = "Memory of each region's Memorystore instance."
  type        = number
  default     = 5
}

variable "max_instances_per_region" {
  description = "Most relay instances per region."
  type        = number
  default     = 20
}

variable "total_min_instances" {
  description = "Minimum relay instances across the regions taking traffic."
  type        = number
  default     = 6
}

variable "rpo_seconds" {
  description = "Recovery point objective the backup check asserts."
  type        = number
  default     = 300
}

variable "probe_token" {
  description = "Firebase ID token of the health-check identity (expires after an hour: mint it in the job that runs plan/apply)."
  type        = string
  sensitive   = true
}
