package localcloud_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	redisapi "cloud.google.com/go/redis/apiv1"
	"cloud.google.com/go/redis/apiv1/redispb"
	runapi "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	gcs "cloud.google.com/go/storage"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/adminclient"
	gax "github.com/googleapis/gax-go/v2"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

const parent = "projects/agentnet-test/locations/us-central1"

type env struct {
	srv   *localcloud.Server
	redis *redisapi.CloudRedisClient
	gcs   *gcs.Client
}

func start(t *testing.T, dir string) *env {
	t.Helper()
	ctx := context.Background()
	srv, err := localcloud.Start(ctx, localcloud.Config{
		DataDir:     dir,
		Listen:      "127.0.0.1:0",
		RepairDelay: 300 * time.Millisecond,
		Logger:      testLogger(t),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	rc, err := redisapi.NewCloudRedisClient(ctx,
		option.WithEndpoint(srv.Addr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	sc, err := gcs.NewClient(ctx, option.WithEndpoint("http://"+srv.Addr()+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return &env{srv: srv, redis: rc, gcs: sc}
}

func (e *env) create(t *testing.T, id string, in *redispb.Instance) *redispb.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := e.redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: parent, InstanceId: id, Instance: in})
	if err != nil {
		t.Fatalf("CreateInstance %s: %v", id, err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateInstance %s: wait: %v", id, err)
	}
	return got
}

func rdb(in *redispb.Instance) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", in.Host, in.Port), MaxRetries: -1})
}

func writeKeys(t *testing.T, c *goredis.Client, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	pipe := c.Pipeline()
	for i := range n {
		k, v := fmt.Sprintf("session:%04d", i), fmt.Sprintf("agent-%d-%x", i, i*7919)
		want[k] = v
		pipe.Set(context.Background(), k, v, 0)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatalf("write keys: %v", err)
	}
	return want
}

func checkKeys(t *testing.T, c *goredis.Client, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		t.Fatalf("DBSIZE: %v", err)
	}
	if int(n) != len(want) {
		t.Errorf("DBSIZE = %d, want %d", n, len(want))
	}
	bad := 0
	for k, v := range want {
		got, err := c.Get(ctx, k).Result()
		if err != nil || got != v {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d keys missing or changed", bad, len(want))
	}
}

func code(err error) codes.Code {
	var s interface{ GRPCStatus() *status.Status }
	if errors.As(err, &s) {
		return s.GRPCStatus().Code()
	}
	return status.Code(err)
}

func TestInstanceLifecycleExportImport(t *testing.T) {
	e := start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	inst := e.create(t, "relay-cache", &redispb.Instance{
		Tier: redispb.Instance_BASIC, MemorySizeGb: 1, RedisVersion: "REDIS_7_0",
		Labels:            map[string]string{"app": "relay"},
		PersistenceConfig: &redispb.PersistenceConfig{PersistenceMode: redispb.PersistenceConfig_RDB, RdbSnapshotPeriod: redispb.PersistenceConfig_ONE_HOUR},
	})
	if inst.State != redispb.Instance_READY || inst.Host != "127.0.0.1" || inst.Port == 0 || inst.LocationId != "us-central1-a" || inst.CurrentLocationId != "us-central1-a" || inst.CreateTime == nil {
		t.Fatalf("created instance = %v", inst)
	}
	got, err := e.redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: inst.Name})
	if err != nil || got.State != redispb.Instance_READY || got.Port != inst.Port {
		t.Fatalf("GetInstance = %v, %v", got, err)
	}
	it := e.redis.ListInstances(ctx, &redispb.ListInstancesRequest{Parent: parent})
	var names []string
	for {
		i, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("ListInstances: %v", err)
		}
		names = append(names, i.Name)
	}
	if len(names) != 1 || names[0] != inst.Name {
		t.Fatalf("ListInstances = %v", names)
	}

	c := rdb(inst)
	defer c.Close()
	want := writeKeys(t, c, 500)

	// Update.
	uop, err := e.redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"memory_size_gb", "labels", "display_name", "redis_configs"}},
		Instance: &redispb.Instance{Name: inst.Name, MemorySizeGb: 2, DisplayName: "Relay cache",
			Labels: map[string]string{"app": "relay", "env": "dr"}, RedisConfigs: map[string]string{"maxmemory-policy": "allkeys-lru"}},
	})
	if err != nil {
		t.Fatalf("UpdateInstance: %v", err)
	}
	upd, err := uop.Wait(ctx)
	if err != nil {
		t.Fatalf("UpdateInstance wait: %v", err)
	}
	if upd.MemorySizeGb != 2 || upd.DisplayName != "Relay cache" || upd.Labels["env"] != "dr" || upd.State != redispb.Instance_READY {
		t.Fatalf("updated = %v", upd)
	}
	if v, _ := c.ConfigGet(ctx, "maxmemory").Result(); v["maxmemory"] != fmt.Sprint(2<<30) {
		t.Errorf("maxmemory = %v", v)
	}
	if v, _ := c.ConfigGet(ctx, "maxmemory-policy").Result(); v["maxmemory-policy"] != "allkeys-lru" {
		t.Errorf("maxmemory-policy = %v", v)
	}

	// Export.
	if err := e.gcs.Bucket("dr-backups").Create(ctx, "agentnet-test", nil); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	eop, err := e.redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{Name: inst.Name,
		OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{GcsDestination: &redispb.GcsDestination{Uri: "gs://dr-backups/snapshots/relay.rdb"}}}})
	if err != nil {
		t.Fatalf("ExportInstance: %v", err)
	}
	if _, err := eop.Wait(ctx); err != nil {
		t.Fatalf("ExportInstance wait: %v", err)
	}
	r, err := e.gcs.Bucket("dr-backups").Object("snapshots/relay.rdb").NewReader(ctx)
	if err != nil {
		t.Fatalf("read export: %v", err)
	}
	snap, _ := io.ReadAll(r)
	r.Close()
	if !bytes.HasPrefix(snap, []byte("REDIS0010")) {
		t.Fatalf("exported object starts %q, want an RDB header", snap[:min(len(snap), 9)])
	}
	attrs, err := e.gcs.Bucket("dr-backups").Object("snapshots/relay.rdb").Attrs(ctx)
	if err != nil || attrs.Size != int64(len(snap)) {
		t.Fatalf("Attrs = %v, %v", attrs, err)
	}
	// JSON-API reads work too.
	jc, err := gcs.NewClient(ctx, option.WithEndpoint("http://"+e.srv.Addr()+"/storage/v1/"), option.WithoutAuthentication(), gcs.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	defer jc.Close()
	jr, err := jc.Bucket("dr-backups").Object("snapshots/relay.rdb").NewReader(ctx)
	if err != nil {
		t.Fatalf("JSON read: %v", err)
	}
	jsnap, _ := io.ReadAll(jr)
	jr.Close()
	if !bytes.Equal(jsnap, snap) {
		t.Fatalf("JSON read returned %d bytes, XML read %d", len(jsnap), len(snap))
	}
	// Listing and deleting objects.
	if err := e.gcs.Bucket("dr-backups").Object("scratch.txt").NewWriter(ctx).Close(); err != nil {
		t.Fatalf("write scratch: %v", err)
	}
	var listed []string
	oit := e.gcs.Bucket("dr-backups").Objects(ctx, nil)
	for {
		a, err := oit.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("list objects: %v", err)
		}
		listed = append(listed, a.Name)
	}
	if strings.Join(listed, ",") != "scratch.txt,snapshots/relay.rdb" {
		t.Fatalf("objects = %v", listed)
	}
	if err := e.gcs.Bucket("dr-backups").Object("scratch.txt").Delete(ctx); err != nil {
		t.Fatalf("delete object: %v", err)
	}
	if _, err := e.gcs.Bucket("dr-backups").Object("scratch.txt").Attrs(ctx); !errors.Is(err, gcs.ErrObjectNotExist) {
		t.Fatalf("Attrs after delete: %v", err)
	}

	// Export to a missing bucket fails NOT_FOUND.
	mop, err := e.redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{Name: inst.Name,
		OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{GcsDestination: &redispb.GcsDestination{Uri: "gs://no-such-bucket/x.rdb"}}}})
	if err == nil {
		_, err = mop.Wait(ctx)
	}
	if code(err) != codes.NotFound || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("export to missing bucket: %v", err)
	}

	// Corrupt, then an import brings every key back.
	e.fault(t, "redis-corrupt", inst.Name, nil)
	n, _ := c.DBSize(ctx).Result()
	changed := 0
	for k, v := range want {
		if g, err := c.Get(ctx, k).Result(); err != nil || g != v {
			changed++
		}
	}
	if changed == 0 {
		t.Fatalf("corrupt changed nothing (dbsize %d)", n)
	}
	iop, err := e.redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{Name: inst.Name,
		InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: "gs://dr-backups/snapshots/relay.rdb"}}}})
	if err != nil {
		t.Fatalf("ImportInstance: %v", err)
	}
	imp, err := iop.Wait(ctx)
	if err != nil {
		t.Fatalf("ImportInstance wait: %v", err)
	}
	if imp.State != redispb.Instance_READY {
		t.Fatalf("after import: %v", imp.State)
	}
	c2 := rdb(imp)
	defer c2.Close()
	checkKeys(t, c2, want)

	// Import of garbage fails with INVALID_ARGUMENT and flushes the
	// instance, as a failed Memorystore import may.
	w := e.gcs.Bucket("dr-backups").Object("garbage.rdb").NewWriter(ctx)
	if _, err := w.Write([]byte("this is not a redis snapshot")); err != nil {
		t.Fatalf("write garbage: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("write garbage: %v", err)
	}
	// A truncated real snapshot has a valid header, so redis-server itself
	// has to refuse it.
	w = e.gcs.Bucket("dr-backups").Object("truncated.rdb").NewWriter(ctx)
	if _, err := w.Write(snap[:len(snap)/2]); err != nil {
		t.Fatalf("write truncated: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("write truncated: %v", err)
	}
	for _, obj := range []string{"garbage.rdb", "truncated.rdb"} {
		gop, err := e.redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{Name: inst.Name,
			InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: "gs://dr-backups/" + obj}}}})
		if err == nil {
			_, err = gop.Wait(ctx)
		}
		if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "not a loadable RDB") {
			t.Fatalf("import %s: %v", obj, err)
		}
		cur, err := e.redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: inst.Name})
		if err != nil || cur.State != redispb.Instance_READY {
			t.Fatalf("after failed import of %s: %v %v", obj, cur, err)
		}
		c3 := rdb(cur)
		checkKeys(t, c3, map[string]string{})
		c3.Close()
	}
	// A newer RDB version is refused with FAILED_PRECONDITION.
	w = e.gcs.Bucket("dr-backups").Object("future.rdb").NewWriter(ctx)
	if _, err := w.Write(append([]byte("REDIS0011"), snap[9:]...)); err != nil {
		t.Fatalf("write future: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("write future: %v", err)
	}
	fop, err := e.redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{Name: inst.Name,
		InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: "gs://dr-backups/future.rdb"}}}})
	if err == nil {
		_, err = fop.Wait(ctx)
	}
	if code(err) != codes.FailedPrecondition {
		t.Fatalf("import of RDB 11: %v", err)
	}
	// Missing object.
	nop, err := e.redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{Name: inst.Name,
		InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: "gs://dr-backups/missing.rdb"}}}})
	if err == nil {
		_, err = nop.Wait(ctx)
	}
	if code(err) != codes.NotFound {
		t.Fatalf("import of missing object: %v", err)
	}

	// Delete.
	dop, err := e.redis.DeleteInstance(ctx, &redispb.DeleteInstanceRequest{Name: inst.Name})
	if err != nil {
		t.Fatalf("DeleteInstance: %v", err)
	}
	if err := dop.Wait(ctx); err != nil {
		t.Fatalf("DeleteInstance wait: %v", err)
	}
	if _, err := e.redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: inst.Name}); code(err) != codes.NotFound {
		t.Fatalf("GetInstance after delete: %v", err)
	}
	if err := c2.Ping(ctx).Err(); err == nil {
		t.Fatalf("redis-server still answers after delete")
	}

	// The operation log has every mutating call in order.
	var log []struct{ Phase, Method, Resource, Outcome string }
	e.getJSON(t, "oplog", &log)
	var calls []string
	for _, l := range log {
		if l.Phase == "call" {
			c := strings.TrimPrefix(l.Method, "google.cloud.redis.v1.CloudRedis.")
			if strings.HasPrefix(c, "storage.") {
				c += "(" + l.Resource + ")"
			}
			calls = append(calls, c)
		}
	}
	wantCalls := []string{"CreateInstance", "UpdateInstance", "storage.buckets.insert(projects/_/buckets/dr-backups)", "ExportInstance",
		"storage.objects.insert(gs://dr-backups/scratch.txt)", "storage.objects.delete(gs://dr-backups/scratch.txt)",
		"ExportInstance", "ImportInstance",
		"storage.objects.insert(gs://dr-backups/garbage.rdb)", "storage.objects.insert(gs://dr-backups/truncated.rdb)",
		"ImportInstance", "ImportInstance", "storage.objects.insert(gs://dr-backups/future.rdb)", "ImportInstance", "ImportInstance", "DeleteInstance"}
	if strings.Join(calls, "\n") != strings.Join(wantCalls, "\n") {
		t.Errorf("oplog calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(wantCalls, "\n"))
	}
}

