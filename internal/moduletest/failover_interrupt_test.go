package moduletest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/pausepoint"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
)

// A failover group over two regions, us-central1 and europe-west1, whose
// europe state is a variable: drained and back is a region failover and its
// return. Capacity 2 is 1 a region, or 2 in us while europe is drained (so
// a drain raises capacity first). acctest.ProviderConfig goes before it.
const failoverGroupConfig = `
variable "relay_dev_keys" {
  type = string
}

variable "probe_token" {
  type      = string
  sensitive = true
}

variable "europe_state" {
  type    = string
  default = "active"
}

variable "update_timeout" {
  type    = string
  default = "10m"
}

locals {
  regions = { us = "us-central1", europe = "europe-west1" }
}

resource "agentnet_redis_instance" "region" {
  for_each       = local.regions
  name           = "relay-${each.key}"
  region         = each.value
  memory_size_gb = 1
  redis_configs  = { "maxmemory-policy" = "noeviction" }
}

resource "agentnet_relay_service" "region" {
  for_each             = local.regions
  name                 = "relay"
  region               = each.value
  image                = "us-docker.pkg.dev/agentnet-test/agentnet/agentnet-relay:1.0"
  redis_instance       = agentnet_redis_instance.region[each.key].id
  peer_redis_instances = [for k, r in agentnet_redis_instance.region : r.id if k != each.key]
  min_instances        = 1
  vpc_network          = "default"
  invoker_iam_disabled = true
  ingress              = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  env                  = { RELAY_DEV_KEYS = var.relay_dev_keys }
  lifecycle {
    ignore_changes = [min_instances]
  }
}

resource "agentnet_relay_failover_group" "global" {
  name = "relay"
  regions = [
    { region = "us-central1", service = agentnet_relay_service.region["us"].id },
    { region = "europe-west1", service = agentnet_relay_service.region["europe"].id, state = var.europe_state },
  ]
  capacity = {
    total_min_instances    = 2
    baseline_min_instances = 1
  }
  health_check = {
    token_wo = var.probe_token
    timeout  = "3s"
  }
  reintroduction = {
    steps = [10, 50, 100]
    soak  = "` + rampSoak + `"
  }
  drain_grace_period = "` + drainGrace + `"
  tls = {
    managed_domains = ["relay.agentnet.test"]
  }
  timeouts {
    update = var.update_timeout
  }
}

output "front_door_url" {
  value = agentnet_relay_failover_group.global.front_door_url
}
`

const (
	rampSoak   = "2s"
	drainGrace = "3s"
	europe     = "europe-west1"
	usCentral  = "us-central1"
	groupName  = "relay"
)

// failoverRig is one group on its own localcloud, and what the tests read
// of it through the Google Cloud APIs.
type failoverRig struct {
	tf      *tofu
	lc      *localcloudtest.Instance
	clients *gcpclient.Clients
	// env has every command start its own provider. With one reattached
	// provider for the rig's other commands, the re-apply after a kill
	// during the redeploy once redeployed the drained region a second time
	// (cause not found), so the failover tests keep a provider per command.
	env []string
	dir string
}

func newFailoverRig(t *testing.T) *failoverRig {
	tf := setup(t)
	lc := localcloudtest.Start(t)
	clients, err := gcpclient.New(context.Background(), gcpclient.Config{Project: project, Region: usCentral, EmulatorHost: lc.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clients.Close() })
	g := &failoverRig{tf: tf, lc: lc, clients: clients, dir: t.TempDir(),
		env: append(tf.env(t), "AGENTNET_EMULATOR_HOST="+lc.Addr(), "TF_VAR_relay_dev_keys="+tf.keys.Dir, "TF_VAR_probe_token="+tf.token)}
	if err := os.WriteFile(filepath.Join(g.dir, "main.tf"), []byte(acctest.ProviderConfig(lc.Addr())+failoverGroupConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tf.exec(t, g.env, "-chdir="+g.dir, "destroy", "-auto-approve", "-input=false", "-no-color") })
	return g
}

