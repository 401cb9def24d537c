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

variable "restore" {
  type        = bool
  description = "Restore the instance from the snapshot."
  default     = false
}
