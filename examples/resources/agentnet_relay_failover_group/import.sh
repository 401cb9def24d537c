# Import by the group's name (its URL map).
tofu import agentnet_relay_failover_group.global agentnet-relay
