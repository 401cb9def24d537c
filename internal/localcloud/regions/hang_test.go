package regions

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/apipb"
)

func newController(t *testing.T) *Controller {
	t.Helper()
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(store)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A request for a hanging region gets no answer until its caller's deadline.
func TestHangHoldsUntilTheCallerGivesUp(t *testing.T) {
	c := newController(t)
	if _, err := c.SetDownAPI(context.Background(), "europe-west1", APIHang); err != nil {
		t.Fatal(err)
	}
	called := false
	handler := func(ctx context.Context, req any) (any, error) { called = true; return nil, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	// apipb.Api has a top-level "name" field, enough for the interceptor.
	_, err := c.Interceptor()(ctx, &apipb.Api{Name: "projects/p/locations/europe-west1/services/s"}, &grpc.UnaryServerInfo{}, handler)
	if status.Code(err) != codes.DeadlineExceeded || called {
		t.Fatalf("hanging region: err %v (code %v), handler called %v; want DEADLINE_EXCEEDED without calling the handler", err, status.Code(err), called)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("answered after %v, before the caller's deadline", took)
	}
	// Other regions answer.
	if _, err := c.Interceptor()(context.Background(), &apipb.Api{Name: "projects/p/locations/us-central1/services/s"}, &grpc.UnaryServerInfo{}, handler); err != nil || !called {
		t.Fatalf("region that is up: err %v, handler called %v", err, called)
	}
}

// A held request proceeds once the region comes back, and answers
// UNAVAILABLE when the region switches to refusing.
func TestHangReleasedByRegionUpOrModeChange(t *testing.T) {
	c := newController(t)
	ctx := context.Background()
	if _, err := c.SetDownAPI(ctx, "asia-east1", APIHang); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Interceptor()(ctx, &apipb.Api{Name: "projects/p/locations/asia-east1/instances/i"}, &grpc.UnaryServerInfo{},
			func(context.Context, any) (any, error) { return nil, nil })
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	res, err := c.SetDownAPI(ctx, "asia-east1", APIUnavailable)
	if err != nil || res.API != APIUnavailable {
		t.Fatalf("switching to unavailable: %+v, %v", res, err)
	}
	select {
	case err := <-done:
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("after the switch: %v, want UNAVAILABLE", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("held request not released by the mode change")
	}

	if _, err := c.SetDownAPI(ctx, "asia-east1", APIHang); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := c.Interceptor()(ctx, &apipb.Api{Name: "projects/p/locations/asia-east1/instances/i"}, &grpc.UnaryServerInfo{},
			func(context.Context, any) (any, error) { return nil, nil })
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := c.SetUp(ctx, "asia-east1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after region-up: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("held request not released by region-up")
	}
}

func TestHoldHTTP(t *testing.T) {
	c := newController(t)
	if _, err := c.SetDownAPI(context.Background(), "europe-west1", APIHang); err != nil {
		t.Fatal(err)
	}
	h := c.HoldHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/compute/v1/projects/p/regions/europe-west1/networkEndpointGroups/n", nil).WithContext(ctx))
	if rec.Code == http.StatusTeapot || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("regional path of a hanging region was served (%d)", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/compute/v1/projects/p/global/urlMaps/m", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("global path: %d, want it served", rec.Code)
	}
}

func TestParseAPIMode(t *testing.T) {
	for in, want := range map[string]APIMode{"": APIUnavailable, "unavailable": APIUnavailable, "hang": APIHang} {
		if got, err := ParseAPIMode(in); err != nil || got != want {
			t.Errorf("ParseAPIMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseAPIMode("slow"); err == nil {
		t.Error("ParseAPIMode(slow) accepted")
	}
}
