# Inputs that make no sense are refused at plan time, naming the input.

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variables {
  region        = "us-central1"
  image         = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay:1.0"
  backup_bucket = "agentnet-snapshots"

  # No backup assertions: with a snapshot planned they are known only after
  # an apply, which a plan-only test reports as an error.
  backup_rpo_seconds    = null
  backup_retention_days = null
}

run "region_with_zone" {
  command = plan
  variables {
    region = "us-central1-a"
  }
  expect_failures = [var.region]
}

run "image_without_tag" {
  command = plan
  variables {
    image = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay"
  }
  expect_failures = [var.image]
}

run "image_latest" {
  command = plan
  variables {
    image = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay:latest"
  }
  expect_failures = [var.image]
}

run "memory_too_large" {
  command = plan
  variables {
    memory_size_gb = 301
  }
  expect_failures = [var.memory_size_gb]
}

run "memory_zero" {
  command = plan
  variables {
    memory_size_gb = 0
  }
  expect_failures = [var.memory_size_gb]
}

run "tier_unknown" {
  command = plan
  variables {
    tier = "PREMIUM"
  }
  expect_failures = [var.tier]
}

run "redis_version_unknown" {
  command = plan
  variables {
    redis_version = "REDIS_5_0"
  }
  expect_failures = [var.redis_version]
}

run "peer_not_an_id" {
  command = plan
  variables {
    peer_redis_instances = ["relay-europe-west1"]
  }
  expect_failures = [var.peer_redis_instances]
}

run "peer_in_own_region" {
  command = plan
  variables {
    peer_redis_instances = ["projects/agentnet-test/locations/us-central1/instances/other"]
  }
  expect_failures = [var.peer_redis_instances]
}

run "peer_twice" {
  command = plan
  variables {
    peer_redis_instances = [
      "projects/agentnet-test/locations/europe-west1/instances/relay-europe-west1",
      "projects/agentnet-test/locations/europe-west1/instances/relay-europe-west1",
    ]
  }
  expect_failures = [var.peer_redis_instances]
}

run "env_sets_redis_addr" {
  command = plan
  variables {
    env = { REDIS_ADDR = "10.0.0.3:6379" }
  }
  expect_failures = [var.env]
}

run "min_above_max" {
  command = plan
  variables {
    min_instances = 5
    max_instances = 2
  }
  expect_failures = [var.min_instances]
}

run "negative_min" {
  command = plan
  variables {
    min_instances = -1
  }
  expect_failures = [var.min_instances]
}

run "zero_max" {
  command = plan
  variables {
    min_instances = 0
    max_instances = 0
  }
  expect_failures = [var.max_instances]
}

run "cpu_unit" {
  command = plan
  variables {
    cpu = "1 core"
  }
  expect_failures = [var.cpu]
}

run "memory_unit" {
  command = plan
  variables {
    memory = "512MB"
  }
  expect_failures = [var.memory]
}

run "subnetwork_without_network" {
  command = plan
  variables {
    vpc_subnetwork = "projects/agentnet-test/regions/us-central1/subnetworks/agentnet"
  }
  expect_failures = [var.vpc_subnetwork]
}

run "subnetwork_in_another_region" {
  command = plan
  variables {
    vpc_network    = "projects/agentnet-test/global/networks/agentnet"
    vpc_subnetwork = "projects/agentnet-test/regions/europe-west1/subnetworks/agentnet"
  }
  expect_failures = [var.vpc_subnetwork]
}

run "bucket_as_uri" {
  command = plan
  variables {
    backup_bucket = "gs://agentnet-snapshots"
  }
  expect_failures = [var.backup_bucket]
}

run "restore_from_a_prefix" {
  command = plan
  variables {
    restore_from = "gs://agentnet-snapshots/relay-us-central1/"
  }
  expect_failures = [var.restore_from]
}

run "restore_from_yesterday" {
  command = plan
  variables {
    restore_from = "yesterday"
  }
  expect_failures = [var.restore_from]
}

run "backup_interval_not_dividing_a_day" {
  command = plan
  variables {
    backup_interval_minutes = 7
  }
  expect_failures = [var.backup_interval_minutes]
}

run "backup_rpo_zero" {
  command = plan
  variables {
    backup_rpo_seconds = 0
  }
  expect_failures = [var.backup_rpo_seconds]
}

run "backup_retention_negative" {
  command = plan
  variables {
    backup_retention_days = -7
  }
  expect_failures = [var.backup_retention_days]
}
