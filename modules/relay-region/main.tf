# One region of the relay: its Redis (a Memorystore instance, or with
# redis_engine = "cluster" a Memorystore for Redis Cluster), the relay service
# wired to it (and to the other regions' Redis), the instance's snapshot
# schedule, and, when asked, a restore from a snapshot (instances only).

locals {
  cluster       = var.redis_engine == "cluster"
  redis_name    = coalesce(var.redis_name, "relay-${var.region}")
  backup_prefix = "${local.redis_name}/"
  backup_uri    = "gs://${var.backup_bucket}/${local.backup_prefix}"
  # restore_from: "latest", an RFC 3339 time, or a gs:// URI.
  restore        = var.restore_from != null
  restore_latest = var.restore_from == "latest"
  restore_before = local.restore && !local.restore_latest && !startswith(coalesce(var.restore_from, "-"), "gs://")

  # The relay service resolves peer addresses at plan time when the peer
  # list is known, and at apply time when it is unknown; it cannot plan a
  # list of which only some ids are known (a region being added next to
  # existing ones). Through JSON such a list becomes unknown as a whole, so
  # the service waits for the new instance at apply time. An empty list is
  # null: the service reports no peers as null.
  peers = length(var.peer_redis_instances) == 0 ? null : jsondecode(jsonencode(var.peer_redis_instances))

  # The relay's limits per connection and per identity, set here so that a plan shows them
  # (internal/relay/README.md); var.env overrides any of them.
  relay_limits = {
    CONN_BYTE_BUDGET               = "1048576"  # bytes of deliveries in flight per connection
    WRITE_TIMEOUT                  = "4s"       # the budget at 256 KiB/s: a client that does not read is closed
    MAX_CONNS_PER_IDENTITY         = "64"       # open connections per token subject, all regions together
    MAX_LABELS_PER_IDENTITY        = "16"       # labels connected at a time per token subject
    MAX_MSGS_PER_SEC_PER_IDENTITY  = "1000"     # envelopes per second per token subject
    MAX_BYTES_PER_SEC_PER_IDENTITY = "8388608"  # frame bytes per second per token subject
    MAX_STORED_BYTES_PER_RECIPIENT = "67108864" # bytes queued for one address, per Redis
    MAX_STORED_BYTES_PER_PAIR      = "8388608"  # bytes queued by one token subject for one address, per Redis
  }
}

resource "agentnet_redis_instance" "this" {
  count = local.cluster ? 0 : 1

  project             = var.project
  name                = local.redis_name
  region              = var.region
  tier                = var.tier
  memory_size_gb      = var.memory_size_gb
  redis_version       = var.redis_version
  persistence_mode    = var.rdb_snapshot_period == null ? "DISABLED" : "RDB"
  rdb_snapshot_period = var.rdb_snapshot_period
  labels              = length(var.labels) == 0 ? null : var.labels

  # On the relay's network, with private services access, AUTH and TLS; the
  # relay learns the address, AUTH string and CA from the Memorystore API.
  authorized_network      = var.vpc_network
  connect_mode            = var.connect_mode
  reserved_ip_range       = var.reserved_ip_range
  auth_enabled            = var.auth_enabled
  transit_encryption_mode = var.transit_encryption_mode
  customer_managed_key    = var.customer_managed_key
  # Acknowledged envelopes must never be evicted (Memorystore's default
  # policy is volatile-lru and every relay key has a TTL).
  redis_configs = merge(var.redis_configs, { "maxmemory-policy" = "noeviction" })
}

