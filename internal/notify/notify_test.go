package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint that records the bodies it accepted and
// answers the first failFirst requests with status.
type receiver struct {
	mu        sync.Mutex
	bodies    []string
	requests  int
	failFirst int
	status    int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.requests <= r.failFirst {
		w.WriteHeader(r.status)
		return
	}
	if req.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	r.bodies = append(r.bodies, string(b))
}

func start(t *testing.T, r *receiver) string {
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL + "/services/T000/B000/secret-token"
}

var fast = Sender{MinWait: 5 * time.Millisecond, MaxWait: 20 * time.Millisecond, Deadline: 5 * time.Second}

func event(kind string) Event {
	return Event{Kind: kind, Subject: "relay", Summary: "Failover of relay: europe-west1 drained", At: time.Unix(1700000000, 0),
		Details: map[string]string{"drained": "europe-west1", "serving": "us-central1"}}
}

func TestSendInOrderBothFormats(t *testing.T) {
	slack, plain := &receiver{}, &receiver{}
	targets := []Target{{URL: start(t, slack), Format: Slack}, {URL: start(t, plain), Format: JSON}}
	for _, k := range []string{FailoverStarted, FailoverEnded} {
		if f := fast.Send(context.Background(), targets, event(k)); f != nil {
			t.Fatalf("Send(%s) = %v", k, f)
		}
	}
	if len(slack.bodies) != 2 || len(plain.bodies) != 2 {
		t.Fatalf("bodies: slack %d, json %d; want 2 each", len(slack.bodies), len(plain.bodies))
	}
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(slack.bodies[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m.Text != "Failover of relay: europe-west1 drained" || len(m.Blocks) != 3 || m.Blocks[2].Type != "context" {
		t.Errorf("slack body = %s", slack.bodies[0])
	}
	for i, want := range []string{FailoverStarted, FailoverEnded} {
		var ev Event
		if err := json.Unmarshal([]byte(plain.bodies[i]), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind != want || ev.Subject != "relay" || ev.Details["drained"] != "europe-west1" || !ev.At.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("json body %d = %s, want event %s", i, plain.bodies[i], want)
		}
	}
}

func TestSendRetriesServerErrors(t *testing.T) {
	r := &receiver{failFirst: 2, status: http.StatusServiceUnavailable}
	if f := fast.Send(context.Background(), []Target{{URL: start(t, r), Format: JSON}}, event(FailoverStarted)); f != nil {
		t.Fatalf("Send = %v", f)
	}
	if r.requests != 3 || len(r.bodies) != 1 {
		t.Errorf("requests %d, accepted %d; want 3 and 1", r.requests, len(r.bodies))
	}
}

func TestSendReportsWithoutTheSecret(t *testing.T) {
	down := &receiver{failFirst: 100, status: http.StatusInternalServerError}
	gone := &receiver{failFirst: 100, status: http.StatusNotFound}
	ok := &receiver{}
	targets := []Target{{URL: start(t, down)}, {URL: start(t, gone)}, {URL: start(t, ok)}}
	f := fast.Send(context.Background(), targets, event(FailoverEnded))
	if len(f) != 2 {
		t.Fatalf("failures = %v, want 2", f)
	}
	if f[0].Attempts != 4 || down.requests != 4 || !strings.Contains(f[0].Error(), "500") {
		t.Errorf("server error: %v after %d requests; want 4 attempts and the status", f[0], down.requests)
	}
	// A 404 will not change: no retry.
	if f[1].Attempts != 1 || gone.requests != 1 || !strings.Contains(f[1].Error(), "404") {
		t.Errorf("not found: %v after %d requests; want 1 attempt", f[1], gone.requests)
	}
	for _, x := range f {
		if strings.Contains(x.Error(), "secret-token") || !strings.HasPrefix(x.Target, "http://127.0.0.1:") {
			t.Errorf("failure %q: want the host only", x.Error())
		}
	}
	// The failures did not stop the next target.
	if len(ok.bodies) != 1 {
		t.Errorf("the healthy target got %d bodies, want 1", len(ok.bodies))
	}
}

func TestSendGivesUpAtTheDeadline(t *testing.T) {
	r := &receiver{failFirst: 1000, status: http.StatusBadGateway}
	s := Sender{Attempts: 1000, MinWait: 50 * time.Millisecond, MaxWait: 50 * time.Millisecond, Deadline: 400 * time.Millisecond}
	began := time.Now()
	f := s.Send(context.Background(), []Target{{URL: start(t, r), Format: Slack}}, event(FailoverStarted))
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Send took %s, deadline 400ms", took)
	}
	if len(f) != 1 || f[0].Attempts < 2 || f[0].Attempts > 12 {
		t.Errorf("failures = %v, want one after a few attempts", f)
	}
}

func TestSendUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook"
	srv.Close()
	f := fast.Send(context.Background(), []Target{{URL: url, Format: JSON}}, event(FailoverStarted))
	if len(f) != 1 || !strings.Contains(f[0].Error(), "refused") {
		t.Errorf("failures = %v, want connection refused", f)
	}
}

func TestBodyRejectsUnknownFormat(t *testing.T) {
	if _, err := Body("xml", event(FailoverStarted)); err == nil || !strings.Contains(err.Error(), "slack json") {
		t.Errorf("Body(xml) error = %v, want the accepted values", err)
	}
}