// admin is a client of the admin API, with the token.
func (e *env) admin() *adminclient.Client { return adminclient.New(e.srv.Addr(), e.srv.DataDir()) }

// getJSON decodes GET path from the admin API.
func (e *env) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := e.admin().Get(t.Context(), path, v); err != nil {
		t.Fatal(err)
	}
}

func (e *env) fault(t *testing.T, kind, instance string, extra map[string]any) {
	t.Helper()
	body := map[string]any{"instance": instance}
	for k, v := range extra {
		body[k] = v
	}
	fr, err := e.admin().Fault(t.Context(), kind, body)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fault %s: %s", kind, fr.Result)
}

func TestLargeExportImport(t *testing.T) {
	e := start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inst := e.create(t, "big", &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1})
	c := rdb(inst)
	defer c.Close()
	const n, size = 256, 1 << 20
	sums := map[string][32]byte{}
	buf := make([]byte, size)
	pipe := c.Pipeline()
	for i := range n {
		rand.Read(buf)
		k := fmt.Sprintf("blob:%03d", i)
		sums[k] = sha256.Sum256(buf)
		pipe.Set(ctx, k, append([]byte(nil), buf...), 0)
		if i%16 == 15 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.gcs.Bucket("big-backups").Create(ctx, "agentnet-test", nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	uri := "gs://big-backups/big.rdb"
	op, err := e.redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{Name: inst.Name,
		OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{GcsDestination: &redispb.GcsDestination{Uri: uri}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}
	t.Logf("export of %d MiB: %s", n*size>>20, time.Since(t0))
	t0 = time.Now()
	r, err := e.gcs.Bucket("big-backups").Object("big.rdb").NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	got, err := io.Copy(h, r)
	r.Close()
	if err != nil || got < n*size {
		t.Fatalf("read back %d bytes: %v", got, err)
	}
	t.Logf("read back %d bytes: %s", got, time.Since(t0))

	// A resumable upload (larger than one chunk) is one objects.insert.
	w := e.gcs.Bucket("big-backups").Object("copy.rdb").NewWriter(ctx)
	w.ChunkSize = 8 << 20
	r, err = e.gcs.Bucket("big-backups").Object("big.rdb").NewRangeReader(ctx, 0, 20<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := w.Close(); err != nil {
		t.Fatalf("resumable upload: %v", err)
	}
	if a, err := e.gcs.Bucket("big-backups").Object("copy.rdb").Attrs(ctx); err != nil || a.Size != 20<<20 {
		t.Fatalf("resumable upload attrs = %v, %v", a, err)
	}
	var log []struct{ Method, Resource, Outcome string }
	e.getJSON(t, "oplog", &log)
	inserts := 0
	for _, l := range log {
		if l.Method == "storage.objects.insert" {
			inserts++
			if l.Resource != "gs://big-backups/copy.rdb" || l.Outcome != "OK" {
				t.Errorf("oplog entry %+v", l)
			}
		}
	}
	if inserts != 1 {
		t.Errorf("%d storage.objects.insert entries for one resumable upload", inserts)
	}

	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	iop, err := e.redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{Name: inst.Name,
		InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: uri}}}})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := iop.Wait(ctx)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	t.Logf("import: %s", time.Since(t0))
	c2 := rdb(imp)
	defer c2.Close()
	if k, _ := c2.DBSize(ctx).Result(); k != n {
		t.Fatalf("DBSIZE after import = %d, want %d", k, n)
	}
	for k, sum := range sums {
		v, err := c2.Get(ctx, k).Bytes()
		if err != nil || sha256.Sum256(v) != sum {
			t.Fatalf("%s differs after import: %v", k, err)
		}
	}
}

