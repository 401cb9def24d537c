# Import by full resource name. Importing adopts the instance: it gets the
# managed-by = agentnet label, so that a later destroy may delete it.
tofu import agentnet_redis_instance.relay projects/my-agentnet-project/locations/us-central1/instances/relay-us-central1
