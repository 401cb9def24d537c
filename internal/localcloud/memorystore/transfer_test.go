package memorystore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestFollowBGSaveDigestsTheSnapshot(t *testing.T) {
	dir := t.TempDir()
	c, p := redisProcess(t, dir)
	ctx := context.Background()
	// Enough data for the save to take a while.
	val := make([]byte, 4096)
	pipe := c.Pipeline()
	for i := range 8000 {
		rand.Read(val)
		pipe.Set(ctx, fmt.Sprintf("k%d", i), val, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		var tail *snapshotTail
		err := bgsave(ctx, p, func() { tail = followBGSave(dir, p.Pid) })
		if tail == nil {
			t.Fatal("bgsave did not call started")
		}
		known := tail.finish()
		if err != nil {
			t.Fatalf("bgsave: %v", err)
		}
		if known == nil {
			t.Fatalf("round %d: the snapshot was not followed", round)
		}
		st, err := os.Stat(filepath.Join(dir, "dump.rdb"))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(st, known.File) {
			t.Fatalf("round %d: the followed file is not dump.rdb", round)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "dump.rdb"))
		want := storage.Digest{Size: int64(len(b)), CRC32C: crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)), MD5: md5.Sum(b)}
		if known.Digest != want {
			t.Fatalf("round %d: digest %+v, dump.rdb has %+v", round, known.Digest, want)
		}
		c.Set(ctx, "round", round, 0)
	}
}

// newTestStorage is a storage.Service on root (no HTTP).
func newTestStorage(t *testing.T, root string) *storage.Service {
	t.Helper()
	st, err := storage.New(root, "127.0.0.1:1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.CreateBucket("snaps"); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStageRDBLinksOrCopies(t *testing.T) {
	rdbs := realRDBs(t)
	good := rdbs["mixed"]
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0x10
	root := t.TempDir()
	st := newTestStorage(t, root)
	check(t, st.WriteObject("snaps", "good.rdb", bytes.NewReader(good), ""))
	check(t, st.WriteObject("snaps", "bad.rdb", bytes.NewReader(bad), ""))
	check(t, st.WriteObject("snaps", "text.rdb", bytes.NewReader([]byte("not a snapshot at all")), ""))
	s := &Service{cfg: Config{Storage: st}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	dirs := map[string]string{"link": t.TempDir()}
	var a, b syscall.Stat_t
	if syscall.Stat(root, &a) == nil && syscall.Stat("/dev/shm", &b) == nil && a.Dev != b.Dev {
		if d, err := os.MkdirTemp("/dev/shm", "localcloud-test-"); err == nil { //nolint:usetesting // another filesystem than t.TempDir's
			t.Cleanup(func() { os.RemoveAll(d) })
			dirs["copy"] = d
		}
	}
	if dirs["copy"] == "" {
		t.Log("no second filesystem (/dev/shm): copies across filesystems not tested")
	}
	for wantHow, dir := range dirs {
		dst := filepath.Join(dir, "dump.rdb")
		verify, how, err := s.stageRDB("snaps", "good.rdb", "gs://snaps/good.rdb", dst)
		if err != nil || how != wantHow {
			t.Fatalf("%s: stageRDB = %q, %v", wantHow, how, err)
		}
		if sum, err := verify(); err != nil || sum.Size != int64(len(good)) || sum.Checksum == 0 {
			t.Fatalf("%s: verify = %+v, %v", wantHow, sum, err)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, good) {
			t.Fatalf("%s: staged %d bytes", wantHow, len(got))
		}
		os.Remove(dst)

		// A corrupted snapshot: refused by verify (link) or while it is
		// copied (copy).
		verify, _, err = s.stageRDB("snaps", "bad.rdb", "gs://snaps/bad.rdb", dst)
		if err == nil {
			_, err = verify()
			err = rdbStatus("gs://snaps/bad.rdb", err)
		}
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "checksum mismatch") {
			t.Fatalf("%s: corrupted snapshot: %v", wantHow, err)
		}
		os.Remove(dst)
		// Not an RDB: refused right away, before anything is started.
		if _, _, err := s.stageRDB("snaps", "text.rdb", "gs://snaps/text.rdb", dst); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "not a loadable RDB snapshot") {
			t.Fatalf("%s: not an RDB: %v", wantHow, err)
		}
		os.Remove(dst)
		if _, _, err := s.stageRDB("snaps", "missing.rdb", "gs://snaps/missing.rdb", dst); status.Code(err) != codes.NotFound {
			t.Fatalf("%s: missing object: %v", wantHow, err)
		}
	}
}

