# Data corruption recovery: restore the snapshot taken before the corruption.
# The checksum and generation pin the exact object, so a changed or corrupted
# snapshot is refused before the instance is touched.
resource "agentnet_redis_snapshot_restore" "recover" {
  instance          = agentnet_redis_instance.relay.id
  source            = agentnet_redis_snapshot.hourly.uri
  source_generation = agentnet_redis_snapshot.hourly.generation
  expected_crc32c   = agentnet_redis_snapshot.hourly.crc32c
}

# Or: the newest snapshot under a prefix, whatever wrote it.
data "agentnet_redis_snapshots" "relay" {
  prefix = "gs://my-agentnet-snapshots/relay-us-central1/"
}

resource "agentnet_redis_snapshot_restore" "latest" {
  instance        = agentnet_redis_instance.relay.id
  source          = data.agentnet_redis_snapshots.relay.latest.uri
  expected_crc32c = data.agentnet_redis_snapshots.relay.latest.crc32c
}
