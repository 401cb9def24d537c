# A failover group over three real regions on localcloud
# (AGENTNET_EMULATOR_HOST): redis-servers, relay processes, and the load
# balancer's HTTPS front door (a certificate from localcloud's CA, which the
# provider trusts on localcloud). Relay dev keys and a health-check token they signed
# come from TF_VAR_relay_dev_keys and TF_VAR_probe_token_file, the snapshot bucket
# from TF_VAR_test_bucket.

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variables {
  name                    = "relay"
  health_check_token_file = var.probe_token_file
  health_check_timeout    = "3s"
  total_min_instances     = 6
  automatic_failover      = true
  reintroduction_soak     = "1s"
  drain_grace_period      = "300ms"
  tls                     = { managed_domains = ["relay.agentnet.test"] }
}

run "regions" {
  module {
    source = "./tests/regions"
  }

  variables {
    relay_dev_keys = var.relay_dev_keys
    bucket         = var.test_bucket
    signing_key    = var.test_signing_key
  }
}

run "all_active" {
  variables {
    check_regions = true
    regions = {
      "us-central1"  = { service = run.regions.services["us-central1"] }
      "europe-west1" = { service = run.regions.services["europe-west1"] }
      "asia-east1"   = { service = run.regions.services["asia-east1"] }
    }
  }

  assert {
    condition     = output.effective_weights == tomap({ "us-central1" = 100, "europe-west1" = 100, "asia-east1" = 100 })
    error_message = "Every active region takes traffic at weight 100: got ${jsonencode(output.effective_weights)}."
  }
  assert {
    condition     = output.min_instances == tomap({ "us-central1" = 2, "europe-west1" = 2, "asia-east1" = 2 })
    error_message = "6 minimum instances spread over 3 regions are 2 each: got ${jsonencode(output.min_instances)}."
  }
  assert {
    condition     = length(output.unhealthy_regions) == 0
    error_message = "Healthy regions reported unhealthy: ${jsonencode(output.unhealthy_regions)}."
  }
  assert {
    condition     = startswith(output.front_door_url, "https://") && output.front_door_healthy
    error_message = "No message round trip over TLS through the front door ${output.front_door_url}."
  }
  assert {
    condition     = length(output.region_health) == 3 && alltrue([for h in values(output.region_health) : h.healthy])
    error_message = "A round trip into each region through the front door, pinned by its route, failed: ${jsonencode(output.region_health)}."
  }
}

# Region failover: asia drained. Its capacity goes to the other regions
# before its traffic does.
run "drain_asia" {
  variables {
    regions = {
      "us-central1"  = { service = run.regions.services["us-central1"] }
      "europe-west1" = { service = run.regions.services["europe-west1"] }
      "asia-east1"   = { service = run.regions.services["asia-east1"], state = "drained" }
    }
  }

  assert {
    condition     = output.effective_weights["asia-east1"] == 0 && output.serving_regions == tolist(["europe-west1", "us-central1"])
    error_message = "Drained asia-east1 still takes traffic: ${jsonencode(output.effective_weights)}."
  }
  assert {
    condition     = output.min_instances == tomap({ "us-central1" = 3, "europe-west1" = 3, "asia-east1" = 1 })
    error_message = "The drained region's capacity did not move to the others: ${jsonencode(output.min_instances)}."
  }
  assert {
    condition     = output.front_door_healthy
    error_message = "No message round trip through the front door after the drain."
  }
}

# Draining the remaining regions is refused before anything moves.
run "drain_everything" {
  command = plan

  variables {
    regions = {
      "us-central1"  = { service = run.regions.services["us-central1"], state = "drained" }
      "europe-west1" = { service = run.regions.services["europe-west1"], state = "standby" }
      "asia-east1"   = { service = run.regions.services["asia-east1"], state = "drained" }
    }
  }

  expect_failures = [var.regions]
}

# Region return: asia back through the ramp (10%, 50%, 100% of its weight,
# each probed for reintroduction_soak).
run "return_asia" {
  variables {
    regions = {
      "us-central1"  = { service = run.regions.services["us-central1"] }
      "europe-west1" = { service = run.regions.services["europe-west1"] }
      "asia-east1"   = { service = run.regions.services["asia-east1"] }
    }
  }

  assert {
    condition     = output.effective_weights["asia-east1"] == 100 && length(output.serving_regions) == 3
    error_message = "asia-east1 did not return to weight 100: ${jsonencode(output.effective_weights)}."
  }
  assert {
    condition     = output.min_instances["asia-east1"] == 2
    error_message = "asia-east1 did not get its share of capacity back: ${jsonencode(output.min_instances)}."
  }
  assert {
    condition     = output.front_door_healthy
    error_message = "No message round trip through the front door after the return."
  }
}
