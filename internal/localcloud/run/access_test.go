package run_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/run"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// The service URL applies Google's front end rules before any instance
// sees a request: invoker IAM (403 unless disabled), ingress (a direct
// request to an internal-and-load-balancing service gets 404, whatever
// mark it forges), reserved paths ending in z (404).
func TestServiceURLRules(t *testing.T) {
	t.Parallel()
	e := setup(t)
	redis := e.createRedis(t, "us-central1", "rules")
	tok, err := e.keys.Token("agent-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	private := relayService("agentnet-relay:dev", redis, e.keys)
	private.InvokerIamDisabled = false
	svc := e.createService(t, "us-central1", "private", private)
	if code, inst := localcloudtest.UpgradeStatus(t, svc.Uri+"/ws", tok, nil); code != http.StatusForbidden || inst != "" {
		t.Errorf("private service: WebSocket upgrade with a valid relay token got %d from %q, want 403 from the front end", code, inst)
	}

	public := e.createService(t, "us-central1", "public", relayService("agentnet-relay:dev", redis, e.keys))
	if code, inst := localcloudtest.UpgradeStatus(t, public.Uri+"/ws", tok, nil); code != http.StatusSwitchingProtocols || inst == "" {
		t.Errorf("public service: WebSocket upgrade got %d from %q, want 101 from an instance", code, inst)
	}
	for _, p := range []string{"/readyz", "/healthz", "/anything/z"} {
		code, body, err := httpGet(public.Uri + p)
		if err != nil || code != http.StatusNotFound || !strings.Contains(body, "was not found on this server") {
			t.Errorf("GET %s: %d %q %v, want Google's 404", p, code, body, err)
		}
	}

	internal := relayService("agentnet-relay:dev", redis, e.keys)
	internal.Ingress = runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER
	lb := e.createService(t, "us-central1", "internal", internal)
	for _, h := range []http.Header{nil, {run.LoadBalancerHeader: {"forged"}}} {
		if code, inst := localcloudtest.UpgradeStatus(t, lb.Uri+"/ws", tok, h); code != http.StatusNotFound || inst != "" {
			t.Errorf("internal-and-LB service, direct (header %v): %d from %q, want 404 from the front end", h, code, inst)
		}
	}
	if lb.Ingress != runpb.IngressTraffic_INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER || !lb.InvokerIamDisabled {
		t.Errorf("settings not echoed: ingress %v invoker_iam_disabled %v", lb.Ingress, lb.InvokerIamDisabled)
	}
}

func environ(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			out[k] = v
		}
	}
	return out
}

// Probes come from the service spec: a startup probe that never passes
// fails the revision, a failing liveness probe restarts the instance.
// Each instance gets its egress network, localcloud's address and an ops
// port.
func TestProbesAndInstanceEnv(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	redis := e.createRedis(t, "us-central1", "probes")
	httpProbe := func(path string) *runpb.Probe {
		return &runpb.Probe{PeriodSeconds: 1, FailureThreshold: 2, ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: path}}}
	}

	never := relayService("agentnet-relay:dev", redis, e.keys)
	never.Template.Containers[0].StartupProbe = httpProbe("/never-ready")
	op, err := e.run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parentOf("us-central1"), ServiceId: "never", Service: never})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctx); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "startup probe (HTTP GET /never-ready)") {
		t.Errorf("startup probe that never passes: %v, want FAILED_PRECONDITION naming the probe", err)
	}

	svc := relayService("agentnet-relay:dev", redis, e.keys)
	svc.Template.Containers[0].LivenessProbe = httpProbe("/not-alive")
	svc.Template.VpcAccess = &runpb.VpcAccess{NetworkInterfaces: []*runpb.VpcAccess_NetworkInterface{{Network: "relays"}}}
	got := e.createService(t, "us-central1", "liveness", svc)
	st := e.lc.Service(t, got.Name)
	in := st.Instances[0]
	env := environ(t, in.PID)
	for k, want := range map[string]string{
		"LOCALCLOUD_VPC_NETWORK": "projects/" + project + "/global/networks/relays",
		"AGENTNET_EMULATOR_HOST": e.lc.Addr(),
		"OPS_PORT":               strconv.Itoa(in.OpsPort),
		"PORT":                   strconv.Itoa(in.Port),
	} {
		if env[k] != want {
			t.Errorf("instance env %s = %q, want %q", k, env[k], want)
		}
	}
	if in.OpsPort == 0 || in.OpsPort == in.Port {
		t.Errorf("ops_port %d, port %d", in.OpsPort, in.Port)
	}
	d := waitFor(t, "the liveness probe to restart the instance", 20*time.Second, func() bool {
		st := e.lc.Service(t, got.Name)
		return len(st.Instances) > 0 && st.Instances[0].Restarts > 0
	})
	t.Logf("liveness probe failing (period 1s, threshold 2): instance restarted after %s", d.Round(time.Millisecond))
	found := false
	for _, l := range e.lc.Oplog(t) {
		found = found || l.Method == "localcloud.Supervisor.LivenessFailed"
	}
	if !found {
		t.Error("no LivenessFailed event in the operation log")
	}
}

