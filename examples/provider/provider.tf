# On Google Cloud: Application Default Credentials, the project and a default region.
provider "agentnet" {
  project = "my-agentnet-project"
  region  = "us-central1"
}

# On localcloud (the demo, the tests and the drills): every API at one loopback address.
provider "agentnet" {
  alias         = "local"
  project       = "agentnet-local"
  region        = "us-central1"
  emulator_host = "127.0.0.1:8790" # or AGENTNET_EMULATOR_HOST
}
