# An hourly snapshot, as the backup table asks: a new export whenever the hour changes.
resource "time_static" "hour" {
  triggers = { hour = formatdate("YYYY-MM-DD-hh", timestamp()) }
}

resource "agentnet_redis_snapshot" "hourly" {
  instance    = agentnet_redis_instance.relay.id
  destination = "gs://my-agentnet-snapshots/relay-us-central1/" # a prefix: objects are named INSTANCE-TIMESTAMP.rdb
  triggers = {
    hour = time_static.hour.id
  }
  # The manifest next to each object is signed with this Cloud KMS MAC key;
  # restores that trust it refuse anything else.
  signing_key = "projects/my-agentnet-project/locations/global/keyRings/agentnet/cryptoKeys/snapshots"
}
