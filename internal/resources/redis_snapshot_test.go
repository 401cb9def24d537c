package resources_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"google.golang.org/api/iterator"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
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
					for _, name := range e.objectsUnder(t, "hourly/") {
						if name != strings.TrimPrefix(first, "gs://"+testBucket+"/") {
							if err := e.clients.Storage.Bucket(testBucket).Object(name).Delete(context.Background()); err != nil {
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
			// (the third step deleted every other object, manifests included)
			names := e.objectsUnder(t, "hourly/")
			if len(names) != 1 || "gs://"+testBucket+"/"+names[0] != first {
				return fmt.Errorf("after destroy the bucket holds %v, want only the kept %s (the destroyed snapshot's object and manifest deleted)", names, first)
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
			// at plan: nothing is created, not even the instance
			{Config: snap("gs://no-such-bucket/x.rdb"), PlanOnly: true,
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

// exports counts the ExportInstance calls localcloud accepted.
func (e *env) exports(t *testing.T) int {
	n := 0
	for _, l := range e.lc.Oplog(t) {
		if l.Phase == "call" && strings.HasSuffix(l.Method, ".ExportInstance") && !strings.Contains(l.Outcome, ":") {
			n++
		}
	}
	return n
}

// objectsUnder lists the objects under gs://testBucket/prefix.
func (e *env) objectsUnder(t *testing.T, prefix string) []string {
	t.Helper()
	var names []string
	it := e.clients.Storage.Bucket(testBucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, a.Name)
	}
}

// A snapshot lost from state is adopted again by its URI: the import, and
// the apply after it, export nothing; a rewritten object is refused.
func TestAccRedisSnapshot_importByURI(t *testing.T) {
	e := newEnv(t)
	const (
		addr = "agentnet_redis_snapshot.first"
		uri  = "gs://agentnet-snapshots/kept/relay-us-first.rdb"
	)
	var gen string
	var exportsBefore int
	// The import block adopts the object under a prefix destination: the
	// configuration's instance, destination and triggers are taken in place.
	adoptHCL := e.config(fmt.Sprintf(recoveryInstanceHCL+`
import {
  to = agentnet_redis_snapshot.kept
  id = %q
}

resource "agentnet_redis_snapshot" "kept" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/kept/"
  triggers    = { hour = "10" }
}
`, uri))
	// The instance comes from the manifest.
	ignore := []string{"destination", "triggers", "timeouts"}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(fmt.Sprintf(recoveryInstanceHCL+`
resource "agentnet_redis_snapshot" "first" {
  instance    = agentnet_redis_instance.main.id
  destination = %q
}
`, uri)),
				Check: func(s *terraform.State) error {
					gen = s.RootModule().Resources[addr].Primary.Attributes["generation"]
					exportsBefore = e.exports(t)
					return nil
				},
			},
			{ // by URI, and by URI#GENERATION: the same state
				ResourceName: addr, ImportState: true, ImportStateId: uri,
				ImportStateVerify: true, ImportStateVerifyIgnore: ignore,
			},
			{
				ResourceName: addr, ImportState: true,
				ImportStateIdFunc: func(*terraform.State) (string, error) { return uri + "#" + gen, nil },
				ImportStateVerify: true, ImportStateVerifyIgnore: ignore,
			},
			{
				ResourceName: addr, ImportState: true, ImportStateId: uri + "#1",
				ExpectError: errorText("generation 1 was asked, the object is at generation", "it was rewritten since"),
			},
			{
				ResourceName: addr, ImportState: true, ImportStateId: "gs://agentnet-snapshots/kept/",
				ExpectError: errorText("Invalid import id", "gs://BUCKET/OBJECT, optionally followed by #GENERATION"),
			},
			{ // state lost: the import block adopts the object, the apply takes the configuration in place
				Config: adoptHCL,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_snapshot.kept", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.kept", "uri", uri),
					resource.TestCheckResourceAttrPtr("agentnet_redis_snapshot.kept", "generation", &gen),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.kept", "destination", "gs://agentnet-snapshots/kept/"),
					func(*terraform.State) error {
						if n := e.exports(t); n != exportsBefore {
							return fmt.Errorf("adopting the snapshot exported again: %d exports, %d before", n, exportsBefore)
						}
						return nil
					},
				),
			},
			{ // from then on an ordinary snapshot: a changed trigger takes a new one
				Config: strings.Replace(adoptHCL, `hour = "10"`, `hour = "11"`, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_snapshot.kept", plancheck.ResourceActionDestroyBeforeCreate),
				}},
			},
		},
	})
}

