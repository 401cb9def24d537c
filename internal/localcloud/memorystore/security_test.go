package memorystore_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// pingEnv makes the test binary, run again as a child, PING the Redis at
// the address it names and print PONG or the error: a process with its own
// environment, as a Cloud Run relay instance is.
const pingEnv = "MEMORYSTORE_TEST_PING"

func TestMain(m *testing.M) {
	if addr := os.Getenv(pingEnv); addr != "" {
		c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 5 * time.Second})
		if err := c.Ping(context.Background()).Err(); err != nil {
			fmt.Println("ERROR:", err)
			os.Exit(1)
		}
		fmt.Println("PONG")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func (e *env) create(t *testing.T, id string, in *redispb.Instance) *redispb.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if in.Tier == redispb.Instance_TIER_UNSPECIFIED {
		in.Tier = redispb.Instance_BASIC
	}
	if in.MemorySizeGb == 0 {
		in.MemorySizeGb = 1
	}
	op, err := e.redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: parent, InstanceId: id, Instance: in})
	if err != nil {
		t.Fatalf("CreateInstance %s: %v", id, err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateInstance %s: %v", id, err)
	}
	return got
}

func (e *env) update(t *testing.T, in *redispb.Instance, paths ...string) *redispb.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := e.redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{Instance: in, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
	if err != nil {
		t.Fatalf("UpdateInstance %v: %v", paths, err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("UpdateInstance %v: %v", paths, err)
	}
	return got
}

func (e *env) authString(t *testing.T, name string) string {
	t.Helper()
	a, err := e.redis.GetInstanceAuthString(context.Background(), &redispb.GetInstanceAuthStringRequest{Name: name})
	if err != nil {
		t.Fatalf("GetInstanceAuthString: %v", err)
	}
	return a.GetAuthString()
}

func addr(in *redispb.Instance) string { return fmt.Sprintf("%s:%d", in.Host, in.Port) }

func configGet(t *testing.T, c *goredis.Client, key string) string {
	t.Helper()
	v, err := c.ConfigGet(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("CONFIG GET %s: %v", key, err)
	}
	return v[key]
}

// AUTH as Memorystore runs it: a client without the AUTH string gets
// NOAUTH; GetInstanceAuthString gives it, and it survives a restart of
// localcloud; disabling AUTH drops it.
func TestAuthEnabled(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir)
	in := e.create(t, "auth", &redispb.Instance{AuthEnabled: true})
	if !in.AuthEnabled {
		t.Fatal("auth_enabled not reported")
	}
	auth := e.authString(t, in.Name)
	if len(auth) < 32 {
		t.Fatalf("AUTH string %q is too short", auth)
	}
	ctx := context.Background()
	anon := client(in)
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without AUTH = %v; want NOAUTH", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr(in), Password: auth, MaxRetries: 2})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET with AUTH: %v", err)
	}
	if b, err := os.ReadFile(e.srv.DataDir() + "/state/instances.json"); err != nil || strings.Contains(string(b), auth) {
		t.Fatalf("state/instances.json holds the AUTH string (or cannot be read: %v)", err)
	}

	e.close()
	e = start(t, dir)
	if got := e.authString(t, in.Name); got != auth {
		t.Fatalf("AUTH string after restart = %q; want %q", got, auth)
	}
	after := e.instance(t, in.Name)
	if after.Port != in.Port {
		t.Fatalf("port after restart = %d; want %d", after.Port, in.Port)
	}
	c2 := goredis.NewClient(&goredis.Options{Addr: addr(after), Password: auth, MaxRetries: 2})
	defer c2.Close()
	if v, err := c2.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after restart = %q, %v", v, err)
	}

	e.update(t, &redispb.Instance{Name: in.Name, AuthEnabled: false}, "auth_enabled")
	if got := e.authString(t, in.Name); got != "" {
		t.Fatalf("AUTH string with AUTH disabled = %q; want empty", got)
	}
	anon2 := client(after)
	defer anon2.Close()
	if err := anon2.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with AUTH disabled: %v", err)
	}
}

