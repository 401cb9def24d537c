package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

const recoveryInstanceHCL = `
resource "agentnet_redis_instance" "main" {
  name           = "relay-us"
  memory_size_gb = 1
}
`

const recoverySnapshotHCL = `
resource "agentnet_redis_snapshot" "before" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/relay-us/before.rdb"
}
`

const recoveryRestoreHCL = `
resource "agentnet_redis_snapshot_restore" "back" {
  instance          = agentnet_redis_instance.main.id
  source            = agentnet_redis_snapshot.before.uri
  source_generation = agentnet_redis_snapshot.before.generation
  expected_crc32c   = agentnet_redis_snapshot.before.crc32c
  allow_unsigned    = true

  records_prefix      = "gs://agentnet-snapshots/records/"
  recovery_objectives = { rto = "1h", rpo = "5m" }
}
`

// restoreRecordsHCL lists the restores' recovery records.
const restoreRecordsHCL = `
data "agentnet_recovery_records" "restores" {
  prefix     = "gs://agentnet-snapshots/records/"
  kind       = "restore"
  depends_on = [agentnet_redis_snapshot_restore.back]
}
`

// seedStep creates the instance relay-us and writes data into it.
func (e *env) seedStep(ctx context.Context, data dataset) resource.TestStep {
	return resource.TestStep{
		Config: e.config(recoveryInstanceHCL),
		Check: func(s *terraform.State) error {
			c, err := redisOf(s, "agentnet_redis_instance.main")
			if err != nil {
				return err
			}
			defer c.Close()
			return data.write(ctx, c)
		},
	}
}

// The Data Corruption procedure end to end: 10,000 keys written, snapshot,
// corruption injected through localcloud, restore with an apply, every key
// read back with its value.
func TestAccRedisSnapshotRestore_dataCorruptionRecovery(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := dataset{prefix: "agent", n: 10000}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			e.seedStep(ctx, data),
			{
				Config: e.config(recoveryInstanceHCL + recoverySnapshotHCL),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_snapshot.before", "uri", "gs://agentnet-snapshots/relay-us/before.rdb"),
					resource.TestCheckResourceAttrSet("agentnet_redis_snapshot.before", "generation"),
					resource.TestCheckResourceAttrSet("agentnet_redis_snapshot.before", "crc32c"),
					func(s *terraform.State) error { // corrupt the live data after the snapshot
						e.lc.Fault(t, "redis-corrupt", instanceID("relay-us"), nil)
						c, err := redisOf(s, "agentnet_redis_instance.main")
						if err != nil {
							return err
						}
						defer c.Close()
						bad, err := data.verify(ctx, c)
						if err != nil {
							return err
						}
						if bad == 0 {
							return fmt.Errorf("the corruption fault changed no key")
						}
						t.Logf("corruption fault damaged %d of %d keys", bad, data.n)
						return nil
					},
				),
			},
			{ // the restore, with its recovery record read back
				Config: e.config(recoveryInstanceHCL + recoverySnapshotHCL + recoveryRestoreHCL + restoreRecordsHCL),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair("agentnet_redis_snapshot_restore.back", "imported_generation",
						"agentnet_redis_snapshot.before", "generation"),
					resource.TestCheckResourceAttrSet("agentnet_redis_snapshot_restore.back", "restored_at"),
					e.checkRestoreRecord(t, "data.agentnet_recovery_records.restores", "agentnet_redis_snapshot_restore.back"),
					func(s *terraform.State) error {
						c, err := redisOf(s, "agentnet_redis_instance.main")
						if err != nil {
							return err
						}
						defer c.Close()
						bad, err := data.verify(ctx, c)
						if err != nil {
							return err
						}
						if bad != 0 {
							return fmt.Errorf("%d of %d keys are wrong after the restore", bad, data.n)
						}
						return nil
					},
				),
			},
			{ // nothing left to do: the restore is not repeated
				Config:           e.config(recoveryInstanceHCL + recoverySnapshotHCL + recoveryRestoreHCL),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{ // destroyed, the restore takes its record off the instance...
				Config: e.config(recoveryInstanceHCL + recoverySnapshotHCL),
				Check: func(*terraform.State) error {
					inst, err := e.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: instanceID("relay-us")})
					if err != nil {
						return err
					}
					if v, ok := inst.GetLabels()["agentnet-restore"]; ok {
						return fmt.Errorf("the destroyed restore left its label agentnet-restore=%s", v)
					}
					return nil
				},
			},
			{ // ...so that asked again, it imports again rather than adopting the first import
				Config: e.config(recoveryInstanceHCL + recoverySnapshotHCL + recoveryRestoreHCL),
				Check: func(*terraform.State) error {
					if n := e.countCalls(t, "ImportInstance"); n != 2 {
						return fmt.Errorf("%d ImportInstance calls, want 2", n)
					}
					return nil
				},
			},
		},
	})
}

