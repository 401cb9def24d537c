package run_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	redisapi "cloud.google.com/go/redis/apiv1"
	"cloud.google.com/go/redis/apiv1/redispb"
	runapi "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	gcs "cloud.google.com/go/storage"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	gax "github.com/googleapis/gax-go/v2"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

const project = "agentnet-test"

func parentOf(region string) string { return "projects/" + project + "/locations/" + region }

type env struct {
	lc    *localcloudtest.Instance
	run   *runapi.ServicesClient
	redis *redisapi.CloudRedisClient
	keys  *auth.DevKeys
}

func setup(t *testing.T) *env { return setupWith(t, localcloudtest.Options{}) }

// setupWith starts localcloud with opts (a repair delay of 300 ms).
func setupWith(t *testing.T, opts localcloudtest.Options) *env {
	t.Helper()
	opts.RepairDelay = 300 * time.Millisecond
	lc := localcloudtest.StartWithOptions(t, opts)
	keys, err := auth.LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{lc: lc, keys: keys}
	e.connect(t)
	return e
}

// connect (re)creates the API clients for the current localcloud address.
func (e *env) connect(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	opts := []option.ClientOption{option.WithEndpoint(e.lc.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	rc, err := runapi.NewServicesClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	mc, err := redisapi.NewCloudRedisClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	e.run, e.redis = rc, mc
}

func (e *env) createRedis(t *testing.T, region, id string) *redispb.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := e.redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: parentOf(region), InstanceId: id,
		Instance: &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1}})
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	inst, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	return inst
}

func relayService(image string, redis *redispb.Instance, keys *auth.DevKeys, extraEnv ...string) *runpb.Service {
	envs := []*runpb.EnvVar{
		{Name: "REDIS_ADDR", Values: &runpb.EnvVar_Value{Value: fmt.Sprintf("%s:%d", redis.Host, redis.Port)}},
		{Name: "RELAY_DEV_KEYS", Values: &runpb.EnvVar_Value{Value: keys.Dir}},
		{Name: "LOG_LEVEL", Values: &runpb.EnvVar_Value{Value: "warn"}},
		{Name: "RATE_LIMIT", Values: &runpb.EnvVar_Value{Value: "100000"}},
		{Name: "SHUTDOWN_GRACE", Values: &runpb.EnvVar_Value{Value: "3s"}},
	}
	for i := 0; i+1 < len(extraEnv); i += 2 {
		envs = append(envs, &runpb.EnvVar{Name: extraEnv[i], Values: &runpb.EnvVar_Value{Value: extraEnv[i+1]}})
	}
	// Agents authenticate with the relay's own tokens: no invoker IAM check.
	// The relays egress into the network Memorystore authorizes by default.
	return &runpb.Service{InvokerIamDisabled: true, Template: &runpb.RevisionTemplate{
		Containers: []*runpb.Container{{Image: image, Env: envs}},
		VpcAccess:  &runpb.VpcAccess{NetworkInterfaces: []*runpb.VpcAccess_NetworkInterface{{Network: "default"}}},
	}}
}

func (e *env) createService(t *testing.T, region, id string, svc *runpb.Service) *runpb.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := e.run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parentOf(region), ServiceId: id, Service: svc})
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateService: %v\n%s", err, e.lc.LogTail(20))
	}
	return got
}

func (e *env) update(t *testing.T, svc *runpb.Service) *runpb.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := e.run.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc})
	if err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	return got
}