func (g *failoverRig) args(dir, europeState string, cmd ...string) []string {
	return append([]string{"-chdir=" + dir}, append(cmd, "-input=false", "-no-color", "-var", "europe_state="+europeState)...)
}

func (g *failoverRig) apply(t *testing.T, europeState string) string {
	t.Helper()
	return g.tf.run(t, g.env, g.args(g.dir, europeState, "apply", "-auto-approve")...)
}

// planEmpty fails the test unless the next plan is empty.
func (g *failoverRig) planEmpty(t *testing.T, step, europeState string) {
	t.Helper()
	if out, code := g.tf.exec(t, g.env, g.args(g.dir, europeState, "plan", "-detailed-exitcode")...); code != 0 {
		t.Fatalf("%s: the plan after the apply is not empty (exit %d):\n%s", step, code, out)
	}
}

// killApply applies and SIGKILLs tofu and the provider once reached.
func (g *failoverRig) killApply(t *testing.T, step, europeState string, reached func() bool) {
	t.Helper()
	out, killed, code := g.tf.killWhen(t, g.env, reached, g.args(g.dir, europeState, "apply", "-auto-approve")...)
	if !killed {
		t.Fatalf("%s: the apply ended (exit %d) before the kill point:\n%s", step, code, out)
	}
}

func (g *failoverRig) urlMap(t *testing.T) *computepb.UrlMap {
	t.Helper()
	um, err := g.clients.Compute.URLMaps.Get(context.Background(), &computepb.GetUrlMapRequest{Project: project, UrlMap: groupName})
	if err != nil {
		t.Fatalf("reading URL map %s: %v", groupName, err)
	}
	return um
}

// weight is region's weight in the route agents take.
func weight(um *computepb.UrlMap, region string) int64 {
	for _, pm := range um.GetPathMatchers() {
		for _, wb := range pm.GetDefaultRouteAction().GetWeightedBackendServices() {
			if strings.HasSuffix(wb.GetBackendService(), "/"+groupName+"-"+region) {
				return int64(wb.GetWeight())
			}
		}
	}
	return -1
}

func (g *failoverRig) service(t *testing.T, region string) *runpb.Service {
	t.Helper()
	svc, err := g.clients.Run.GetService(context.Background(), &runpb.GetServiceRequest{
		Name: fmt.Sprintf("projects/%s/locations/%s/services/relay", project, region)})
	if err != nil {
		t.Fatalf("reading the relay service of %s: %v", region, err)
	}
	return svc
}

func (g *failoverRig) lastSeq(t *testing.T) int64 {
	log := g.lc.Oplog(t)
	if len(log) == 0 {
		return 0
	}
	return log[len(log)-1].Seq
}

// logged tells whether the operation log has, after seq, an entry of phase
// for method on a resource containing what (with outcome, when given).
func (g *failoverRig) logged(t *testing.T, after int64, phase, method, what, outcome string) bool {
	return g.count(t, after, phase, method, what, outcome) > 0
}

// count counts those entries.
func (g *failoverRig) count(t *testing.T, after int64, phase, method, what, outcome string) int {
	n := 0
	for _, e := range g.lc.Oplog(t) {
		if e.Seq > after && e.Phase == phase && strings.HasSuffix(e.Method, method) && strings.Contains(e.Resource, what) &&
			(outcome == "" || e.Outcome == outcome) {
			n++
		}
	}
	return n
}

// urlMapPatches counts the URL map patches logged after seq.
func (g *failoverRig) urlMapPatches(t *testing.T, after int64) int {
	n := 0
	for _, e := range g.lc.Oplog(t) {
		if e.Seq > after && e.Phase == "call" && e.Method == "compute.urlMaps.patch" && strings.HasSuffix(e.Resource, "/urlMaps/"+groupName) {
			n++
		}
	}
	return n
}

