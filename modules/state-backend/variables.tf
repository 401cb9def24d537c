variable "project" {
  type        = string
  description = "Project that holds the state bucket."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a Google Cloud project ID: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "name" {
  type        = string
  description = "Bucket name (globally unique), for example PROJECT-tofu-state."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.name)) && !startswith(var.name, "goog") && !can(regex("google", var.name))
    error_message = "name must be 3 to 63 lowercase letters, digits, hyphens or underscores, start and end with a letter or digit, and neither start with goog nor contain google."
  }
}

variable "location" {
  type        = string
  description = "Bucket location: a region (us-central1), a dual-region (NAM4) or a multi-region (US). A multi- or dual-region keeps the state readable through one region's outage."
  validation {
    condition     = can(regex("^[A-Za-z0-9-]+$", var.location))
    error_message = "location must be a Cloud Storage location such as us-central1, NAM4 or US."
  }
}

variable "noncurrent_retention_days" {
  type        = number
  default     = 90
  description = "Days a state version is kept after a newer one replaces it (lifecycle rule on noncurrent versions: days_since_noncurrent_time). The plan keeps state 90 days."
  validation {
    condition     = var.noncurrent_retention_days >= 1 && floor(var.noncurrent_retention_days) == var.noncurrent_retention_days
    error_message = "noncurrent_retention_days must be a whole number of days, at least 1."
  }
}

variable "kms_key_name" {
  type        = string
  default     = null
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts new state objects (CMEK); null: Google-managed encryption. The key must be in the bucket's location and Cloud Storage's service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be null or projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY."
  }
}

variable "force_destroy" {
  type        = bool
  default     = false
  description = "Let tofu destroy the bucket while it holds objects. Keep false: the state is what every recovery plans from."
}

variable "labels" {
  type        = map(string)
  default     = {}
  description = "Labels of the bucket."
  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "labels must have keys of 1 to 63 lowercase letters, digits, underscores or hyphens starting with a letter, and values of up to 63 of the same."
  }
}
