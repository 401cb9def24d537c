package compute_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gcompute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/compute"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/run"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"github.com/coder/websocket"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const project = "demo"

var regions = []string{"us-east1", "europe-west1"}

// backend is a Cloud Run stand-in: a WebSocket server that says which region
// it is in, then echoes.
type backend struct {
	region string
	srv    *httptest.Server
}

func newBackend(t *testing.T, region string) *backend {
	t.Helper()
	b := &backend{region: region}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws" {
			w.Header().Set("X-Seen-Load-Balancer", r.Header.Get(run.LoadBalancerHeader))
			fmt.Fprintf(w, "plain %s %s", region, r.URL.Path)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.CloseNow() }() // only says whether it was closed already
		ctx := r.Context()
		if err := c.Write(ctx, websocket.MessageText, []byte(region)); err != nil {
			return
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte(region+":"), msg...)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// env is one emulator served over HTTP with the official clients.
type env struct {
	t        *testing.T
	dir      string
	svc      *compute.Service
	ops      *operations.Manager
	api      *httptest.Server
	backends map[string]*backend
	ca       *pki.CA

	downMu sync.Mutex
	down   map[string]bool

	negs    *gcompute.RegionNetworkEndpointGroupsClient
	bes     *gcompute.BackendServicesClient
	urlMaps *gcompute.UrlMapsClient
	proxies *gcompute.TargetHttpProxiesClient
	rules   *gcompute.GlobalForwardingRulesClient
	regOps  *gcompute.RegionOperationsClient
	globOps *gcompute.GlobalOperationsClient
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t *testing.T, dir string, backends map[string]*backend) *env {
	t.Helper()
	return newTimedEnv(t, dir, backends, nil)
}