# The restore selects its snapshot itself when it is created and pins it in
# state: "latest" is the newest non-empty snapshot written before the end of
# the second in which the plan that asked for it was made (plantimestamp()
# has whole seconds; kept afterwards), so a snapshot taken just before the
# plan counts, and neither the fresh snapshot taken after the restore (it
# waits for the restore) nor any later one runs it again.
resource "agentnet_redis_snapshot_restore" "this" {
  count = local.restore ? 1 : 0

  instance         = agentnet_redis_instance.this[0].id
  source           = local.restore_latest || local.restore_before ? null : var.restore_from
  snapshots_prefix = local.restore_latest || local.restore_before ? local.backup_uri : null
  created_before   = local.restore_latest ? timeadd(plantimestamp(), "1s") : local.restore_before ? var.restore_from : null
  signing_key      = var.snapshot_signing_key
  allow_unsigned   = var.restore_allow_unsigned
  allow_empty      = var.restore_allow_empty
  triggers         = { restore_from = var.restore_from }

  records_prefix      = var.records_prefix
  recovery_objectives = var.recovery_objectives

  lifecycle {
    # "latest" means before the plan that asked for the restore, not before
    # every later plan. A different restore_from replaces it (triggers).
    ignore_changes = [created_before]
  }
}

# A region's Redis Cluster, sharded over shard_count primaries, each with its
# replicas: a failed primary's replica is promoted. On the relay's network
# (Private Service Connect), with TLS and, by default, IAM authentication:
# the relay authenticates with its service account's access tokens.
resource "agentnet_redis_cluster" "this" {
  count = local.cluster ? 1 : 0

  project                     = var.project
  name                        = local.redis_name
  region                      = var.region
  shard_count                 = var.redis_cluster.shard_count
  replica_count               = var.redis_cluster.replica_count
  node_type                   = var.redis_cluster.node_type
  network                     = var.vpc_network
  transit_encryption_mode     = "TRANSIT_ENCRYPTION_MODE_${var.transit_encryption_mode}"
  authorization_mode          = var.redis_cluster.authorization_mode
  deletion_protection_enabled = var.redis_cluster.deletion_protection_enabled
  # As for an instance: acknowledged envelopes must never be evicted.
  redis_configs = merge(var.redis_configs, { "maxmemory-policy" = "noeviction" })
}

locals {
  redis_id = local.cluster ? agentnet_redis_cluster.this[0].id : agentnet_redis_instance.this[0].id
  redis_address = (local.cluster ?
    "${agentnet_redis_cluster.this[0].discovery_endpoints[0].address}:${agentnet_redis_cluster.this[0].discovery_endpoints[0].port}" :
  "${agentnet_redis_instance.this[0].host}:${agentnet_redis_instance.this[0].port}")
}

# Before the cluster option the instance and its backups had no count.
moved {
  from = agentnet_redis_instance.this
  to   = agentnet_redis_instance.this[0]
}

moved {
  from = module.backup
  to   = module.backup[0]
}

# Snapshots are exports of an instance; a cluster has none here.
module "backup" {
  source = "../redis-backup"
  count  = local.cluster ? 0 : 1

  instance_id      = agentnet_redis_instance.this[0].id
  bucket           = var.backup_bucket
  prefix           = local.backup_prefix
  interval_minutes = var.backup_interval_minutes
  rpo_seconds      = var.backup_rpo_seconds
  retention_days   = var.backup_retention_days
  signing_key      = var.snapshot_signing_key
  # A restore is followed by a fresh snapshot of the restored data.
  triggers = local.restore ? { restore = agentnet_redis_snapshot_restore.this[0].id } : {}
}

resource "agentnet_relay_service" "this" {
  project              = var.project
  name                 = var.service_name
  region               = var.region
  image                = var.image
  redis_instance       = local.redis_id
  peer_redis_instances = local.peers
  env                  = merge(local.relay_limits, var.env)
  min_instances        = var.min_instances
  max_instances        = var.max_instances
  cpu                  = var.cpu
  memory               = var.memory
  vpc_network          = var.vpc_network
  vpc_subnetwork       = var.vpc_subnetwork
  service_account      = var.service_account
  metrics_sidecar      = var.metrics_sidecar

  # Agents come through the load balancer only (no run.app URL), and
  # authenticate with the relay's own tokens: Cloud Run's invoker check
  # would refuse them (and the load balancer, which carries no Google
  # identity).
  ingress              = var.ingress
  invoker_iam_disabled = true
  default_uri_disabled = var.default_uri_disabled

  lifecycle {
    # A failover group (modules/relay-global) sets minimum instances from
    # its capacity plan.
    ignore_changes = [min_instances]
  }
}