func TestValidation(t *testing.T) {
	e := start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	basic := func(mod func(*redispb.Instance)) *redispb.Instance {
		in := &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1}
		if mod != nil {
			mod(in)
		}
		return in
	}
	cases := []struct {
		name, parent, id string
		in               *redispb.Instance
		code             codes.Code
		msg              []string
	}{
		{"bad id", parent, "Relay_1", basic(nil), codes.InvalidArgument, []string{"instance_id", "lowercase"}},
		{"id too long", parent, strings.Repeat("a", 41), basic(nil), codes.InvalidArgument, []string{"instance_id"}},
		{"no tier", parent, "relay", basic(func(i *redispb.Instance) { i.Tier = 0 }), codes.InvalidArgument, []string{"tier", "BASIC", "STANDARD_HA"}},
		{"memory 0", parent, "relay", basic(func(i *redispb.Instance) { i.MemorySizeGb = 0 }), codes.InvalidArgument, []string{"memory_size_gb", "1 to 300"}},
		{"memory 301", parent, "relay", basic(func(i *redispb.Instance) { i.MemorySizeGb = 301 }), codes.InvalidArgument, []string{"memory_size_gb"}},
		{"version", parent, "relay", basic(func(i *redispb.Instance) { i.RedisVersion = "REDIS_5_0" }), codes.InvalidArgument, []string{"redis_version", "REDIS_6_X", "REDIS_7_0", "REDIS_7_2"}},
		{"config key", parent, "relay", basic(func(i *redispb.Instance) { i.RedisConfigs = map[string]string{"appendonly": "yes"} }), codes.InvalidArgument, []string{"redis_configs", "maxmemory-policy"}},
		{"config value", parent, "relay", basic(func(i *redispb.Instance) { i.RedisConfigs = map[string]string{"maxmemory-policy": "lru"} }), codes.InvalidArgument, []string{"allkeys-lru"}},
		{"zone", parent, "relay", basic(func(i *redispb.Instance) { i.LocationId = "europe-west1-b" }), codes.InvalidArgument, []string{"location_id", "us-central1"}},
		{"parent", "projects/p/regions/us-central1", "relay", basic(nil), codes.InvalidArgument, []string{"parent"}},
	}
	for _, c := range cases {
		_, err := e.redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: c.parent, InstanceId: c.id, Instance: c.in})
		if code(err) != c.code {
			t.Errorf("%s: got %v, want %v", c.name, err, c.code)
			continue
		}
		for _, m := range c.msg {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, m)
			}
		}
	}

	ha := e.create(t, "relay-ha", &redispb.Instance{Tier: redispb.Instance_STANDARD_HA, MemorySizeGb: 5, RedisVersion: "REDIS_7_2"})
	if ha.AlternativeLocationId != "us-central1-b" || ha.RedisVersion != "REDIS_7_2" || ha.Tier != redispb.Instance_STANDARD_HA {
		t.Errorf("STANDARD_HA instance = %v", ha)
	}
	_, err := e.redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: parent, InstanceId: "relay-ha", Instance: basic(nil)})
	if code(err) != codes.AlreadyExists {
		t.Errorf("duplicate create: %v", err)
	}
	_, err = e.redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: parent + "/instances/missing"})
	if code(err) != codes.NotFound {
		t.Errorf("GetInstance of missing: %v", err)
	}
	_, err = e.redis.DeleteInstance(ctx, &redispb.DeleteInstanceRequest{Name: parent + "/instances/missing"})
	if code(err) != codes.NotFound {
		t.Errorf("DeleteInstance of missing: %v", err)
	}
	_, err = e.redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{Instance: &redispb.Instance{Name: ha.Name, Tier: redispb.Instance_BASIC},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"tier"}}})
	if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "memory_size_gb") {
		t.Errorf("update of tier: %v", err)
	}
	for _, uri := range []string{"s3://bucket/x", "gs://bucket", "gs://B!/x"} {
		_, err = e.redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{Name: ha.Name,
			OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{GcsDestination: &redispb.GcsDestination{Uri: uri}}}})
		if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "gs://BUCKET/OBJECT") && !strings.Contains(err.Error(), "bucket name") {
			t.Errorf("export to %s: %v", uri, err)
		}
	}
	// Persistence settings reach redis-server.
	uop, err := e.redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{Instance: &redispb.Instance{Name: ha.Name,
		PersistenceConfig: &redispb.PersistenceConfig{PersistenceMode: redispb.PersistenceConfig_RDB, RdbSnapshotPeriod: redispb.PersistenceConfig_SIX_HOURS}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"persistenceConfig"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uop.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	c := rdb(ha)
	defer c.Close()
	if v, _ := c.ConfigGet(ctx, "save").Result(); v["save"] != "21600 1" {
		t.Errorf("save after update = %q", v["save"])
	}
}

func TestListenMustBeLoopback(t *testing.T) {
	_, err := localcloud.Start(context.Background(), localcloud.Config{DataDir: t.TempDir(), Listen: "0.0.0.0:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Start on 0.0.0.0: %v", err)
	}
	if err := localcloud.CheckListen("0.0.0.0:0", true); err != nil {
		t.Fatalf("AllowNonLoopback: %v", err)
	}
	if err := localcloud.CheckListen("[::1]:0", false); err != nil {
		t.Fatalf("::1: %v", err)
	}
	dir := t.TempDir()
	e := start(t, dir)
	_, err = localcloud.Start(context.Background(), localcloud.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "in use by another localcloud") {
		t.Fatalf("second localcloud on the same data dir: %v", err)
	}
	_ = e
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("LOCALCLOUD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func TestRunWithoutRelayBinary(t *testing.T) {
	ctx := context.Background()
	srv, err := localcloud.Start(ctx, localcloud.Config{
		DataDir:     t.TempDir(),
		Listen:      "127.0.0.1:0",
		RelayBinary: "/nonexistent/relay",
		Logger:      testLogger(t),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer srv.Close()
	rc, err := runapi.NewServicesClient(ctx, option.WithEndpoint(srv.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = rc.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "relay",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: "agentnet-relay:dev"}}}}})
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "--relay-binary") {
		t.Fatalf("CreateService without a relay binary: %v, want FAILED_PRECONDITION naming --relay-binary", err)
	}
	// Regions: a region that is down answers UNAVAILABLE, other regions and
	// global APIs keep answering.
	if _, err := srv.Regions().SetDown(ctx, "us-central1"); err != nil {
		t.Fatal(err)
	}
	_, err = rc.GetService(ctx, &runpb.GetServiceRequest{Name: parent + "/services/relay"}, gax.WithRetry(func() gax.Retryer { return nil }))
	if code(err) != codes.Unavailable || !strings.Contains(err.Error(), "us-central1") {
		t.Fatalf("GetService in a down region: %v", err)
	}
	_, err = rc.GetService(ctx, &runpb.GetServiceRequest{Name: "projects/agentnet-test/locations/us-east1/services/relay"})
	if code(err) != codes.NotFound {
		t.Fatalf("GetService in another region: %v, want NOT_FOUND", err)
	}
	if _, err := srv.Regions().SetUp(ctx, "us-central1"); err != nil {
		t.Fatal(err)
	}
	_, err = rc.GetService(ctx, &runpb.GetServiceRequest{Name: parent + "/services/relay"})
	if code(err) != codes.NotFound {
		t.Fatalf("GetService after region-up: %v, want NOT_FOUND", err)
	}
}