// newTimedEnv is newEnv with the delays of a timing profile.
func newTimedEnv(t *testing.T, dir string, backends map[string]*backend, timing *profile.Ledger) *env {
	t.Helper()
	e := &env{t: t, dir: dir, backends: backends, down: map[string]bool{}}
	st, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	e.ops, err = operations.New(st, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	e.ca, err = pki.LoadOrCreateCA(filepath.Join(dir, "ca"), "test front door CA")
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = compute.New(compute.Config{
		DataDir:            filepath.Join(dir, "compute"),
		Ops:                e.ops,
		Logger:             quietLogger(),
		CA:                 e.ca,
		LoadBalancerSecret: testLBSecret,
		Timing:             timing,
		ResolveRunService: func(ctx context.Context, p, region, service string) (string, error) {
			b := e.backends[region]
			if p != project || service != "relay" || b == nil {
				return "", fmt.Errorf("service %s not found in %s", service, region)
			}
			return b.srv.URL, nil
		},
		RegionAvailable: func(region string) error {
			e.downMu.Lock()
			defer e.downMu.Unlock()
			if e.down[region] {
				// As regions.Controller.Available answers.
				return status.Errorf(codes.Unavailable, "region %s is unavailable (outage in the test)", region)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/compute/v1/", e.svc.Handler())
	mux.Handle("/_localcloud/compute", e.svc.AdminHandler())
	e.api = httptest.NewServer(mux)

	ctx := context.Background()
	opts := []option.ClientOption{option.WithEndpoint(e.api.URL), option.WithoutAuthentication()}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	e.negs, err = gcompute.NewRegionNetworkEndpointGroupsRESTClient(ctx, opts...)
	must(err)
	e.bes, err = gcompute.NewBackendServicesRESTClient(ctx, opts...)
	must(err)
	e.urlMaps, err = gcompute.NewUrlMapsRESTClient(ctx, opts...)
	must(err)
	e.proxies, err = gcompute.NewTargetHttpProxiesRESTClient(ctx, opts...)
	must(err)
	e.rules, err = gcompute.NewGlobalForwardingRulesRESTClient(ctx, opts...)
	must(err)
	e.regOps, err = gcompute.NewRegionOperationsRESTClient(ctx, opts...)
	must(err)
	e.globOps, err = gcompute.NewGlobalOperationsRESTClient(ctx, opts...)
	must(err)
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	if e.svc == nil {
		return
	}
	e.api.Close()
	e.svc.Close()
	e.ops.Close()
	for _, c := range []interface{ Close() error }{e.negs, e.bes, e.urlMaps, e.proxies, e.rules, e.regOps, e.globOps} {
		c.Close()
	}
	e.svc = nil
}

func (e *env) setDown(region string, down bool) {
	e.downMu.Lock()
	e.down[region] = down
	e.downMu.Unlock()
}

// wait runs Operation.Wait, as the provider will.
func (e *env) wait(op *gcompute.Operation, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := op.Wait(ctx); err != nil {
		e.t.Fatalf("wait %s: %v", op.Name(), err)
	}
	if !op.Done() {
		e.t.Fatalf("operation %s not done after Wait", op.Name())
	}
}

func weighted(a, b uint32) *computepb.HttpRouteAction {
	return &computepb.HttpRouteAction{WeightedBackendServices: []*computepb.WeightedBackendService{
		{BackendService: proto.String("global/backendServices/be-" + regions[0]), Weight: proto.Uint32(a)},
		{BackendService: proto.String("projects/" + project + "/global/backendServices/be-" + regions[1]), Weight: proto.Uint32(b)},
	}}
}

// setup creates the whole load balancer with weights a/b and returns the
// front door's address.
func (e *env) setup(a, b uint32) string {
	e.t.Helper()
	ctx := context.Background()
	for _, r := range regions {
		e.wait(e.negs.Insert(ctx, &computepb.InsertRegionNetworkEndpointGroupRequest{Project: project, Region: r,
			NetworkEndpointGroupResource: &computepb.NetworkEndpointGroup{
				Name:                proto.String("neg-" + r),
				NetworkEndpointType: proto.String("SERVERLESS"),
				CloudRun:            &computepb.NetworkEndpointGroupCloudRun{Service: proto.String("relay")},
			}}))
		e.wait(e.bes.Insert(ctx, &computepb.InsertBackendServiceRequest{Project: project,
			BackendServiceResource: &computepb.BackendService{
				Name:                proto.String("be-" + r),
				LoadBalancingScheme: proto.String("EXTERNAL_MANAGED"),
				Protocol:            proto.String("HTTPS"),
				Backends: []*computepb.Backend{{Group: proto.String(
					"https://www.googleapis.com/compute/v1/projects/" + project + "/regions/" + r + "/networkEndpointGroups/neg-" + r)}},
				OutlierDetection: &computepb.OutlierDetection{ConsecutiveErrors: proto.Int32(5)},
			}}))
	}
	e.wait(e.urlMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: project,
		UrlMapResource: &computepb.UrlMap{Name: proto.String("lb"), DefaultRouteAction: weighted(a, b)}}))
	e.wait(e.proxies.Insert(ctx, &computepb.InsertTargetHttpProxyRequest{Project: project,
		TargetHttpProxyResource: &computepb.TargetHttpProxy{Name: proto.String("lb-proxy"), UrlMap: proto.String("global/urlMaps/lb")}}))
	e.wait(e.rules.Insert(ctx, &computepb.InsertGlobalForwardingRuleRequest{Project: project,
		ForwardingRuleResource: &computepb.ForwardingRule{
			Name:                proto.String("lb-rule"),
			Target:              proto.String("projects/" + project + "/global/targetHttpProxies/lb-proxy"),
			PortRange:           proto.String("80"),
			IPAddress:           proto.String("0.0.0.0"),
			LoadBalancingScheme: proto.String("EXTERNAL_MANAGED"),
		}}))
	return e.frontDoor()
}

func (e *env) frontDoor() string {
	e.t.Helper()
	fr, err := e.rules.Get(context.Background(), &computepb.GetGlobalForwardingRuleRequest{Project: project, ForwardingRule: "lb-rule"})
	if err != nil {
		e.t.Fatal(err)
	}
	port, _, ok := strings.Cut(fr.GetPortRange(), "-")
	if !ok || fr.GetIPAddress() != "127.0.0.1" || port == "80" {
		e.t.Fatalf("forwarding rule address %s %s, want 127.0.0.1 and PORT-PORT of a free port", fr.GetIPAddress(), fr.GetPortRange())
	}
	return "127.0.0.1:" + port
}

func (e *env) setWeights(a, b uint32) { e.patchWeights(a, b, nil) }

// patchWeights sets the weights and, when not nil, the URL map's header
// action.
func (e *env) patchWeights(a, b uint32, headers *computepb.HttpHeaderAction) {
	e.t.Helper()
	ctx := context.Background()
	um, err := e.urlMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: project, UrlMap: "lb"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.wait(e.urlMaps.Patch(ctx, &computepb.PatchUrlMapRequest{Project: project, UrlMap: "lb",
		UrlMapResource: &computepb.UrlMap{Name: proto.String("lb"), Fingerprint: um.Fingerprint, DefaultRouteAction: weighted(a, b), HeaderAction: headers}}))
}

// dial opens a WebSocket through the front door and returns the region that
// answered.
func dial(t *testing.T, addr string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial front door: %v", err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read hello: %v", err)
	}
	return c, string(msg)
}

func countRegions(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		c, region := dial(t, addr)
		got[region]++
		c.Close(websocket.StatusNormalClosure, "")
	}
	return got
}