// Transit encryption: TLS only, with the instance's own CA, which stays
// the same across a restart and an import; localcloud's own clients
// (export, import) use TLS and AUTH too.
func TestTransitEncryption(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir)
	in := e.create(t, "tls", &redispb.Instance{AuthEnabled: true, TransitEncryptionMode: redispb.Instance_SERVER_AUTHENTICATION})
	if in.TransitEncryptionMode != redispb.Instance_SERVER_AUTHENTICATION || len(in.ServerCaCerts) != 1 || in.ServerCaCerts[0].Sha1Fingerprint == "" {
		t.Fatalf("instance %v: want SERVER_AUTHENTICATION with one server CA", in)
	}
	ctx := context.Background()
	plain := client(in)
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("plain TCP PING to a TLS instance answered")
	}
	auth := e.authString(t, in.Name)
	tlsClient := func(in *redispb.Instance) *goredis.Client {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(in.ServerCaCerts[0].Cert)) {
			t.Fatal("server_ca_certs is not PEM")
		}
		return goredis.NewClient(&goredis.Options{Addr: addr(in), Password: auth, MaxRetries: 2,
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: in.Host}})
	}
	c := tlsClient(in)
	defer c.Close()
	want := map[string]string{}
	writeKeys(t, c, "tls", 100, want)

	if err := e.gcs.Bucket("snaps").Create(ctx, "agentnet-test", nil); err != nil {
		t.Fatal(err)
	}
	e.exportRDB(t, in.Name, "gs://snaps/tls.rdb")
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.importRDB(in.Name, "gs://snaps/tls.rdb"); err != nil {
		t.Fatalf("import: %v", err)
	}
	afterImport := e.instance(t, in.Name)
	if afterImport.ServerCaCerts[0].Cert != in.ServerCaCerts[0].Cert || afterImport.Port != in.Port {
		t.Fatal("the import changed the instance's CA or port")
	}
	c2 := tlsClient(afterImport)
	defer c2.Close()
	checkKeys(t, c2, want, "after import over TLS")

	e.close()
	e = start(t, dir)
	again := e.instance(t, in.Name)
	if again.ServerCaCerts[0].Cert != in.ServerCaCerts[0].Cert {
		t.Fatal("the CA changed across a restart")
	}
	c3 := tlsClient(again)
	defer c3.Close()
	checkKeys(t, c3, want, "after restart")
}

// maxmemory follows memory_size_gb or maxmemory-gb; maxmemory-policy is
// volatile-lru unless redis_configs sets it, and goes back to it when the
// key is removed; a key Memorystore does not support is refused.
func TestRedisConfigs(t *testing.T) {
	e := start(t, t.TempDir())
	ctx := context.Background()
	def := e.create(t, "plain", &redispb.Instance{})
	c := client(def)
	defer c.Close()
	if p := configGet(t, c, "maxmemory-policy"); p != "volatile-lru" {
		t.Fatalf("default maxmemory-policy = %q; want volatile-lru", p)
	}
	if m := configGet(t, c, "maxmemory"); m != fmt.Sprint(1<<30) {
		t.Fatalf("maxmemory = %s; want 1 GiB", m)
	}

	set := e.create(t, "set", &redispb.Instance{RedisConfigs: map[string]string{"maxmemory-policy": "noeviction", "maxmemory-gb": "0.01"}})
	c2 := client(set)
	defer c2.Close()
	if p := configGet(t, c2, "maxmemory-policy"); p != "noeviction" {
		t.Fatalf("maxmemory-policy = %q; want noeviction", p)
	}
	if m := configGet(t, c2, "maxmemory"); m != "10737418" {
		t.Fatalf("maxmemory = %s; want 0.01 GiB", m)
	}
	e.update(t, &redispb.Instance{Name: set.Name}, "redis_configs")
	if p := configGet(t, c2, "maxmemory-policy"); p != "volatile-lru" {
		t.Fatalf("maxmemory-policy with the key removed = %q; want volatile-lru", p)
	}

	_, err := e.redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: parent, InstanceId: "bad",
		Instance: &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1, RedisConfigs: map[string]string{"appendonly": "yes"}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"appendonly"`) || !strings.Contains(err.Error(), "maxmemory-policy") {
		t.Fatalf("unsupported key: %v; want INVALID_ARGUMENT naming it and listing the accepted ones", err)
	}
	_, err = e.redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{Instance: &redispb.Instance{Name: def.Name, RedisConfigs: map[string]string{"save": "60 1"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"redis_configs"}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"save"`) {
		t.Fatalf("unsupported key on update: %v", err)
	}
}

