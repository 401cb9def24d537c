package gcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "x"), true},
		{status.Error(codes.DeadlineExceeded, "x"), true},
		{status.Error(codes.ResourceExhausted, "x"), true},
		{fmt.Errorf("wrapped: %w", status.Error(codes.Unavailable, "x")), true},
		{status.Error(codes.NotFound, "x"), false},
		{status.Error(codes.InvalidArgument, "x"), false},
		{status.Error(codes.PermissionDenied, "x"), false},
		{status.Error(codes.Internal, "x"), false},
		{&googleapi.Error{Code: 429}, true},
		{&googleapi.Error{Code: 500}, true},
		{&googleapi.Error{Code: 502}, true},
		{&googleapi.Error{Code: 503}, true},
		{&googleapi.Error{Code: 504}, true},
		{&googleapi.Error{Code: 400}, false},
		{&googleapi.Error{Code: 403}, false},
		{&googleapi.Error{Code: 404}, false},
		{&googleapi.Error{Code: 409}, false},
		{&url.Error{Op: "Get", URL: "u", Err: io.ErrUnexpectedEOF}, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{&RegionOutageError{Code: codes.Unavailable}, false},
		{nil, false},
	} {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestIsRegionOutage(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "x"), true},
		{status.Error(codes.DeadlineExceeded, "x"), true},
		{fmt.Errorf("reading: %w", context.DeadlineExceeded), true},
		{&url.Error{Op: "Get", URL: "u", Err: &RegionOutageError{Code: codes.DeadlineExceeded}}, true},
		{&googleapi.Error{Code: 503}, true},
		{&googleapi.Error{Code: 504}, true},
		{status.Error(codes.ResourceExhausted, "x"), false}, // quota: the region answered
		{&googleapi.Error{Code: 429}, false},
		{status.Error(codes.NotFound, "x"), false},
		{context.Canceled, false},
	} {
		if got := IsRegionOutage(c.err); got != c.want {
			t.Errorf("IsRegionOutage(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// The backoff grows, is capped, and is jittered (never above the cap, not
// always the same).
func TestBackoffCapped(t *testing.T) {
	bo := DefaultBackoff
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		d := bo.Pause()
		if d <= 0 || d > DefaultBackoff.Max {
			t.Fatalf("pause %d is %v, outside (0, %v]", i, d, DefaultBackoff.Max)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("pauses are not jittered: %v", seen)
	}
}

// testPolicy is fast: short attempts and pauses.
func testPolicy() Policy {
	return Policy{RequestTimeout: 2 * time.Second, ReadAttemptTimeout: 100 * time.Millisecond, MaxAttempts: 4,
		Backoff: gax.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}}.withDefaults()
}

// hang blocks until the attempt's deadline, as a region whose API hangs.
func hang(ctx context.Context) error {
	<-ctx.Done()
	return status.FromContextError(ctx.Err()).Err()
}

func warmHealth(api string) *regionHealth {
	h := newRegionHealth()
	h.markWarm(api)
	return h
}

func TestRunRetriesTransientReads(t *testing.T) {
	p, h := testPolicy(), warmHealth("A")
	var n int
	err := p.run(context.Background(), h, call{api: "A", region: "r1", read: true}, func(context.Context) error {
		if n++; n < 3 {
			return status.Error(codes.Unavailable, "blip")
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d attempts; want success on the third", err, n)
	}

	n = 0
	err = p.run(context.Background(), h, call{api: "A", region: "r1", read: true}, func(context.Context) error {
		n++
		return status.Error(codes.Unavailable, "down")
	})
	if status.Code(err) != codes.Unavailable || n != p.MaxAttempts {
		t.Fatalf("err %v after %d attempts; want UNAVAILABLE after %d", err, n, p.MaxAttempts)
	}

	n = 0
	err = p.run(context.Background(), h, call{api: "A", region: "r2", read: true}, func(context.Context) error {
		n++
		return status.Error(codes.NotFound, "gone")
	})
	if status.Code(err) != codes.NotFound || n != 1 {
		t.Fatalf("NOT_FOUND: err %v after %d attempts; want it at once", err, n)
	}
}

func TestRunNeverRetriesMutations(t *testing.T) {
	p, h := testPolicy(), warmHealth("A")
	var n int
	err := p.run(context.Background(), h, call{api: "A", region: "r1"}, func(context.Context) error {
		n++
		return status.Error(codes.Unavailable, "down")
	})
	if status.Code(err) != codes.Unavailable || n != 1 {
		t.Fatalf("mutation: err %v after %d attempts; want one attempt", err, n)
	}
}

// A region that has not answered in this run is given one attempt; then it
// is out: later calls to it fail at once, until a probe finds it back.
func TestRunHungRegionCostsOneAttempt(t *testing.T) {
	p, h := testPolicy(), warmHealth("A")
	var n atomic.Int32
	start := time.Now()
	err := p.run(context.Background(), h, call{api: "A", region: "hung", read: true}, func(ctx context.Context) error {
		n.Add(1)
		return hang(ctx)
	})
	var out *RegionOutageError
	if !errors.As(err, &out) || status.Code(err) != codes.DeadlineExceeded || !IsRegionOutage(err) || n.Load() != 1 {
		t.Fatalf("hung region: %v (%d attempts); want one attempt ending in a DEADLINE_EXCEEDED region outage", err, n.Load())
	}
	if took := time.Since(start); took > 5*p.ReadAttemptTimeout {
		t.Fatalf("took %v", took)
	}
	// Out: the next call fails at once, without calling.
	err = p.run(context.Background(), h, call{api: "A", region: "hung", read: true}, func(ctx context.Context) error {
		n.Add(1)
		return nil
	})
	if !errors.As(err, &out) || n.Load() != 1 {
		t.Fatalf("call to a region out: %v (%d attempts); want a region outage without a call", err, n.Load())
	}
	// Other regions are not affected.
	if err := p.run(context.Background(), h, call{api: "A", region: "fine", read: true}, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// After the probe interval one probe goes through; an answer brings the
	// region back.
	h.mu.Lock()
	h.out["hung"].lastTry = time.Now().Add(-probeInterval)
	h.mu.Unlock()
	if err := p.run(context.Background(), h, call{api: "A", region: "hung", read: true}, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("probe of a region back: %v", err)
	}
	if ok, _, _ := h.outage("hung"); ok {
		t.Fatal("region still out after answering")
	}
}

// A slow attempt in a region that has answered before is retried.
func TestRunRetriesTimeoutOfAnsweringRegion(t *testing.T) {
	p, h := testPolicy(), warmHealth("A")
	h.markAnswered("slow")
	var n int
	err := p.run(context.Background(), h, call{api: "A", region: "slow", read: true}, func(ctx context.Context) error {
		if n++; n == 1 {
			return hang(ctx)
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("err %v after %d attempts; want success on the second", err, n)
	}
}

// Before its API has answered anything, an attempt may take longer than the
// read attempt timeout (the connection is being set up), and is cut as soon
// as another call shows the API answering.
func TestRunColdAPIWaitsLonger(t *testing.T) {
	p, h := testPolicy(), newRegionHealth()
	slow := 3 * p.ReadAttemptTimeout
	err := p.run(context.Background(), h, call{api: "A", region: "r1", read: true}, func(ctx context.Context) error {
		select {
		case <-time.After(slow):
			return nil
		case <-ctx.Done():
			return hang(ctx)
		}
	})
	if err != nil {
		t.Fatalf("first call, slower than the attempt timeout: %v", err)
	}

	h = newRegionHealth()
	go func() {
		time.Sleep(2 * p.ReadAttemptTimeout)
		h.markWarm("A")
	}()
	start := time.Now()
	err = p.run(context.Background(), h, call{api: "A", region: "hung", read: true}, hang)
	if !IsRegionOutage(err) {
		t.Fatalf("hung cold region: %v", err)
	}
	if took := time.Since(start); took > 2*p.ReadAttemptTimeout+500*time.Millisecond {
		t.Fatalf("hung cold region cut %v after start; want soon after the API answered another call", took)
	}
}

// The caller's own deadline or cancellation says nothing about the region.
func TestRunCallerGivesUp(t *testing.T) {
	p, h := testPolicy(), warmHealth("A")
	ctx, cancel := context.WithTimeout(context.Background(), p.ReadAttemptTimeout/2)
	defer cancel()
	if err := p.run(ctx, h, call{api: "A", region: "r1", read: true}, hang); err == nil {
		t.Fatal("a call that hung past its caller's deadline succeeded")
	}
	if ok, _, _ := h.outage("r1"); ok {
		t.Fatal("a call the caller gave up on put the region out")
	}
}

// request_timeout bounds the whole call, retries included.
func TestRunRequestTimeoutBoundsRetries(t *testing.T) {
	p := testPolicy()
	p.RequestTimeout, p.MaxAttempts = 300*time.Millisecond, 1000
	p.Backoff = gax.Backoff{Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 1}
	h := warmHealth("A")
	start := time.Now()
	err := p.run(context.Background(), h, call{api: "A", read: true}, func(context.Context) error {
		return &googleapi.Error{Code: http.StatusServiceUnavailable}
	})
	if err == nil || time.Since(start) > p.RequestTimeout+100*time.Millisecond {
		t.Fatalf("err %v after %v; want a failure within request_timeout %v", err, time.Since(start), p.RequestTimeout)
	}
}

// A region an earlier run found out (a plan, for its apply) is taken as out
// without a call; it is probed like any region out, an answer of this run
// brings it back, and nothing this run has seen is overridden.
func TestAssumedRegionOutIsNotCalledFirst(t *testing.T) {
	p, h := testPolicy(), warmHealth("A")
	since := time.Now().Add(-30 * time.Second)
	if !h.assumeOut("down", since, errors.New("did not answer within 1s")) {
		t.Fatal("assumeOut refused a region this run knows nothing of")
	}
	var n atomic.Int32
	err := p.run(context.Background(), h, call{api: "A", region: "down", read: true}, func(ctx context.Context) error {
		n.Add(1)
		return hang(ctx)
	})
	var out *RegionOutageError
	if !errors.As(err, &out) || !IsRegionOutage(err) || n.Load() != 0 {
		t.Fatalf("call to a region assumed out: %v (%d attempts); want a region outage without a call", err, n.Load())
	}
	if o := h.outages()["down"]; !o.Assumed || !o.Since.Equal(since) {
		t.Fatalf("outages() = %+v; want the assumed outage found at %v", o, since)
	}
	// The probe after the interval is a real call: a region that answers
	// is back.
	h.mu.Lock()
	h.out["down"].lastTry = time.Now().Add(-probeInterval)
	h.mu.Unlock()
	if err := p.run(context.Background(), h, call{api: "A", region: "down", read: true}, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("probe of a region back: %v", err)
	}
	if _, still := h.outages()["down"]; still {
		t.Fatal("region still out after answering")
	}
	// What this run has seen stands: a region that answered, or that it
	// found out itself, is not assumed out.
	if h.assumeOut("down", since, errors.New("old news")) {
		t.Fatal("assumeOut overrode an answer of this run")
	}
	h.markOut("seen", status.Error(codes.Unavailable, "down"))
	if h.assumeOut("seen", since, errors.New("old news")) || h.outages()["seen"].Assumed {
		t.Fatal("assumeOut overrode an outage this run found")
	}
	// unassume drops only an assumed outage: the next call is made.
	h.assumeOut("maybe", since, errors.New("old news"))
	h.unassume("maybe")
	h.unassume("seen")
	if _, ok := h.outages()["maybe"]; ok {
		t.Fatal("unassume left an assumed outage")
	}
	if _, ok := h.outages()["seen"]; !ok {
		t.Fatal("unassume dropped an outage this run found")
	}
}