func newBackends(t *testing.T) map[string]*backend {
	m := map[string]*backend{}
	for _, r := range regions {
		m[r] = newBackend(t, r)
	}
	return m
}

func TestFrontDoorFollowsURLMapWeights(t *testing.T) {
	e := newEnv(t, t.TempDir(), newBackends(t))
	addr := e.setup(100, 0)
	a, b := regions[0], regions[1]

	if got := countRegions(t, addr, 50); got[a] != 50 {
		t.Fatalf("weights 100/0: connections per region %v, want all 50 in %s", got, a)
	}
	held, region := dial(t, addr)
	defer func() { _ = held.CloseNow() }() // only says whether it was closed already
	if region != a {
		t.Fatalf("held connection went to %s", region)
	}

	e.setWeights(0, 100)
	if got := countRegions(t, addr, 50); got[b] != 50 {
		t.Fatalf("weights 0/100: connections per region %v, want all 50 in %s", got, b)
	}
	// The connection opened before the change stays where it was.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := held.Write(ctx, websocket.MessageText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := held.Read(ctx); err != nil || string(msg) != a+":still here" {
		t.Fatalf("held connection after the weight change: %q, %v", msg, err)
	}

	e.setWeights(50, 50)
	got := countRegions(t, addr, 100)
	if got[a] < 40 || got[b] < 40 {
		t.Fatalf("weights 50/50: connections per region %v, want roughly even", got)
	}

	// A plain request goes the same way.
	e.setWeights(0, 1000)
	resp, err := http.Get("http://" + addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "plain "+b+" /hello" {
		t.Fatalf("plain request answered %q", body)
	}

	// Admin view: weights and counts. A connection the client has just
	// closed stays active until the front door has seen its end, so the
	// view is read again until only the held one is (or 5 s have passed).
	var st compute.Status
	counts := map[string]compute.BackendStatus{}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st = compute.Status{}
		getJSON(t, e.api.URL+"/_localcloud/compute", &st)
		if len(st.URLMaps) != 1 || len(st.URLMaps[0].Weights) != 2 || st.URLMaps[0].Weights[1].Weight != 1000 ||
			st.URLMaps[0].Weights[1].Region != b {
			t.Fatalf("admin url maps: %+v", st.URLMaps)
		}
		if len(st.FrontDoors) != 1 || st.FrontDoors[0].Address != addr {
			t.Fatalf("admin front doors: %+v", st.FrontDoors)
		}
		for _, bs := range st.FrontDoors[0].Backends {
			counts[bs.Region] = bs
		}
		if (counts[a].Active == 1 && counts[b].Active == 0) || time.Now().After(deadline) {
			break
		}
	}
	if counts[a].Requests != 50+1+int64(got[a]) || counts[a].WebSockets != counts[a].Requests || counts[a].Active != 1 ||
		counts[b].Requests != 50+int64(got[b])+1 || counts[b].WebSockets != 50+int64(got[b]) {
		t.Fatalf("admin counts: %+v (50/50 split %v)", st.FrontDoors[0].Backends, got)
	}

	// The operation log has every mutation, in order.
	var patches []string
	for _, le := range e.ops.Oplog() {
		if le.Method == "compute.urlMaps.patch" {
			patches = append(patches, le.Resource+" "+le.Outcome)
		}
	}
	if len(patches) != 3 || patches[0] != "projects/demo/global/urlMaps/lb OK" {
		t.Fatalf("operation log url map patches: %q", patches)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func apiErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		t.Fatalf("want a googleapi error, got %v", err)
	}
	return ge
}