// A snapshot whose bytes no longer match its checksum is never imported:
// the instance keeps the data it has.
func TestAccRedisSnapshotRestore_refusesBadSnapshots(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := dataset{prefix: "live", n: 500}
	restore := func(attrs string) string {
		return e.config(recoveryInstanceHCL + recoverySnapshotHCL + `
resource "agentnet_redis_snapshot_restore" "bad" {
  instance       = agentnet_redis_instance.main.id
  allow_unsigned = true
` + attrs + "\n}\n")
	}
	keepsData := func(s *terraform.State) error {
		c, err := redisOf(s, "agentnet_redis_instance.main")
		if err != nil {
			return err
		}
		defer c.Close()
		bad, err := data.verify(ctx, c)
		if err == nil && bad != 0 {
			err = fmt.Errorf("the instance lost %d keys to a refused restore", bad)
		}
		return err
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(recoveryInstanceHCL + recoverySnapshotHCL),
				Check: func(s *terraform.State) error {
					c, err := redisOf(s, "agentnet_redis_instance.main")
					if err != nil {
						return err
					}
					defer c.Close()
					if err := data.write(ctx, c); err != nil {
						return err
					}
					// A tampered copy of the snapshot under another name.
					e.overwriteObject(t, "relay-us/tampered.rdb", []byte("REDIS0010 this is not the snapshot"))
					return nil
				},
			},
			{
				Config: restore(`  source = "gs://agentnet-snapshots/relay-us/tampered.rdb"
  expected_crc32c = agentnet_redis_snapshot.before.crc32c`),
				ExpectError: errorText("Snapshot checksum mismatch", "expected_crc32c", "the snapshot was changed or corrupted. The instance was not touched."),
			},
			{
				Config:      restore(`  source = "gs://agentnet-snapshots/relay-us/missing.rdb"`),
				ExpectError: errorText("Snapshot not found", "source", "object gs://agentnet-snapshots/relay-us/missing.rdb does not exist"),
			},
			{
				Config:      restore(`  source = "gs://no-such-bucket/x.rdb"`),
				ExpectError: errorText("Snapshot not found", "source", `bucket "no-such-bucket" does not exist`),
			},
			{
				Config:      restore(`  source = "https://storage.googleapis.com/agentnet-snapshots/x.rdb"`),
				ExpectError: errorText("Attribute source must be a Cloud Storage URI of the form gs://BUCKET/OBJECT"),
			},
			{
				Config: restore(`  source = agentnet_redis_snapshot.before.uri
  source_generation = agentnet_redis_snapshot.before.generation + 1`),
				ExpectError: errorText("Snapshot was rewritten", "source_generation", "The instance was not touched."),
			},
			{ // taken before the data was written: restoring it would delete every key (recorded)
				Config: restore(`  source = agentnet_redis_snapshot.before.uri
  records_prefix = "gs://agentnet-snapshots/records/"`),
				ExpectError: errorText("Snapshot is empty", "The non-empty check failed", "before.rdb is empty: it holds no keys", "The instance was not touched."),
			},
			{ // the tampered object without a checksum to hold it to: not an RDB
				Config:      restore(`  source = "gs://agentnet-snapshots/relay-us/tampered.rdb"`),
				ExpectError: errorText("Snapshot refused", "the non-empty check could not read gs://agentnet-snapshots/relay-us/tampered.rdb as an RDB snapshot", "The instance was not touched."),
			},
			{
				Config: e.config(recoveryInstanceHCL + recoverySnapshotHCL + `
resource "agentnet_redis_snapshot_restore" "bad" {
  instance       = "projects/agentnet-test/locations/us-central1/instances/nope"
  source         = agentnet_redis_snapshot.before.uri
  allow_unsigned = true
  allow_empty    = true # before.rdb was taken before the data was written
}
`),
				ExpectError: errorText("Instance not found", "instance", "instances/nope does not exist"),
			},
			{ // the refused restore left a record naming the check that failed
				Config: e.config(recoveryInstanceHCL + recoverySnapshotHCL + `
data "agentnet_recovery_records" "refused" {
  prefix      = "gs://agentnet-snapshots/records/"
  kind        = "restore"
  failed_only = true
}
`),
				Check: resource.ComposeAggregateTestCheckFunc(keepsData,
					resource.TestCheckResourceAttr("data.agentnet_recovery_records.refused", "records.#", "1"),
					resource.TestCheckResourceAttr("data.agentnet_recovery_records.refused", "records.0.passed", "false"),
					resource.TestCheckNoResourceAttr("data.agentnet_recovery_records.refused", "records.0.data_loss_seconds"),
					resource.TestCheckResourceAttr("data.agentnet_recovery_records.refused", "records.0.moved.0",
						"nothing: the restore of projects/agentnet-test/locations/us-central1/instances/relay-us from gs://agentnet-snapshots/relay-us/before.rdb did not complete"),
					resource.TestMatchResourceAttr("data.agentnet_recovery_records.refused", "records.0.failures.0", regexp.MustCompile(`^Snapshot is empty: The non-empty check failed`)),
					func(s *terraform.State) error {
						md := e.readObject(t, s.RootModule().Resources["data.agentnet_recovery_records.refused"].Primary.Attributes["records.0.markdown_uri"])
						for _, want := range []string{"**FAILED**", "| checks |", "refused: the non-empty check failed", "| signature | ", "| true |", "| non-empty | "} {
							if !strings.Contains(md, want) {
								return fmt.Errorf("the refused restore's record lacks %q:\n%s", want, md)
							}
						}
						if strings.Contains(md, "| import |") {
							return fmt.Errorf("the refused restore's record has an import step:\n%s", md)
						}
						return nil
					}),
			},
		},
	})
}

