package resources_test

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// The readiness of a topology, read through the provider: bad input named
// by attribute; the snapshots prefix read from Cloud Storage (empty: an
// error; a fresh snapshot: ready); hourly snapshots against a 5 minute RPO
// reported as an error with what to change, and the report as text.
func TestAccRecoveryReadinessDataSource(t *testing.T) {
	e := newEnv(t)
	const prefix = "gs://" + testBucket + "/readiness/"
	readiness := func(interval, minUS string) string {
		return e.config(`
data "agentnet_recovery_readiness" "r" {
  regions = {
    "us-central1"  = { min_instances = ` + minUS + `, max_instances = 2, redis_memory_size_gb = 1, redis_expected_usage_gb = 0.5 }
    "europe-west1" = { min_instances = 1, max_instances = 2 }
    "asia-east1"   = { min_instances = 1, max_instances = 2, weight = 100 }
  }
  total_min_instances = 3
  snapshot_interval   = "` + interval + `"
  rto                 = "15m"
  rpo                 = "5m"
  drain_grace_period  = "5m"
  snapshots_prefix    = "` + prefix + `"
}
`)
	}
	const ds = "data.agentnet_recovery_readiness.r"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      readiness("5m", "3"),
				ExpectError: errorText(`regions["us-central1"].min_instances (3) must not exceed max_instances (2).`),
			},
			{
				Config:      readiness("5 minutes", "1"),
				ExpectError: errorText("Invalid Time Duration String Value", "snapshot_interval"),
			},
			{
				Config: readiness("5m", "1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "ready", "false"),
					resource.TestCheckResourceAttr(ds, "findings.#", "2"),
					resource.TestCheckResourceAttr(ds, "findings.0.severity", "error"),
					resource.TestCheckResourceAttr(ds, "findings.0.check", "snapshot_age"),
					resource.TestMatchResourceAttr(ds, "findings.0.message", errorText("No snapshot under snapshots_prefix")),
				),
			},
			{
				PreConfig: func() { e.overwriteObject(t, "readiness/a.rdb", []byte("REDIS0011")) },
				Config:    readiness("5m", "1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "ready", "true"),
					resource.TestCheckResourceAttr(ds, "findings.#", "1"),
					resource.TestCheckResourceAttr(ds, "findings.0.severity", "info"),
					resource.TestCheckResourceAttr(ds, "findings.0.check", "message_rpo"),
					resource.TestCheckResourceAttr(ds, "findings.0.remedy", ""),
				),
			},
			{
				Config: readiness("1h", "1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "ready", "false"),
					resource.TestCheckResourceAttr(ds, "findings.0.severity", "error"),
					resource.TestCheckResourceAttr(ds, "findings.0.check", "snapshot_schedule"),
					resource.TestCheckResourceAttr(ds, "findings.0.message", "Snapshots every 1h0m0s can lose up to 1h0m0s of Redis data, more than the RPO (5m0s)."),
					resource.TestCheckResourceAttr(ds, "findings.0.remedy", "take snapshots at least every 5m0s (backup_interval_minutes = 5), or raise the RPO to 1h0m0s."),
					resource.TestMatchResourceAttr(ds, "report", errorText("ready: false", "error snapshot_schedule: Snapshots every 1h0m0s")),
				),
			},
		},
	})
}