func TestValidationAndRegions(t *testing.T) {
	e := newEnv(t, t.TempDir(), newBackends(t))
	e.setup(100, 0)
	ctx := context.Background()

	um, err := e.urlMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: project, UrlMap: "lb"})
	if err != nil {
		t.Fatal(err)
	}
	stale := um.GetFingerprint()
	e.setWeights(0, 100)
	_, err = e.urlMaps.Patch(ctx, &computepb.PatchUrlMapRequest{Project: project, UrlMap: "lb",
		UrlMapResource: &computepb.UrlMap{Fingerprint: proto.String(stale), DefaultRouteAction: weighted(100, 0)}})
	if ge := apiErr(t, err); ge.Code != 412 || ge.Errors[0].Reason != "conditionNotMet" {
		t.Fatalf("stale fingerprint: %v", err)
	}
	_, err = e.urlMaps.Update(ctx, &computepb.UpdateUrlMapRequest{Project: project, UrlMap: "lb",
		UrlMapResource: &computepb.UrlMap{Name: proto.String("lb"), DefaultRouteAction: weighted(100, 0)}})
	if ge := apiErr(t, err); ge.Code != 400 || !strings.Contains(ge.Message, "resource.fingerprint") {
		t.Fatalf("update without fingerprint: %v", err)
	}

	cur, err := e.urlMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: project, UrlMap: "lb"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ra    *computepb.HttpRouteAction
		field string
	}{
		{"weight 1001", weighted(1001, 0), "resource.defaultRouteAction.weightedBackendServices[0].weight"},
		{"all zero", weighted(0, 0), "resource.defaultRouteAction.weightedBackendServices"},
		{"unknown backend service", &computepb.HttpRouteAction{WeightedBackendServices: []*computepb.WeightedBackendService{
			{BackendService: proto.String("global/backendServices/be-us-east1"), Weight: proto.Uint32(1)},
			{BackendService: proto.String("global/backendServices/nope"), Weight: proto.Uint32(1)}}},
			"resource.defaultRouteAction.weightedBackendServices[1].backendService"},
	} {
		_, err := e.urlMaps.Patch(ctx, &computepb.PatchUrlMapRequest{Project: project, UrlMap: "lb",
			UrlMapResource: &computepb.UrlMap{Fingerprint: cur.Fingerprint, DefaultRouteAction: tc.ra}})
		ge := apiErr(t, err)
		if ge.Code != 400 || !strings.Contains(ge.Message, "'"+tc.field+"'") || ge.Errors[0].Reason != "invalid" {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = e.urlMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: project,
			UrlMapResource: &computepb.UrlMap{Name: proto.String("other"), DefaultRouteAction: tc.ra}})
		if ge := apiErr(t, err); ge.Code != 400 || !strings.Contains(ge.Message, "'"+tc.field+"'") {
			t.Fatalf("insert %s: %v", tc.name, err)
		}
	}
	// A negative weight cannot be sent by the Go client (uint32): raw JSON.
	body := fmt.Sprintf(`{"fingerprint":%q,"defaultRouteAction":{"weightedBackendServices":[`+
		`{"backendService":"global/backendServices/be-us-east1","weight":-1},`+
		`{"backendService":"global/backendServices/be-europe-west1","weight":100}]}}`, cur.GetFingerprint())
	req, _ := http.NewRequest(http.MethodPatch, e.api.URL+"/compute/v1/projects/demo/global/urlMaps/lb", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ge struct {
		Error struct {
			Code    int
			Message string
			Errors  []struct{ Reason, Message string }
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&ge)
	resp.Body.Close()
	if resp.StatusCode != 400 || ge.Error.Code != 400 || len(ge.Error.Errors) != 1 || ge.Error.Errors[0].Reason != "invalid" ||
		!strings.Contains(ge.Error.Message, "'resource.defaultRouteAction.weightedBackendServices[0].weight'") {
		t.Fatalf("negative weight: %d %+v", resp.StatusCode, ge)
	}
	// Nothing changed: the refused calls left the current URL map alone.
	if now, _ := e.urlMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: project, UrlMap: "lb"}); now.GetFingerprint() != cur.GetFingerprint() {
		t.Fatal("a refused patch changed the URL map")
	}

	// In use: the NEG, backend service, URL map and proxy cannot go first.
	_, err = e.bes.Delete(ctx, &computepb.DeleteBackendServiceRequest{Project: project, BackendService: "be-us-east1"})
	if ge := apiErr(t, err); ge.Code != 400 || ge.Errors[0].Reason != "resourceInUseByAnotherResource" {
		t.Fatalf("delete backend service in use: %v", err)
	}

	// Region down: regional calls answer 503 naming the region, global calls work.
	e.setDown("europe-west1", true)
	_, err = e.negs.Insert(ctx, &computepb.InsertRegionNetworkEndpointGroupRequest{Project: project, Region: "europe-west1",
		NetworkEndpointGroupResource: &computepb.NetworkEndpointGroup{Name: proto.String("neg2"),
			NetworkEndpointType: proto.String("SERVERLESS"), CloudRun: &computepb.NetworkEndpointGroupCloudRun{Service: proto.String("relay")}}})
	if ge := apiErr(t, err); ge.Code != 503 || !strings.Contains(ge.Message, "europe-west1") {
		t.Fatalf("NEG insert in a down region: %v", err)
	}
	refused := false
	for _, le := range e.ops.Oplog() {
		if le.Method == "compute.regionNetworkEndpointGroups.insert" && le.Resource == "projects/demo/regions/europe-west1/networkEndpointGroups/neg2" &&
			strings.HasPrefix(le.Outcome, "HTTP 503: ") {
			refused = true
		}
	}
	if !refused {
		t.Fatalf("refused NEG insert not in the operation log: %+v", e.ops.Oplog())
	}
	// The Go client retries GET on 503 (until its 10 minute default
	// timeout): look at the first answer without retries...
	noRetry := gax.WithRetry(func() gax.Retryer { return nil })
	getNEG := &computepb.GetRegionNetworkEndpointGroupRequest{Project: project, Region: "europe-west1", NetworkEndpointGroup: "neg-europe-west1"}
	_, err = e.negs.Get(ctx, getNEG, noRetry)
	if ge := apiErr(t, err); ge.Code != 503 || !strings.Contains(ge.Message, "europe-west1") {
		t.Fatalf("NEG get in a down region: %v", err)
	}
	_, err = e.regOps.Get(ctx, &computepb.GetRegionOperationRequest{Project: project, Region: "europe-west1", Operation: "operation-1"}, noRetry)
	if ge := apiErr(t, err); ge.Code != 503 || !strings.Contains(ge.Message, "europe-west1") {
		t.Fatalf("regional operation get in a down region: %v", err)
	}
	// ... and with the default retries, a GET started during the outage
	// succeeds once the region is back.
	go func() {
		time.Sleep(300 * time.Millisecond)
		e.setDown("europe-west1", false)
	}()
	if _, err := e.negs.Get(ctx, getNEG); err != nil {
		t.Fatalf("NEG get across the end of an outage: %v", err)
	}
	e.setDown("europe-west1", true)
	if _, err := e.negs.Get(ctx, &computepb.GetRegionNetworkEndpointGroupRequest{Project: project, Region: "us-east1", NetworkEndpointGroup: "neg-us-east1"}); err != nil {
		t.Fatalf("NEG get in a region that is up: %v", err)
	}
	e.setWeights(100, 0) // global, works
	if _, err := e.bes.Get(ctx, &computepb.GetBackendServiceRequest{Project: project, BackendService: "be-europe-west1"}); err != nil {
		t.Fatal(err)
	}
	// The front door answers 503 for a backend in a down region.
	e.setWeights(0, 100)
	resp, err = http.Get("http://" + e.frontDoor() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(msg), "europe-west1") {
		t.Fatalf("front door to a down region: %d %s", resp.StatusCode, msg)
	}
	e.setDown("europe-west1", false)

	// A backend that refuses: 502, no retry elsewhere.
	e.backends["europe-west1"].srv.Close()
	resp, err = http.Get("http://" + e.frontDoor() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("front door to a refusing backend: %d", resp.StatusCode)
	}

	// Lists and operations.
	n := 0
	it := e.urlMaps.List(ctx, &computepb.ListUrlMapsRequest{Project: project})
	for {
		_, err := it.Next()
		if err != nil {
			break
		}
		n++
	}
	if n != 1 {
		t.Fatalf("url maps listed: %d", n)
	}
}

