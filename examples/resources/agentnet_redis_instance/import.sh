# Import by full resource name.
tofu import agentnet_redis_instance.relay projects/my-agentnet-project/locations/us-central1/instances/relay-us-central1
