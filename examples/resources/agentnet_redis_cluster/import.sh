# Import by full resource name. Importing adopts the cluster: its uid is
# recorded in state, and a later destroy deletes only the cluster with that uid.
tofu import agentnet_redis_cluster.relay projects/my-agentnet-project/locations/us-central1/clusters/relay-us-central1