func TestTeardownClosesFrontDoor(t *testing.T) {
	e := newEnv(t, t.TempDir(), newBackends(t))
	addr := e.setup(0, 100)
	held, _ := dial(t, addr)
	defer func() { _ = held.CloseNow() }() // only says whether it was closed already
	ctx := context.Background()
	e.wait(e.rules.Delete(ctx, &computepb.DeleteGlobalForwardingRuleRequest{Project: project, ForwardingRule: "lb-rule"}))
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, _, err := held.Read(rctx); err == nil {
		t.Fatal("a WebSocket through a deleted forwarding rule stays open")
	}
	if c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr); err == nil {
		c.Close()
		t.Fatal("front door still listening after the forwarding rule was deleted")
	}
	e.wait(e.proxies.Delete(ctx, &computepb.DeleteTargetHttpProxyRequest{Project: project, TargetHttpProxy: "lb-proxy"}))
	e.wait(e.urlMaps.Delete(ctx, &computepb.DeleteUrlMapRequest{Project: project, UrlMap: "lb"}))
	for _, r := range regions {
		e.wait(e.bes.Delete(ctx, &computepb.DeleteBackendServiceRequest{Project: project, BackendService: "be-" + r}))
		e.wait(e.negs.Delete(ctx, &computepb.DeleteRegionNetworkEndpointGroupRequest{Project: project, Region: r, NetworkEndpointGroup: "neg-" + r}))
	}
	_, err := e.urlMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: project, UrlMap: "lb"})
	if ge := apiErr(t, err); ge.Code != 404 {
		t.Fatalf("get deleted url map: %v", err)
	}
}

