package resources

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// frontDoorAt stands for a front door answering /ready with the generation
// answer gives for the region header ("" unpinned; -1: no header, as a
// front door answering for a region that is down).
func frontDoorAt(t *testing.T, answer func(region string) int64) *prober {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := answer(r.Header.Get(regionHeader)); g >= 0 {
			w.Header().Set(generationHeader, strconv.FormatInt(g, 10))
			return
		}
		http.Error(w, "no backend", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return &prober{url: srv.URL, timeout: time.Second, roots: roots, serverName: "example.com", liveTimeout: 500 * time.Millisecond}
}

func TestAwaitLive(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	// Generation 4 reaches the front door after a few round trips.
	p := frontDoorAt(t, func(string) int64 {
		if calls.Add(1) < 4 {
			return 3
		}
		return 4
	})
	p.liveTimeout = 10 * time.Second
	if _, err := p.awaitLive(ctx, 4, true, []string{"us-central1"}); err != nil || calls.Load() < 3+2*liveConfirmations {
		t.Fatalf("a change that becomes live: %v after %d round trips", err, calls.Load())
	}

	// A region that does not answer is left to its health check once the
	// weighted route shows the change; one answering with an older
	// generation is not.
	p = frontDoorAt(t, func(region string) int64 {
		switch region {
		case "asia-east1":
			return -1
		case "europe-west1":
			return 3
		}
		return 4
	})
	if _, err := p.awaitLive(ctx, 4, true, []string{"asia-east1"}); err != nil {
		t.Fatalf("a region down: %v", err)
	}
	_, err := p.awaitLive(ctx, 4, true, []string{"europe-west1"})
	if err == nil || !strings.Contains(err.Error(), "new connections pinned to europe-west1 through the front door did not follow URL map generation 4 within 500ms (responses still carried generation 3)") {
		t.Fatalf("a region still routed by the old URL map: %v", err)
	}

	// The apply's error names the step and what it means.
	w := &urlMapWriter{m: &failoverGroupModel{Name: types.StringValue("relay")}, p: frontDoorAt(t, func(string) int64 { return 3 }),
		applied: map[string]int64{"us-central1": 100, "asia-east1": 50}, generation: 4}
	var diags diag.Diagnostics
	if w.awaitLive(ctx, []string{"asia-east1"}, "Step 2 of the return of asia-east1 (weight 50)", "Its soak did not start.", &diags) || !diags.HasError() {
		t.Fatal("a change never live was taken for live")
	}
	d := diags.Errors()[0]
	if d.Summary() != "Step 2 of the return of asia-east1 (weight 50) not live" ||
		!strings.Contains(d.Detail(), "was accepted by the load balancer (URL map relay, generation 4), but new connections through the front door did not follow") ||
		!strings.HasSuffix(d.Detail(), "Its soak did not start.") {
		t.Fatalf("error: %s: %s", d.Summary(), d.Detail())
	}
}
