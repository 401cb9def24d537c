# Import by the snapshot object's URI, optionally pinned to a generation
# (refused if the object was rewritten since). The object and its manifest
# are adopted as they are: nothing is exported. The instance comes from the
# manifest; destination and triggers are taken from the configuration at the
# next apply, in place, when the destination holds the object.
tofu import agentnet_redis_snapshot.hourly gs://my-agentnet-snapshots/relay-us-central1/relay-us-central1-20261125T180000.000Z.rdb
tofu import agentnet_redis_snapshot.hourly 'gs://my-agentnet-snapshots/relay-us-central1/relay-us-central1-20261125T180000.000Z.rdb#1764093600123456'
