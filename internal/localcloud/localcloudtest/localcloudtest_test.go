package localcloudtest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lroauto "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	redisapi "cloud.google.com/go/redis/apiv1"
	"cloud.google.com/go/redis/apiv1/redispb"
	gcs "cloud.google.com/go/storage"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const parent = "projects/agentnet-test/locations/europe-west1"

func clients(t *testing.T, addr string) (*redisapi.CloudRedisClient, *lroauto.OperationsClient) {
	t.Helper()
	opts := []option.ClientOption{option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	rc, err := redisapi.NewCloudRedisClient(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	oc, err := lroauto.NewOperationsClient(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { oc.Close() })
	return rc, oc
}

func createInstance(t *testing.T, rc *redisapi.CloudRedisClient, id string) (*redispb.Instance, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := rc.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: parent, InstanceId: id,
		Instance: &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1}})
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	inst, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	return inst, op.Name()
}

func fill(t *testing.T, inst *redispb.Instance, n int) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", inst.Host, inst.Port), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	for i := range n {
		if err := c.Set(context.Background(), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
	}
	return c
}

func TestSurvivesSIGKILL(t *testing.T) {
	lc := localcloudtest.Start(t)
	rc, _ := clients(t, lc.Addr())
	inst, opName := createInstance(t, rc, "relay-eu")
	fill(t, inst, 200)
	oldPID := lc.PID()
	ctx := context.Background()
	sc, err := gcs.NewClient(ctx, option.WithEndpoint("http://"+lc.Addr()+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Bucket("keep").Create(ctx, "agentnet-test", nil); err != nil {
		t.Fatal(err)
	}
	w := sc.Bucket("keep").Object("a/b.txt").NewWriter(ctx)
	if _, err := w.Write([]byte("survives")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	lc.Kill()
	if _, err := os.Stat(filepath.Join(lc.DataDir(), "state", "instances.json")); err != nil {
		t.Fatalf("state not persisted: %v", err)
	}
	lc.Restart(t)
	if lc.PID() == oldPID || lc.PID() == 0 {
		t.Fatalf("localcloud not restarted (pid %d -> %d)", oldPID, lc.PID())
	}
	rc, oc := clients(t, lc.Addr())
	sc2, err := gcs.NewClient(ctx, option.WithEndpoint("http://"+lc.Addr()+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Close()
	r, err := sc2.Bucket("keep").Object("a/b.txt").NewReader(ctx)
	if err != nil {
		t.Fatalf("object after restart: %v", err)
	}
	if b, _ := io.ReadAll(r); string(b) != "survives" {
		t.Fatalf("object after restart = %q", b)
	}
	r.Close()
	got, err := rc.GetInstance(ctx, &redispb.GetInstanceRequest{Name: inst.Name})
	if err != nil {
		t.Fatalf("GetInstance after restart: %v", err)
	}
	if got.State != redispb.Instance_READY {
		t.Fatalf("state after restart = %v", got.State)
	}
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", got.Host, got.Port)})
	defer c.Close()
	for i := range 200 {
		v, err := c.Get(ctx, fmt.Sprintf("k%d", i)).Result()
		if err != nil || v != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d after restart = %q, %v", i, v, err)
		}
	}
	op, err := oc.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: opName})
	if err != nil || !op.Done || op.GetError() != nil {
		t.Fatalf("create operation after restart = %v, %v", op, err)
	}
	resp, err := oc.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent}).Next()
	if err != nil || resp.Name != opName {
		t.Fatalf("ListOperations first = %v, %v", resp, err)
	}
	var calls []string
	for _, e := range lc.Oplog(t) {
		calls = append(calls, e.Phase+":"+strings.TrimPrefix(e.Method, "google.cloud.redis.v1.CloudRedis."))
	}
	if strings.Join(calls, " ") != "call:CreateInstance done:CreateInstance call:storage.buckets.insert call:storage.objects.insert" {
		t.Fatalf("oplog after restart = %v", calls)
	}

	// A graceful restart keeps what was written since.
	if err := c.Set(ctx, "after-restart", "kept", 0).Err(); err != nil {
		t.Fatal(err)
	}
	lc.Restart(t)
	rc, _ = clients(t, lc.Addr())
	got, err = rc.GetInstance(ctx, &redispb.GetInstanceRequest{Name: inst.Name})
	if err != nil || got.State != redispb.Instance_READY {
		t.Fatalf("GetInstance after graceful restart: %v %v", got, err)
	}
	c3 := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", got.Host, got.Port)})
	defer c3.Close()
	if v, err := c3.Get(ctx, "after-restart").Result(); err != nil || v != "kept" {
		t.Fatalf("after-restart = %q, %v", v, err)
	}
}