// weightTrace samples europe's weight until stopped and returns the
// weights it went through, in order.
func (g *failoverRig) weightTrace(t *testing.T) (stop func() []int64) {
	done := make(chan struct{})
	var trace []int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			um, err := g.clients.Compute.URLMaps.Get(context.Background(), &computepb.GetUrlMapRequest{Project: project, UrlMap: groupName})
			if err == nil {
				if w := weight(um, europe); len(trace) == 0 || trace[len(trace)-1] != w {
					trace = append(trace, w)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return func() []int64 {
		close(done)
		wg.Wait()
		return trace
	}
}

func pendingIntent(um *computepb.UrlMap) bool {
	return strings.Contains(um.GetDescription(), "intent=")
}

// agentStream is an agent connected to one region through the front door,
// sending numbered envelopes to a peer; every acknowledged one must arrive.
type agentStream struct {
	from, to *client.Client
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	acked    map[string]bool
	received map[string]bool
}

// streamFrom connects an agent through the front door until one lands in
// region, and starts it sending to a second agent.
func (g *failoverRig) streamFrom(t *testing.T, front, region string) *agentStream {
	t.Helper()
	dial := func(subject string) *client.Client {
		tok, err := g.tf.keys.Token(subject, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, []string{front}, client.StaticToken(tok), client.WithRootCAs(g.lc.FrontDoorCA(t)))
		if err != nil {
			t.Fatalf("agent %s through the front door: %v", subject, err)
		}
		return c
	}
	s := &agentStream{stop: make(chan struct{}), acked: map[string]bool{}, received: map[string]bool{}}
	for i := 0; s.from == nil && i < 40; i++ {
		c := dial("drained-agent")
		if _, at := c.Instance(); at == region {
			s.from = c
		} else {
			c.Close()
		}
	}
	if s.from == nil {
		t.Fatalf("no agent connection reached %s in 40 tries", region)
	}
	s.to = dial("peer-agent")
	s.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			id, err := s.from.Send(ctx, s.to.Address(), fmt.Sprintf("m-%06d", i), []byte("ciphertext"))
			cancel()
			if err == nil {
				s.mu.Lock()
				s.acked[id] = true
				s.mu.Unlock()
			}
		}
	})
	s.wg.Go(func() {
		for env := range s.to.Receive() {
			s.mu.Lock()
			s.received[env.ID] = true
			s.mu.Unlock()
		}
	})
	return s
}

