# Redis recovery as plan/apply: one instance, signed snapshots, and a restore
# of the newest snapshot from before a corruption, switched on when data must
# come back. Each phase of the procedure is a change of one variable and an
# apply:
#
#   tofu apply                                    # the instance
#   tofu apply -var snapshot=1                    # "RDB snapshots": export and sign
#   tofu apply -var snapshot=1 \
#     -var restore_before=2026-11-26T14:05:00Z    # restore from before the corruption
#
# signing_key is a Cloud KMS MAC key (on localcloud:
# `localcloud kms create-mac-key NAME`): every snapshot's manifest is signed
# with it, and the restore imports only a snapshot whose manifest verifies.
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
  signing_key = var.signing_key
  triggers    = { run = var.snapshot }
}

# The newest signed, non-empty snapshot written before restore_before,
# selected when the restore is created and pinned in state: snapshots taken
# later (of the corrupted data) are never restored, and never run it again.
resource "agentnet_redis_snapshot_restore" "recover" {
  count            = var.restore_before == null ? 0 : 1
  instance         = agentnet_redis_instance.relay.id
  snapshots_prefix = "gs://${var.bucket}/relay-${var.region}/"
  created_before   = var.restore_before
  signing_key      = var.signing_key
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