// UpdateService changes only the fields in update_mask, changes the etag
// with every change, and refuses a stale etag with ABORTED.
func TestUpdateMaskAndEtag(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	redis := e.createRedis(t, "us-central1", "etag")
	svc := e.createService(t, "us-central1", "etag", relayService("agentnet-relay:dev", redis, e.keys))
	etag1, rev1, envs := svc.Etag, svc.LatestCreatedRevision, len(svc.Template.Containers[0].Env)

	labelsOnly := func(etag string, labels map[string]string) (*runpb.Service, error) {
		op, err := e.run.UpdateService(ctx, &runpb.UpdateServiceRequest{
			Service:    &runpb.Service{Name: svc.Name, Etag: etag, Labels: labels},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
		})
		if err != nil {
			return nil, err
		}
		return op.Wait(ctx)
	}
	got, err := labelsOnly(etag1, map[string]string{"team": "relay"})
	if err != nil {
		t.Fatalf("update of labels with the current etag: %v", err)
	}
	if got.Labels["team"] != "relay" || got.LatestCreatedRevision != rev1 || len(got.Template.GetContainers()) != 1 || len(got.Template.Containers[0].Env) != envs {
		t.Errorf("masked update changed more than labels: labels %v revision %s (was %s) template %v", got.Labels, got.LatestCreatedRevision, rev1, got.Template)
	}
	if got.Etag == etag1 || got.Etag == "" {
		t.Errorf("etag %q after a change (was %q)", got.Etag, etag1)
	}
	if _, err := labelsOnly(etag1, map[string]string{"team": "other"}); status.Code(err) != codes.Aborted {
		t.Errorf("update with a stale etag: %v, want ABORTED", err)
	}
	if op, err := e.run.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: svc.Name, Etag: etag1}); status.Code(err) != codes.Aborted {
		t.Errorf("delete with a stale etag: %v %v, want ABORTED", op, err)
	}
	cur, err := e.run.GetService(ctx, &runpb.GetServiceRequest{Name: svc.Name})
	if err != nil || cur.Labels["team"] != "relay" {
		t.Fatalf("after refused updates: %v %v", cur.GetLabels(), err)
	}
	// No etag: permitted. An empty mask replaces the whole object.
	if _, err := labelsOnly("", map[string]string{"team": "relay", "env": "dev"}); err != nil {
		t.Errorf("update without an etag: %v", err)
	}
	whole := relayService("agentnet-relay:dev", redis, e.keys)
	whole.Name = svc.Name
	got = e.update(t, whole)
	if len(got.Labels) != 0 || got.LatestCreatedRevision != rev1 {
		t.Errorf("whole-object update: labels %v revision %s (was %s)", got.Labels, got.LatestCreatedRevision, rev1)
	}
}