func (e *env) dial(t *testing.T, uri, sub string) *client.Client {
	t.Helper()
	tok, err := e.keys.Token(sub, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, []string{uri}, client.StaticToken(tok), client.WithBackoff(20*time.Millisecond, 300*time.Millisecond))
	if err != nil {
		t.Fatalf("dial %s as %s: %v", uri, sub, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends one envelope each way between a and b and waits for both.
func exchange(t *testing.T, a, b *client.Client, tag string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, p := range [][2]*client.Client{{a, b}, {b, a}} {
		from, to := p[0], p[1]
		id := client.NewID()
		if _, err := from.Send(ctx, to.Address(), id, []byte(tag)); err != nil {
			t.Fatalf("%s: send %s -> %s: %v", tag, from.Address(), to.Address(), err)
		}
		for {
			select {
			case env := <-to.Receive():
				if env.ID == id {
					if string(env.Ciphertext) != tag || env.From != from.Address() {
						t.Fatalf("%s: got %q from %s", tag, env.Ciphertext, env.From)
					}
					goto next
				}
			case <-ctx.Done():
				t.Fatalf("%s: %s did not receive %s", tag, to.Address(), id)
			}
		}
	next:
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

func readyCount(st localcloudtest.ServiceStatus, rev string) int {
	n := 0
	for _, in := range st.Instances {
		if in.Ready && in.PID > 0 && (rev == "" || in.Revision == rev) {
			n++
		}
	}
	return n
}

func httpGet(u string) (int, string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// viaService sends GET / through the service URL and returns the status
// and the instance that answered ("" when localcloud answered itself). The
// relay's own paths are the relay's business; what matters here is that a
// request reaches an instance.
func viaService(uri string) (int, string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(uri + "/")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, "", err
	}
	return resp.StatusCode, resp.Header.Get("X-Localcloud-Instance"), nil
}

func checkServing(t *testing.T, svc *runpb.Service, name string) {
	t.Helper()
	if svc.Name != name {
		t.Errorf("name = %q, want %q", svc.Name, name)
	}
	if svc.Uid == "" || svc.Etag == "" || svc.CreateTime == nil || svc.UpdateTime == nil {
		t.Errorf("uid/etag/create_time/update_time missing: %v", svc)
	}
	if !strings.HasPrefix(svc.Uri, "http://127.0.0.1:") {
		t.Errorf("uri = %q", svc.Uri)
	}
	if svc.ObservedGeneration != svc.Generation || svc.Reconciling {
		t.Errorf("generation %d observed %d reconciling %v", svc.Generation, svc.ObservedGeneration, svc.Reconciling)
	}
	if svc.LatestReadyRevision == "" || svc.LatestReadyRevision != svc.LatestCreatedRevision {
		t.Errorf("latest ready %q created %q", svc.LatestReadyRevision, svc.LatestCreatedRevision)
	}
	tc := svc.TerminalCondition
	if tc.GetType() != "Ready" || tc.GetState() != runpb.Condition_CONDITION_SUCCEEDED {
		t.Errorf("terminal_condition = %v", tc)
	}
	if len(svc.TrafficStatuses) != 1 || svc.TrafficStatuses[0].Percent != 100 || svc.TrafficStatuses[0].Revision != svc.LatestReadyRevision {
		t.Errorf("traffic_statuses = %v", svc.TrafficStatuses)
	}
}

func TestServiceServesScalesAndRollsOut(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	const region = "us-central1"
	redis := e.createRedis(t, region, "relay-redis")
	name := parentOf(region) + "/services/relay"
	svc := e.createService(t, region, "relay", relayService("us-docker.pkg.dev/p/agentnet/agentnet-relay:1.4", redis, e.keys))
	checkServing(t, svc, name)
	if want := "relay-00001-"; !strings.HasPrefix(svc.LatestReadyRevision, want) {
		t.Errorf("revision %q, want prefix %s", svc.LatestReadyRevision, want)
	}
	if svc.Generation != 1 {
		t.Errorf("generation %d", svc.Generation)
	}
	rev1 := svc.LatestReadyRevision

	// Create again: ALREADY_EXISTS. Get of another: NOT_FOUND.
	if _, err := e.run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parentOf(region), ServiceId: "relay",
		Service: relayService("agentnet-relay:dev", redis, e.keys)}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("second create: %v, want ALREADY_EXISTS", err)
	}
	if _, err := e.run.GetService(ctx, &runpb.GetServiceRequest{Name: parentOf(region) + "/services/nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("get unknown: %v, want NOT_FOUND", err)
	}

	a := e.dial(t, svc.Uri, "agent-a")
	b := e.dial(t, svc.Uri, "agent-b")
	exchange(t, a, b, "hello through the service URL")

	// Scale 1 -> 3 through service-level scaling: no new revision.
	svc.Scaling = &runpb.ServiceScaling{MinInstanceCount: 3}
	svc = e.update(t, svc)
	if svc.LatestReadyRevision != rev1 || svc.LatestCreatedRevision != rev1 {
		t.Fatalf("scaling created a revision: ready %s created %s, want %s", svc.LatestReadyRevision, svc.LatestCreatedRevision, rev1)
	}
	if svc.Generation != 2 || svc.Scaling.GetMinInstanceCount() != 3 {
		t.Errorf("generation %d scaling %v", svc.Generation, svc.Scaling)
	}
	st := e.lc.Service(t, name)
	if got := readyCount(st, rev1); got != 3 || len(st.Instances) != 3 {
		t.Fatalf("after scaling to 3: %d ready of %d instances: %+v", got, len(st.Instances), st.Instances)
	}
	// New connections are spread over the three instances.
	seen := map[string]bool{}
	for i := range 6 {
		c := e.dial(t, svc.Uri, fmt.Sprintf("spread-%d", i))
		inst, _ := c.Instance()
		seen[inst] = true
		c.Close()
	}
	if len(seen) != 3 {
		t.Errorf("6 connections reached %d instances (%v), want 3", len(seen), seen)
	}
	ws := map[string]int{}
	for _, c := range e.lc.Service(t, name).RecentConnections {
		if c.WebSocket {
			ws[c.Instance]++
		}
	}
	if len(ws) != 3 {
		t.Errorf("recent WebSocket connections by instance: %v, want all three instances", ws)
	}

	// Roll out a new revision while a sender keeps sending.
	sender := e.dial(t, svc.Uri, "sender")
	receiver := e.dial(t, svc.Uri, "receiver")
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("m-%05d", i)
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := sender.Send(sctx, "receiver", id, []byte(id))
			cancel()
			if err == nil {
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	got := map[string]int{}
	var gotMu sync.Mutex
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for env := range receiver.Receive() {
			gotMu.Lock()
			got[env.ID]++
			gotMu.Unlock()
		}
	}()
	// Plain requests through the service URL during the rollout: none may
	// be refused or fail.
	var probes, probeFails int
	var probeErr string
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, inst, err := viaService(svc.Uri)
			probes++
			if err != nil || inst == "" {
				probeFails++
				probeErr = fmt.Sprintf("%d %v", code, err)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	svc.Template.Containers[0].Env = append(svc.Template.Containers[0].Env, &runpb.EnvVar{Name: "FEATURE", Values: &runpb.EnvVar_Value{Value: "on"}})
	svc.Template.Containers[0].Image = "us-docker.pkg.dev/p/agentnet/agentnet-relay:1.5"
	start := time.Now()
	svc = e.update(t, svc)
	t.Logf("rollout of a new revision took %s", time.Since(start).Round(time.Millisecond))
	rev2 := svc.LatestReadyRevision
	if rev2 == rev1 || !strings.HasPrefix(rev2, "relay-00002-") {
		t.Fatalf("after template change: latest ready revision %s (was %s)", rev2, rev1)
	}
	checkServing(t, svc, name)
	st = e.lc.Service(t, name)
	if got := readyCount(st, rev2); got != 3 || len(st.Instances) != 3 || st.ServingRevision != rev2 {
		t.Fatalf("after rollout: %d ready instances of %s, instances %+v", got, rev2, st.Instances)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-sent
	<-probeDone
	if probeFails > 0 || probes < 20 {
		t.Errorf("%d of %d requests through the service URL failed during the rollout (last: %s)", probeFails, probes, probeErr)
	}
	mu.Lock()
	ackedCopy := append([]string(nil), acked...)
	mu.Unlock()
	if len(ackedCopy) < 20 {
		t.Fatalf("only %d envelopes acked during the rollout", len(ackedCopy))
	}
	waitFor(t, "every acked envelope to be received", 30*time.Second, func() bool {
		gotMu.Lock()
		defer gotMu.Unlock()
		for _, id := range ackedCopy {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	gotMu.Lock()
	for _, id := range ackedCopy {
		if got[id] != 1 {
			t.Errorf("envelope %s received %d times", id, got[id])
		}
	}
	gotMu.Unlock()
	sinst, _ := sender.Instance()
	rinst, _ := receiver.Instance()
	if !strings.HasPrefix(sinst, rev2) || !strings.HasPrefix(rinst, rev2) {
		t.Errorf("clients on instances %q and %q after the rollout, want instances of %s", sinst, rinst, rev2)
	}
	t.Logf("%d envelopes acked during the rollout, each received once; sender reconnects %d", len(ackedCopy), sender.Stats().Connects)

	// The operation log orders the rollout: call, switch, done.
	var seq []string
	for _, l := range e.lc.Oplog(t) {
		if l.Resource == name && (strings.HasSuffix(l.Method, "Service") || strings.HasSuffix(l.Method, "TrafficSwitched") || strings.HasSuffix(l.Method, "Scaled")) {
			seq = append(seq, l.Phase+":"+l.Method[strings.LastIndex(l.Method, ".")+1:])
		}
	}
	want := "call:CreateService event:TrafficSwitched done:CreateService call:CreateService call:UpdateService event:Scaled done:UpdateService call:UpdateService event:TrafficSwitched done:UpdateService"
	if strings.Join(seq, " ") != want {
		t.Errorf("operation log: %s\nwant %s", strings.Join(seq, " "), want)
	}

	// A revision that does not become ready fails the update; the previous
	// one keeps serving.
	bad := proto.CloneOf(svc)
	bad.Template.Containers[0].Env[0].Values = &runpb.EnvVar_Value{Value: ""} // REDIS_ADDR
	uctx, ucancel := context.WithTimeout(ctx, time.Minute)
	defer ucancel()
	uop, err := e.run.UpdateService(uctx, &runpb.UpdateServiceRequest{Service: bad})
	if err != nil {
		t.Fatal(err)
	}
	_, err = uop.Wait(uctx)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "REDIS_ADDR") {
		t.Fatalf("update to a failing revision: %v, want FAILED_PRECONDITION with the container's error", err)
	}
	svc, err = e.run.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if svc.LatestReadyRevision != rev2 || !strings.HasPrefix(svc.LatestCreatedRevision, "relay-00003-") ||
		svc.TerminalCondition.GetState() != runpb.Condition_CONDITION_FAILED || svc.TerminalCondition.GetReason() != runpb.Condition_REVISION_FAILED {
		t.Errorf("after a failed revision: ready %s created %s terminal %v", svc.LatestReadyRevision, svc.LatestCreatedRevision, svc.TerminalCondition)
	}
	if code, inst, err := viaService(svc.Uri); err != nil || inst == "" {
		t.Errorf("service URL after a failed revision: %d %v", code, err)
	}
	if st := e.lc.Service(t, name); readyCount(st, rev2) != 3 || len(st.Instances) != 3 {
		t.Errorf("after a failed revision: %+v", st.Instances)
	}

	// Delete stops everything and closes the service URL.
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	op, err := e.run.DeleteService(dctx, &runpb.DeleteServiceRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(dctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := viaService(svc.Uri); err == nil {
		t.Errorf("service URL still answers after delete")
	}
	if _, err := e.run.GetService(ctx, &runpb.GetServiceRequest{Name: name}); status.Code(err) != codes.NotFound {
		t.Errorf("get after delete: %v", err)
	}
	for _, pid := range pidsOf(st) {
		if alive(pid) {
			waitFor(t, fmt.Sprintf("relay pid %d to exit", pid), 20*time.Second, func() bool { return !alive(pid) })
		}
	}
}

// alive reports whether pid is a running process (not a zombie left for
// a parent that does not reap).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

func pidsOf(st localcloudtest.ServiceStatus) []int {
	var out []int
	for _, in := range st.Instances {
		if in.PID > 0 {
			out = append(out, in.PID)
		}
	}
	return out
}

func TestValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	redis := &redispb.Instance{Host: "127.0.0.1", Port: 1}
	create := func(svc *runpb.Service) error {
		_, err := e.run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parentOf("us-central1"), ServiceId: "bad", Service: svc})
		return err
	}
	i32 := func(v int32) *int32 { return &v }
	cases := []struct {
		name   string
		mutate func(*runpb.Service)
		want   []string
	}{
		{"unknown image", func(s *runpb.Service) { s.Template.Containers[0].Image = "gcr.io/p/nginx:1" },
			[]string{"template.containers[0].image", "localcloud runs only the agentnet-relay image"}},
		{"service min > max", func(s *runpb.Service) { s.Scaling = &runpb.ServiceScaling{MinInstanceCount: 3, MaxInstanceCount: 2} },
			[]string{"scaling.min_instance_count", "scaling.max_instance_count"}},
		{"template min > max", func(s *runpb.Service) {
			s.Template.Scaling = &runpb.RevisionScaling{MinInstanceCount: 5, MaxInstanceCount: 1}
		},
			[]string{"template.scaling.min_instance_count", "template.scaling.max_instance_count"}},
		{"negative min", func(s *runpb.Service) { s.Scaling = &runpb.ServiceScaling{MinInstanceCount: -1} },
			[]string{"scaling.min_instance_count", "negative"}},
		{"negative template max", func(s *runpb.Service) { s.Template.Scaling = &runpb.RevisionScaling{MaxInstanceCount: -2} },
			[]string{"template.scaling.max_instance_count", "negative"}},
		{"negative manual", func(s *runpb.Service) {
			s.Scaling = &runpb.ServiceScaling{ScalingMode: runpb.ServiceScaling_MANUAL, ManualInstanceCount: i32(-1)}
		}, []string{"scaling.manual_instance_count"}},
		{"reserved env", func(s *runpb.Service) {
			s.Template.Containers[0].Env = append(s.Template.Containers[0].Env, &runpb.EnvVar{Name: "PORT", Values: &runpb.EnvVar_Value{Value: "1"}})
		}, []string{"template.containers[0].env[5].name", "PORT"}},
		{"gRPC probe", func(s *runpb.Service) {
			s.Template.Containers[0].StartupProbe = &runpb.Probe{ProbeType: &runpb.Probe_Grpc{Grpc: &runpb.GRPCAction{}}}
		}, []string{"template.containers[0].startup_probe.grpc"}},
		{"TCP liveness probe", func(s *runpb.Service) {
			s.Template.Containers[0].LivenessProbe = &runpb.Probe{ProbeType: &runpb.Probe_TcpSocket{TcpSocket: &runpb.TCPSocketAction{}}}
		}, []string{"template.containers[0].liveness_probe.tcp_socket"}},
		{"probe timeout above period", func(s *runpb.Service) {
			s.Template.Containers[0].StartupProbe = &runpb.Probe{TimeoutSeconds: 5, PeriodSeconds: 2,
				ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/ready"}}}
		}, []string{"startup_probe.timeout_seconds", "period_seconds"}},
		{"startup probe period above 240", func(s *runpb.Service) {
			s.Template.Containers[0].StartupProbe = &runpb.Probe{PeriodSeconds: 241,
				ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/ready"}}}
		}, []string{"startup_probe.period_seconds", "240"}},
		{"two containers", func(s *runpb.Service) {
			s.Template.Containers = append(s.Template.Containers, s.Template.Containers[0])
		}, []string{"template.containers", "exactly one"}},
	}
	for _, c := range cases {
		s := relayService("agentnet-relay:dev", redis, e.keys)
		c.mutate(s)
		err := create(s)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(status.Convert(err).Message(), w) {
				t.Errorf("%s: %q does not mention %q", c.name, status.Convert(err).Message(), w)
			}
		}
	}
	if _, err := e.run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parentOf("us-central1"), ServiceId: "Bad_Name",
		Service: relayService("agentnet-relay:dev", redis, e.keys)}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "service_id") {
		t.Errorf("bad service id: %v", err)
	}
	// Refused calls are in the operation log.
	n := 0
	for _, l := range e.lc.Oplog(t) {
		if l.Method == "google.cloud.run.v2.Services.CreateService" && strings.HasPrefix(l.Outcome, "InvalidArgument") {
			n++
		}
	}
	if n != len(cases)+1 {
		t.Errorf("%d refused CreateService calls in the operation log, want %d", n, len(cases)+1)
	}
}

func TestServiceKill(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const region = "europe-west1"
	redis := e.createRedis(t, region, "kill-redis")
	spec := relayService("agentnet-relay:dev", redis, e.keys)
	spec.Scaling = &runpb.ServiceScaling{MinInstanceCount: 2}
	svc := e.createService(t, region, "kill", spec)
	name := svc.Name
	st := e.lc.Service(t, name)
	if readyCount(st, "") != 2 {
		t.Fatalf("instances: %+v", st.Instances)
	}
	oldPIDs := pidsOf(st)

	start := time.Now()
	fr := e.lc.FaultService(t, "service-kill", name, nil)
	if !strings.Contains(string(fr.Result), `"killed"`) {
		t.Errorf("service-kill result: %s", fr.Result)
	}
	waitFor(t, "the killed instances to be restarted", 30*time.Second, func() bool {
		st := e.lc.Service(t, name)
		return readyCount(st, "") == 2
	})
	waitFor(t, "the service URL to answer", 10*time.Second, func() bool {
		_, inst, err := viaService(svc.Uri)
		return err == nil && inst != ""
	})
	t.Logf("service-kill: instances restarted and serving again after %s (repair delay 300ms)", time.Since(start).Round(time.Millisecond))
	st = e.lc.Service(t, name)
	for _, in := range st.Instances {
		if in.Restarts != 1 || in.LastExit == "" {
			t.Errorf("instance %s: restarts %d last exit %q", in.ID, in.Restarts, in.LastExit)
		}
		for _, p := range oldPIDs {
			if in.PID == p {
				t.Errorf("instance %s still has pid %d", in.ID, p)
			}
		}
	}

	// With hold they stay down: the service URL answers 503.
	e.lc.FaultService(t, "service-kill", name, map[string]any{"hold": true})
	time.Sleep(time.Second)
	st = e.lc.Service(t, name)
	if readyCount(st, "") != 0 || !st.Held {
		t.Fatalf("held service has instances up: %+v", st)
	}
	code, inst, err := viaService(svc.Uri)
	if err != nil || code != http.StatusServiceUnavailable || inst != "" {
		t.Errorf("held service URL: %d from %q %v, want 503 from localcloud", code, inst, err)
	}
	start = time.Now()
	e.lc.FaultService(t, "service-release", name, nil)
	if code, inst, err := viaService(svc.Uri); err != nil || inst == "" {
		t.Errorf("after service-release: %d %v", code, err)
	}
	t.Logf("service-release: serving again after %s", time.Since(start).Round(time.Millisecond))
	a := e.dial(t, svc.Uri, "agent-a")
	b := e.dial(t, svc.Uri, "agent-b")
	exchange(t, a, b, "after release")

	// Scaling down through an update mask: no new revision, one instance.
	before := svc.LatestReadyRevision
	uctx, ucancel := context.WithTimeout(context.Background(), time.Minute)
	defer ucancel()
	uop, err := e.run.UpdateService(uctx, &runpb.UpdateServiceRequest{
		Service:    &runpb.Service{Name: name, Scaling: &runpb.ServiceScaling{MinInstanceCount: 1}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"scaling"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err = uop.Wait(uctx)
	if err != nil {
		t.Fatal(err)
	}
	if svc.LatestReadyRevision != before || svc.Template.GetContainers()[0].GetImage() != "agentnet-relay:dev" {
		t.Errorf("masked scaling update changed the revision or the template: %s %v", svc.LatestReadyRevision, svc.Template)
	}
	if st := e.lc.Service(t, name); len(st.Instances) != 1 || readyCount(st, before) != 1 {
		t.Errorf("after scaling to 1: %+v", st.Instances)
	}
	exchange(t, a, b, "after scaling down")

	var events []string
	for _, l := range e.lc.Oplog(t) {
		if strings.HasPrefix(l.Method, "localcloud.") && l.Resource == name {
			events = append(events, l.Method)
		}
	}
	joined := strings.Join(events, " ")
	for _, w := range []string{"localcloud.Fault.service-kill", "localcloud.Supervisor.RelayExited", "localcloud.Supervisor.RelayRestart", "localcloud.Fault.service-release"} {
		if !strings.Contains(joined, w) {
			t.Errorf("operation log lacks %s: %s", w, joined)
		}
	}
}

func TestRegionOutage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	const region = "us-east1"
	redis := e.createRedis(t, region, "east-redis")
	svc := e.createService(t, region, "east", relayService("agentnet-relay:dev", redis, e.keys))
	westRedis := e.createRedis(t, "us-west1", "west-redis")
	west := e.createService(t, "us-west1", "west", relayService("agentnet-relay:dev", westRedis, e.keys))
	wa := e.dial(t, west.Uri, "west-a")
	wb := e.dial(t, west.Uri, "west-b")
	rc := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", redis.Host, redis.Port), MaxRetries: -1})
	defer rc.Close()
	for i := range 50 {
		if err := rc.Set(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	gc, err := gcs.NewClient(ctx, option.WithEndpoint("http://"+e.lc.Addr()+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	if err := gc.Bucket("global-bucket").Create(ctx, project, nil); err != nil {
		t.Fatal(err)
	}
	st := e.lc.Service(t, svc.Name)
	pids := pidsOf(st)

	fr := e.lc.FaultRegion(t, "region-down", region)
	t.Logf("region-down: %s", fr.Result)
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("relay pid %d still alive after region-down", pid)
		}
	}
	// The Go client retries UNAVAILABLE until its deadline (as against
	// Cloud Run); without retries the answer itself is seen.
	noRetry := gax.WithRetry(func() gax.Retryer { return nil })
	_, err = e.run.GetService(ctx, &runpb.GetServiceRequest{Name: svc.Name}, noRetry)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), region) {
		t.Errorf("GetService in a down region: %v, want UNAVAILABLE naming %s", err, region)
	}
	_, err = e.redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: redis.Name}, noRetry)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("GetInstance in a down region: %v, want UNAVAILABLE", err)
	}
	if _, err := e.run.ListServices(ctx, &runpb.ListServicesRequest{Parent: parentOf("us-central1")}).Next(); err != iterator.Done {
		t.Errorf("ListServices in another region: %v, want an empty list", err)
	}
	if err := rc.Ping(ctx).Err(); err == nil {
		t.Errorf("redis of the down region still answers")
	}
	w := gc.Bucket("global-bucket").Object("during-outage").NewWriter(ctx)
	_, werr := w.Write([]byte("storage is global"))
	if err := errors.Join(werr, w.Close()); err != nil {
		t.Errorf("Cloud Storage during a region outage: %v", err)
	}
	// Another region keeps serving: its API, its service and its agents.
	if _, err := e.run.GetService(ctx, &runpb.GetServiceRequest{Name: west.Name}); err != nil {
		t.Errorf("GetService in another region: %v", err)
	}
	exchange(t, wa, wb, "in us-west1 during the us-east1 outage")
	u, _ := url.Parse(svc.Uri)
	_, err = net.DialTimeout("tcp", u.Host, 2*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("service URL of a down region: %v, want connection refused", err)
	}

	// The outage outlasts a localcloud restart.
	e.lc.Restart(t)
	e.connect(t)
	if _, err := e.run.GetService(ctx, &runpb.GetServiceRequest{Name: svc.Name}, noRetry); status.Code(err) != codes.Unavailable {
		t.Errorf("GetService in a down region after a restart: %v, want UNAVAILABLE", err)
	}
	if _, err := net.DialTimeout("tcp", u.Host, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("service URL of a down region after a restart: %v, want connection refused", err)
	}
	if err := rc.Ping(ctx).Err(); err == nil {
		t.Errorf("redis of the down region answers after a restart")
	}

	start := time.Now()
	e.lc.FaultRegion(t, "region-up", region)
	t.Logf("region-up: region back after %s", time.Since(start).Round(time.Millisecond))
	got, err := e.run.GetService(ctx, &runpb.GetServiceRequest{Name: svc.Name})
	if err != nil {
		t.Fatalf("GetService after region-up: %v", err)
	}
	if got.Uri != svc.Uri {
		t.Errorf("uri changed: %s -> %s", svc.Uri, got.Uri)
	}
	for i := range 50 {
		v, err := rc.Get(ctx, fmt.Sprintf("k%d", i)).Result()
		if err != nil || v != fmt.Sprintf("v%d", i) {
			t.Fatalf("key k%d after region-up: %q %v", i, v, err)
		}
	}
	a := e.dial(t, svc.Uri, "agent-a")
	b := e.dial(t, svc.Uri, "agent-b")
	exchange(t, a, b, "after the outage")

	var seq []string
	for _, l := range e.lc.Oplog(t) {
		if strings.HasPrefix(l.Method, "localcloud.Fault.region") {
			seq = append(seq, l.Method+"="+strings.SplitN(l.Outcome, ":", 2)[0])
		}
	}
	if strings.Join(seq, " ") != "localcloud.Fault.region-down=OK localcloud.Fault.region-up=OK" {
		t.Errorf("operation log: %v", seq)
	}
}

func TestSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const region = "asia-east1"
	redis := e.createRedis(t, region, "asia-redis")
	spec := relayService("agentnet-relay:dev", redis, e.keys)
	spec.Scaling = &runpb.ServiceScaling{MinInstanceCount: 2}
	svc := e.createService(t, region, "asia", spec)
	old := pidsOf(e.lc.Service(t, svc.Name))

	e.lc.Kill()
	start := time.Now()
	e.lc.Restart(t)
	e.connect(t)
	t.Logf("localcloud restarted after SIGKILL with its services ready in %s", time.Since(start).Round(time.Millisecond))
	for _, pid := range old {
		if alive(pid) {
			t.Errorf("relay pid %d of the killed localcloud is still running", pid)
		}
	}
	got, err := e.run.GetService(context.Background(), &runpb.GetServiceRequest{Name: svc.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got.Uri != svc.Uri || got.LatestReadyRevision != svc.LatestReadyRevision {
		t.Errorf("after restart: uri %s revision %s, want %s %s", got.Uri, got.LatestReadyRevision, svc.Uri, svc.LatestReadyRevision)
	}
	st := e.lc.Service(t, svc.Name)
	if readyCount(st, svc.LatestReadyRevision) != 2 {
		t.Errorf("after restart: %+v", st.Instances)
	}
	a := e.dial(t, svc.Uri, "agent-a")
	b := e.dial(t, svc.Uri, "agent-b")
	exchange(t, a, b, "after localcloud restart")

	// A rollout interrupted by SIGKILL: the serving revision comes back at
	// once, the rollout resumes in the background, and a later update
	// supersedes it.
	stuck := proto.CloneOf(got)
	stuck.Template.Containers[0].StartupProbe = &runpb.Probe{PeriodSeconds: 240, FailureThreshold: 1, // never ready
		ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/never-ready"}}}
	ctx := context.Background()
	sop, err := e.run.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: stuck})
	if err != nil {
		t.Fatal(err)
	}
	opName := sop.Name()
	waitFor(t, "instances of the stuck revision", 20*time.Second, func() bool {
		st := e.lc.Service(t, svc.Name)
		return st.LatestCreatedRevision != st.ServingRevision && len(st.Instances) == 4
	})
	e.lc.Kill()
	start = time.Now()
	e.lc.Restart(t)
	e.connect(t)
	t.Logf("localcloud restarted during a stuck rollout in %s", time.Since(start).Round(time.Millisecond))
	if time.Since(start) > 15*time.Second {
		t.Errorf("restart waited for the stuck revision")
	}
	if code, inst, err := viaService(svc.Uri); err != nil || inst == "" {
		t.Errorf("service URL during the resumed rollout: %d %v", code, err)
	}
	got, err = e.run.GetService(ctx, &runpb.GetServiceRequest{Name: svc.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got.LatestReadyRevision != svc.LatestReadyRevision || got.LatestCreatedRevision == svc.LatestReadyRevision || !got.Reconciling {
		t.Errorf("during the resumed rollout: ready %s created %s reconciling %v", got.LatestReadyRevision, got.LatestCreatedRevision, got.Reconciling)
	}
	fixed := proto.CloneOf(got)
	fixed.Template.Containers[0].StartupProbe = nil
	fixed.Template.Containers[0].Env = append(fixed.Template.Containers[0].Env, &runpb.EnvVar{Name: "FIXED", Values: &runpb.EnvVar_Value{Value: "1"}})
	done := e.update(t, fixed)
	if !strings.HasPrefix(done.LatestReadyRevision, "asia-00003-") {
		t.Errorf("after the fix: latest ready %s", done.LatestReadyRevision)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := e.run.UpdateServiceOperation(opName).Wait(wctx); status.Code(err) != codes.Aborted {
		t.Errorf("the interrupted, superseded update: %v, want ABORTED", err)
	}
	exchange(t, a, b, "after the fixed rollout")
}
