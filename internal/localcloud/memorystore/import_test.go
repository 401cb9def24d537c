package memorystore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	redisapi "cloud.google.com/go/redis/apiv1"
	"cloud.google.com/go/redis/apiv1/redispb"
	gcs "cloud.google.com/go/storage"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/processtest"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const parent = "projects/agentnet-test/locations/us-central1"

type env struct {
	srv   *localcloud.Server
	redis *redisapi.CloudRedisClient
	gcs   *gcs.Client
}

func start(t *testing.T, dir string) *env { return startProfile(t, dir, nil) }

// startProfile starts localcloud with the timing profile p (nil: the
// default one).
func startProfile(t *testing.T, dir string, p *profile.Profile) *env {
	t.Helper()
	processtest.Starts(t)
	if _, err := localcloud.FindRedisServer(""); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	srv, err := localcloud.Start(ctx, localcloud.Config{DataDir: dir, Listen: "127.0.0.1:0", RepairDelay: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Profile: p})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	e := &env{srv: srv}
	t.Cleanup(func() { e.close() })
	e.redis, err = redisapi.NewCloudRedisClient(ctx, option.WithEndpoint(srv.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	e.gcs, err = gcs.NewClient(ctx, option.WithEndpoint("http://"+srv.Addr()+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) close() {
	if e.srv == nil {
		return
	}
	e.redis.Close()
	e.gcs.Close()
	e.srv.Close()
	e.srv = nil
}

func (e *env) instance(t *testing.T, name string) *redispb.Instance {
	t.Helper()
	in, err := e.redis.GetInstance(context.Background(), &redispb.GetInstanceRequest{Name: name})
	if err != nil {
		t.Fatalf("GetInstance: %v", err)
	}
	return in
}

func (e *env) importRDB(name, uri string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := e.redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{Name: name,
		InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: uri}}}})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	return err
}

func (e *env) exportRDB(t *testing.T, name, uri string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := e.redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{Name: name,
		OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{GcsDestination: &redispb.GcsDestination{Uri: uri}}}})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("export to %s: %v", uri, err)
	}
}

func (e *env) put(t *testing.T, object string, b []byte) {
	t.Helper()
	w := e.gcs.Bucket("snaps").Object(object).NewWriter(context.Background())
	if _, err := w.Write(b); err != nil {
		t.Fatalf("upload %s: %v", object, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("upload %s: %v", object, err)
	}
}

func (e *env) get(t *testing.T, object string) []byte {
	t.Helper()
	r, err := e.gcs.Bucket("snaps").Object(object).NewReader(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", object, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func client(in *redispb.Instance) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", in.Host, in.Port), MaxRetries: -1})
}

func writeKeys(t *testing.T, c *goredis.Client, prefix string, n int, into map[string]string) {
	t.Helper()
	pipe := c.Pipeline()
	for i := range n {
		k, v := fmt.Sprintf("%s:%04d", prefix, i), fmt.Sprintf("%s-value-%d", prefix, i)
		into[k] = v
		pipe.Set(context.Background(), k, v, 0)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatalf("write keys: %v", err)
	}
}

func checkKeys(t *testing.T, c *goredis.Client, want map[string]string, when string) {
	t.Helper()
	ctx := context.Background()
	n, err := c.DBSize(ctx).Result()
	if err != nil || int(n) != len(want) {
		t.Fatalf("%s: DBSIZE = %d, %v; want %d", when, n, err, len(want))
	}
	for k, v := range want {
		if got, err := c.Get(ctx, k).Result(); err != nil || got != v {
			t.Fatalf("%s: %s = %q, %v; want %q", when, k, got, err, v)
		}
	}
}

