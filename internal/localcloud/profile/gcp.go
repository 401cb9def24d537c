package profile

import "time"

// GCP is Google Cloud's timing as documented or measured; every figure names
// its source (the table in docs/gcp-fidelity.md lists them).
func GCP() *Profile {
	return &Profile{Name: "gcp", Scale: 1, Delays: map[Kind]Delay{
		// Google publishes no figure for a URL map change to reach its
		// front ends; its own sample measured how long a new global load
		// balancer takes to serve (first 370 s, then 150 s, "these kinds of
		// propagation delays can vary widely").
		URLMapPropagation: {Duration: Duration(150 * time.Second),
			Source: "https://github.com/GoogleCloudPlatform/terraform-dynamic-javascript-webapp/pull/72"},
		// modules/monitoring: uptime_check_period 60s, then region_unhealthy's duration 60s.
		UptimeAlert: {Duration: Duration(2 * time.Minute), Source: "modules/monitoring: uptime check period 60s (https://cloud.google.com/monitoring/uptime-checks) + region_unhealthy retest window 60s (https://cloud.google.com/monitoring/alerts/concepts-indepth)"},
	}}
}