func waitState(t *testing.T, rc *redisapi.CloudRedisClient, name string, want redispb.Instance_State, within time.Duration) *redispb.Instance {
	t.Helper()
	deadline := time.Now().Add(within)
	var last *redispb.Instance
	for time.Now().Before(deadline) {
		got, err := rc.GetInstance(context.Background(), &redispb.GetInstanceRequest{Name: name})
		if err != nil {
			t.Fatalf("GetInstance: %v", err)
		}
		last = got
		if got.State == want {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("instance state %v, want %v within %s", last.GetState(), want, within)
	return nil
}

func TestRedisKillIsRepaired(t *testing.T) {
	lc := localcloudtest.StartWithOptions(t, localcloudtest.Options{RepairDelay: 500 * time.Millisecond})
	rc, _ := clients(t, lc.Addr())
	inst, _ := createInstance(t, rc, "relay-kill")
	c := fill(t, inst, 10)
	ctx := context.Background()
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	fr := lc.Fault(t, "redis-kill", inst.Name, nil)
	if !strings.Contains(string(fr.Result), `"was_alive": true`) && !strings.Contains(string(fr.Result), `"was_alive":true`) {
		t.Fatalf("redis-kill result = %s", fr.Result)
	}
	down := waitState(t, rc, inst.Name, redispb.Instance_REPAIRING, 2*time.Second)
	if down.StatusMessage == "" {
		t.Errorf("REPAIRING without a status message")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatalf("redis-server answers PING after redis-kill")
	}
	up := waitState(t, rc, inst.Name, redispb.Instance_READY, 10*time.Second)
	c2 := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", up.Host, up.Port)})
	defer c2.Close()
	if v, err := c2.Get(ctx, "k3").Result(); err != nil || v != "v3" {
		t.Fatalf("k3 after repair = %q, %v", v, err)
	}

	// Held: stays down until redis-release.
	lc.Fault(t, "redis-kill", inst.Name, map[string]any{"hold": true})
	waitState(t, rc, inst.Name, redispb.Instance_REPAIRING, 2*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if got, _ := rc.GetInstance(ctx, &redispb.GetInstanceRequest{Name: inst.Name}); got.State != redispb.Instance_REPAIRING {
		t.Fatalf("held instance state = %v, want REPAIRING", got.State)
	}
	lc.Fault(t, "redis-release", inst.Name, nil)
	waitState(t, rc, inst.Name, redispb.Instance_READY, 100*time.Millisecond)

	// Unknown kind and unknown instance.
	code, fr, err := lc.TryFault("meteor-strike", inst.Name, nil)
	if err != nil || code != 400 || !strings.Contains(fr.Error, "redis-kill") {
		t.Fatalf("unknown kind: %d %+v %v", code, fr, err)
	}
	code, fr, err = lc.TryFault("redis-kill", parent+"/instances/nope", nil)
	if err != nil || code != 404 {
		t.Fatalf("unknown instance: %d %+v %v", code, fr, err)
	}

	var events []string
	for _, e := range lc.Oplog(t) {
		if e.Phase == "event" {
			events = append(events, e.Method)
		}
	}
	want := "localcloud.Fault.redis-kill localcloud.Supervisor.RedisExited localcloud.Supervisor.Repair " +
		"localcloud.Fault.redis-kill localcloud.Supervisor.RedisExited localcloud.Fault.redis-release localcloud.Supervisor.Repair " +
		"localcloud.Fault.redis-kill"
	if got := strings.Join(events, " "); got != want {
		t.Errorf("oplog events:\n got %s\nwant %s", got, want)
	}
	if _, err := rc.GetInstance(ctx, &redispb.GetInstanceRequest{Name: parent + "/instances/missing"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetInstance of a missing instance: %v", err)
	}
}

func TestKillWithoutRestartCleansUp(t *testing.T) {
	lc := localcloudtest.Start(t)
	rc, _ := clients(t, lc.Addr())
	inst, _ := createInstance(t, rc, "orphan")
	fill(t, inst, 50)
	lc.Kill()
	// The t.TempDir cleanup must find no redis-server still writing.
}
