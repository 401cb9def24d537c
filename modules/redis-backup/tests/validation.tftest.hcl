# Inputs that make no sense are refused at plan time, naming the input.

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

# The bucket exists (TF_VAR_test_bucket): the snapshot checks it at plan.
variables {
  instance_id = "projects/agentnet-test/locations/us-central1/instances/relay-us-central1"
  bucket      = var.test_bucket
}

run "instance_name_instead_of_id" {
  command = plan
  variables {
    instance_id = "relay-us-central1"
  }
  expect_failures = [var.instance_id]
}

run "bucket_as_uri" {
  command = plan
  variables {
    bucket = "gs://agentnet-snapshots"
  }
  expect_failures = [var.bucket]
}

run "prefix_without_trailing_slash" {
  command = plan
  variables {
    prefix = "relay-us-central1"
  }
  expect_failures = [var.prefix]
}

run "absolute_prefix" {
  command = plan
  variables {
    prefix = "/relay/"
  }
  expect_failures = [var.prefix]
}

run "interval_not_dividing_a_day" {
  command = plan
  variables {
    interval_minutes = 7
  }
  expect_failures = [var.interval_minutes]
}

run "interval_longer_than_a_day" {
  command = plan
  variables {
    interval_minutes = 2880
  }
  expect_failures = [var.interval_minutes]
}

run "trigger_named_slot" {
  command = plan
  variables {
    triggers = { slot = "mine" }
  }
  expect_failures = [var.triggers]
}

run "zero_rpo" {
  command = plan
  variables {
    rpo_seconds = 0
  }
  expect_failures = [var.rpo_seconds]
}

run "fractional_retention" {
  command = plan
  variables {
    retention_days = 0.5
  }
  expect_failures = [var.retention_days]
}

run "signing_key_version" {
  command = plan
  variables {
    signing_key = "projects/agentnet-test/locations/global/keyRings/backups/cryptoKeys/manifests/cryptoKeyVersions/1"
  }
  expect_failures = [var.signing_key]
}
