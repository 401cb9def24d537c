package resources_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// benchSnapshotMB is the size of the RDB the recovery benchmark restores.
const benchSnapshotMB = 256

const benchHCL = `
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

provider "agentnet" {
  project = "agentnet-bench"
  region  = "us-central1"
}

variable "snapshot" {
  type    = bool
  default = false
}

variable "restore" {
  type    = bool
  default = false
}

resource "agentnet_redis_instance" "main" {
  name           = "bench"
  memory_size_gb = 2
}

resource "agentnet_redis_snapshot" "s" {
  count       = var.snapshot ? 1 : 0
  instance    = agentnet_redis_instance.main.id
  destination = "gs://agentnet-snapshots/bench.rdb"
}

resource "agentnet_redis_snapshot_restore" "r" {
  count           = var.restore ? 1 : 0
  instance        = agentnet_redis_instance.main.id
  source          = agentnet_redis_snapshot.s[0].uri
  expected_crc32c = agentnet_redis_snapshot.s[0].crc32c
  allow_unsigned  = true # measured: the import, not a signature check
}

output "addr" {
  value = "${agentnet_redis_instance.main.host}:${agentnet_redis_instance.main.port}"
}
`

// BenchmarkRedisRecovery measures, in one run, the export and the restore
// of a ~256 MB snapshot through `tofu apply` against the bare operations
// they wrap: BGSAVE plus a file copy, and a plain redis-server cold start
// loading the same RDB. The ratios are the figures of merit (goal: 1.3x).
func BenchmarkRedisRecovery(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(benchHCL), 0o644); err != nil {
		b.Fatal(err)
	}
	e.tofu(b, dir, "apply", "-auto-approve")
	addr := strings.TrimSpace(e.tofu(b, dir, "output", "-raw", "addr"))
	c := goredis.NewClient(&goredis.Options{Addr: addr, ReadTimeout: time.Minute})
	defer c.Close()
	fillRandom(b, ctx, c, benchSnapshotMB)

	var exportApply, exportBase, restoreApply, restoreBase []time.Duration
	rdb := filepath.Join(dir, "baseline.rdb")
	for i := 0; i < b.N; i++ {
		// Export: tofu apply of a snapshot, against BGSAVE + copy.
		start := time.Now()
		e.tofu(b, dir, "apply", "-auto-approve", "-var", "snapshot=true")
		exportApply = append(exportApply, time.Since(start))
		start = time.Now()
		bgsaveAndCopy(b, ctx, c, rdb)
		exportBase = append(exportBase, time.Since(start))

		// Restore: tofu apply of a restore, against a cold start on the RDB.
		start = time.Now()
		e.tofu(b, dir, "apply", "-auto-approve", "-var", "snapshot=true", "-var", "restore=true")
		restoreApply = append(restoreApply, time.Since(start))
		restoreBase = append(restoreBase, coldStart(b, rdb))

		if n, err := c.DBSize(ctx).Result(); err != nil || n == 0 {
			b.Fatalf("restored instance has %d keys (%v)", n, err)
		}
		e.tofu(b, dir, "apply", "-auto-approve", "-var", "snapshot=false", "-var", "restore=false")
	}
	st, _ := os.Stat(rdb)
	b.ReportMetric(float64(st.Size())/(1<<20), "rdb_MB")
	b.ReportMetric(median(exportApply).Seconds(), "export_apply_s")
	b.ReportMetric(median(exportBase).Seconds(), "bgsave_copy_s")
	b.ReportMetric(median(exportApply).Seconds()/median(exportBase).Seconds(), "export_ratio")
	b.ReportMetric(median(restoreApply).Seconds(), "restore_apply_s")
	b.ReportMetric(median(restoreBase).Seconds(), "cold_start_s")
	b.ReportMetric(median(restoreApply).Seconds()/median(restoreBase).Seconds(), "restore_ratio")
}

type benchEnv struct {
	*env
	devrc string
}

// newBenchEnv is newEnv for `tofu` run as a command with the provider from
// bin/ (through dev_overrides), as a user runs it.
func newBenchEnv(b *testing.B) benchEnv {
	acctest.Setup(b)
	root, err := acctest.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	devrc := filepath.Join(root, "bin", "dev.tofurc")
	for _, f := range []string{devrc, filepath.Join(root, "bin", "terraform-provider-agentnet")} {
		if _, err := os.Stat(f); err != nil {
			b.Fatalf("%s is missing: run `make bench`, which builds it", f)
		}
	}
	return benchEnv{env: newEnvTB(b), devrc: devrc}
}

func (e benchEnv) tofu(b *testing.B, dir string, args ...string) string {
	b.Helper()
	return e.tofuWithEnv(b, dir, nil, args...)
}

// fillRandom writes about mb MiB of incompressible values.
func fillRandom(b *testing.B, ctx context.Context, c *goredis.Client, mb int) {
	val := make([]byte, 1024)
	pipe := c.Pipeline()
	for i := 0; i < mb*1024; i++ {
		rand.Read(val)
		pipe.Set(ctx, fmt.Sprintf("k%07d", i), val, 0)
		if i%2000 == 1999 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
}

func bgsaveAndCopy(b *testing.B, ctx context.Context, c *goredis.Client, to string) {
	last, _ := c.LastSave(ctx).Result()
	if err := c.BgSave(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	for {
		if now, _ := c.LastSave(ctx).Result(); now != last {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	dirs, err := c.ConfigGet(ctx, "dir").Result()
	if err != nil {
		b.Fatal(err)
	}
	copyFile(b, filepath.Join(dirs["dir"], "dump.rdb"), to)
}

func copyFile(b *testing.B, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
}

// coldStart times a plain redis-server from exec to serving the RDB's data.
func coldStart(b *testing.B, rdb string) time.Duration {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		b.Fatalf("a TCP listener has a %T address", l.Addr())
	}
	port := a.Port
	l.Close()
	start := time.Now()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "",
		"--dir", filepath.Dir(rdb), "--dbfilename", filepath.Base(rdb), "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// Our unreaped child: the kill fails only once it has exited; the
	// exit status is then the kill's.
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	defer c.Close()
	for {
		if n, err := c.DBSize(context.Background()).Result(); err == nil && n > 0 {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