// restoreVars declares what a runbook pins when it restores by hand: the
// snapshot URI and generation recorded before the corruption, and the time
// the corruption began (learnt by the test as it runs).
const restoreVars = `
variable "pinned_uri" { type = string }
variable "pinned_generation" { type = number }
variable "corrupted_at" { type = string }
`

// The data corruption scenario that used to "restore" bad data: a snapshot
// taken, the live data corrupted, and the snapshot object overwritten with
// an export of the corrupted data. Restoring the overwritten object is
// refused, whichever check is asked (the pinned generation, the corruption
// time), and imports nothing; the instance keeps its data. Selecting the
// newest snapshot from before the corruption time brings back every key.
func TestAccRedisSnapshotRestore_overwrittenAndCorrupted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.lc.CreateMACKey(t, trustedKey)
	data := dataset{prefix: "envelope", n: 2000}
	var before, corrupted map[string]string
	pinned := lateVars{}
	pinnedVars := pinned.variables("pinned_uri", "pinned_generation", "corrupted_at")
	snapshots := recoveryInstanceHCL + `
resource "agentnet_redis_snapshot" "hourly" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/relay-us/"
  signing_key = "` + trustedKey + `"
}

resource "agentnet_redis_snapshot" "latest" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/relay-us/latest.rdb"
  signing_key = "` + trustedKey + `"
  depends_on  = [agentnet_redis_snapshot.hourly]
}
`
	restore := func(attrs string) string {
		return e.config(recoveryInstanceHCL + restoreVars + `
resource "agentnet_redis_snapshot_restore" "back" {
  instance    = agentnet_redis_instance.main.id
  signing_key = "` + trustedKey + `"
` + attrs + "\n}\n")
	}
	untouched := func() {
		if n := e.countCalls(t, "ImportInstance"); n != 0 {
			t.Fatalf("a refused restore called ImportInstance %d times", n)
		}
		if now := e.dump(t); !maps.Equal(now, corrupted) {
			t.Fatalf("a refused restore changed the instance's data")
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			e.seedStep(ctx, data),
			{
				Config: e.config(snapshots),
				// The overwritten object shows as the snapshot gone.
				ExpectNonEmptyPlan: true,
				Check: func(s *terraform.State) error {
					latest := s.RootModule().Resources["agentnet_redis_snapshot.latest"].Primary.Attributes
					pinned["pinned_uri"] = latest["uri"]
					pinned["pinned_generation"] = json.Number(latest["generation"])
					before = e.dump(t)
					// The corruption begins a second after the snapshots.
					time.Sleep(1100 * time.Millisecond)
					pinned["corrupted_at"] = time.Now().UTC().Format(time.RFC3339)
					time.Sleep(1100 * time.Millisecond)
					e.lc.Fault(t, "redis-corrupt", instanceID("relay-us"), nil)
					corrupted = e.dump(t)
					if maps.Equal(before, corrupted) {
						return fmt.Errorf("the corruption fault changed nothing")
					}
					e.export(t, instanceID("relay-us"), latest["uri"]) // overwrite it with the corrupted data
					return nil
				},
			},
			{
				Config: restore(`  source            = var.pinned_uri
  source_generation = var.pinned_generation`),
				ConfigVariables: pinnedVars,
				ExpectError:     errorText("Snapshot was rewritten", "The generation check failed", "The instance was not touched."),
			},
			{
				PreConfig: untouched,
				Config: restore(`  source         = var.pinned_uri
  created_before = var.corrupted_at`),
				ConfigVariables: pinnedVars,
				ExpectError:     errorText("Snapshot is newer than created_before", "The created_before check failed", "The instance was not touched."),
			},
			{ // nothing pinned but the URI: the signed manifest still tells
				PreConfig:       untouched,
				Config:          restore(`  source = var.pinned_uri`),
				ConfigVariables: pinnedVars,
				ExpectError:     errorText("Snapshot does not match its manifest", "The manifest check failed", "the manifest recorded", "The instance was not touched."),
			},
			{
				PreConfig: untouched,
				Config: restore(`  snapshots_prefix = "gs://agentnet-snapshots/relay-us/"
  created_before   = var.corrupted_at`),
				ConfigVariables: pinnedVars,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr("agentnet_redis_snapshot_restore.back", "source",
						regexp.MustCompile(`^gs://agentnet-snapshots/relay-us/relay-us-.*\.rdb$`)),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot_restore.back", "signed", "true"),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot_restore.back", "key_count", fmt.Sprint(data.n)),
					func(*terraform.State) error {
						if n := e.countCalls(t, "ImportInstance"); n != 1 {
							return fmt.Errorf("%d ImportInstance calls, want 1", n)
						}
						if after := e.dump(t); !maps.Equal(after, before) {
							return fmt.Errorf("after the restore %d keys differ from before the corruption", diffCount(before, after))
						}
						return nil
					},
				),
			},
			{ // pinned: a new plan selects nothing again
				Config: restore(`  snapshots_prefix = "gs://agentnet-snapshots/relay-us/"
  created_before   = var.corrupted_at`),
				ConfigVariables:  pinnedVars,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// Keys of Cloud KMS: the one trusted to sign snapshots, and another.
const (
	trustedKey = "projects/agentnet-test/locations/global/keyRings/agentnet/cryptoKeys/snapshots"
	forgerKey  = "projects/agentnet-test/locations/global/keyRings/elsewhere/cryptoKeys/snapshots"
)

// A valid RDB written by another redis-server, holding a forged envelope,
// put under the snapshots' prefix by someone who can write to the bucket:
// CRC32C and generation are its own and consistent, so only the signature
// tells it apart. It is refused by the signature check without a manifest,
// with an unsigned one, one signed by another key, and one signed by
// another key but claiming the trusted one; nothing is imported. The
// genuine snapshot, signed with the trusted key, restores.
func TestAccRedisSnapshotRestore_forgedSnapshotRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.lc.CreateMACKey(t, trustedKey)
	e.lc.CreateMACKey(t, forgerKey)
	data := dataset{prefix: "envelope", n: 500}
	const genuine, forged = "gs://agentnet-snapshots/relay-us/genuine.rdb", "gs://agentnet-snapshots/relay-us/forged.rdb"
	forger := recoveryInstanceHCL + `
resource "agentnet_redis_instance" "forger" {
  name           = "relay-forger"
  memory_size_gb = 1
}
`
	restore := func(attrs string) string {
		return e.config(forger + `
resource "agentnet_redis_snapshot_restore" "back" {
  instance    = agentnet_redis_instance.main.id
  signing_key = "` + trustedKey + `"
` + attrs + "\n}\n")
	}
	var before map[string]string
	untouched := func() {
		if n := e.countCalls(t, "ImportInstance"); n != 0 {
			t.Fatalf("a refused restore called ImportInstance %d times", n)
		}
		if now := e.dump(t); !maps.Equal(now, before) {
			t.Fatalf("a refused restore changed the instance's data")
		}
	}
	latest := `  snapshots_prefix = "gs://agentnet-snapshots/relay-us/"`
	refused := func(why string) *regexp.Regexp {
		return errorText("The signature check failed", why, "The instance was not touched.")
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			e.seedStep(ctx, data),
			{
				Config: e.config(forger),
				Check: func(s *terraform.State) error {
					before = e.dump(t)
					e.export(t, instanceID("relay-us"), genuine)
					e.writeManifest(t, genuine, trustedKey, nil)
					c := e.lc.RedisClient(t, instanceID("relay-forger"))
					defer c.Close()
					if err := c.Set(ctx, "inbox:agent-b", `{"from":"agent-a","body":"forged"}`, 0).Err(); err != nil {
						return err
					}
					time.Sleep(10 * time.Millisecond) // the forgery is the newest snapshot
					e.export(t, instanceID("relay-forger"), forged)
					return nil
				},
			},
			{
				Config:      restore(latest),
				ExpectError: refused("forged.rdb has no manifest"),
			},
			{
				PreConfig:   func() { untouched(); e.writeManifest(t, forged, "", nil) },
				Config:      restore(latest),
				ExpectError: refused("forged.rdb has a manifest without a signature"),
			},
			{
				PreConfig:   func() { untouched(); e.writeManifest(t, forged, forgerKey, nil) },
				Config:      restore(latest),
				ExpectError: refused("not a version of the trusted key " + trustedKey),
			},
			{
				PreConfig: func() {
					untouched()
					e.writeManifest(t, forged, forgerKey, func(m *snapshotsig.Manifest) { m.KeyVersion = trustedKey + "/cryptoKeyVersions/1" })
				},
				Config:      restore(latest),
				ExpectError: refused("was changed after it was signed, or its MAC was not made with " + trustedKey),
			},
			{
				PreConfig: untouched,
				Config:    restore(`  source = "` + genuine + `"`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_snapshot_restore.back", "signed", "true"),
					resource.TestCheckResourceAttr("agentnet_redis_snapshot_restore.back", "key_count", fmt.Sprint(data.n)),
					func(*terraform.State) error {
						if after := e.dump(t); !maps.Equal(after, before) {
							return fmt.Errorf("after restoring the genuine snapshot %d keys differ", diffCount(before, after))
						}
						return nil
					},
				),
			},
		},
	})
}

