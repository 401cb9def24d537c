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
  description = "Bucket of the Redis snapshots, with its 7-day lifecycle rule and Memorystore's service agent allowed to write and read it (foundation/)."
  type        = string
}

variable "status_bucket" {
  description = "Bucket of the public status page: uniform bucket-level access, public through allUsers roles/storage.objectViewer (foundation/)."
  type        = string
}

variable "vpc_network" {
  description = "The relay's VPC network, projects/PROJECT/global/networks/NAME: Memorystore's authorized network (private services access) and the relays' egress network (foundation/)."
  type        = string
}

variable "psa_range" {
  description = "Name of the private services access range the Memorystore instances take their addresses from (foundation/). Null: any range of the network's service networking connection."
  type        = string
  default     = null
}

variable "relay_service_account" {
  description = "Email of the relay's runtime service account, allowed redis.instances.get and redis.instances.getAuthString only (foundation/)."
  type        = string
}

variable "front_door_address" {
  description = "Self link of the front door's global static address, the one DNS points at (foundation/)."
  type        = string
}

variable "domain" {
  description = "Domain agents connect to (wss://<domain>/ws): the Google-managed certificate's domain."
  type        = string
}

variable "redis_kms_keys" {
  description = "Cloud KMS key of each region's Memorystore instance, by region (foundation/ with cmek = true). A region without one uses Google-managed encryption."
  type        = map(string)
  default     = {}
}

variable "snapshot_signing_key" {
  description = "Cloud KMS MAC key that signs the snapshots' manifests and that restores trust (foundation/'s snapshot_signing_key)."
  type        = string
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

variable "probe_token_file" {
  description = "File holding a Firebase ID token of the health-check identity (expires after an hour: mint it in the job that runs plan/apply). The token is never stored in state."
  type        = string
}

variable "metrics_collector_image" {
  description = "OpenTelemetry Collector image of the relays' metrics sidecar (Google-Built OpenTelemetry Collector: prometheus receiver, googlemanagedprometheus exporter), pinned to a version."
  type        = string
  default     = "us-docker.pkg.dev/cloud-ops-agents-artifacts/google-cloud-opentelemetry-collector/otelcol-google:0.130.0"
  nullable    = false
}
