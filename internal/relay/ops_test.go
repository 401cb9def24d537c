package relay_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOperationsEndpoints: the serving port has /ws, /ready (no detail) and
// /live, and none of Cloud Run's reserved paths (ending in z); metrics and
// the detailed readiness are on the operations port only.
func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	r := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	a, b := e.dial("alice", r.URL), e.dial("bob", r.URL)
	exchange(t, a, b, 10)
	base, ops := "http://"+r.Addr, "http://"+r.OpsAddr
	if code, _ := get(t, base+"/live"); code != 200 {
		t.Fatalf("live %d", code)
	}
	if code, body := get(t, base+"/ready"); code != 200 || body != "ready\n" {
		t.Fatalf("ready %d %q", code, body)
	}
	for _, p := range []string{"/readyz", "/healthz", "/metrics"} {
		if code, _ := get(t, base+p); code != http.StatusNotFound {
			t.Errorf("%s on the serving port: %d, want 404", p, code)
		}
	}
	for _, p := range []string{"/ws", "/live"} {
		if code, _ := get(t, ops+p); code != http.StatusNotFound {
			t.Errorf("%s on the operations port: %d, want 404", p, code)
		}
	}
	_, metrics := get(t, ops+"/metrics")
	for _, want := range []string{"relay_connections{", "relay_envelopes_accepted_total{", "relay_delivery_acks_total{", "go_goroutines",
		`relay_redis_eviction_unsafe{instance=`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(metrics, `relay_envelopes_accepted_total{instance=`) {
		t.Error("accepted counter not exported")
	}
	if code, body := get(t, ops+"/ready"); code != 200 || !strings.Contains(body, `"status": "ok"`) || !strings.Contains(body, rd.Addr) {
		t.Fatalf("detailed ready %d %s", code, body)
	}
	// With one region's Redis down the relay is degraded but ready.
	rd2 := relaytest.NewRedis(t)
	rp := relaytest.NewRelay(t, e.v, "r1", rd.Addr, []string{rd2.Addr}, nil)
	rd2.Stop()
	if code, body := get(t, "http://"+rp.OpsAddr+"/ready"); code != 200 || !strings.Contains(body, `"status": "degraded"`) {
		t.Fatalf("ready with a peer down: %d %s", code, body)
	}
	if code, body := get(t, "http://"+rp.Addr+"/ready"); code != 200 || body != "ready\n" {
		t.Fatalf("ready with a peer down: %d %q", code, body)
	}
	rd.Stop()
	if code, body := get(t, base+"/ready"); code != http.StatusServiceUnavailable || strings.Contains(body, rd.Addr) {
		t.Fatalf("ready with Redis down: %d %q", code, body)
	}
	if code, body := get(t, ops+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no Redis reachable") {
		t.Fatalf("detailed ready with Redis down: %d %s", code, body)
	}
	if code, _ := get(t, base+"/live"); code != 200 {
		t.Fatalf("live with Redis down: %d", code)
	}
}

// TestGracefulShutdown shuts an instance down in the middle of a stream: its
// agents are told to go away (1001), reconnect to the other instance, and
// every envelope arrives exactly once.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	r1 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	r2 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	a := e.dial("alice", r1.URL, r2.URL)
	b := e.dial("bob", r1.URL, r2.URL)
	const n = 2000
	got := make(map[string]int)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(got) < n {
			select {
			case env := <-b.Receive():
				got[env.ID]++
			case <-time.After(15 * time.Second):
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if _, err := a.Send(ctx, b.Address(), fmt.Sprintf("m%d", i), []byte("ct")); err != nil {
					errs <- err
					return
				}
				if i == n/2 {
					go func() { _ = r1.Shutdown(context.Background()) }() // what it does to the clients is the test
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	<-done
	if len(got) != n {
		t.Fatalf("received %d of %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Fatalf("%s delivered %d times", id, k)
		}
	}
	if inst, _ := a.Instance(); a.Stats().Connects < 2 || inst == "" {
		t.Fatalf("alice did not move: %+v", a.Stats())
	}
	t.Logf("alice %+v bob %+v", a.Stats(), b.Stats())
}

// TestShutdownGoingAway checks agents are told to go away with 1001.
func TestShutdownGoingAway(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	r := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	ws, _, err := rawDial(t, r.URL, relaytest.Token(t, e.keys, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.Shutdown(context.Background()) }() // closeCode checks what it does
	if code, reason := closeCode(t, ws); code != websocket.StatusGoingAway {
		t.Fatalf("close %d %q, want 1001", code, reason)
	}
	if _, resp, err := rawDial(t, r.URL, relaytest.Token(t, e.keys, "alice")); err == nil || (resp != nil && resp.StatusCode != http.StatusServiceUnavailable) {
		t.Fatalf("connection accepted while shutting down")
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	r1 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	r2 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	ts := client.StaticToken(relaytest.Token(t, e.keys, "prober"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := client.Probe(ctx, r1.URL, ts)
	if err != nil || d <= 0 {
		t.Fatalf("probe: %v %v", d, err)
	}
	d2, err := client.ProbeBetween(ctx, r1.URL, r2.URL, ts)
	if err != nil || d2 <= 0 {
		t.Fatalf("probe between instances: %v %v", d2, err)
	}
	t.Logf("probe %v, across instances %v", d, d2)
	// A probe against a dead relay fails instead of hanging.
	if err := r2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if _, err := client.ProbeBetween(sctx, r1.URL, r2.URL, ts); err == nil {
		t.Fatal("probe of a stopped instance succeeded")
	}
}