func TestRestartKeepsResourcesAndPort(t *testing.T) {
	dir := t.TempDir()
	backends := newBackends(t)
	e := newEnv(t, dir, backends)
	addr := e.setup(100, 0)
	e.setWeights(30, 70)
	e.close()

	e2 := newEnv(t, dir, backends)
	if got := e2.frontDoor(); got != addr {
		t.Fatalf("front door after restart at %s, was %s", got, addr)
	}
	um, err := e2.urlMaps.Get(context.Background(), &computepb.GetUrlMapRequest{Project: project, UrlMap: "lb"})
	if err != nil {
		t.Fatal(err)
	}
	ws := um.GetDefaultRouteAction().GetWeightedBackendServices()
	if len(ws) != 2 || ws[0].GetWeight() != 30 || ws[1].GetWeight() != 70 {
		t.Fatalf("weights after restart: %v", ws)
	}
	got := countRegions(t, addr, 10)
	if got[regions[0]] != 3 || got[regions[1]] != 7 {
		t.Fatalf("30/70 after restart: %v", got)
	}
	// Operations of the previous run are still readable.
	if _, err := os.Stat(filepath.Join(dir, "compute", "compute.json")); err != nil {
		t.Fatal(err)
	}
	e2.setWeights(0, 100)
}

func TestRestartMovesFrontDoorWhenPortTaken(t *testing.T) {
	dir := t.TempDir()
	backends := newBackends(t)
	e := newEnv(t, dir, backends)
	addr := e.setup(0, 100)
	e.close()

	squatter, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	e2 := newEnv(t, dir, backends)
	moved := e2.frontDoor()
	if moved == addr {
		t.Fatalf("front door reported on %s, which another listener holds", addr)
	}
	if got := countRegions(t, moved, 4); got[regions[1]] != 4 {
		t.Fatalf("connections through the moved front door: %v", got)
	}
	var st compute.Status
	getJSON(t, e2.api.URL+"/_localcloud/compute", &st)
	if len(st.FrontDoors) != 1 || st.FrontDoors[0].Address != moved {
		t.Fatalf("admin front doors: %+v", st.FrontDoors)
	}
}

