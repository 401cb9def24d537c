# Data corruption recovery: restore the newest snapshot written before the
# corruption began. The restore selects it when it is created and pins it
# (source, source_generation in state): newer snapshots never run it again.
# Before touching the instance it verifies the snapshot's manifest with the
# Cloud KMS key that signed it and refuses a rewritten, forged, unsigned or
# empty snapshot, naming the check that failed.
resource "agentnet_redis_snapshot_restore" "before_corruption" {
  instance         = agentnet_redis_instance.relay.id
  snapshots_prefix = "gs://my-agentnet-snapshots/relay-us-central1/"
  created_before   = "2026-11-26T14:05:00Z"
  signing_key      = "projects/my-project/locations/global/keyRings/agentnet/cryptoKeys/snapshots"
}

# Or a snapshot named and pinned by hand: the URI and the generation
# recorded when it was taken. A source rewritten since is refused.
resource "agentnet_redis_snapshot_restore" "pinned" {
  instance          = agentnet_redis_instance.relay.id
  source            = "gs://my-agentnet-snapshots/relay-us-central1/relay-us-central1-20261126T130000.000Z.rdb"
  source_generation = 1795700000000000
  signing_key       = "projects/my-project/locations/global/keyRings/agentnet/cryptoKeys/snapshots"
}