// UpgradeInstance keeps the data and the address; a downgrade is refused.
func TestUpgradeInstance(t *testing.T) {
	e := start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := e.create(t, "up", &redispb.Instance{RedisVersion: "REDIS_6_X"})
	c := client(in)
	defer c.Close()
	want := map[string]string{}
	writeKeys(t, c, "up", 500, want)
	op, err := e.redis.UpgradeInstance(ctx, &redispb.UpgradeInstanceRequest{Name: in.Name, RedisVersion: "REDIS_7_2"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if got.RedisVersion != "REDIS_7_2" || got.Port != in.Port || got.State != redispb.Instance_READY {
		t.Fatalf("after upgrade: %s port %d %s", got.RedisVersion, got.Port, got.State)
	}
	c2 := client(got)
	defer c2.Close()
	checkKeys(t, c2, want, "after upgrade")
	_, err = e.redis.UpgradeInstance(ctx, &redispb.UpgradeInstanceRequest{Name: in.Name, RedisVersion: "REDIS_7_0"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "downgraded") {
		t.Fatalf("downgrade: %v; want INVALID_ARGUMENT", err)
	}
}

// A Cloud Run relay instance reaches a Memorystore instance only from the
// instance's authorized network; other local processes are on the host.
func TestNetworkGate(t *testing.T) {
	e := start(t, t.TempDir())
	const network = "projects/agentnet-test/global/networks/relay-vpc"
	in := e.create(t, "net", &redispb.Instance{AuthorizedNetwork: network, ConnectMode: redispb.Instance_PRIVATE_SERVICE_ACCESS,
		ReservedIpRange: "google-managed-services-relay-vpc"})
	if in.AuthorizedNetwork != network || in.ConnectMode != redispb.Instance_PRIVATE_SERVICE_ACCESS || in.ReservedIpRange != "google-managed-services-relay-vpc" {
		t.Fatalf("network settings not kept: %v", in)
	}
	if def := e.create(t, "def", &redispb.Instance{}); def.AuthorizedNetwork != "projects/agentnet-test/global/networks/default" || def.ConnectMode != redispb.Instance_DIRECT_PEERING {
		t.Fatalf("defaults: %s %s", def.AuthorizedNetwork, def.ConnectMode)
	}
	ping := func(env ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), append(env, pingEnv+"="+addr(in))...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := ping(localproc.RunInstanceEnv+"=relay-00001-abc-1", localproc.VPCNetworkEnv+"=projects/agentnet-test/global/networks/other"); err == nil {
		t.Fatalf("a relay on another network reached the instance: %s", out)
	}
	if out, err := ping(localproc.RunInstanceEnv + "=relay-00001-abc-1"); err == nil {
		t.Fatalf("a relay without VPC egress reached the instance: %s", out)
	}
	if out, err := ping(localproc.RunInstanceEnv+"=relay-00001-abc-1", localproc.VPCNetworkEnv+"="+network); err != nil || out != "PONG" {
		t.Fatalf("a relay on the authorized network: %s, %v", out, err)
	}
	if out, err := ping(); err != nil || out != "PONG" {
		t.Fatalf("a process on the host: %s, %v", out, err)
	}
	// The gate keeps its address while redis-server restarts behind it.
	if _, err := e.srv.Memorystore().Kill(in.Name, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := client(in)
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not back after redis-kill: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if conn, err := net.Dial("tcp", addr(in)); err != nil {
		t.Fatalf("gate: %v", err)
	} else {
		conn.Close()
	}
}
