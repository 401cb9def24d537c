package compute_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

const generationHeader = "X-Routing-Generation"

// setWeightsAt sets the weights and a response header naming the change,
// as the failover group marks its changes.
func (e *env) setWeightsAt(a, b uint32, generation string) {
	e.t.Helper()
	e.patchWeights(a, b, &computepb.HttpHeaderAction{ResponseHeadersToAdd: []*computepb.HttpHeaderOption{
		{HeaderName: proto.String(generationHeader), HeaderValue: proto.String(generation), Replace: proto.Bool(true)}}})
}

// plainGet returns the region that answered a new connection and the
// generation header it carried.
func plainGet(t *testing.T, addr string) (region, generation string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/where")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, r := range regions {
		if string(body) == "plain "+r+" /where" {
			return r, resp.Header.Get(generationHeader)
		}
	}
	t.Fatalf("front door answered %q", body)
	return "", ""
}

// A URL map change is DONE at once, but until its (scaled) propagation
// delay has passed new connections follow the previous URL map; then the
// new one. A connection opened before stays where it is.
func TestURLMapChangePropagates(t *testing.T) {
	p := profile.Default()
	p.Scale = 10
	p.Delays[profile.URLMapPropagation] = profile.Delay{Duration: profile.Duration(20 * time.Second), Source: "test"}
	ledger := profile.NewLedger(p)
	e := newTimedEnv(t, t.TempDir(), newBackends(t), ledger)
	addr := e.setup(100, 0)
	a, b := regions[0], regions[1]
	held, region := dial(t, addr)
	defer func() { _ = held.CloseNow() }() // only says whether it was closed already
	if region != a {
		t.Fatalf("held connection went to %s", region)
	}

	const slept = 2 * time.Second // 20 s modelled at a time scale of 10
	changed := time.Now()
	e.setWeightsAt(0, 100, "2")
	done := time.Now() // the operation is DONE: the change is live by done+slept
	um, err := e.urlMaps.Get(context.Background(), &computepb.GetUrlMapRequest{Project: project, UrlMap: "lb"})
	if err != nil || um.GetDefaultRouteAction().GetWeightedBackendServices()[1].GetWeight() != 100 {
		t.Fatalf("the control plane does not have the change: %v, %v", um, err)
	}
	during := 0
	for {
		region, gen := plainGet(t, addr)
		if time.Since(changed) >= slept {
			break // answered after the delay: no longer evidence of it
		}
		if region != a || gen != "" {
			t.Fatalf("%s after the change (propagation %s): a new connection reached %s with generation %q, want the old URL map's %s without one",
				time.Since(changed), slept, region, gen, a)
		}
		during++
		time.Sleep(50 * time.Millisecond)
	}
	if during < 5 {
		t.Fatalf("only %d connections during the propagation delay: the machine is too slow for this test's delay", during)
	}
	time.Sleep(time.Until(done.Add(slept)))
	for range 20 {
		if region, gen := plainGet(t, addr); region != b || gen != "2" {
			t.Fatalf("after the propagation delay a new connection reached %s with generation %q, want %s with 2", region, gen, b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := held.Write(ctx, 1, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := held.Read(ctx); err != nil || string(msg) != a+":still here" {
		t.Fatalf("held connection after the change: %q, %v", msg, err)
	}

	st := ledger.Status()
	if len(st.Applied) != 1 || st.Applied[0].Kind != profile.URLMapPropagation || st.Applied[0].Subject != "projects/demo/global/urlMaps/lb" ||
		st.Applied[0].Modelled.D() != 20*time.Second || st.Applied[0].Slept.D() != slept {
		t.Fatalf("ledger: %+v", st.Applied)
	}
}

// Changes made during another's propagation reach the front door in
// order, each after its own delay.
func TestURLMapChangesPropagateInOrder(t *testing.T) {
	p := profile.Default()
	p.Scale = 10
	p.Delays[profile.URLMapPropagation] = profile.Delay{Duration: profile.Duration(10 * time.Second), Source: "test"}
	e := newTimedEnv(t, t.TempDir(), newBackends(t), profile.NewLedger(p))
	addr := e.setup(100, 0)
	first := time.Now()
	e.setWeightsAt(0, 100, "2")
	time.Sleep(500 * time.Millisecond)
	second := time.Now()
	e.setWeightsAt(100, 0, "3")
	seen := map[string]time.Duration{}
	for time.Since(second) < 1500*time.Millisecond {
		_, gen := plainGet(t, addr)
		if _, ok := seen[gen]; !ok {
			seen[gen] = time.Since(first)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, old := seen[""]; !old || seen["2"] < time.Second || seen["3"] < 1500*time.Millisecond || seen["2"] > seen["3"] {
		t.Fatalf("generations first seen at %v (changes at 0 and 500ms, each live 1s later)", seen)
	}
}
