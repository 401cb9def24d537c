# An hourly snapshot, as the backup table asks: a new export whenever the hour
# of the plan changes. plantimestamp() needs no other provider (a time_static
# would need the time provider); modules/redis-backup does the same on a schedule.
resource "agentnet_redis_snapshot" "hourly" {
  instance    = agentnet_redis_instance.relay.id
  destination = "gs://my-agentnet-snapshots/relay-us-central1/" # a prefix: objects are named INSTANCE-TIMESTAMP.rdb
  triggers = {
    hour = formatdate("YYYY-MM-DD-hh", plantimestamp())
  }
  # The manifest next to each object is signed with this Cloud KMS MAC key;
  # restores that trust it refuse anything else.
  signing_key = "projects/my-agentnet-project/locations/global/keyRings/agentnet/cryptoKeys/snapshots"
}
