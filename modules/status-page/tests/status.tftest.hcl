# A real publication on localcloud (AGENTNET_EMULATOR_HOST). The bucket is
# made by the Go test that runs this (TF_VAR_test_bucket).

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variables {
  bucket = var.test_bucket
  regions = {
    "us-central1"  = "active"
    "europe-west1" = "active"
    "asia-east1"   = "drained"
  }
  unhealthy_regions = ["europe-west1"]
}

run "regions_follow_the_failover_group" {
  assert {
    condition     = output.components["Relay asia-east1"] == "degraded" && output.components["Relay europe-west1"] == "degraded"
    error_message = "A drained and an unhealthy region are degraded: got ${jsonencode(output.components)}."
  }
  assert {
    condition     = output.components["Relay us-central1"] == "operational" && output.components["Calendar"] == "operational"
    error_message = "An active healthy region and a dependency without trouble are operational: got ${jsonencode(output.components)}."
  }
  assert {
    condition     = endswith(output.url, "/${var.test_bucket}/status/index.html") && endswith(output.atom_feed_url, "/status/feed.atom")
    error_message = "The page is public at /BUCKET/status/index.html: got ${output.url}."
  }
}

run "an_incident_on_a_dependency" {
  variables {
    dependencies = {
      "Calendar" = { state = "degraded", message = "Offline calendar mode: operations are queued" }
    }
    incidents = [{
      id                   = "calendar-delays"
      title                = "Calendar changes are delayed"
      status               = "identified"
      components           = ["Calendar"]
      started_at           = "2026-03-01T10:00:00Z"
      estimated_resolution = "2026-03-01T12:00:00Z"
      updates              = [{ template = "initial_notification", at = "2026-03-01T10:05:00Z" }]
    }]
  }
  assert {
    condition     = output.components["Calendar"] == "degraded" && !contains(keys(output.components), "Identity provider")
    error_message = "dependencies replaces the default list: got ${jsonencode(output.components)}."
  }
}

run "region_state_refused" {
  command = plan
  variables {
    regions = { "us-central1" = "down" }
  }
  expect_failures = [var.regions]
}
