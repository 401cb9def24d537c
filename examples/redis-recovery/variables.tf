variable "project" {
  type        = string
  description = "Google Cloud project (any id on localcloud)."
  default     = "agentnet-local"
}

variable "region" {
  type        = string
  description = "Region of the instance."
  default     = "us-central1"
}

variable "bucket" {
  type        = string
  description = "Existing Cloud Storage bucket for snapshots."
  default     = "agentnet-demo-snapshots"
}

variable "snapshot" {
  type        = string
  description = "Any non-empty value takes a snapshot; a new value takes a new one."
  default     = ""
}

variable "signing_key" {
  type        = string
  description = "Cloud KMS MAC key that signs the snapshots' manifests and that the restore trusts: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY."
}

variable "restore_before" {
  type        = string
  description = "When the data went bad (RFC 3339, for example 2026-11-26T14:05:00Z): restore the newest snapshot written before it. Null: no restore."
  default     = null
}
