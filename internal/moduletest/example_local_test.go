package moduletest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
)

// TestExampleLocal applies examples/local on localcloud and makes each of
// the one-line changes its README shows, as written there: a region
// failover, the region's return, a Redis restore and a new region. The
// front door is HTTPS, every Redis has AUTH, TLS and noeviction, and the
// state holds no AUTH string and no private key.
func TestExampleLocal(t *testing.T) {
	tf := setup(t)
	t.Parallel()
	lc, env, dir := localExample(t, tf)
	mainTF := filepath.Join(dir, "main.tf")
	chdir := "-chdir=" + dir

	var slot time.Time // the snapshot schedule's hour at the last apply
	apply := func(step string) map[string]any {
		t.Helper()
		start := time.Now()
		slot = start.UTC().Truncate(time.Hour)
		tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color")
		t.Logf("%s: applied in %v", step, time.Since(start).Round(100*time.Millisecond))
		return outputs(t, tf, env, chdir)
	}
	// The next plan is empty; a new hour may take new snapshots once.
	settled := func(step string) {
		t.Helper()
		out, code := tf.exec(t, env, chdir, "plan", "-detailed-exitcode", "-input=false", "-no-color")
		if code == 2 && time.Now().UTC().Truncate(time.Hour) != slot {
			apply(step + " (new hour)")
			out, code = tf.exec(t, env, chdir, "plan", "-detailed-exitcode", "-input=false", "-no-color")
		}
		if code != 0 {
			t.Fatalf("%s: the plan after the apply is not empty (exit %d):\n%s", step, code, out)
		}
	}
	edit := func(old, repl string) { // whole lines
		t.Helper()
		b, err := os.ReadFile(mainTF)
		if err != nil {
			t.Fatal(err)
		}
		old, repl = "\n"+old+"\n", "\n"+repl+"\n"
		if strings.Count(string(b), old) != 1 {
			t.Fatalf("examples/local/main.tf should hold the line %q once", strings.TrimSpace(old))
		}
		if err := os.WriteFile(mainTF, []byte(strings.Replace(string(b), old, repl, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	weights := func(out map[string]any) map[string]float64 {
		w := map[string]float64{}
		for k := range outputAt[map[string]any](t, out, "effective_weights") {
			w[k] = outputAt[float64](t, out, "effective_weights", k)
		}
		return w
	}
	healthy := func(step string, out map[string]any) {
		t.Helper()
		if out["front_door_healthy"] != true {
			t.Fatalf("%s: no message round trip through the front door", step)
		}
	}

	out := apply("three regions")
	if w := weights(out); !reflect.DeepEqual(w, map[string]float64{"us-central1": 100, "europe-west1": 100, "asia-east1": 100}) {
		t.Fatalf("three regions: effective weights %v", w)
	}
	if u, _ := out["front_door_url"].(string); !strings.HasPrefix(u, "https://") {
		t.Fatalf("three regions: front_door_url %q is not https", u)
	}
	healthy("three regions", out)
	secureRedis(t, lc, "three regions", out, filepath.Join(dir, "terraform.tfstate"))
	noTokenInState(t, "three regions", filepath.Join(dir, "terraform.tfstate"), tf.token)
	settled("three regions")

	edit(`    "asia-east1"   = { state = "active" }`, `    "asia-east1"   = { state = "drained" }`)
	out = apply("region failover")
	if w := weights(out); w["asia-east1"] != 0 || w["us-central1"] != 100 || w["europe-west1"] != 100 {
		t.Fatalf("region failover: effective weights %v", w)
	}
	healthy("region failover", out)
	statusShows(t, "region failover", out, "Relay asia-east1", "degraded")

	edit(`    "asia-east1"   = { state = "drained" }`, `    "asia-east1"   = { state = "active" }`)
	out = apply("region return")
	if w := weights(out); w["asia-east1"] != 100 {
		t.Fatalf("region return: effective weights %v", w)
	}
	healthy("region return", out)
	statusShows(t, "region return", out, "Relay asia-east1", "operational")

	// Envelopes in europe-west1's Redis, and a snapshot of them taken on
	// demand (the schedule takes the next one within the hour): "latest"
	// restores only a snapshot that holds keys, never an empty one.
	ctx := context.Background()
	europe := lc.RedisClient(t, outputAt[string](t, out, "redis_instances", "europe-west1"))
	stored := keyset{prefix: "envelope", n: 200}
	stored.write(t, ctx, europe)
	tf.run(t, env, chdir, "apply", "-auto-approve", "-input=false", "-no-color",
		`-replace=module.region["europe-west1"].module.backup[0].agentnet_redis_snapshot.this`)
	before := outputAt[string](t, outputs(t, tf, env, chdir), "latest_snapshots", "europe-west1")
	// "latest" is before the plan asking for it, to the second
	// (plantimestamp has whole seconds): not the same second as the snapshot.
	time.Sleep(time.Second)
	edit(`    "europe-west1" = { state = "active" }`, `    "europe-west1" = { state = "active", restore_from = "latest" }`)
	out = apply("Redis restore")
	restored, _ := out["restored"].(map[string]any)["europe-west1"].(map[string]any)
	if from, _ := restored["from"].(string); !strings.HasPrefix(from, before+"#") {
		t.Fatalf("Redis restore: europe-west1 restored %v, want the newest snapshot %s", restored, before)
	}
	stored.verify(t, ctx, europe, "of the snapshot after the restore")
	healthy("Redis restore", out)

	edit(`    "asia-east1"   = { state = "active" }`, "    \"asia-east1\"   = { state = \"active\" }\n    \"us-east1\"     = { state = \"standby\" }")
	out = apply("new region")
	if w := weights(out); len(w) != 4 || w["us-east1"] != 0 {
		t.Fatalf("new region: effective weights %v", w)
	}
	if _, ok := out["service_urls"].(map[string]any)["us-east1"]; !ok {
		t.Fatalf("new region: no relay service in us-east1: %v", out["service_urls"])
	}
	healthy("new region", out)
	secureRedis(t, lc, "new region", out, filepath.Join(dir, "terraform.tfstate"))
	noTokenInState(t, "new region", filepath.Join(dir, "terraform.tfstate"), tf.token)
	settled("new region")

	tf.run(t, env, chdir, "destroy", "-auto-approve", "-input=false", "-no-color")
	if left := leftovers(t, lc); len(left) > 0 {
		t.Errorf("destroy left behind: %s", strings.Join(left, ", "))
	}
}

// statusShows reads the status page as a browser does (the public object
// localcloud serves) and checks a component's state.
func statusShows(t *testing.T, step string, out map[string]any, component, state string) {
	t.Helper()
	url, _ := out["status_page"].(string)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("%s: status page URL %q: %v", step, url, err)
	}
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: status page: %v", step, err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("data-component=%q data-state=%q", component, state); resp.StatusCode != http.StatusOK || !strings.Contains(string(page), want) {
		t.Fatalf("%s: status page %s answered %d without %s:\n%s", step, url, resp.StatusCode, want, page)
	}
}

// secureRedis checks what the module defaults promise of every region's
// Redis: AUTH on, maxmemory-policy noeviction (read over TLS with the AUTH
// string and CA from the Memorystore API, as the relays connect), and no
// AUTH string nor private key anywhere in the state file.
// localExample starts a localcloud for a copy of examples/local beside a
// copy of modules/ (so that edits and state stay out of the source tree),
// with its modules installed; it returns the environment tofu runs it with
// and the copy's folder.
func localExample(t *testing.T, tf *tofu) (*localcloudtest.Instance, []string, string) {
	t.Helper()
	lc := localcloudtest.Start(t)
	createBucket(t, lc.Addr(), "agentnet-local", "agentnet-demo-snapshots")
	work := t.TempDir()
	copyDir(t, filepath.Join(tf.root, "modules"), filepath.Join(work, "modules"))
	copyDir(t, filepath.Join(tf.root, "examples", "local"), filepath.Join(work, "examples", "local"))
	dir := filepath.Join(work, "examples", "local")
	env := tf.reattached(t, append(tf.env(t),
		"AGENTNET_EMULATOR_HOST="+lc.Addr(),
		"TF_VAR_relay_dev_keys="+tf.keys.Dir,
		"TF_VAR_probe_token_file="+tf.tokenFile,
		// As the README sets it up: snapshots signed, restores verified.
		"TF_VAR_snapshot_signing_key="+lc.CreateMACKey(t, "projects/agentnet-local/locations/global/keyRings/agentnet/cryptoKeys/snapshots"),
	))
	tf.run(t, env, "-chdir="+dir, "get", "-no-color")
	return lc, env, dir
}

func secureRedis(t *testing.T, lc *localcloudtest.Instance, step string, out map[string]any, statePath string) {
	t.Helper()
	state, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatalf("%s: reading the state: %v", step, err)
	}
	if strings.Contains(string(state), "PRIVATE KEY") {
		t.Errorf("%s: the state file holds a private key", step)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resolver, err := relay.NewMemorystoreResolver(ctx, lc.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer resolver.Close()
	for region := range outputAt[map[string]any](t, out, "redis_instances") {
		name := outputAt[string](t, out, "redis_instances", region)
		target, err := resolver.Resolve(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if target.Password == "" || target.CAs == nil {
			t.Errorf("%s: %s's Redis lacks AUTH or TLS (auth string set: %t, TLS: %t)", step, region, target.Password != "", target.CAs != nil)
			continue
		}
		if strings.Contains(string(state), target.Password) {
			t.Errorf("%s: the state file holds the AUTH string of %s's Redis", step, region)
		}
		rdb := goredis.NewClient(target.Options())
		policy, err := rdb.ConfigGet(ctx, "maxmemory-policy").Result()
		rdb.Close()
		if err != nil {
			t.Fatalf("%s: CONFIG GET maxmemory-policy on %s's Redis: %v", step, region, err)
		}
		if policy["maxmemory-policy"] != "noeviction" {
			t.Errorf("%s: %s's Redis has maxmemory-policy %q, want noeviction", step, region, policy["maxmemory-policy"])
		}
	}
}

// outputs returns the root outputs' values.
func outputs(t *testing.T, tf *tofu, env []string, chdir string) map[string]any {
	t.Helper()
	var raw map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal([]byte(tf.run(t, env, chdir, "output", "-json")), &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for k, v := range raw {
		out[k] = v.Value
	}
	return out
}

// outputAt is out[path[0]][path[1]]..., every level but the last a JSON
// object, the last a T; anything else fails the test, naming the path.
func outputAt[T any](t *testing.T, out map[string]any, path ...string) T {
	t.Helper()
	var v any = out
	for i, k := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("output %s is %T, want an object", strings.Join(path[:i], "."), v)
		}
		v = obj[k]
	}
	x, ok := v.(T)
	if !ok {
		t.Fatalf("output %s is %T (%v), want %T", strings.Join(path, "."), v, v, x)
	}
	return x
}

// copyDir copies the regular files under src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == ".terraform" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".tfstate") || strings.Contains(d.Name(), ".tfstate.") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
