package resources_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

const snapshotHCL = recoveryInstanceHCL + `
resource "agentnet_redis_snapshot" "hourly" {
  instance                 = agentnet_redis_instance.main.id
  destination              = "gs://agentnet-snapshots/hourly/"
  delete_object_on_destroy = %t
  triggers                 = { hour = %q }
}
`

func (e *env) objectExists(uri string) (bool, error) {
	u := strings.TrimPrefix(uri, "gs://")
	bucket, object, _ := strings.Cut(u, "/")
	_, err := e.clients.Storage.Bucket(bucket).Object(object).Attrs(context.Background())
	if errors.Is(err, storage.ErrObjectNotExist) {
		return false, nil
	}
	return err == nil, err
}

func TestAccRedisSnapshot_prefixTriggersAndDrift(t *testing.T) {
	e := newEnv(t)
	var first string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(fmt.Sprintf(snapshotHCL, false, "10")),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr("agentnet_redis_snapshot.hourly", "uri",
						regexp.MustCompile(`^gs://agentnet-snapshots/hourly/relay-us-\d{8}T\d{6}\.\d{3}Z\.rdb$`)),
					resource.TestMatchResourceAttr("agentnet_redis_snapshot.hourly", "size_bytes", regexp.MustCompile(`^[1-9]\d*$`)),
					resource.TestMatchResourceAttr("agentnet_redis_snapshot.hourly", "crc32c", regexp.MustCompile(`^[A-Za-z0-9+/]{6}==$`)),
					resource.TestCheckResourceAttrWith("agentnet_redis_snapshot.hourly", "uri", func(v string) error {
						first = v
						return nil
					}),
				),
			},
			{ // a new trigger value takes a new snapshot; the old object is kept
				Config: e.config(fmt.Sprintf(snapshotHCL, true, "11")),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_snapshot.hourly", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.TestCheckResourceAttrWith("agentnet_redis_snapshot.hourly", "uri", func(v string) error {
					if v == first {
						return fmt.Errorf("trigger change kept the same object %s", v)
					}
					if ok, err := e.objectExists(first); !ok {
						return fmt.Errorf("the first snapshot %s was deleted (err %v): destroy must keep it by default", first, err)
					}
					return nil
				}),
			},
			{ // the snapshot object deleted behind Terraform's back: the plan exports again
				PreConfig: func() {
					it := e.clients.Storage.Bucket(testBucket).Objects(context.Background(), &storage.Query{Prefix: "hourly/"})
					for {
						a, err := it.Next()
						if err != nil {
							break
						}
						if a.Name != strings.TrimPrefix(first, "gs://"+testBucket+"/") {
							if err := e.clients.Storage.Bucket(testBucket).Object(a.Name).Delete(context.Background()); err != nil {
								t.Fatal(err)
							}
						}
					}
				},
				Config: e.config(fmt.Sprintf(snapshotHCL, true, "11")),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_snapshot.hourly", plancheck.ResourceActionCreate),
				}},
			},
		},
		// delete_object_on_destroy = true removes the last object on destroy
		CheckDestroy: func(s *terraform.State) error {
			it := e.clients.Storage.Bucket(testBucket).Objects(context.Background(), &storage.Query{Prefix: "hourly/"})
			var names []string
			for {
				a, err := it.Next()
				if err != nil {
					break
				}
				names = append(names, "gs://"+testBucket+"/"+a.Name)
			}
			if len(names) != 1 || names[0] != first {
				return fmt.Errorf("after destroy the bucket holds %v, want only the kept %s", names, first)
			}
			return nil
		},
	})
}

func TestAccRedisSnapshot_invalidDestination(t *testing.T) {
	e := newEnv(t)
	snap := func(dest string) string {
		return e.config(fmt.Sprintf(recoveryInstanceHCL+`
resource "agentnet_redis_snapshot" "bad" {
  instance    = agentnet_redis_instance.main.id
  destination = %q
}
`, dest))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: snap("s3://agentnet-snapshots/x.rdb"), PlanOnly: true,
				ExpectError: errorText("Attribute destination must be a Cloud Storage URI of the form gs://BUCKET/OBJECT or gs://BUCKET/PREFIX/")},
			{Config: snap("gs://no-such-bucket/x.rdb"),
				ExpectError: errorText("Snapshot destination not usable", "destination", `bucket "no-such-bucket" does not exist; create it first`)},
		},
	})
}

const snapshotsDataHCL = recoveryInstanceHCL + `
resource "agentnet_redis_snapshot" "a" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/rpo/a.rdb"
}

resource "agentnet_redis_snapshot" "b" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/rpo/b.rdb"
  depends_on  = [agentnet_redis_snapshot.a]
}

data "agentnet_redis_snapshots" "rpo" {
  prefix     = "gs://agentnet-snapshots/rpo/"
  depends_on = [agentnet_redis_snapshot.b]
}

check "rpo" {
  assert {
    condition     = data.agentnet_redis_snapshots.rpo.latest_age_seconds < 300
    error_message = "newest Redis snapshot is older than the 5 minute RPO"
  }
}
`

func TestAccRedisSnapshotsDataSource_newestFirst(t *testing.T) {
	e := newEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config: e.config(snapshotsDataHCL),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("data.agentnet_redis_snapshots.rpo", "snapshots.#", "2"),
				resource.TestCheckResourceAttr("data.agentnet_redis_snapshots.rpo", "snapshots.0.uri", "gs://agentnet-snapshots/rpo/b.rdb"),
				resource.TestCheckResourceAttr("data.agentnet_redis_snapshots.rpo", "snapshots.1.uri", "gs://agentnet-snapshots/rpo/a.rdb"),
				resource.TestCheckResourceAttrPair("data.agentnet_redis_snapshots.rpo", "latest.generation", "agentnet_redis_snapshot.b", "generation"),
				resource.TestCheckResourceAttrPair("data.agentnet_redis_snapshots.rpo", "latest.crc32c", "agentnet_redis_snapshot.b", "crc32c"),
				resource.TestMatchResourceAttr("data.agentnet_redis_snapshots.rpo", "latest_age_seconds", regexp.MustCompile(`^\d{1,2}$`)),
			),
		}},
	})
}
