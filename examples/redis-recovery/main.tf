# Redis recovery as plan/apply: one instance, a snapshot, and a restore that
# is switched on when data must come back. Each phase of the procedure is a
# change of one variable and an apply:
#
#   tofu apply                               # the instance
#   tofu apply -var snapshot=1               # "RDB snapshots": export to Cloud Storage
#   tofu apply -var snapshot=1 -var restore=true   # "restore from latest snapshot"
#
# A bare instance on the default network without AUTH or TLS, so that the
# demo (scripts/demo.sh) can write, corrupt and read its data with a plain
# redis-cli. The relay's instances (modules/relay-region) have AUTH, TLS and
# noeviction on their own network.
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

provider "agentnet" {
  project = var.project
  region  = var.region
  # emulator_host comes from AGENTNET_EMULATOR_HOST: localcloud.
}

resource "agentnet_redis_instance" "relay" {
  name           = "relay-${var.region}"
  memory_size_gb = 1
}

# Taken when var.snapshot is set; a new value takes a new snapshot.
resource "agentnet_redis_snapshot" "latest" {
  count       = var.snapshot == "" ? 0 : 1
  instance    = agentnet_redis_instance.relay.id
  destination = "gs://${var.bucket}/relay-${var.region}/"
  triggers    = { run = var.snapshot }
}

resource "agentnet_redis_snapshot_restore" "recover" {
  count             = var.restore ? 1 : 0
  instance          = agentnet_redis_instance.relay.id
  source            = agentnet_redis_snapshot.latest[0].uri
  source_generation = agentnet_redis_snapshot.latest[0].generation
  expected_crc32c   = agentnet_redis_snapshot.latest[0].crc32c

  lifecycle {
    precondition {
      condition     = var.snapshot != ""
      error_message = "A restore needs a snapshot: set var.snapshot."
    }
  }
}

data "agentnet_redis_snapshots" "all" {
  prefix     = "gs://${var.bucket}/relay-${var.region}/"
  depends_on = [agentnet_redis_snapshot.latest]
}

check "redis_rpo" {
  assert {
    condition     = var.snapshot == "" || coalesce(data.agentnet_redis_snapshots.all.latest_age_seconds, 1e9) < 300
    error_message = "The newest Redis snapshot is older than the 5 minute RPO."
  }
}
