# One region on localcloud (AGENTNET_EMULATOR_HOST) with the module's
# defaults: a real redis-server with AUTH and TLS on the relay's network, a
# real relay process that learns the address, AUTH string and CA from the
# Memorystore API, snapshots to the bucket the Go test made
# (TF_VAR_test_bucket), relay dev keys from TF_VAR_relay_dev_keys and a
# token they signed in the file TF_VAR_probe_token_file names.

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

variables {
  region        = "us-central1"
  image         = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay:1.0"
  tier          = "BASIC"
  backup_bucket = var.test_bucket
  env           = { RELAY_DEV_KEYS = var.relay_dev_keys }
  vpc_network   = "projects/agentnet-test/global/networks/agentnet"
  # Snapshots signed with, and restores verified against, the MAC key the
  # Go test made (TF_VAR_test_signing_key).
  snapshot_signing_key = var.test_signing_key
  # localcloud has no IAM; on Google Cloud this is the relay's own account.
  service_account = "agentnet-relay@agentnet-test.iam.gserviceaccount.com"
}

run "peer" {
  module {
    source = "./tests/peer"
  }

  variables {
    network = "projects/agentnet-test/global/networks/agentnet" # the vpc_network above
  }
}

run "region" {
  variables {
    peer_redis_instances = [run.peer.instance_id]
    peer_address         = run.peer.address # for the assertions
    # The metrics sidecar with its defaults: localcloud keeps it, does not run it.
    metrics_sidecar = {}
  }

  assert {
    condition     = agentnet_relay_service.this.metrics_sidecar.port == 9090 && startswith(agentnet_relay_service.this.metrics_sidecar.image, "us-docker.pkg.dev/cloud-ops-agents-artifacts/google-cloud-opentelemetry-collector/otelcol-google:")
    error_message = "The relay service does not carry the module's default metrics sidecar: ${jsonencode(agentnet_relay_service.this.metrics_sidecar)}."
  }

  assert {
    condition     = output.redis_instance_id == "projects/agentnet-test/locations/us-central1/instances/relay-us-central1"
    error_message = "Unexpected instance id ${output.redis_instance_id}."
  }
  assert {
    condition     = output.service_id == "projects/agentnet-test/locations/us-central1/services/relay"
    error_message = "Unexpected service id ${output.service_id}."
  }
  assert {
    condition     = output.service_ready && startswith(output.service_url, "http")
    error_message = "The relay service is not ready at ${output.service_url}."
  }
  assert {
    condition     = agentnet_relay_service.this.redis_address == output.redis_address
    error_message = "The relay's REDIS_ADDR is ${agentnet_relay_service.this.redis_address}, not its region's instance ${output.redis_address}."
  }
  assert {
    condition     = output.peer_redis_addresses == var.peer_address
    error_message = "The relay's PEER_REDIS_ADDRS is ${output.peer_redis_addresses}, not the peer instance ${var.peer_address}."
  }
  assert {
    condition     = output.backup_prefix == "gs://${var.test_bucket}/relay-us-central1/" && startswith(output.snapshot_uri, output.backup_prefix)
    error_message = "The snapshot ${output.snapshot_uri} is not under ${output.backup_prefix}."
  }
  assert {
    condition     = output.latest_snapshot.uri == output.snapshot_uri && output.backup_rpo_met
    error_message = "The snapshot this apply took is not the newest one, or misses the RPO."
  }
  assert {
    condition     = output.backup_lifecycle_rule.age == 7 && output.backup_lifecycle_rule.matches_prefix == "relay-us-central1/"
    error_message = "Unexpected lifecycle rule ${jsonencode(output.backup_lifecycle_rule)}."
  }
  assert {
    condition     = agentnet_redis_instance.this[0].auth_enabled && agentnet_redis_instance.this[0].transit_encryption_mode == "SERVER_AUTHENTICATION" && length(output.redis_server_ca_certs) >= 1
    error_message = "The instance does not have AUTH and TLS with its own CA by default."
  }
  assert {
    condition     = agentnet_redis_instance.this[0].redis_configs["maxmemory-policy"] == "noeviction"
    error_message = "maxmemory-policy is ${agentnet_redis_instance.this[0].redis_configs["maxmemory-policy"]}, not noeviction: acknowledged envelopes could be evicted."
  }
  assert {
    condition     = agentnet_redis_instance.this[0].authorized_network == var.vpc_network && agentnet_redis_instance.this[0].connect_mode == "PRIVATE_SERVICE_ACCESS" && agentnet_relay_service.this.vpc_network == var.vpc_network
    error_message = "The instance and the relay are not on the same network with private services access."
  }
  assert {
    condition     = agentnet_relay_service.this.ingress == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" && agentnet_relay_service.this.invoker_iam_disabled && agentnet_relay_service.this.default_uri_disabled
    error_message = "The relay service is not internal-and-load-balancer only, without run.app URL, with the invoker check off (agents use the relay's tokens)."
  }
  assert {
    condition     = agentnet_redis_instance.this[0].persistence_mode == "RDB" && agentnet_redis_instance.this[0].rdb_snapshot_period == "ONE_HOUR"
    error_message = "The instance does not persist hourly RDB snapshots."
  }
  assert {
    condition     = output.restored_at == null
    error_message = "A restore ran without restore_from."
  }
}

