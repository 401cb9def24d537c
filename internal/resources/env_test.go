package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	goredis "github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/rdbfile"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

const (
	testProject = "agentnet-test"
	testRegion  = "us-central1"
	testBucket  = "agentnet-snapshots"
)

// env is one acceptance test's world: its own localcloud, the official
// clients pointed at it for out-of-band changes, and a snapshot bucket.
type env struct {
	lc      *localcloudtest.Instance
	clients *gcpclient.Clients
}

// newEnv starts the world of an acceptance test that runs in parallel with
// the others (it calls t.Parallel: run its steps with resource.Test). Such
// a test changes nothing of the process: no t.Setenv, no TF_VAR_ (use
// lateVars), no file outside t.TempDir.
func newEnv(t *testing.T) *env {
	t.Parallel()
	return newEnvTB(t)
}

// newSerialEnv is newEnv for a test that must run alone because it changes
// the process's environment, which the provider served in-process reads.
func newSerialEnv(t *testing.T) *env { return newEnvTB(t) }

// newEnvWith is newEnv with localcloud started with opts (a timing
// profile, say).
func newEnvWith(t *testing.T, opts localcloudtest.Options) *env {
	t.Parallel()
	return newEnvOpts(t, opts)
}

func newEnvTB(t testing.TB) *env { return newEnvOpts(t, localcloudtest.Options{}) }

func newEnvOpts(t testing.TB, opts localcloudtest.Options) *env {
	t.Helper()
	acctest.Setup(t)
	lc := localcloudtest.StartWithOptions(t, opts)
	ctx := context.Background()
	clients, err := gcpclient.New(ctx, gcpclient.Config{Project: testProject, Region: testRegion, EmulatorHost: lc.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clients.Close() })
	if err := clients.Storage.Bucket(testBucket).Create(ctx, testProject, nil); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	return &env{lc: lc, clients: clients}
}

// lateVars are input variables whose values a step learns while the test
// runs, for the configurations of the steps after it: TF_VAR_ variables
// would be seen by every test running in parallel in this process.
type lateVars map[string]any

// variables are the named variables for a step's ConfigVariables, each read
// when the step writes its configuration.
func (v lateVars) variables(names ...string) config.Variables {
	out := config.Variables{}
	for _, n := range names {
		out[n] = lateVar{vars: v, name: n}
	}
	return out
}

type lateVar struct {
	vars lateVars
	name string
}

func (l lateVar) MarshalJSON() ([]byte, error) { return json.Marshal(l.vars[l.name]) }

// config prefixes HCL with the provider block pointing at this localcloud.
func (e *env) config(hcl string) string {
	return acctest.ProviderConfig(e.lc.Addr()) + hcl
}

func instanceID(name string) string {
	return fmt.Sprintf("projects/%s/locations/%s/instances/%s", testProject, testRegion, name)
}

// redisOf connects to the instance recorded in state under address.
func redisOf(s *terraform.State, address string) (*goredis.Client, error) {
	rs, ok := s.RootModule().Resources[address]
	if !ok {
		return nil, fmt.Errorf("%s not in state", address)
	}
	port, err := strconv.Atoi(rs.Primary.Attributes["port"])
	if err != nil {
		return nil, fmt.Errorf("%s has no port: %v", address, err)
	}
	return goredis.NewClient(&goredis.Options{
		Addr:        fmt.Sprintf("%s:%d", rs.Primary.Attributes["host"], port),
		ReadTimeout: 10 * time.Second,
	}), nil
}

// dataset is a deterministic set of keys and values written to and read back
// from an instance.
type dataset struct {
	prefix string
	n      int
}

func (d dataset) key(i int) string   { return fmt.Sprintf("%s:%05d", d.prefix, i) }
func (d dataset) value(i int) string { return fmt.Sprintf("value-%d-%x", i, i*2654435761) }

