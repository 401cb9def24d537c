package moduletest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/storage"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/api/iterator"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

const interruptRegion = "us-central1"

// snapshotRootHCL is a root configuration with one instance; backupHCL
// adds its scheduled snapshot through modules/redis-backup, with more
// module arguments.
const snapshotRootHCL = `
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

provider "agentnet" {
  project = "agentnet-test"
  region  = "us-central1"
}

resource "agentnet_redis_instance" "main" {
  name           = "relay-us"
  memory_size_gb = 1
}
`

func backupHCL(arguments string) string {
	return `
module "backup" {
  source         = "../modules/redis-backup"
  instance_id    = agentnet_redis_instance.main.id
  bucket         = "agentnet-module-tests"
  rpo_seconds    = null
  retention_days = null
` + arguments + `
}

output "snapshot_uri" {
  value = module.backup.snapshot_uri
}
`
}

// snapshotRoot is a root configuration applied with tofu against a
// localcloud of its own, beside a copy of modules/.
type snapshotRoot struct {
	lc      *localcloudtest.Instance
	clients *gcpclient.Clients
	// env serves the provider once for the root (tf.reattached); ownEnv
	// is without it, for an apply killed midway, which starts its own.
	env, ownEnv []string
	dir         string
	chdir       string
}

func newSnapshotRoot(t *testing.T, tf *tofu, hcl string) *snapshotRoot {
	t.Helper()
	lc := localcloudtest.Start(t)
	createBucket(t, lc.Addr(), project, bucket)
	clients, err := gcpclient.New(context.Background(), gcpclient.Config{Project: project, Region: interruptRegion, EmulatorHost: lc.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clients.Close() })
	work := t.TempDir()
	copyDir(t, filepath.Join(tf.root, "modules"), filepath.Join(work, "modules"))
	dir := filepath.Join(work, "root")
	writeFile(t, filepath.Join(dir, "main.tf"), hcl)
	own := append(tf.env(t), "AGENTNET_EMULATOR_HOST="+lc.Addr())
	return &snapshotRoot{lc: lc, clients: clients, dir: dir, chdir: "-chdir=" + dir, ownEnv: own, env: tf.reattached(t, own)}
}

// SIGKILL of tofu (and its provider) while the instance's export runs: the
// next apply resumes it. The operation log holds one ExportInstance, the
// prefix holds that snapshot and its manifest and nothing else, and the
// state's snapshot is that object, with a signed manifest that counts
// every key.
func TestSnapshotExportKilled(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	r := newSnapshotRoot(t, tf, snapshotRootHCL)
	lc, clients, env, chdir, ctx := r.lc, r.clients, r.env, r.chdir, context.Background()
	tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color")

	// Enough data that the export takes a while: the kill lands in it.
	const keys = 200_000
	fillInstance(t, clients, "relay-us", keys)

	writeFile(t, filepath.Join(r.dir, "backup.tf"), backupHCL(fmt.Sprintf("signing_key = %q", lc.CreateMACKey(t, signingKey))))
	tf.run(t, env, chdir, "get", "-no-color")
	exportRunning := func() bool {
		running := map[string]bool{}
		for _, e := range lc.Oplog(t) {
			if !strings.HasSuffix(e.Method, ".ExportInstance") {
				continue
			}
			switch {
			case e.Phase == "call" && e.Outcome == "RUNNING":
				running[e.Operation] = true
			case e.Phase == "done":
				delete(running, e.Operation)
			}
		}
		return len(running) > 0
	}
	out, killed, code := tf.killWhen(t, r.ownEnv, exportRunning, chdir, "apply", "-auto-approve", "-input=false", "-no-color")
	if !killed {
		t.Fatalf("the apply ended (exit %d) before the kill point \"export running\"\n%s", code, out)
	}
	t.Logf("killed tofu and its provider while the export ran")

	start := time.Now()
	out = tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color")
	t.Logf("re-apply took %v; it said: %s", time.Since(start).Round(100*time.Millisecond), resumeLine(out))
	if !strings.Contains(out, "Resumed an interrupted export") {
		t.Errorf("the re-apply did not say it resumed the interrupted export:\n%s", out)
	}

	var exports []string
	for _, e := range lc.Oplog(t) {
		if e.Phase == "call" && strings.HasSuffix(e.Method, ".ExportInstance") {
			exports = append(exports, e.Operation+" "+e.Outcome)
		}
	}
	if len(exports) != 1 {
		t.Errorf("the operation log holds %d ExportInstance calls, want 1: %v", len(exports), exports)
	}
	uri, _ := outputs(t, tf, env, chdir)["snapshot_uri"].(string)
	object := strings.TrimPrefix(uri, "gs://"+bucket+"/")
	objects := listObjects(t, clients, "relay-us/")
	if want := []string{object, object + ".manifest.json"}; strings.Join(objects, " ") != strings.Join(want, " ") {
		t.Errorf("under gs://%s/relay-us/: %v; want only the state's snapshot and its manifest %v", bucket, objects, want)
	}
	manifest, err := snapshotsig.Read(ctx, clients.Storage, uri)
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshotsig.Verify(ctx, clients.KMS, signingKey, manifest); err != nil {
		t.Errorf("the manifest of %s: %v", uri, err)
	}
	if manifest.KeyCount != keys {
		t.Errorf("the manifest of %s counts %d keys, want %d", uri, manifest.KeyCount, keys)
	}
	// Settled: the next plan is empty.
	if out, code := tf.exec(t, env, chdir, "plan", "-detailed-exitcode", "-input=false", "-no-color"); code != 0 {
		t.Errorf("the plan after the resumed apply is not empty (exit %d):\n%s", code, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fillInstance writes n keys of 256 bytes into the instance.
func fillInstance(t *testing.T, clients *gcpclient.Clients, name string, n int) {
	t.Helper()
	ctx := context.Background()
	inst, err := clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{
		Name: fmt.Sprintf("projects/%s/locations/%s/instances/%s", project, interruptRegion, name)})
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", inst.Host, inst.Port)})
	defer c.Close()
	value := strings.Repeat("v", 256)
	for start := 0; start < n; start += 5000 {
		pipe := c.Pipeline()
		for i := start; i < start+5000 && i < n; i++ {
			pipe.Set(ctx, fmt.Sprintf("key:%07d", i), value, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func listObjects(t *testing.T, clients *gcpclient.Clients, prefix string) []string {
	t.Helper()
	var names []string
	it := clients.Storage.Bucket(bucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
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

// resumeLine is the re-apply's line about the resumed export.
func resumeLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "An earlier apply was stopped") {
			return strings.Trim(l, "│ ")
		}
	}
	return "(nothing about a resumed export)"
}
