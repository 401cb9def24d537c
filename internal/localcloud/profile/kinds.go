package profile

import "sort"

// The delays localcloud models. Each API package waits on its own kinds;
// the gcp profile (gcp.go) gives their figures and sources.
const (
	// URLMapPropagation: a URL map change reaching the front door; until
	// then new connections follow the previous weights.
	URLMapPropagation Kind = "compute.urlmap_propagation"
	// OperationPoll: the granularity at which a long-running operation is
	// seen to be done by a client polling it.
	OperationPoll Kind = "operations.poll"

	// RedisCreate: a Memorystore instance's creation.
	RedisCreate Kind = "memorystore.create"
	// RedisExport: an export to Cloud Storage, growing with the data.
	RedisExport Kind = "memorystore.export"
	// RedisImport: an import from Cloud Storage, growing with the data; the
	// instance serves no client meanwhile.
	RedisImport Kind = "memorystore.import"

	// ClusterCreate: a Memorystore for Redis Cluster's creation.
	ClusterCreate Kind = "memorystore.cluster_create"
	// ClusterFailover: a Memorystore for Redis Cluster primary that stopped
	// answering being replaced by its replica (localcloud's nodes run with
	// it as their cluster-node-timeout).
	ClusterFailover Kind = "memorystore.cluster_failover"

	// RunRevisionDeploy: a new Cloud Run revision becoming ready to serve.
	RunRevisionDeploy Kind = "run.revision_deploy"
	// RunColdStart: a new Cloud Run instance starting.
	RunColdStart Kind = "run.cold_start"
	// RunScaleUp: Cloud Run adding instances after minimum instances rise.
	RunScaleUp Kind = "run.scale_up"
	// RunShutdownGrace: the time an instance has after SIGTERM before SIGKILL.
	RunShutdownGrace Kind = "run.shutdown_grace"

	// UptimeAlert: a failed region reaching the operator as modules/monitoring's
	// region_unhealthy alert (an uptime check period, then the retest
	// window). localcloud has no Monitoring API: the drill waits on it before
	// the plan that detects the fault.
	UptimeAlert Kind = "monitoring.uptime_alert"
)

var known = map[Kind]bool{
	URLMapPropagation: true, OperationPoll: true,
	RedisCreate: true, RedisExport: true, RedisImport: true, ClusterCreate: true, ClusterFailover: true,
	RunRevisionDeploy: true, RunColdStart: true, RunScaleUp: true, RunShutdownGrace: true,
	UptimeAlert: true,
}

// Known reports whether kind is a delay localcloud models.
func Known(kind Kind) bool { return known[kind] }

// KnownNames lists the kinds, sorted.
func KnownNames() []string {
	out := make([]string, 0, len(known))
	for k := range known {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}