func (d dataset) write(ctx context.Context, c *goredis.Client) error {
	pipe := c.Pipeline()
	for i := 0; i < d.n; i++ {
		pipe.Set(ctx, d.key(i), d.value(i), 0)
		if i%1000 == 999 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}

// writeTo is a check that writes the dataset to the instance at address.
func (d dataset) writeTo(address string) func(*terraform.State) error {
	return func(s *terraform.State) error {
		c, err := redisOf(s, address)
		if err != nil {
			return err
		}
		defer c.Close()
		return d.write(context.Background(), c)
	}
}

// verify checks every key has its value; it returns how many do not.
func (d dataset) verify(ctx context.Context, c *goredis.Client) (bad int, err error) {
	for start := 0; start < d.n; start += 1000 {
		keys := make([]string, 0, 1000)
		for i := start; i < start+1000 && i < d.n; i++ {
			keys = append(keys, d.key(i))
		}
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return 0, err
		}
		for j, v := range vals {
			if s, ok := v.(string); !ok || s != d.value(start+j) {
				bad++
			}
		}
	}
	return bad, nil
}

// overwriteObject replaces an object's bytes, as a corrupted or tampered
// snapshot would be.
func (e *env) overwriteObject(t *testing.T, object string, data []byte) {
	t.Helper()
	w := e.clients.Storage.Bucket(testBucket).Object(object).NewWriter(context.Background())
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// errorText matches an error message however OpenTofu wraps its lines:
// the words in order, any whitespace between them, anything between parts.
func errorText(parts ...string) *regexp.Regexp {
	quoted := make([]string, len(parts))
	for i, p := range parts {
		words := strings.Fields(p)
		for j, w := range words {
			words[j] = regexp.QuoteMeta(w)
		}
		quoted[i] = strings.Join(words, `\s+`)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(quoted, ".*"))
}

// dump reads every key of the test instance relay-us with its value.
func (e *env) dump(t *testing.T) map[string]string {
	t.Helper()
	c := e.lc.RedisClient(t, instanceID("relay-us"))
	defer c.Close()
	ctx := context.Background()
	out := map[string]string{}
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		v, err := c.Get(ctx, iter.Val()).Result()
		if err != nil {
			t.Fatalf("GET %s: %v", iter.Val(), err)
		}
		out[iter.Val()] = v
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// diffCount is how many keys differ between two dumps.
func diffCount(a, b map[string]string) int {
	n := 0
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			n++
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			n++
		}
	}
	return n
}

// countCalls counts the Memorystore calls of method in the operation log.
func (e *env) countCalls(t *testing.T, method string) int {
	n := 0
	for _, l := range e.lc.Oplog(t) {
		if l.Method == "google.cloud.redis.v1.CloudRedis."+method && l.Phase == "call" {
			n++
		}
	}
	return n
}

// export writes the instance's data to uri out of band, through the API.
func (e *env) export(t *testing.T, instance, uri string) {
	t.Helper()
	ctx := context.Background()
	op, err := e.clients.Redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{
		Name:         instance,
		OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{GcsDestination: &redispb.GcsDestination{Uri: uri}}},
	})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("exporting %s to %s: %v", instance, uri, err)
	}
}

// writeManifest writes the manifest of the snapshot object uri as an export
// would (the object's generation, CRC32C, size and key count), signed with
// key unless it is empty; edit, when set, changes it last, as a forger
// would.
func (e *env) writeManifest(t *testing.T, uri, key string, edit func(*snapshotsig.Manifest)) {
	t.Helper()
	ctx := context.Background()
	bucket, object, err := snapshotsig.SplitURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	obj := e.clients.Storage.Bucket(bucket).Object(object)
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := obj.NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := rdbfile.Summarize(r)
	r.Close()
	if err != nil {
		t.Fatalf("summarising %s: %v", uri, err)
	}
	m := &snapshotsig.Manifest{
		Version: snapshotsig.CurrentVersion, Object: uri, Generation: attrs.Generation,
		CRC32C: snapshotsig.CRC32CString(attrs.CRC32C), SizeBytes: attrs.Size, KeyCount: sum.KeyCount,
		RedisVersion: sum.RedisVersion, CreatedAt: attrs.Created, State: snapshotsig.StateComplete,
	}
	if key != "" {
		if err := snapshotsig.Sign(ctx, e.clients.KMS, key, m); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(m)
	}
	if err := snapshotsig.Write(ctx, e.clients.Storage, m); err != nil {
		t.Fatal(err)
	}
}
