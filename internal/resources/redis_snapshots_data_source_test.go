package resources_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// The snapshots under a prefix, filtered by time, size and key count, with
// what their manifests say; the manifests themselves are not snapshots.
// a.rdb holds keys and is signed; after the cut-off time, b.rdb holds none
// (unsigned manifest) and c.rdb has no manifest.
func TestAccRedisSnapshotsDataSource_filters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.lc.CreateMACKey(t, trustedKey)
	data := dataset{prefix: "envelope", n: 300}
	const prefix = "gs://agentnet-snapshots/filters/"
	cutoff := lateVars{}
	list := func(filters string) string {
		return e.config(recoveryInstanceHCL + `
data "agentnet_redis_snapshots" "s" {
  prefix = "` + prefix + `"
` + filters + "\n}\n")
	}
	const ds = "data.agentnet_redis_snapshots.s"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			e.seedStep(ctx, data),
			{
				Config: e.config(recoveryInstanceHCL),
				Check: func(*terraform.State) error {
					e.export(t, instanceID("relay-us"), prefix+"a.rdb")
					e.writeManifest(t, prefix+"a.rdb", trustedKey, nil)
					time.Sleep(1100 * time.Millisecond)
					cutoff["cutoff"] = time.Now().UTC().Format(time.RFC3339)
					time.Sleep(1100 * time.Millisecond)
					c := e.lc.RedisClient(t, instanceID("relay-us"))
					defer c.Close()
					if err := c.FlushAll(ctx).Err(); err != nil {
						return err
					}
					e.export(t, instanceID("relay-us"), prefix+"b.rdb")
					e.writeManifest(t, prefix+"b.rdb", "", nil)
					time.Sleep(10 * time.Millisecond)
					e.export(t, instanceID("relay-us"), prefix+"c.rdb")
					return nil
				},
			},
			{
				Config:      list(`  created_before = "yesterday"`),
				ExpectError: errorText("Invalid RFC3339 String Value", "Given Value: yesterday"),
			},
			{
				Config: list(""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "snapshots.#", "3"),
					resource.TestCheckResourceAttr(ds, "snapshots.0.uri", prefix+"c.rdb"),
					resource.TestCheckNoResourceAttr(ds, "snapshots.0.key_count"),
					resource.TestCheckResourceAttr(ds, "snapshots.0.signed", "false"),
					resource.TestCheckResourceAttr(ds, "snapshots.1.uri", prefix+"b.rdb"),
					resource.TestCheckResourceAttr(ds, "snapshots.1.key_count", "0"),
					resource.TestCheckResourceAttr(ds, "snapshots.1.signed", "false"),
					resource.TestCheckResourceAttr(ds, "snapshots.2.uri", prefix+"a.rdb"),
					resource.TestCheckResourceAttr(ds, "snapshots.2.key_count", "300"),
					resource.TestCheckResourceAttr(ds, "snapshots.2.signed", "true"),
					resource.TestCheckResourceAttr(ds, "latest.uri", prefix+"c.rdb"),
				),
			},
			{
				Config:          list(`  created_before = var.cutoff` + "\n}\nvariable \"cutoff\" {\n  type = string\n"),
				ConfigVariables: cutoff.variables("cutoff"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "snapshots.#", "1"),
					resource.TestCheckResourceAttr(ds, "latest.uri", prefix+"a.rdb"),
				),
			},
			{
				Config: list(`  min_key_count = 1`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "snapshots.#", "1"),
					resource.TestCheckResourceAttr(ds, "latest.uri", prefix+"a.rdb"),
				),
			},
			{
				Config: list(`  min_size_bytes = 1000000000`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "snapshots.#", "0"),
					resource.TestCheckNoResourceAttr(ds, "latest.uri"),
					resource.TestCheckNoResourceAttr(ds, "latest_age_seconds"),
				),
			},
		},
	})
}