func TestSetUrlMapSetTargetAndBackendServiceUpdates(t *testing.T) {
	e := newEnv(t, t.TempDir(), newBackends(t))
	addr := e.setup(100, 0)
	ctx := context.Background()
	a, b := regions[0], regions[1]

	// A second URL map straight to region B, swapped in with setUrlMap.
	e.wait(e.urlMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: project,
		UrlMapResource: &computepb.UrlMap{Name: proto.String("direct-b"), DefaultService: proto.String("global/backendServices/be-" + b)}}))
	e.wait(e.proxies.SetUrlMap(ctx, &computepb.SetUrlMapTargetHttpProxyRequest{Project: project, TargetHttpProxy: "lb-proxy",
		UrlMapReferenceResource: &computepb.UrlMapReference{UrlMap: proto.String("global/urlMaps/direct-b")}}))
	if got := countRegions(t, addr, 5); got[b] != 5 {
		t.Fatalf("after setUrlMap: %v", got)
	}
	// The URL map in use cannot be deleted; the one no longer in use can.
	_, err := e.urlMaps.Delete(ctx, &computepb.DeleteUrlMapRequest{Project: project, UrlMap: "direct-b"})
	if ge := apiErr(t, err); ge.Code != 400 || ge.Errors[0].Reason != "resourceInUseByAnotherResource" {
		t.Fatalf("delete url map in use: %v", err)
	}

	// A second proxy on the first URL map, swapped in with setTarget.
	e.wait(e.proxies.Insert(ctx, &computepb.InsertTargetHttpProxyRequest{Project: project,
		TargetHttpProxyResource: &computepb.TargetHttpProxy{Name: proto.String("proxy-2"), UrlMap: proto.String("global/urlMaps/lb")}}))
	e.wait(e.rules.SetTarget(ctx, &computepb.SetTargetGlobalForwardingRuleRequest{Project: project, ForwardingRule: "lb-rule",
		TargetReferenceResource: &computepb.TargetReference{Target: proto.String("global/targetHttpProxies/proxy-2")}}))
	if got := countRegions(t, addr, 5); got[a] != 5 {
		t.Fatalf("after setTarget: %v", got)
	}
	if e.frontDoor() != addr {
		t.Fatal("setTarget moved the front door")
	}

	// Backend services: fingerprint optional on patch, checked when sent.
	bs, err := e.bes.Get(ctx, &computepb.GetBackendServiceRequest{Project: project, BackendService: "be-" + a})
	if err != nil {
		t.Fatal(err)
	}
	if bs.GetBackends()[0].GetGroup() != "https://www.googleapis.com/compute/v1/projects/demo/regions/"+a+"/networkEndpointGroups/neg-"+a {
		t.Fatalf("stored group reference: %s", bs.GetBackends()[0].GetGroup())
	}
	e.wait(e.bes.Patch(ctx, &computepb.PatchBackendServiceRequest{Project: project, BackendService: "be-" + a,
		BackendServiceResource: &computepb.BackendService{OutlierDetection: &computepb.OutlierDetection{ConsecutiveErrors: proto.Int32(3)}}}))
	_, err = e.bes.Update(ctx, &computepb.UpdateBackendServiceRequest{Project: project, BackendService: "be-" + a,
		BackendServiceResource: &computepb.BackendService{Name: proto.String("be-" + a), Fingerprint: bs.Fingerprint, Backends: bs.Backends}})
	if ge := apiErr(t, err); ge.Code != 412 {
		t.Fatalf("backend service update with a stale fingerprint: %v", err)
	}
	now, err := e.bes.Get(ctx, &computepb.GetBackendServiceRequest{Project: project, BackendService: "be-" + a})
	if err != nil {
		t.Fatal(err)
	}
	if now.GetOutlierDetection().GetConsecutiveErrors() != 3 || len(now.GetBackends()) != 1 || now.GetLoadBalancingScheme() != "EXTERNAL_MANAGED" {
		t.Fatalf("patch lost fields: %v", now)
	}
	_, err = e.bes.Patch(ctx, &computepb.PatchBackendServiceRequest{Project: project, BackendService: "be-" + a,
		BackendServiceResource: &computepb.BackendService{Backends: []*computepb.Backend{{Group: proto.String("regions/" + a + "/networkEndpointGroups/nope")}}}})
	if ge := apiErr(t, err); ge.Code != 400 || !strings.Contains(ge.Message, "'resource.backends[0].group'") {
		t.Fatalf("backend on an unknown NEG: %v", err)
	}

	// Lists page through the official iterator.
	it := e.bes.List(ctx, &computepb.ListBackendServicesRequest{Project: project, MaxResults: proto.Uint32(1)})
	var names []string
	for {
		bs, err := it.Next()
		if err != nil {
			break
		}
		names = append(names, bs.GetName())
	}
	if strings.Join(names, ",") != "be-europe-west1,be-us-east1" {
		t.Fatalf("listed backend services: %v", names)
	}
	ops := e.globOps.List(ctx, &computepb.ListGlobalOperationsRequest{Project: project})
	n := 0
	for {
		op, err := ops.Next()
		if err != nil {
			break
		}
		if op.GetStatus() != computepb.Operation_DONE {
			t.Fatalf("operation %s: %v", op.GetName(), op.GetStatus())
		}
		n++
	}
	if n < 8 {
		t.Fatalf("global operations listed: %d", n)
	}
}

func TestConcurrentConnectionsDuringWeightChanges(t *testing.T) {
	e := newEnv(t, t.TempDir(), newBackends(t))
	addr := e.setup(100, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
				if err != nil {
					cancel()
					errs <- err
					return
				}
				_, _, err = c.Read(ctx)
				c.Close(websocket.StatusNormalClosure, "")
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 5 {
		e.setWeights(uint32(100-20*i), uint32(20*i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The front door counts a connection closed once it has seen the close,
	// which may be just after the client returns: give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var st compute.Status
		getJSON(t, e.api.URL+"/_localcloud/compute", &st)
		total, active := int64(0), int64(0)
		for _, b := range st.FrontDoors[0].Backends {
			total += b.Requests
			active += b.Active
			if b.Errors != 0 {
				t.Fatalf("backend counts: %+v", b)
			}
		}
		if total != 80 {
			t.Fatalf("requests counted: %d, want 80", total)
		}
		if active == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connection(s) still counted active 5s after every client closed: %+v", active, st.FrontDoors[0].Backends)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
