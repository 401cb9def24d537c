// Package rediscluster emulates Memorystore for Redis Cluster
// (google.cloud.redis.cluster.v1.CloudRedisCluster) for localcloud.
//
// A cluster is shard_count real redis-server primaries in cluster mode,
// each with replica_count replicas, on loopback, formed by package
// clusterform (the code the relay's test clusters use). Every node has its
// own folder under <DataDir>/rediscluster/<project>/<region>/<cluster> and
// sits behind a gate (package gate, as a Memorystore instance does): the
// gate's port is the node's address, announced to the cluster
// (cluster-announce-port), so that CLUSTER SLOTS gives clients addresses
// that keep working while a node restarts on another port, and a Cloud Run
// relay reaches a node only from the cluster's PSC network
// (psc_configs[0].network). The discovery endpoint is one more gate, in
// front of whichever node is up.
//
// As Memorystore runs them: transit encryption SERVER_AUTHENTICATION
// serves TLS only (clients, the cluster bus and replication) with
// certificates from the cluster's own CA, returned by
// GetClusterCertificateAuthority; AUTH_MODE_IAM_AUTH makes every node
// require AUTH with localcloud's access token (Config.AccessToken: the one
// its metadata server gives Cloud Run relays, standing for every identity
// granted roles/redis.dbConnectionUser, as localcloud has no IAM);
// maxmemory-policy defaults to volatile-lru.
//
// Implemented methods (rpc.go): CreateCluster, GetCluster, ListClusters,
// UpdateCluster (update_mask paths redis_configs and
// deletion_protection_enabled; resharding and the others are refused
// naming the path), DeleteCluster, GetClusterCertificateAuthority. The
// others return UNIMPLEMENTED. Mutating methods return long-running
// operations served by package operations, done only when the work is
// (create: every node up and the cluster ok).
//
// Nodes are supervised (supervise.go): a node that exits unexpectedly is
// started again after the repair delay on its folder, whose nodes.conf
// keeps its place in the cluster; a killed primary's replica has been
// promoted by the cluster itself meanwhile (after cluster-node-timeout), so
// the node comes back as a replica, as Memorystore's automatic failover
// does. State is saved after every change (persist.go) and a localcloud
// started again on the same data folder brings every cluster back on its
// addresses, its data saved by each node on SIGTERM.
package rediscluster
