package moduletest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/pausepoint"
)

const restoreTestSnapshot = `
resource "agentnet_redis_snapshot" "before" {
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-module-tests/relay-us/before.rdb"
}
`

const restoreTestRestore = `
resource "agentnet_redis_snapshot_restore" "back" {
  instance          = agentnet_redis_instance.main.id
  source            = agentnet_redis_snapshot.before.uri
  source_generation = agentnet_redis_snapshot.before.generation
  allow_unsigned    = true
}

output "restored" {
  value = "${agentnet_redis_snapshot_restore.back.id} at ${agentnet_redis_snapshot_restore.back.restored_at}"
}
`

const importMethod = "google.cloud.redis.v1.CloudRedis.ImportInstance"

// TestRestoreInterrupted SIGKILLs tofu (and the provider) at each step of a
// restore: once the intent is being recorded on the instance, while the
// import runs, and once the import is done but before the state is saved
// (the provider paused there, else the apply could finish first).
// Keys are written after the interrupted import finished, as a relay would
// acknowledge envelopes. The next apply completes the restore with the
// operation log holding exactly one import, every key of the snapshot and
// every key written after it in Redis, and the restore in state.
func TestRestoreInterrupted(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	for _, kp := range []struct {
		name    string
		reached func(since []localcloudtest.OplogEntry) bool
		// pause, when set, holds the provider at that point, which is
		// then reached once the provider says it waits there.
		pause string
	}{
		{name: "intent recorded", reached: func(log []localcloudtest.OplogEntry) bool {
			return has(log, "google.cloud.redis.v1.CloudRedis.UpdateInstance", "call")
		}},
		{name: "import running", reached: func(log []localcloudtest.OplogEntry) bool { return has(log, importMethod, "call") }},
		{name: "import done, state not saved", pause: pausepoint.RestoreImported},
	} {
		t.Run(kp.name, func(t *testing.T) {
			t.Parallel()
			lc := localcloudtest.Start(t)
			createBucket(t, lc.Addr(), project, bucket)
			dir := t.TempDir()
			env := append(tf.env(t), "AGENTNET_EMULATOR_HOST="+lc.Addr())
			chdir := "-chdir=" + dir
			write := func(hcl string) {
				t.Helper()
				if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(hcl), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()

			write(snapshotRootHCL)
			tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color")
			rdb := lc.RedisClient(t, "projects/agentnet-test/locations/us-central1/instances/relay-us")
			snapshotted := keyset{prefix: "env", n: 20000}
			snapshotted.write(t, ctx, rdb)
			write(snapshotRootHCL + restoreTestSnapshot)
			tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color")

			write(snapshotRootHCL + restoreTestSnapshot + restoreTestRestore)
			start := len(lc.Oplog(t))
			reached, applyEnv := func() bool { return kp.reached(lc.Oplog(t)[start:]) }, env
			if kp.pause != "" {
				pauses := t.TempDir()
				applyEnv = append(slices.Clip(env), pausepoint.Env(pauses, kp.pause)...)
				reached = func() bool {
					_, err := os.Stat(pausepoint.Reached(pauses, kp.pause))
					return err == nil
				}
			}
			out, killed, code := tf.killWhen(t, applyEnv, reached, chdir, "apply", "-auto-approve", "-input=false", "-no-color")
			if !killed {
				t.Fatalf("the apply exited (%d) before the kill point %q:\n%s", code, kp.name, out)
			}
			log := lc.Oplog(t)[start:]
			t.Logf("killed at %q: import called %t, done %t", kp.name, has(log, importMethod, "call"), has(log, importMethod, "done"))
			if kp.pause != "" && !has(log, importMethod, "done") {
				t.Fatalf("the provider paused at %s before the import was done", kp.pause)
			}

			// Envelopes acknowledged once the interrupted import is over
			// (if it started) must survive the next apply.
			if has(log, importMethod, "call") {
				waitFor(t, 2*time.Minute, "the interrupted import to finish", func() bool { return has(lc.Oplog(t)[start:], importMethod, "done") })
			}
			after := keyset{prefix: "acked", n: 100}
			after.write(t, ctx, rdb)

			tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color")
			imports := 0
			for _, e := range lc.Oplog(t)[start:] {
				if e.Method == importMethod && e.Phase == "call" {
					imports++
				}
			}
			if imports != 1 {
				t.Errorf("the operation log holds %d ImportInstance calls after the re-apply, want 1", imports)
			}
			if has(log, importMethod, "call") {
				after.verify(t, ctx, rdb, "written after the interrupted import")
			}
			snapshotted.verify(t, ctx, rdb, "of the snapshot")
			restored := strings.TrimSpace(tf.run(t, env, chdir, "output", "-raw", "restored"))
			if !strings.HasPrefix(restored, "projects/agentnet-test/locations/us-central1/instances/relay-us <- gs://agentnet-module-tests/relay-us/before.rdb#") {
				t.Errorf("the state records the restore as %q", restored)
			}
			if out, code := tf.exec(t, env, chdir, "plan", "-detailed-exitcode", "-input=false", "-no-color"); code != 0 {
				t.Errorf("the plan after the resumed restore is not empty (exit %d):\n%s", code, out)
			}
		})
	}
}

// has tells whether log holds an entry of method in phase.
func has(log []localcloudtest.OplogEntry, method, phase string) bool {
	for _, e := range log {
		if e.Method == method && e.Phase == phase {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keyset is n keys with values derived from their index.
type keyset struct {
	prefix string
	n      int
}

func (k keyset) key(i int) string   { return fmt.Sprintf("%s:%06d", k.prefix, i) }
func (k keyset) value(i int) string { return fmt.Sprintf("%s-%d-%0200d", k.prefix, i, i) }

func (k keyset) write(t *testing.T, ctx context.Context, c *goredis.Client) {
	t.Helper()
	pipe := c.Pipeline()
	for i := 0; i < k.n; i++ {
		pipe.Set(ctx, k.key(i), k.value(i), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("writing %s keys: %v", k.prefix, err)
	}
}

// verify fails the test unless every key has its value.
func (k keyset) verify(t *testing.T, ctx context.Context, c *goredis.Client, what string) {
	t.Helper()
	pipe := c.Pipeline()
	gets := make([]*goredis.StringCmd, k.n)
	for i := range gets {
		gets[i] = pipe.Get(ctx, k.key(i))
	}
	// Exec's error is the first failed Get's: each is counted below.
	_, _ = pipe.Exec(ctx)
	bad := 0
	for i, g := range gets {
		if v, err := g.Result(); err != nil || v != k.value(i) {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d keys %s are missing or wrong", bad, k.n, what)
	}
}
