package profile

import "time"

// GCP is Google Cloud's timing as documented or measured; every figure names
// its source (the table in docs/gcp-fidelity.md lists them).
func GCP() *Profile {
	p := &Profile{Name: "gcp", Scale: 1, Delays: map[Kind]Delay{
		// Google publishes no figure for a URL map change to reach its
		// front ends; its own sample measured how long a new global load
		// balancer takes to serve (first 370 s, then 150 s, "these kinds of
		// propagation delays can vary widely").
		URLMapPropagation: {Duration: Duration(150 * time.Second),
			Source: "https://github.com/GoogleCloudPlatform/terraform-dynamic-javascript-webapp/pull/72"},
		// modules/monitoring: uptime_check_period 60s, then region_unhealthy's duration 60s.
		UptimeAlert: {Duration: Duration(2 * time.Minute), Source: "modules/monitoring: uptime check period 60s (https://cloud.google.com/monitoring/uptime-checks) + region_unhealthy retest window 60s (https://cloud.google.com/monitoring/alerts/concepts-indepth)"},
	}}
	for k, d := range gcpMemorystore {
		p.Delays[k] = d
	}
	for k, d := range gcpRun {
		p.Delays[k] = d
	}
	return p
}

func minutes(n float64) Duration { return Duration(time.Duration(n * float64(time.Minute))) }

func seconds(n float64) Duration { return Duration(time.Duration(n * float64(time.Second))) }

// Memorystore for Redis. Google publishes no durations for these
// operations; the figures are estimates, stated as such, that a profile
// file replaces with a measurement of one's own.
var gcpMemorystore = map[Kind]Delay{
	RedisCreate: {Duration: minutes(5),
		Source: "estimate: Google publishes no creation time; the Terraform Google provider waits up to 20m for google_redis_instance creation (https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/redis_instance#timeouts)"},
	RedisExport: {Duration: minutes(1), PerGiB: minutes(1),
		Source: "estimate: an export is a BGSAVE then an upload to Cloud Storage (https://cloud.google.com/memorystore/docs/redis/import-export-overview); Google publishes no duration"},
	RedisImport: {Duration: minutes(3), PerGiB: minutes(2),
		Source: "estimate: an import copies the RDB file into the instance's data directory and the instance is unavailable until it finishes (https://cloud.google.com/memorystore/docs/redis/import-export-overview); Google publishes no duration"},
	ClusterCreate: {Duration: minutes(10),
		Source: "estimate: Google publishes no creation time for Memorystore for Redis Cluster; the Terraform Google provider waits up to 60m for google_redis_cluster creation (https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/redis_cluster#timeouts)"},
	ClusterFailover: {Duration: seconds(15),
		Source: "estimate: Google's High availability and replicas page (https://cloud.google.com/memorystore/docs/cluster/ha-and-replicas) promises automatic failover to a replica without a duration; 15 s is open-source Redis Cluster's default cluster-node-timeout (https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/), the time a primary is unreachable before its replica is elected"},
}

// Cloud Run.
var gcpRun = map[Kind]Delay{
	RunRevisionDeploy: {Duration: seconds(30),
		Source: "measurement: Google's Cloud Run Button waited 30 s for a new revision to be ready, too short for some (https://github.com/GoogleCloudPlatform/cloud-run-button/pull/172); Google publishes no deploy time"},
	RunColdStart: {Duration: seconds(2),
		Source: "measurement: Go services on Cloud Run start in 1.1 s to 6 s (https://www.techfrontier.blog/2026/04/reducing-go-cloud-run-cold-starts-from.html); Google publishes no figure"},
	RunScaleUp: {Duration: seconds(10),
		Source: "estimate: raising minimum instances starts new instances, each a cold start, after the service update (https://cloud.google.com/run/docs/configuring/min-instances); Google publishes no figure"},
	RunShutdownGrace: {Duration: seconds(10),
		Source: "Google: an instance gets SIGTERM, then SIGKILL 10 seconds later (https://cloud.google.com/run/docs/container-contract)"},
}
