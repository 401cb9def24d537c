tofu import agentnet_relay_service.us projects/my-agentnet-project/locations/us-central1/services/relay