func runID(t *testing.T, c *goredis.Client) string {
	t.Helper()
	// After an import switched redis-servers, a pooled connection to the old
	// one answers EOF once: ask again.
	var info string
	var err error
	for range 3 {
		if info, err = c.Info(context.Background(), "server").Result(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	t.Fatal("no run_id in INFO")
	return ""
}

// withChecksum replaces the trailing CRC64 of an RDB snapshot with the
// right one for its content (Redis's CRC64: reflected polynomial
// 0x95AC9329AC4BC9B5, initial value 0, no final xor).
func withChecksum(b []byte) []byte {
	b = bytes.Clone(b)
	body := len(b) - 8
	crc := ^crc64.Update(^uint64(0), crc64.MakeTable(0x95AC9329AC4BC9B5), b[:body])
	binary.LittleEndian.PutUint64(b[body:], crc)
	return b
}

// A failed import flushes the instance, whatever made it fail, as
// Memorystore documents ("If an import fails for any reason, the instance
// is brought online, but the data may be fully flushed"): each damaged
// snapshot is refused with its reason and leaves the instance READY on the
// same address but empty, its data as last saved kept as
// dump.rdb.before-import. A good snapshot then replaces the data, on the
// same port, and the instance and the exported object are the same after a
// restart.
func TestImportOfDamagedSnapshotFlushes(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	inst := e.create(t, "cache", &redispb.Instance{})
	instDir := filepath.Join(dir, "memorystore", "agentnet-test", "us-central1", "cache")
	c := client(inst)
	defer c.Close()
	exported := map[string]string{}
	writeKeys(t, c, "exported", 3000, exported)
	if err := e.gcs.Bucket("snaps").Create(ctx, "agentnet-test", nil); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	e.exportRDB(t, inst.Name, "gs://snaps/good.rdb")
	good := e.get(t, "good.rdb")
	attrs, err := e.gcs.Bucket("snaps").Object("good.rdb").Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(good)
	if attrs.Size != int64(len(good)) || attrs.CRC32C != crc32.Checksum(good, crc32.MakeTable(crc32.Castagnoli)) || !bytes.Equal(attrs.MD5, sum[:]) ||
		attrs.Generation == 0 || attrs.Created.Before(before.Add(-time.Second)) || attrs.Created.After(time.Now()) {
		t.Fatalf("exported object attrs %+v for %d bytes", attrs, len(good))
	}
	if !bytes.HasPrefix(good, []byte("REDIS0010")) {
		t.Fatalf("exported object starts %q", good[:9])
	}

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x04
	flippedSum := bytes.Clone(good)
	flippedSum[len(flippedSum)-3] ^= 0x80
	// A valid checksum over content redis-server cannot load: an unknown
	// type byte where the first record starts.
	unloadable := bytes.Clone(good)
	unloadable[9] = 0x55
	unloadable = withChecksum(unloadable)
	cases := []struct {
		object string
		data   []byte
		code   codes.Code
		say    string
	}{
		{"half.rdb", good[:len(good)/2], codes.InvalidArgument, "not a loadable RDB snapshot"},
		{"short-1.rdb", good[:len(good)-1], codes.InvalidArgument, "not a loadable RDB snapshot"},
		{"no-trailer.rdb", good[:len(good)-9], codes.InvalidArgument, "not a loadable RDB snapshot"},
		{"flipped.rdb", flipped, codes.InvalidArgument, "checksum mismatch"},
		{"flipped-checksum.rdb", flippedSum, codes.InvalidArgument, "checksum mismatch"},
		{"garbage.rdb", []byte("this is not a redis snapshot"), codes.InvalidArgument, "not a loadable RDB snapshot"},
		{"future.rdb", append([]byte("REDIS0011"), good[9:]...), codes.FailedPrecondition, "newer"},
		{"unloadable.rdb", unloadable, codes.InvalidArgument, "redis-server did not load it"},
		{"missing.rdb", nil, codes.NotFound, "missing.rdb"},
	}
	for _, tc := range cases {
		if tc.data != nil {
			e.put(t, tc.object, tc.data)
		}
		// Saved, and written after the save: both go.
		if err := c.Save(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		writeKeys(t, c, "unsaved", 50, map[string]string{})
		err := e.importRDB(inst.Name, "gs://snaps/"+tc.object)
		t.Logf("%s: %v", tc.object, err)
		if status.Code(err) != tc.code {
			t.Fatalf("import of %s: %v, want %v", tc.object, err, tc.code)
		}
		for _, say := range []string{tc.say, "back online with no data"} {
			if !strings.Contains(err.Error(), say) {
				t.Errorf("import of %s: %q does not say %q", tc.object, err, say)
			}
		}
		got := e.instance(t, inst.Name)
		if got.State != redispb.Instance_READY || got.Port != inst.Port {
			t.Fatalf("after import of %s: state %v, port %d (was %d)", tc.object, got.State, got.Port, inst.Port)
		}
		checkKeys(t, c, map[string]string{}, "after import of "+tc.object)
		if b, err := os.ReadFile(filepath.Join(instDir, "dump.rdb.before-import")); err != nil || len(b) == 0 {
			t.Errorf("after import of %s: dump.rdb.before-import: %d bytes, %v", tc.object, len(b), err)
		}
		if _, err := os.Stat(instDir + ".import"); !os.IsNotExist(err) {
			t.Fatalf("after import of %s: staging folder left (%v)", tc.object, err)
		}
		// The next case has something to lose.
		writeKeys(t, c, "exported", 3000, map[string]string{})
	}
	id := runID(t, c)

	// The good snapshot replaces the data, on the same port.
	if err := e.importRDB(inst.Name, "gs://snaps/good.rdb"); err != nil {
		t.Fatalf("import of the good snapshot: %v", err)
	}
	got := e.instance(t, inst.Name)
	if got.State != redispb.Instance_READY || got.Port != inst.Port {
		t.Fatalf("after import: state %v, port %d (was %d)", got.State, got.Port, inst.Port)
	}
	if runID(t, c) == id {
		t.Fatalf("the redis-server was not replaced")
	}
	checkKeys(t, c, exported, "after import")
	// The new redis-server works in the instance's folder: CONFIG GET dir,
	// and where it saves.
	if d, err := c.ConfigGet(ctx, "dir").Result(); err != nil || d["dir"] != instDir {
		t.Fatalf("CONFIG GET dir = %v, %v; want %s", d, err, instDir)
	}
	if b, err := os.ReadFile(filepath.Join(instDir, "dump.rdb.before-import")); err != nil || len(b) == 0 {
		t.Errorf("dump.rdb.before-import: %d bytes, %v", len(b), err)
	}
	if log, err := os.ReadFile(filepath.Join(instDir, "redis.log")); err != nil || !bytes.Contains(log, []byte("DB loaded from disk")) {
		t.Errorf("redis.log does not have the new redis-server's lines (%v)", err)
	}
	afterImport := map[string]string{}
	for k, v := range exported {
		afterImport[k] = v
	}
	writeKeys(t, c, "after-import", 100, afterImport)
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	saved, err := os.Stat(filepath.Join(instDir, "dump.rdb"))
	if err != nil || saved.ModTime().Before(before) {
		t.Fatalf("SAVE did not write the instance's dump.rdb: %v", err)
	}
	writeKeys(t, c, "after-save", 100, afterImport)
	if entries, _ := filepath.Glob(instDir + ".*"); len(entries) > 0 {
		t.Errorf("left next to the instance's folder: %v", entries)
	}

	// Restart: the instance comes back with everything (saved on the way
	// out), the exported object is the same.
	e.close()
	e = start(t, dir)
	got = e.instance(t, inst.Name)
	if got.State != redispb.Instance_READY {
		t.Fatalf("after restart: %v", got.State)
	}
	c2 := client(got)
	defer c2.Close()
	checkKeys(t, c2, afterImport, "after restart")
	a2, err := e.gcs.Bucket("snaps").Object("good.rdb").Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Generation != attrs.Generation || a2.CRC32C != attrs.CRC32C || !bytes.Equal(a2.MD5, attrs.MD5) || a2.Size != attrs.Size || !a2.Created.Equal(attrs.Created) {
		t.Errorf("exported object after restart: %+v\nbefore: %+v", a2, attrs)
	}
	if !bytes.Equal(e.get(t, "good.rdb"), good) {
		t.Errorf("exported object's bytes changed across the restart")
	}
}
