// Package memorystore emulates Memorystore for Redis
// (google.cloud.redis.v1.CloudRedis) for localcloud.
//
// Every instance is a real redis-server process with its own data folder
// under <DataDir>/memorystore, behind a gate (package gate): the instance's
// host:port is a TCP proxy owned by localcloud, which keeps the address
// while redis-server restarts on another port (repair, import, upgrade,
// localcloud restart) and enforces the instance's network: a Cloud Run
// relay process reaches it only when its egress network is the instance's
// authorized network. The accepted redis_version values REDIS_6_X,
// REDIS_7_0 and REDIS_7_2 all run the locally installed redis-server
// (Redis 7.0, RDB format 10); an RDB snapshot in a newer format is refused
// on import with FAILED_PRECONDITION.
//
// As Memorystore runs them: auth_enabled runs redis-server with
// requirepass (the AUTH string, from GetInstanceAuthString, is kept apart
// in state/instance-auth.json and in a 0600 config file); transit
// encryption SERVER_AUTHENTICATION serves TLS only with a certificate from
// the instance's own CA (security.go), listed in server_ca_certs;
// maxmemory follows memory_size_gb (or the maxmemory-gb redis_config) and
// maxmemory-policy defaults to volatile-lru; only the redis_configs keys
// Memorystore supports are accepted (validate.go). localcloud's own
// clients of its redis-servers use TLS and AUTH like anyone else.
//
// Implemented methods (rpc.go, export.go, import.go): CreateInstance,
// GetInstance, ListInstances, UpdateInstance (update_mask paths
// display_name, labels, memory_size_gb, redis_configs, persistence_config,
// auth_enabled), DeleteInstance, GetInstanceAuthString, UpgradeInstance,
// ExportInstance and ImportInstance. The others return UNIMPLEMENTED.
// Mutating methods return long-running operations served by package
// operations; an operation is Done only when the redis-server really
// answers PING with its dataset loaded (create, import, upgrade) or when
// the work has finished (export, delete).
//
// ExportInstance runs BGSAVE and hard-links the new dump.rdb into the Cloud
// Storage folder (its CRC32C and MD5 computed while the save writes it).
// ImportInstance makes the instance unavailable for the whole import, as
// Memorystore's is: the state is IMPORTING and the gate closes every
// connection and refuses new ones (clients see connection errors) until it
// is done, the timing profile's import time included. The snapshot is
// loaded by a redis-server of its own, in a folder next to the instance's
// (<folder>.import), while its RDB header, EOF marker and CRC64 are
// verified; then the instance's redis-server is stopped without saving
// (its data is being replaced), the gate sends connections to the new one
// and, by swapping the two folders, its folder becomes the instance's. An
// import that fails for any reason (a snapshot refused, a missing object,
// a cancellation) brings the instance back online flushed, as Memorystore
// documents it may be; its data as last saved is kept as
// dump.rdb.before-import. Checking a snapshot before importing it is the
// client's job (the provider's restore checks).
//
// Instances are supervised (supervise.go): if a redis-server exits
// unexpectedly the instance goes to REPAIRING and is restarted from its
// last saved dump.rdb after the configured repair delay (data written since
// the last save is lost, as on a BASIC tier instance). State is saved
// (persist.go) after every change, and a localcloud started again on the
// same data folder brings every instance back on its address.
package memorystore