// checkRestoreRecord checks the one restore record listed: it is the
// restore's last_record, passed, names the snapshot imported, has each
// step with its timing and the checks' results, and compares the data-loss
// window with the RPO.
func (e *env) checkRestoreRecord(t *testing.T, listed, restore string) resource.TestCheckFunc {
	return resource.ComposeAggregateTestCheckFunc(
		resource.TestCheckResourceAttr(listed, "records.#", "1"),
		resource.TestCheckResourceAttrPair(listed, "records.0.uri", restore, "last_record"),
		resource.TestMatchResourceAttr(listed, "records.0.uri", regexp.MustCompile(`^gs://agentnet-snapshots/records/restore/\d{8}T[0-9.]+Z-relay-us\.json$`)),
		resource.TestCheckResourceAttr(listed, "records.0.subject", "relay-us"),
		resource.TestCheckResourceAttr(listed, "records.0.passed", "true"),
		resource.TestMatchResourceAttr(listed, "records.0.moved.0", regexp.MustCompile(`relay-us restored from gs://agentnet-snapshots/relay-us/before\.rdb#\d+, written 20`)),
		resource.TestCheckResourceAttrSet(listed, "records.0.data_loss_seconds"),
		resource.TestMatchResourceAttr(listed, "records.0.ran_by", regexp.MustCompile(`^local on `)),
		func(s *terraform.State) error {
			md := e.readObject(t, s.RootModule().Resources[listed].Primary.Attributes["records.0.markdown_uri"])
			for _, want := range []string{"# Recovery record: restore of relay-us", "| checks |", "| intent_label |", "| import |", "| wait |",
				"| generation, CRC32C, created_before | ", "| manifest |", "| signature |", "| non-empty |",
				"data-loss point (restore started)", "RPO: data restored to → restore started", "RTO: recovery started → ended", "**PASSED**"} {
				if !strings.Contains(md, want) {
					return fmt.Errorf("the restore's record lacks %q:\n%s", want, md)
				}
			}
			return nil
		},
	)
}
