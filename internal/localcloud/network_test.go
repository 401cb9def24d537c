package localcloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	runapi "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
	"google.golang.org/grpc/codes"
)

// TestRelayReachesRedisOnlyFromAuthorizedNetwork runs the real relay binary
// as Cloud Run on localcloud against a Memorystore instance with AUTH, TLS
// and noeviction, as the modules create them. A service whose Direct VPC
// egress is the instance's authorized network becomes ready with its Redis
// up; the same service egressing into another network never passes its
// startup probe: the instance's gate refuses it, and the create operation
// fails, as on Google Cloud where that network has no route to the
// instance.
func TestRelayReachesRedisOnlyFromAuthorizedNetwork(t *testing.T) {
	const (
		project    = "agentnet-test"
		region     = "us-central1"
		authorized = "projects/" + project + "/global/networks/default"
		other      = "projects/" + project + "/global/networks/other"
	)
	loc := "projects/" + project + "/locations/" + region
	// A relay is ready within a second on localcloud; a short ready
	// timeout bounds how long the refused one keeps failing its probe.
	const readyTimeout = 5 * time.Second
	lc := localcloudtest.StartWithOptions(t, localcloudtest.Options{RunReadyTimeout: readyTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	memorystore, cloudRun := lc.MemorystoreAPI(t), lc.RunAPI(t)
	keys, err := auth.LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	// The instance: no authorized_network given, so the project's default
	// network, as on Memorystore.
	iop, err := memorystore.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: loc, InstanceId: "relay-redis",
		Instance: &redispb.Instance{
			Tier: redispb.Instance_BASIC, MemorySizeGb: 1,
			AuthEnabled:           true,
			TransitEncryptionMode: redispb.Instance_SERVER_AUTHENTICATION,
			RedisConfigs:          map[string]string{"maxmemory-policy": "noeviction"},
		}})
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	inst, err := iop.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	if inst.AuthorizedNetwork != authorized {
		t.Fatalf("authorized_network = %q, want %q", inst.AuthorizedNetwork, authorized)
	}
	addr := fmt.Sprintf("%s:%d", inst.Host, inst.Port)

	deploy := func(id, network string) (*runpb.Service, error) {
		return deployRelay(ctx, t, cloudRun, loc, id, relayService(inst.Name, region, keys.Dir, network))
	}
	opsReady := func(opsPort int) (int, relayReadiness) {
		t.Helper()
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/ready", opsPort))
		if err != nil {
			t.Fatalf("ops /ready: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r relayReadiness
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("ops /ready answered %s %q: %v", resp.Status, b, err)
		}
		return resp.StatusCode, r
	}

	// On the authorized network: ready, with the Redis up over TLS and AUTH.
	good, err := deploy("relay-default", authorized)
	if err != nil {
		t.Fatalf("relay on %s: %v\n%s", authorized, err, lc.LogTail(20))
	}
	if tc := good.TerminalCondition; tc.GetState() != runpb.Condition_CONDITION_SUCCEEDED || good.LatestReadyRevision == "" {
		t.Fatalf("relay on %s: terminal condition %v, latest ready revision %q", authorized, tc, good.LatestReadyRevision)
	}
	st := lc.Service(t, good.Name)
	if len(st.Instances) != 1 || !st.Instances[0].Ready || st.Instances[0].OpsPort == 0 {
		t.Fatalf("relay on %s: instances %+v, want one ready", authorized, st.Instances)
	}
	goodOps := st.Instances[0].OpsPort
	checkUp := func(when string) {
		t.Helper()
		got, r := opsReady(goodOps)
		if got != http.StatusOK || !r.Ready || r.Status != "ok" || len(r.Redis) != 1 {
			t.Fatalf("%s: relay on %s: ops /ready %d %+v, want 200 ok with one Redis", when, authorized, got, r)
		}
		if rd := r.Redis[0]; rd.Name != inst.Name || rd.Addr != addr || !rd.Up || !rd.TLS || !rd.Auth || rd.MaxmemoryPolicy != "noeviction" {
			t.Fatalf("%s: relay on %s: Redis %+v, want %s at %s up with TLS and AUTH, noeviction", when, authorized, rd, inst.Name, addr)
		}
	}
	checkUp("after its create")

	// On another network: the gate closes every connection the relay
	// makes, /ready stays 503, and the revision fails once the ready
	// timeout is over.
	began := time.Now()
	_, err = deploy("relay-other", other)
	took := time.Since(began)
	if err == nil {
		t.Fatalf("relay on %s became ready: the gate let it reach a Redis authorized for %s only", other, authorized)
	}
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "startup probe (HTTP GET /ready)") {
		t.Fatalf("relay on %s: create failed with %v, want FAILED_PRECONDITION naming the startup probe on /ready", other, err)
	}
	t.Logf("relay on %s: create failed after %s: %v", other, took.Round(time.Millisecond), err)
	if took < readyTimeout {
		t.Errorf("relay on %s failed after %s, before its ready timeout (%s): not a probe that never passed", other, took, readyTimeout)
	}
	bad, gerr := cloudRun.GetService(ctx, &runpb.GetServiceRequest{Name: loc + "/services/relay-other"})
	if gerr != nil {
		t.Fatalf("GetService relay-other: %v", gerr)
	}
	if tc := bad.TerminalCondition; tc.GetState() != runpb.Condition_CONDITION_FAILED || bad.LatestReadyRevision != "" {
		t.Errorf("relay on %s: terminal condition %v, latest ready revision %q, want FAILED and none", other, tc, bad.LatestReadyRevision)
	}

	// localcloud says why: the gate refused that service's instance, naming
	// both networks; it refused nothing of the relay on the authorized one.
	logb, lerr := os.ReadFile(lc.LogPath())
	if lerr != nil {
		t.Fatal(lerr)
	}
	var refusals []string
	for _, l := range strings.Split(string(logb), "\n") {
		if strings.Contains(l, "not on the instance's authorized network") {
			refusals = append(refusals, l)
		}
	}
	if len(refusals) == 0 {
		t.Fatalf("no refusal by the gate in localcloud's log:\n%s", lc.LogTail(30))
	}
	t.Logf("localcloud: %s", refusals[0])
	for _, l := range refusals {
		if !strings.Contains(l, loc+"/services/relay-other#") || !strings.Contains(l, "authorized_network="+authorized) ||
			!strings.Contains(l, "network="+other) || !strings.Contains(l, fmt.Sprintf("port=%d", inst.Port)) {
			t.Errorf("refusal does not name relay-other's instance, both networks and the instance's port: %s", l)
		}
	}

	// And the relay says its Redis is unreachable (its own log, kept in
	// the service's folder; the operation's error quotes its last lines).
	logs, _ := filepath.Glob(filepath.Join(lc.DataDir(), "run", project, region, "relay-other", "*.log"))
	if len(logs) == 0 {
		t.Fatalf("no relay log under %s", filepath.Join(lc.DataDir(), "run", project, region, "relay-other"))
	}
	var relayLog strings.Builder
	for _, p := range logs {
		b, _ := os.ReadFile(p)
		relayLog.Write(b)
	}
	if !strings.Contains(relayLog.String(), "redis unreachable") || !strings.Contains(relayLog.String(), inst.Name) {
		t.Errorf("the refused relay's log does not say its Redis %s is unreachable:\n%s", inst.Name, relayLog.String())
	}

	// The refusal is the network's, not the instance's: the Redis answers
	// the host and the relay on the authorized network still counts it up.
	if pong, err := lc.RedisClient(t, inst.Name).Ping(ctx).Result(); err != nil || pong != "PONG" {
		t.Fatalf("PING from the host: %q, %v", pong, err)
	}
	checkUp("after the refused relay")
}

