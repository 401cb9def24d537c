# On Google Cloud: Application Default Credentials, the project and a default region.
provider "agentnet" {
  project = "my-agentnet-project"
  region  = "us-central1"
}

# In a pipeline: its own identity only obtains tokens for the deployer service
# account, which every call then runs as; quota is billed to the project.
# (Or GOOGLE_IMPERSONATE_SERVICE_ACCOUNT, GOOGLE_PROJECT, USER_PROJECT_OVERRIDE.)
provider "agentnet" {
  alias                       = "pipeline"
  project                     = "my-agentnet-project"
  region                      = "us-central1"
  impersonate_service_account = "agentnet-deployer@my-agentnet-project.iam.gserviceaccount.com"
  user_project_override       = true
  billing_project             = "my-agentnet-project"
  request_timeout             = "30s"
}

# On localcloud (the demo, the tests and the drills): every API at one loopback address.
provider "agentnet" {
  alias         = "local"
  project       = "agentnet-local"
  region        = "us-central1"
  emulator_host = "127.0.0.1:8790" # or AGENTNET_EMULATOR_HOST
}
