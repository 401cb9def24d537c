package resources_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// Under the gcp profile an import makes the instance unavailable for
// minutes and a failed one flushes it, as on Google Cloud: the restore's
// checks are what keep a bad snapshot from getting that far. A signed
// snapshot whose object was then truncated is refused by the manifest check
// with no ImportInstance call (none in the operation log, no import delay
// in the profile's ledger) and the instance keeps every key. The same
// object imported directly through the API, as a restore without those
// checks would, fails after the modelled import time and leaves the
// instance empty.
func TestAccRedisSnapshotRestore_checksRefuseBeforeImportUnderGCPProfile(t *testing.T) {
	e := newEnvWith(t, localcloudtest.Options{Profile: "gcp", TimeScale: 100})
	ctx := context.Background()
	e.lc.CreateMACKey(t, trustedKey)
	data := dataset{prefix: "envelope", n: 500}
	const object = "relay-us/signed.rdb"
	const uri = "gs://" + testBucket + "/" + object
	var before map[string]string
	imports := func() (n int) {
		st, err := e.lc.Admin().Delays(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range st.Applied {
			if a.Kind == profile.RedisImport {
				n++
			}
		}
		return n
	}
	untouched := func() {
		if n := e.countCalls(t, "ImportInstance"); n != 0 {
			t.Fatalf("a refused restore called ImportInstance %d times", n)
		}
		if n := imports(); n != 0 {
			t.Fatalf("%d imports in the profile's ledger, want none", n)
		}
		if now := e.dump(t); !maps.Equal(now, before) {
			t.Fatalf("a refused restore changed the instance's data (%d keys differ)", diffCount(before, now))
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			e.seedStep(ctx, data),
			{
				Config: e.config(recoveryInstanceHCL + `
resource "agentnet_redis_snapshot" "signed" {
  instance    = agentnet_redis_instance.main.id
  destination = "` + uri + `"
  signing_key = "` + trustedKey + `"
}
`),
				// The truncated object shows as the snapshot gone.
				ExpectNonEmptyPlan: true,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.signed", "signed", "true"),
					func(*terraform.State) error {
						before = e.dump(t)
						if len(before) != data.n {
							return fmt.Errorf("%d keys before, want %d", len(before), data.n)
						}
						good := e.readObject(t, uri)
						e.overwriteObject(t, object, []byte(good[:len(good)/2]))
						return nil
					},
				),
			},
			{
				Config: e.config(recoveryInstanceHCL + `
resource "agentnet_redis_snapshot_restore" "back" {
  instance    = agentnet_redis_instance.main.id
  signing_key = "` + trustedKey + `"
  source      = "` + uri + `"
}
`),
				ExpectError: errorText("Snapshot does not match its manifest", "The manifest check failed", "The instance was not touched."),
			},
			{
				PreConfig: func() {
					untouched()
					err := e.importDirectly(ctx, uri)
					if err == nil || !strings.Contains(err.Error(), "back online with no data") {
						t.Fatalf("importing the truncated snapshot directly: %v, want a failure that flushes the instance", err)
					}
				},
				Config: e.config(recoveryInstanceHCL),
				Check: func(*terraform.State) error {
					if n := imports(); n != 1 {
						return fmt.Errorf("%d imports in the profile's ledger, want the direct one", n)
					}
					if now := e.dump(t); len(now) != 0 {
						return fmt.Errorf("after a failed import the instance holds %d keys, want none (flushed)", len(now))
					}
					return nil
				},
			},
		},
	})
}

// importDirectly imports uri into relay-us through the API, without the
// restore's checks.
func (e *env) importDirectly(ctx context.Context, uri string) error {
	op, err := e.clients.Redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{Name: instanceID("relay-us"),
		InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: uri}}}})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	return err
}
