terraform {
  required_version = ">= 1.9.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }

  # The foundation's own state. It creates the state bucket, so its first
  # apply runs with local state; then move the state into the bucket:
  #   tofu init -migrate-state -backend-config="bucket=<output state_bucket>"
  # (uncomment the backend first).
  # backend "gcs" {
  #   prefix = "agentnet/foundation"
  # }
}

provider "google" {
  project = var.project
  region  = var.default_region
}