# The Redis Recovery procedure's "restore from latest snapshot", as one input.
run "restore_latest" {
  variables {
    peer_redis_instances = [run.peer.instance_id]
    restore_from         = "latest"
    restore_allow_empty  = true # nothing writes to the test's Redis
    newest_before        = run.region.snapshot_uri
  }

  assert {
    condition     = output.restored_at != null && startswith(output.restored_from, "${var.newest_before}#")
    error_message = "The restore did not import the newest snapshot ${var.newest_before}: restored ${jsonencode(output.restored_from)}."
  }
  assert {
    condition     = agentnet_redis_snapshot_restore.this[0].signed
    error_message = "The restore did not verify the snapshot's signature."
  }
  assert {
    condition     = output.snapshot_uri != var.newest_before && output.latest_snapshot.uri == output.snapshot_uri
    error_message = "No fresh snapshot was taken after the restore."
  }
  assert {
    condition     = output.service_ready
    error_message = "The relay is not ready after the restore."
  }
}

# Still "latest", now with a newer snapshot: the import does not run again.
# Minimum instances belong to the failover group once the service exists.
run "restore_once_and_scaling" {
  variables {
    peer_redis_instances = [run.peer.instance_id]
    restore_from         = "latest"
    restore_allow_empty  = true # nothing writes to the test's Redis
    min_instances        = 3
    max_instances        = 5
    restored_at          = run.restore_latest.restored_at
  }

  assert {
    condition     = output.restored_at == var.restored_at
    error_message = "The restore ran again (at ${output.restored_at}, first at ${var.restored_at})."
  }

  assert {
    condition     = agentnet_relay_service.this.max_instances == 5 && agentnet_relay_service.this.min_instances == 1
    error_message = "max_instances should change to 5 and min_instances stay 1 (ignored): got ${agentnet_relay_service.this.min_instances}..${agentnet_relay_service.this.max_instances}."
  }
}

# With the defaults (ingress from the load balancer, no run.app URL) the
# service URL refuses an agent with a valid token that does not come through
# the load balancer (modules/relay-global's
# tests make the round trip through the front door). Last, so that tofu test
# destroys its state while the states it refers to still exist.
run "direct_connection_refused" {
  module {
    source = "./tests/probe"
  }

  variables {
    url        = run.restore_once_and_scaling.service_url
    token_file = var.probe_token_file
  }

  assert {
    condition     = !output.healthy
    error_message = "An agent reached the relay at its service URL, around the load balancer, despite ingress INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}
