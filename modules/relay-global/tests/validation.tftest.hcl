# Inputs that make no sense are refused at plan time, naming the input.

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variables {
  health_check_token_file = "tests/probe.token"
  tls                     = { managed_domains = ["relay.example.com"] }
  # No front door probe: with the group planned its result is known only
  # after an apply, which a plan-only test reports as an error.
  check_front_door = false
  regions = {
    "us-central1"  = { service = "projects/agentnet-test/locations/us-central1/services/relay" }
    "europe-west1" = { service = "projects/agentnet-test/locations/europe-west1/services/relay" }
  }
}

run "valid" {
  command = plan

  assert {
    condition     = agentnet_relay_failover_group.this.regions[0].region == "europe-west1" && agentnet_relay_failover_group.this.regions[1].weight == 100
    error_message = "Regions are passed sorted by name, weight 100 by default."
  }
  assert {
    condition     = agentnet_relay_failover_group.this.capacity.total_min_instances == 2
    error_message = "The capacity plan defaults to one instance per region."
  }
}

run "no_regions" {
  command = plan
  variables {
    regions = {}
  }
  expect_failures = [var.regions]
}

run "state_unknown" {
  command = plan
  variables {
    regions = {
      "us-central1" = { service = "projects/agentnet-test/locations/us-central1/services/relay", state = "paused" }
    }
  }
  expect_failures = [var.regions]
}

run "weight_above_1000" {
  command = plan
  variables {
    regions = {
      "us-central1" = { service = "projects/agentnet-test/locations/us-central1/services/relay", weight = 1001 }
    }
  }
  expect_failures = [var.regions]
}

run "negative_weight" {
  command = plan
  variables {
    regions = {
      "us-central1" = { service = "projects/agentnet-test/locations/us-central1/services/relay", weight = -1 }
    }
  }
  expect_failures = [var.regions]
}

run "service_not_an_id" {
  command = plan
  variables {
    regions = {
      "us-central1" = { service = "relay" }
    }
  }
  expect_failures = [var.regions]
}

run "service_in_another_region" {
  command = plan
  variables {
    regions = {
      "us-central1" = { service = "projects/agentnet-test/locations/europe-west1/services/relay" }
    }
  }
  expect_failures = [var.regions]
}

run "key_not_a_region" {
  command = plan
  variables {
    regions = {
      "us" = { service = "projects/agentnet-test/locations/us/services/relay" }
    }
  }
  expect_failures = [var.regions]
}

run "every_region_drained" {
  command = plan
  variables {
    regions = {
      "us-central1"  = { service = "projects/agentnet-test/locations/us-central1/services/relay", state = "drained" }
      "europe-west1" = { service = "projects/agentnet-test/locations/europe-west1/services/relay", state = "standby" }
    }
  }
  expect_failures = [var.regions]
}

run "min_active_regions_above_regions" {
  command = plan
  variables {
    min_active_regions = 3
  }
  expect_failures = [var.min_active_regions]
}

run "min_active_regions_zero" {
  command = plan
  variables {
    min_active_regions = 0
  }
  expect_failures = [var.min_active_regions]
}

run "ramp_not_ending_at_100" {
  command = plan
  variables {
    reintroduction_steps = [10, 50]
  }
  expect_failures = [var.reintroduction_steps]
}

run "ramp_decreasing" {
  command = plan
  variables {
    reintroduction_steps = [50, 10, 100]
  }
  expect_failures = [var.reintroduction_steps]
}

run "ramp_above_100" {
  command = plan
  variables {
    reintroduction_steps = [50, 150]
  }
  expect_failures = [var.reintroduction_steps]
}

run "ramp_empty" {
  command = plan
  variables {
    reintroduction_steps = []
  }
  expect_failures = [var.reintroduction_steps]
}

run "soak_without_unit" {
  command = plan
  variables {
    reintroduction_soak = "60"
  }
  expect_failures = [var.reintroduction_soak]
}

run "grace_period_words" {
  command = plan
  variables {
    drain_grace_period = "thirty seconds"
  }
  expect_failures = [var.drain_grace_period]
}

run "timeout_without_unit" {
  command = plan
  variables {
    health_check_timeout = "5"
  }
  expect_failures = [var.health_check_timeout]
}

run "unhealthy_threshold_zero" {
  command = plan
  variables {
    unhealthy_threshold = 0
  }
  expect_failures = [var.unhealthy_threshold]
}

run "healthy_threshold_eleven" {
  command = plan
  variables {
    healthy_threshold = 11
  }
  expect_failures = [var.healthy_threshold]
}

run "negative_capacity" {
  command = plan
  variables {
    total_min_instances = -2
  }
  expect_failures = [var.total_min_instances]
}

run "total_below_active_regions" {
  command = plan
  variables {
    total_min_instances = 1
  }
  expect_failures = [var.total_min_instances]
}

run "fractional_baseline" {
  command = plan
  variables {
    baseline_min_instances = 0.5
  }
  expect_failures = [var.baseline_min_instances]
}

run "empty_token_file" {
  command = plan
  variables {
    health_check_token_file = " "
  }
  expect_failures = [var.health_check_token_file]
}

run "name_with_underscore" {
  command = plan
  variables {
    name = "agentnet_relay"
  }
  expect_failures = [var.name]
}

run "tls_none" {
  command = plan
  variables {
    tls = {}
  }
  expect_failures = [var.tls]
}

run "tls_two_kinds" {
  command = plan
  variables {
    tls = {
      managed_domains = ["relay.example.com"]
      certificates    = ["projects/agentnet-test/global/sslCertificates/relay"]
    }
  }
  expect_failures = [var.tls]
}

run "tls_domain_with_scheme" {
  command = plan
  variables {
    tls = { managed_domains = ["https://relay.example.com"] }
  }
  expect_failures = [var.tls]
}

run "tls_certificate_name_only" {
  command = plan
  variables {
    tls = { certificates = ["relay"] }
  }
  expect_failures = [var.tls]
}

run "tls_certificate_map" {
  command = plan
  variables {
    tls = { certificate_map = "projects/agentnet-test/locations/global/certificateMaps/relay" }
  }

  assert {
    condition     = agentnet_relay_failover_group.this.tls.certificate_map == "projects/agentnet-test/locations/global/certificateMaps/relay"
    error_message = "The certificate map is not passed to the group."
  }
}

run "address_regional" {
  command = plan
  variables {
    address = "projects/agentnet-test/regions/us-central1/addresses/relay"
  }
  expect_failures = [var.address]
}
