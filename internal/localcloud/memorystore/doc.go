// Package memorystore emulates Memorystore for Redis
// (google.cloud.redis.v1.CloudRedis) for localcloud.
//
// Every instance is a real redis-server process listening on its own
// loopback port, with its own data folder under <DataDir>/memorystore. The
// accepted redis_version values REDIS_6_X, REDIS_7_0 and REDIS_7_2 all run
// the locally installed redis-server (Redis 7.0, RDB format 10); an RDB
// snapshot in a newer format is refused on import with FAILED_PRECONDITION.
//
// Implemented methods: CreateInstance, GetInstance, ListInstances,
// UpdateInstance (update_mask paths display_name, labels, memory_size_gb,
// redis_configs, persistence_config), DeleteInstance, ExportInstance and
// ImportInstance. The others return UNIMPLEMENTED. Mutating methods return
// long-running operations served by package operations; an operation is
// Done only when the redis-server really answers PING with its dataset
// loaded (create, import) or when the work has finished (export, delete).
//
// ExportInstance runs BGSAVE and hard-links the new dump.rdb into the Cloud
// Storage folder (its CRC32C and MD5 computed while the save writes it).
// ImportInstance never touches the instance before the snapshot is known to
// be good: it is loaded by a redis-server of its own, in a folder next to
// the instance's (<folder>.import), while its RDB header, EOF marker and
// CRC64 are verified; only then is the instance's redis-server stopped
// without saving (its data is being replaced), and the new one takes over
// its port and, by swapping the two folders, its folder. A snapshot that is
// refused leaves the instance running untouched, with all its data.
//
// Instances are supervised: if a redis-server exits unexpectedly the
// instance goes to REPAIRING and is restarted from its last saved dump.rdb
// after the configured repair delay (data written since the last save is
// lost, as on a BASIC tier instance).
package memorystore