// finish stops sending and checks that every acknowledged envelope arrived
// and that the agent left region for another one.
func (s *agentStream) finish(t *testing.T, region string) {
	t.Helper()
	close(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	var missing, acked int
	for {
		s.mu.Lock()
		missing, acked = 0, len(s.acked)
		for id := range s.acked {
			if !s.received[id] {
				missing++
			}
		}
		s.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, at := s.from.Instance()
	connects := s.from.Stats().Connects
	s.from.Close()
	s.to.Close()
	s.wg.Wait()
	if missing > 0 || acked == 0 {
		t.Errorf("%d of %d acknowledged messages never arrived", missing, acked)
	}
	if at == region || connects < 2 {
		t.Errorf("the agent connected to drained %s is at %s after %d connection(s): it was not told to reconnect elsewhere", region, at, connects)
	}
}

// TestFailoverInterrupted SIGKILLs tofu (with the provider) at each step of
// a region's drain and of its return ramp, on localcloud, and re-applies:
// the drained region's relays are redeployed (its agents reconnect
// elsewhere, nothing acknowledged is lost), the ramp resumes at the step it
// reached with its soak, and the plan after is empty.
func TestFailoverInterrupted(t *testing.T) {
	t.Parallel()
	g := newFailoverRig(t)
	g.apply(t, "active")
	front := strings.Trim(strings.TrimSpace(g.tf.run(t, g.env, "-chdir="+g.dir, "output", "-raw", "front_door_url")), `"`)
	soak, _ := time.ParseDuration(rampSoak)

	// drain runs one interrupted drain of europe: killed once reached, then
	// applied again; it checks that europe was redeployed after the
	// interrupted apply began and that its agents moved.
	drain := func(step string, reached func(mark int64) bool, afterKill func(begun time.Time)) {
		t.Helper()
		agent := g.streamFrom(t, front, europe)
		before := g.service(t, europe).GetLatestReadyRevision()
		mark, begun := g.lastSeq(t), time.Now()
		g.killApply(t, step, "drained", func() bool { return reached(mark) })
		if afterKill != nil {
			afterKill(begun)
		}
		start := time.Now()
		g.apply(t, "drained")
		svc := g.service(t, europe)
		if svc.GetLatestReadyRevision() == before || !redeployedAfter(svc, begun) {
			t.Errorf("%s: europe-west1 serves revision %s (was %s), redeployed at %q: no new revision told its agents to reconnect",
				step, svc.GetLatestReadyRevision(), before, svc.GetTemplate().GetAnnotations()["agentnet.dev/redeployed-at"])
		}
		if um := g.urlMap(t); weight(um, europe) != 0 || pendingIntent(um) {
			t.Errorf("%s: after the re-apply europe-west1 has weight %d, record left: %q", step, weight(um, europe), um.GetDescription())
		}
		// One redeploy in all: the re-apply waits on one already asked for.
		if n := g.count(t, mark, "call", ".UpdateService", europe, ""); n != 1 {
			t.Errorf("%s: europe-west1's service was updated %d times by the interrupted apply and its re-apply; want the one redeploy", step, n)
		}
		t.Logf("%s: re-applied in %v", step, time.Since(start).Round(100*time.Millisecond))
		agent.finish(t, europe)
		g.planEmpty(t, step, "drained")
	}
	// ramp runs one interrupted return of europe, killed once its weight is
	// at, and checks that the re-apply went through the remaining steps in
	// order, soaking each (the one reached included).
	ramp := func(step string, at int64) {
		t.Helper()
		g.killApply(t, step, "active", func() bool { return weight(g.urlMap(t), europe) == at })
		if um := g.urlMap(t); weight(um, europe) != at || !pendingIntent(um) {
			t.Fatalf("%s: killed with europe-west1 at weight %d, record %q; want %d and a record", step, weight(um, europe), um.GetDescription(), at)
		}
		if out, code := g.tf.exec(t, g.env, g.args(g.dir, "active", "plan", "-detailed-exitcode")...); code != 2 || !says(out, "Resuming an interrupted failover") {
			t.Errorf("%s: the plan after the kill (exit %d) does not resume the ramp:\n%s", step, code, out)
		}
		mark := g.lastSeq(t)
		trace := g.weightTrace(t)
		start := time.Now()
		g.apply(t, "active")
		took, weights := time.Since(start), trace()
		want := slices.DeleteFunc([]int64{10, 50, 100}, func(w int64) bool { return w < at })
		if !slices.Equal(weights, want) {
			t.Errorf("%s: europe-west1 went through the weights %v in the re-apply, want %v", step, weights, want)
		}
		if least := time.Duration(len(want)) * soak; took < least {
			t.Errorf("%s: the re-apply took %v: less than the %d soak(s) of %v left", step, took, len(want), soak)
		}
		if n := g.urlMapPatches(t, mark); n < len(want)-1 {
			t.Errorf("%s: %d URL map patches in the re-apply; the %d remaining step(s) need at least %d", step, n, len(want)-1, len(want)-1)
		}
		if um := g.urlMap(t); pendingIntent(um) {
			t.Errorf("%s: the record is still on the URL map: %q", step, um.GetDescription())
		}
		t.Logf("%s: resumed the ramp through %v in %v", step, weights, took.Round(100*time.Millisecond))
		g.planEmpty(t, step, "active")
	}

	drain("drain killed after capacity was raised", func(mark int64) bool {
		return g.logged(t, mark, "done", ".UpdateService", usCentral, "OK")
	}, func(time.Time) {
		if w := weight(g.urlMap(t), europe); w != 100 {
			t.Fatalf("killed after capacity: europe-west1 is already at weight %d", w)
		}
	})
	ramp("ramp killed at its first step, during the soak", 10)

	drain("drain killed during the grace period", func(mark int64) bool {
		return weight(g.urlMap(t), europe) == 0
	}, func(begun time.Time) {
		if um := g.urlMap(t); !pendingIntent(um) || redeployedAfter(g.service(t, europe), begun) {
			t.Fatalf("killed in the grace period: record %q, europe-west1 redeployed at %q: want a record and no redeploy yet",
				um.GetDescription(), g.service(t, europe).GetTemplate().GetAnnotations()["agentnet.dev/redeployed-at"])
		}
		out, code := g.tf.exec(t, g.env, g.args(g.dir, "drained", "plan", "-detailed-exitcode")...)
		if code != 2 || !says(out, "Resuming an interrupted failover") {
			t.Errorf("the plan after a kill in the grace period (exit %d) does not resume the drain:\n%s", code, out)
		}
	})
	ramp("ramp killed at a middle step", 50)

	drain("drain killed during the redeploy", func(mark int64) bool {
		return g.logged(t, mark, "call", ".UpdateService", europe, "")
	}, nil)
}

// redeployedAfter tells whether svc's template was redeployed after t.
func redeployedAfter(svc *runpb.Service, t time.Time) bool {
	at, err := time.Parse(time.RFC3339Nano, svc.GetTemplate().GetAnnotations()["agentnet.dev/redeployed-at"])
	return err == nil && at.After(t)
}

// TestFailoverRace runs two applies of the same drain at once, from two
// copies of the state: one fails on the conflict, saying another apply
// changed the object; one that exits 0 did every step. Then a drain whose
// redeploy meets a service changed in its grace period fails naming the
// region and leaves the drain recorded for the next apply.
func TestFailoverRace(t *testing.T) {
	t.Parallel()
	g := newFailoverRig(t)
	g.apply(t, "active")
	other := t.TempDir()
	for _, f := range []string{"main.tf", "terraform.tfstate"} {
		b, err := os.ReadFile(filepath.Join(g.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(other, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := g.service(t, europe).GetLatestReadyRevision()
	start := time.Now()
	type result struct {
		out  string
		code int
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i, dir := range []string{g.dir, other} {
		wg.Go(func() {
			results[i].out, results[i].code = g.tf.exec(t, g.env, g.args(dir, "drained", "apply", "-auto-approve")...)
		})
	}
	wg.Wait()
	conflicts := 0
	for i, r := range results {
		t.Logf("apply %d: exit %d", i, r.code)
		if r.code != 0 {
			t.Logf("apply %d: %s", i, errorOf(r.out))
			if !says(r.out, "Another apply (or someone else) changed") {
				t.Errorf("apply %d failed, but not on the conflict:\n%s", i, r.out)
			}
			conflicts++
		}
	}
	if conflicts == 0 {
		t.Errorf("both applies exited 0: neither saw the other's change\n%s\n%s", results[0].out, results[1].out)
	}
	if conflicts < 2 { // the one that exited 0 did every step
		svc := g.service(t, europe)
		um := g.urlMap(t)
		if weight(um, europe) != 0 || pendingIntent(um) || svc.GetLatestReadyRevision() == before || !redeployedAfter(svc, start.Add(-time.Second)) ||
			g.service(t, usCentral).GetScaling().GetMinInstanceCount() != 2 {
			t.Errorf("an apply exited 0 with a step not done: europe weight %d, record %q, europe revision %s (was %s), us min instances %d",
				weight(um, europe), um.GetDescription(), svc.GetLatestReadyRevision(), before, g.service(t, usCentral).GetScaling().GetMinInstanceCount())
		}
	}
	// Whatever happened, an apply from either copy brings the group to the
	// configuration and the plan after it is empty.
	g.apply(t, "drained")
	g.planEmpty(t, "after the race", "drained")

	// A drain whose redeploy meets a service changed by someone else in
	// the grace period: an error naming the region, the drain stays
	// recorded, and the next apply redeploys. The apply is held where the
	// grace period begins (a pause point) while the service changes, so
	// that the change lands in it however slow the machine, not after the
	// redeploy.
	g.apply(t, "active")
	begun := time.Now()
	pauses := t.TempDir()
	var out string
	var code int
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		out, code = g.tf.exec(t, append(slices.Clip(g.env), pausepoint.Env(pauses, pausepoint.DrainGrace)...), g.args(g.dir, "drained", "apply", "-auto-approve")...)
	}()
	resume := func() error { return os.WriteFile(pausepoint.Resume(pauses, pausepoint.DrainGrace), nil, 0o644) }
	t.Cleanup(func() { _ = resume(); <-finished }) // never left held, whatever fails
	for reached := false; !reached; {
		select {
		case <-finished:
			t.Fatalf("the drain ended (exit %d) before its grace period began:\n%s", code, out)
		case <-time.After(20 * time.Millisecond):
			_, err := os.Stat(pausepoint.Reached(pauses, pausepoint.DrainGrace))
			reached = err == nil
		}
	}
	if w := weight(g.urlMap(t), europe); w != 0 {
		t.Fatalf("the drain's grace period began with europe-west1 at weight %d", w)
	}
	svc := g.service(t, europe) // the same service again: only its etag changes
	op, err := g.clients.Run.UpdateService(context.Background(), &runpb.UpdateServiceRequest{Service: svc})
	if err == nil {
		_, err = op.Wait(context.Background())
	}
	if err != nil {
		t.Fatalf("changing europe-west1's service in the grace period: %v", err)
	}
	if err := resume(); err != nil {
		t.Fatal(err)
	}
	<-finished
	if code == 0 || !says(out, "Redeploying europe-west1 failed") || !says(out, "Another apply (or someone else) changed") {
		t.Fatalf("the drain whose redeploy met a changed service exited %d, want an error naming europe-west1 and the conflict:\n%s", code, out)
	}
	t.Logf("redeploy conflict: %s", errorOf(out))
	if um := g.urlMap(t); !pendingIntent(um) || redeployedAfter(g.service(t, europe), begun) {
		t.Fatalf("after the failed redeploy: record %q; want the drain still recorded and europe-west1 not redeployed", um.GetDescription())
	}
	before = g.service(t, europe).GetLatestReadyRevision()
	g.apply(t, "drained")
	if svc := g.service(t, europe); svc.GetLatestReadyRevision() == before || pendingIntent(g.urlMap(t)) {
		t.Fatalf("the apply after the failed redeploy left europe-west1 at revision %s (was %s), record %q", svc.GetLatestReadyRevision(), before, g.urlMap(t).GetDescription())
	}
	g.planEmpty(t, "after the redeploy conflict", "drained")
}

// TestFailoverStepFailures makes steps fail. Raising capacity: us-central1,
// which is to take europe-west1's traffic, goes down once the apply has
// asked it for more instances; the apply fails within its deadline naming
// the region, no weight changes, and the state records the weights in
// place, not the targets. Then a rollback that is refused.
func TestFailoverStepFailures(t *testing.T) {
	t.Parallel()
	g := newFailoverRig(t)
	g.apply(t, "active")
	mark := g.lastSeq(t)
	var out string
	var code int
	var wg sync.WaitGroup
	wg.Go(func() {
		out, code = g.tf.exec(t, g.env, append(g.args(g.dir, "drained", "apply", "-auto-approve"), "-var", "update_timeout=30s")...)
	})
	for deadline := time.Now().Add(2 * time.Minute); !g.logged(t, mark, "call", ".UpdateService", usCentral, ""); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the apply never asked us-central1 for more instances")
		}
	}
	g.lc.FaultRegion(t, "region-down", usCentral)
	wg.Wait()
	g.lc.FaultRegion(t, "region-up", usCentral)
	if code == 0 || !says(out, "Scaling us-central1 failed") || !says(out, "no weight was changed") {
		t.Fatalf("the apply whose capacity could not be raised exited %d, want an error naming us-central1 and saying no weight changed:\n%s", code, out)
	}
	t.Logf("capacity not raised: %s", errorOf(out))
	if n := g.urlMapPatches(t, mark); n != 0 || weight(g.urlMap(t), europe) != 100 {
		t.Fatalf("%d URL map patches, europe-west1 at weight %d: the weights moved although capacity was not in place", n, weight(g.urlMap(t), europe))
	}
	state := g.tf.run(t, g.env, "-chdir="+g.dir, "state", "show", "-no-color", "agentnet_relay_failover_group.global")
	for _, want := range []string{`"europe-west1" = 100`, `"us-central1"  = 100`} {
		if !strings.Contains(state, want) {
			t.Errorf("state after the failed apply lacks %s (the weights in place):\n%s", want, state)
		}
	}
	g.apply(t, "drained")
	if w := weight(g.urlMap(t), europe); w != 0 {
		t.Fatalf("europe-west1 at weight %d after the apply once capacity could be raised", w)
	}
	g.planEmpty(t, "after the capacity failure", "drained")

	// europe-west1 returns and dies in its first soak, while someone edits
	// the URL map: the rollback is refused, and the error says the weight
	// stayed where it was rather than claiming weight 0. The ramp stays
	// recorded and the next apply finishes it.
	europeService := fmt.Sprintf("projects/%s/locations/%s/services/relay", project, europe)
	wg.Go(func() { out, code = g.tf.exec(t, g.env, g.args(g.dir, "active", "apply", "-auto-approve")...) })
	for deadline := time.Now().Add(2 * time.Minute); weight(g.urlMap(t), europe) != 10; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("europe-west1 never reached its first ramp step")
		}
	}
	time.Sleep(300 * time.Millisecond) // the apply has read the fingerprint its patch made
	um := g.urlMap(t)
	op, err := g.clients.Compute.URLMaps.Patch(context.Background(), &computepb.PatchUrlMapRequest{Project: project, UrlMap: groupName,
		UrlMapResource: &computepb.UrlMap{Fingerprint: um.Fingerprint, PathMatchers: um.PathMatchers}})
	if err == nil {
		err = op.Wait(context.Background())
	}
	if err != nil {
		t.Fatalf("editing the URL map during the soak: %v", err)
	}
	g.lc.FaultService(t, "service-kill", europeService, map[string]any{"hold": true})
	wg.Wait()
	g.lc.FaultService(t, "service-release", europeService, nil)
	t.Logf("rollback refused: %s", errorOf(out))
	if code == 0 || !says(out, "rolling it back to weight 0 failed") || !says(out, "its weight stayed at 10") ||
		says(out, "it was rolled back to weight 0") || says(out, "Region europe-west1 rolled back") {
		t.Fatalf("the apply whose rollback was refused exited %d; want an error saying the weight stayed at 10:\n%s", code, out)
	}
	if um := g.urlMap(t); weight(um, europe) != 10 || !pendingIntent(um) {
		t.Fatalf("after the refused rollback europe-west1 is at weight %d, record %q; want 10 and the ramp recorded", weight(um, europe), um.GetDescription())
	}
	g.apply(t, "active")
	if um := g.urlMap(t); weight(um, europe) != 100 || pendingIntent(um) {
		t.Fatalf("the next apply left europe-west1 at weight %d, record %q", weight(um, europe), um.GetDescription())
	}
	g.planEmpty(t, "after the refused rollback", "active")
}

// errorOf is the part of tofu's output from its first error on.
func errorOf(out string) string {
	if i := strings.Index(out, "Error: "); i >= 0 {
		return out[i:]
	}
	return "(no error)"
}

// says tells whether tofu's output holds text, however tofu wrapped it.
func says(out, text string) bool {
	return strings.Contains(strings.Join(strings.Fields(out), " "), text)
}