// During a region outage a new snapshot is skipped with a warning: the
// apply succeeds and the resource keeps the last snapshot; the next apply
// after the region is back takes the missed snapshot.
func TestAccRedisSnapshot_regionOutageKeepsLastSnapshot(t *testing.T) {
	e := newEnv(t)
	const addr = "agentnet_redis_snapshot.hourly"
	var first string
	var exportsDuringOutage int
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(fmt.Sprintf(snapshotHCL, false, "10")),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "export_skipped", "false"),
					resource.TestCheckResourceAttrWith(addr, "uri", func(v string) error { first = v; return nil }),
				),
			},
			{ // the next slot, with the region down: exit 0, the last snapshot kept
				PreConfig: func() { e.lc.FaultRegion(t, "region-down", testRegion) },
				Config:    e.config(fmt.Sprintf(snapshotHCL, false, "11")),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPtr(addr, "uri", &first),
					resource.TestCheckResourceAttr(addr, "export_skipped", "true"),
					resource.TestCheckResourceAttr(addr, "triggers.hour", "11"),
					func(*terraform.State) error { exportsDuringOutage = e.exports(t); return nil },
				),
			},
			{ // still down: the plan keeps it (an export would only be skipped again)
				Config:   e.config(fmt.Sprintf(snapshotHCL, false, "11")),
				PlanOnly: true,
			},
			{ // the region is back in the same slot: the missed snapshot is taken
				PreConfig: func() { e.lc.FaultRegion(t, "region-up", testRegion) },
				Config:    e.config(fmt.Sprintf(snapshotHCL, false, "11")),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "export_skipped", "false"),
					resource.TestCheckResourceAttrWith(addr, "uri", func(v string) error {
						if v == first {
							return fmt.Errorf("the snapshot is still %s after the region came back", v)
						}
						if n := e.exports(t); n != exportsDuringOutage+1 {
							return fmt.Errorf("%d exports after the region came back, want 1", n-exportsDuringOutage)
						}
						return nil
					}),
				),
			},
			{ // and then the plan is empty again
				Config:   e.config(fmt.Sprintf(snapshotHCL, false, "11")),
				PlanOnly: true,
			},
		},
	})
}

// writeExportRecord writes the manifest an export records before it starts
// (state "exporting"), as an apply stopped during its export leaves it.
func (e *env) writeExportRecord(t *testing.T, object, operation string) {
	t.Helper()
	rec, _ := json.Marshal(map[string]any{
		"version": 1, "object": "gs://" + testBucket + "/" + object, "instance": instanceID("relay-us"),
		"created_at": time.Now().UTC(), "state": "exporting", "operation": operation,
	})
	e.overwriteObject(t, object+".manifest.json", rec)
}

// An apply stopped during its export leaves the record written before it:
// the next apply adopts the object that export wrote (no second export),
// and runs again, into the same object, an export that never started.
func TestAccRedisSnapshot_resumesInterruptedExport(t *testing.T) {
	e := newEnv(t)
	const (
		exported = "hourly/relay-us-20261126T101500.000Z.rdb"
		never    = "fixed/never-started.rdb"
	)
	resumeHCL := e.config(recoveryInstanceHCL + `
resource "agentnet_redis_snapshot" "hourly" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/hourly/"
}

resource "agentnet_redis_snapshot" "fixed" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/fixed/never-started.rdb"
  depends_on  = [agentnet_redis_snapshot.hourly]
}
`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(recoveryInstanceHCL)},
			{
				PreConfig: func() {
					// The stopped apply: its record, then its export, which
					// finished after it was killed.
					ctx := context.Background()
					e.writeExportRecord(t, exported, "")
					op, err := e.clients.Redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{
						Name: instanceID("relay-us"),
						OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{
							GcsDestination: &redispb.GcsDestination{Uri: "gs://" + testBucket + "/" + exported}}},
					})
					if err == nil {
						_, err = op.Wait(ctx)
					}
					if err != nil {
						t.Fatal(err)
					}
					e.writeExportRecord(t, never, "")
				},
				Config: resumeHCL,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.hourly", "uri", "gs://"+testBucket+"/"+exported),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.fixed", "uri", "gs://"+testBucket+"/"+never),
					func(*terraform.State) error {
						if n := e.exports(t); n != 2 {
							return fmt.Errorf("%d exports, want 2: the interrupted one, adopted, and the one that never started", n)
						}
						for _, dir := range []string{"hourly/", "fixed/"} {
							got := e.objectsUnder(t, dir)
							if len(got) != 2 || !strings.HasSuffix(got[1], ".manifest.json") || got[1] != got[0]+".manifest.json" {
								return fmt.Errorf("under %s: %v, want the snapshot and its manifest", dir, got)
							}
							if m := e.readJSON(t, got[1]); m["state"] == "exporting" {
								return fmt.Errorf("%s is still the record of a running export: %v", got[1], m)
							}
						}
						return nil
					},
				),
			},
		},
	})
}

// readJSON reads a JSON object from the test bucket.
func (e *env) readJSON(t *testing.T, object string) map[string]any {
	t.Helper()
	r, err := e.clients.Storage.Bucket(testBucket).Object(object).NewReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var m map[string]any
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		t.Fatalf("%s: %v", object, err)
	}
	return m
}