func TestSwapFolders(t *testing.T) {
	for _, exchange := range []bool{true, false} {
		t.Run(fmt.Sprintf("exchange=%v", exchange), func(t *testing.T) {
			if !exchange {
				saved := renameExchange
				renameExchange = func(a, b string) error { return syscall.EINVAL }
				t.Cleanup(func() { renameExchange = saved })
			}
			base := t.TempDir()
			inst := &instance{name: "projects/p/locations/r/instances/i", dir: filepath.Join(base, "i")}
			staging := inst.dir + stagingSuffix
			check(t, os.MkdirAll(inst.dir, 0o755))
			check(t, os.MkdirAll(staging, 0o755))
			check(t, os.WriteFile(filepath.Join(inst.dir, "dump.rdb"), []byte("old"), 0o644))
			check(t, os.WriteFile(filepath.Join(inst.dir, "redis.log"), []byte("old log\n"), 0o644))
			check(t, os.WriteFile(filepath.Join(staging, "dump.rdb"), []byte("new"), 0o644))
			s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			// A process working in the staging folder keeps working in
			// it, wherever it is.
			cwd, err := os.Open(staging)
			if err != nil {
				t.Fatal(err)
			}
			defer cwd.Close()
			if err := s.swapFolders(inst, staging); err != nil {
				t.Fatalf("swapFolders: %v", err)
			}
			for name, want := range map[string]string{"dump.rdb": "new", "dump.rdb.before-import": "old", "redis.log": "old log\n"} {
				if got, err := os.ReadFile(filepath.Join(inst.dir, name)); err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", name, got, err, want)
				}
			}
			st1, _ := cwd.Stat()
			st2, _ := os.Stat(inst.dir)
			if !os.SameFile(st1, st2) {
				t.Errorf("the instance's folder is not the staging folder")
			}
			if _, err := os.Stat(inst.dir + replacedSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left: %v", inst.dir+replacedSuffix, err)
			}
		})
	}
}

func TestRecoverImportFolders(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "i")
	// Interrupted between the renames of a swap without exchange.
	check(t, os.MkdirAll(dir+replacedSuffix, 0o755))
	check(t, os.WriteFile(filepath.Join(dir+replacedSuffix, "dump.rdb"), []byte("old"), 0o644))
	check(t, os.MkdirAll(dir+stagingSuffix, 0o755))
	check(t, os.WriteFile(filepath.Join(dir+stagingSuffix, "dump.rdb"), []byte("new"), 0o644))
	check(t, recoverImportFolders(dir))
	if got, _ := os.ReadFile(filepath.Join(dir, "dump.rdb")); string(got) != "old" {
		t.Errorf("dump.rdb = %q, want the instance's own", got)
	}
	for _, d := range []string{dir + replacedSuffix, dir + stagingSuffix} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left", d)
		}
	}
	// An instance folder that is there is left alone.
	check(t, os.MkdirAll(dir+stagingSuffix, 0o755))
	check(t, recoverImportFolders(dir))
	if got, _ := os.ReadFile(filepath.Join(dir, "dump.rdb")); string(got) != "old" {
		t.Errorf("dump.rdb = %q", got)
	}
}

// check fails the test at once on err, for the steps that set a test up.
func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