// relayReadiness is the relay's detailed /ready on its operations port.
type relayReadiness struct {
	Ready   bool     `json:"ready"`
	Status  string   `json:"status"`
	Reasons []string `json:"reasons"`
	Redis   []struct {
		Name            string `json:"name"`
		Addr            string `json:"addr"`
		TLS             bool   `json:"tls"`
		Auth            bool   `json:"auth"`
		Up              bool   `json:"up"`
		MaxmemoryPolicy string `json:"maxmemory_policy"`
		Error           string `json:"error"`
	} `json:"redis"`
}

// relayService is the relay service as the provider deploys it, reduced to
// what matters to a network check: its Redis by name only (the relay
// resolves address, credentials and CA through the Memorystore APIs),
// Direct VPC egress into network, and a startup probe on /ready, which
// passes only once the Redis answers.
func relayService(redis, region, keysDir, network string) *runpb.Service {
	c := &runpb.Container{Image: "us-docker.pkg.dev/p/agentnet/agentnet-relay:1.4",
		StartupProbe: &runpb.Probe{TimeoutSeconds: 1, PeriodSeconds: 1, FailureThreshold: 240,
			ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/ready"}}}}
	for _, kv := range [][2]string{{"REDIS_INSTANCE", redis}, {"REGION", region}, {"RELAY_DEV_KEYS", keysDir}, {"SHUTDOWN_GRACE", "1s"}} {
		c.Env = append(c.Env, &runpb.EnvVar{Name: kv[0], Values: &runpb.EnvVar_Value{Value: kv[1]}})
	}
	return &runpb.Service{InvokerIamDisabled: true, Template: &runpb.RevisionTemplate{
		Containers: []*runpb.Container{c},
		VpcAccess: &runpb.VpcAccess{Egress: runpb.VpcAccess_PRIVATE_RANGES_ONLY,
			NetworkInterfaces: []*runpb.VpcAccess_NetworkInterface{{Network: network}}},
	}}
}

// deployRelay creates the service and polls its operation often rather
// than with the client's backoff (seconds): the time a refused revision
// takes to fail is part of the checks.
func deployRelay(ctx context.Context, t *testing.T, cloudRun *runapi.ServicesClient, loc, id string, svc *runpb.Service) (*runpb.Service, error) {
	t.Helper()
	op, err := cloudRun.CreateService(ctx, &runpb.CreateServiceRequest{Parent: loc, ServiceId: id, Service: svc})
	if err != nil {
		t.Fatalf("CreateService %s: %v", id, err)
	}
	for {
		svc, err := op.Poll(ctx)
		if err != nil || op.Done() {
			return svc, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