// A snapshot with a signing key writes a manifest signed by Cloud KMS that
// describes the object (key count and Redis version read from the RDB);
// without one, the manifest is unsigned. A damaged manifest is reported and
// its attributes go null.
func TestAccRedisSnapshot_signedManifest(t *testing.T) {
	e := newEnv(t)
	const key = "projects/agentnet-test/locations/global/keyRings/backups/cryptoKeys/manifests"
	e.lc.CreateMACKey(t, key)
	data := dataset{prefix: "signed", n: 500}
	hcl := func(signingKey string) string {
		return e.config(fmt.Sprintf(recoveryInstanceHCL+`
resource "agentnet_redis_snapshot" "signed" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/signed/"
  signing_key = %q
}

resource "agentnet_redis_snapshot" "unsigned" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/unsigned/x.rdb"
  depends_on  = [agentnet_redis_snapshot.signed]
}
`, signingKey))
	}
	var signedURI string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: hcl(key + "/cryptoKeyVersions/1"), PlanOnly: true,
				ExpectError: errorText("Attribute signing_key must be a Cloud KMS key", "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY")},
			{Config: e.config(recoveryInstanceHCL), Check: data.writeTo("agentnet_redis_instance.main")},
			{
				Config: hcl(key),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.signed", "signed", "true"),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.signed", "key_count", "500"),
					resource.TestMatchResourceAttr("agentnet_redis_snapshot.signed", "redis_version", regexp.MustCompile(`^\d+\.\d+\.\d+$`)),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.unsigned", "signed", "false"),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.unsigned", "key_count", "500"),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.unsigned", "manifest_uri", "gs://agentnet-snapshots/unsigned/x.rdb.manifest.json"),
					func(s *terraform.State) error {
						a := s.RootModule().Resources["agentnet_redis_snapshot.signed"].Primary.Attributes
						signedURI = a["uri"]
						if a["manifest_uri"] != signedURI+".manifest.json" {
							return fmt.Errorf("manifest_uri %s for %s", a["manifest_uri"], signedURI)
						}
						ctx := context.Background()
						m, err := snapshotsig.Read(ctx, e.clients.Storage, signedURI)
						if err != nil {
							return err
						}
						if fmt.Sprint(m.Generation) != a["generation"] || m.CRC32C != a["crc32c"] || fmt.Sprint(m.SizeBytes) != a["size_bytes"] ||
							m.Instance != instanceID("relay-us") {
							return fmt.Errorf("the manifest does not describe the object: %+v, state %v", m, a)
						}
						return snapshotsig.Verify(ctx, e.lc.KMSClient(t), key, m)
					},
				),
			},
			{ // the manifest damaged behind Terraform's back: reported, attributes null
				PreConfig: func() {
					e.overwriteObject(t, strings.TrimPrefix(signedURI, "gs://"+testBucket+"/")+".manifest.json", []byte("{not json"))
				},
				RefreshState: true,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr("agentnet_redis_snapshot.signed", "key_count"),
					resource.TestCheckNoResourceAttr("agentnet_redis_snapshot.signed", "manifest_uri"),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.signed", "signed", "false"),
				),
			},
		},
	})
}

// A signing key that does not exist is refused at plan on signing_key:
// nothing is created.
func TestAccRedisSnapshot_missingSigningKey(t *testing.T) {
	e := newEnv(t)
	const key = "projects/agentnet-test/locations/global/keyRings/backups/cryptoKeys/none"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config: e.config(recoveryInstanceHCL + `
resource "agentnet_redis_snapshot" "signed" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/signed/"
  signing_key = "` + key + `"
}
`),
			PlanOnly:    true,
			ExpectError: errorText("Signing key not found", "signing_key", key+" does not exist", "purpose MAC"),
		}},
	})
}

// With delete_object_on_destroy a snapshot cannot keep an earlier object
// through an outage (the replaced resource deletes its own): the apply
// fails, saying why.
func TestAccRedisSnapshot_regionOutageWithDeleteOnDestroy(t *testing.T) {
	e := newEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(fmt.Sprintf(snapshotHCL, true, "10"))},
			{
				PreConfig:   func() { e.lc.FaultRegion(t, "region-down", testRegion) },
				Config:      e.config(fmt.Sprintf(snapshotHCL, true, "11")),
				ExpectError: errorText("region us-central1 unavailable", "With delete_object_on_destroy the snapshot cannot keep an earlier object"),
			},
			{
				PreConfig: func() { e.lc.FaultRegion(t, "region-up", testRegion) },
				Config:    e.config(fmt.Sprintf(snapshotHCL, true, "11")),
				Check:     resource.TestCheckResourceAttr("agentnet_redis_snapshot.hourly", "export_skipped", "false"),
			},
		},
	})
}
