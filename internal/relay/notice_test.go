package relay_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gcsapi "cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
	"github.com/agentnet/terraform-provider-agentnet/internal/statuspage"
)

// statusObject is a status page's JSON feed in localcloud's Cloud Storage
// (the emulator in process), written as agentnet_status_page publishes it.
type statusObject struct {
	t    *testing.T
	svc  *storage.Service
	addr string
}

const noticeBucket, noticeObject = "status-page", "status/feed.json"

func newStatusObject(t *testing.T) *statusObject {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := storage.New(filepath.Join(t.TempDir(), "gcs"), ln.Addr().String(), relaytest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: svc.Handler()}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("storage server: %v", err)
		}
	}()
	t.Cleanup(func() { hs.Close(); svc.Close() })
	if err := svc.CreateBucket(noticeBucket); err != nil {
		t.Fatal(err)
	}
	return &statusObject{t: t, svc: svc, addr: ln.Addr().String()}
}

// publish writes the feed with the calendar in the given state.
func (o *statusObject) publish(calendarState, message string) {
	o.t.Helper()
	doc, err := statuspage.JSONFeed(statuspage.Page{Title: "Status", BaseURL: "http://status/", Components: []statuspage.Component{
		{Name: "us-central1", Group: statuspage.GroupRegion, State: statuspage.Operational},
		{Name: "identity-provider", Group: statuspage.GroupDependency, State: statuspage.Operational},
		{Name: "calendar", Group: statuspage.GroupDependency, State: calendarState, Message: message},
	}})
	if err != nil {
		o.t.Fatal(err)
	}
	if err := o.svc.WriteObject(noticeBucket, noticeObject, bytes.NewReader(doc), statuspage.JSONFeedContentType); err != nil {
		o.t.Fatal(err)
	}
}

func (o *statusObject) relayConfig(t *testing.T) func(*relay.Config) {
	src, err := relay.NewStorageNoticeSource(context.Background(), "gs://"+noticeBucket+"/"+noticeObject, o.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return func(c *relay.Config) { c.Notices = src }
}

// noticeWatch records when a client got each calendar state.
type noticeWatch struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (w *noticeWatch) handler(n client.DependencyNotice) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := n.State("calendar"); s != "" {
		if _, ok := w.at[s]; !ok {
			w.at[s] = time.Now()
		}
	}
}

func (w *noticeWatch) got(state string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.at[state]
	return at, ok
}

// wait fails the test unless the calendar's state arrives within a second.
func (w *noticeWatch) wait(t *testing.T, state, failure string) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := w.got(state); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(failure)
		}
	}
}

// TestDependencyNotice: a change of the published status reaches every
// connected agent within a second, while they exchange envelopes; a new
// agent is greeted with the current notice; an unreadable status keeps the
// last notice.
func TestDependencyNotice(t *testing.T) {
	// Not in parallel: it holds the notice to a 1 s bound.
	e := newEnv(t)
	obj := newStatusObject(t)
	obj.publish(statuspage.Operational, "")
	rd := relaytest.NewRedis(t)
	r1 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, obj.relayConfig(t))
	r2 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, obj.relayConfig(t))
	dial := func(sub, url string, w *noticeWatch) *client.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, []string{url}, client.StaticToken(relaytest.Token(t, e.keys, sub)), client.WithNoticeHandler(w.handler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var watches []*noticeWatch
	var clients []*client.Client
	for i, sub := range []string{"alice", "bob", "carol", "dave"} {
		w := &noticeWatch{at: map[string]time.Time{}}
		watches = append(watches, w)
		clients = append(clients, dial(sub, []string{r1.URL, r2.URL}[i%2], w))
	}
	waitAll := func(state string, since time.Time) time.Duration {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var last time.Time
			all := true
			for _, w := range watches {
				at, ok := w.got(state)
				all = all && ok
				if at.After(last) {
					last = at
				}
			}
			if all {
				return max(0, last.Sub(since))
			}
			if time.Now().After(deadline) {
				t.Fatalf("not every agent got calendar %q within 5s", state)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAll(client.DependencyOK, time.Now())

	// Agents keep exchanging while the notice changes.
	done := make(chan struct{})
	go func() { defer close(done); exchange(t, clients[0], clients[1], 200) }()
	start := time.Now()
	obj.publish(statuspage.Outage, "Calendar API unreachable: offline calendar mode, operations queued")
	took := waitAll(client.DependencyDown, start)
	t.Logf("calendar down reached %d agents on two relays in %s", len(watches), took)
	if took > time.Second {
		t.Errorf("the notice took %s to reach every agent, want at most 1s", took)
	}
	n, _ := clients[2].Notice()
	if d := n.Dependencies; len(d) != 2 || d[1].Message != "Calendar API unreachable: offline calendar mode, operations queued" {
		t.Errorf("notice %+v: want the identity provider and the calendar with its message, no region", n)
	}
	<-done

	// A new agent is greeted with the current notice.
	w := &noticeWatch{at: map[string]time.Time{}}
	start = time.Now()
	dial("erin", r2.URL, w)
	w.wait(t, client.DependencyDown, "a new agent did not get the current notice within 1s of connecting")
	t.Logf("a new agent got the current notice %s after dialing", time.Since(start))

	// The status object gone: the relays keep the last notice.
	gcs, err := gcsapi.NewClient(context.Background(), option.WithEndpoint("http://"+obj.addr+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Close()
	if err := gcs.Bucket(noticeBucket).Object(noticeObject).Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	w = &noticeWatch{at: map[string]time.Time{}}
	dial("frank", r1.URL, w)
	w.wait(t, client.DependencyDown, "with the status unreadable, a new agent did not get the last notice")
}

// TestDependencyNoticeConfig: a bad object or poll interval is refused,
// naming the variable and what it accepts.
func TestDependencyNoticeConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"REDIS_ADDR": "10.0.0.3:6379", "JWKS_URL": "https://example/jwks", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"}
	env := func(k, v string) func(string) string {
		return func(name string) string {
			if name == k {
				return v
			}
			return base[name]
		}
	}
	c, err := relay.ConfigFromEnv(env("DEPENDENCY_NOTICE_OBJECT", "gs://status/status/feed.json"))
	if err != nil || c.DependencyNoticeObject != "gs://status/status/feed.json" {
		t.Fatalf("valid object: %v %q", err, c.DependencyNoticeObject)
	}
	for _, bad := range []struct{ k, v, want string }{
		{"DEPENDENCY_NOTICE_OBJECT", "https://storage.googleapis.com/status/feed.json", "DEPENDENCY_NOTICE_OBJECT: https://storage.googleapis.com/status/feed.json is not gs://BUCKET/OBJECT"},
		{"DEPENDENCY_NOTICE_OBJECT", "gs://status", "is not gs://BUCKET/OBJECT"},
		{"DEPENDENCY_NOTICE_POLL", "10ms", "DEPENDENCY_NOTICE_POLL: 10ms: accepted values are durations from 100ms to 1m"},
	} {
		if _, err := relay.ConfigFromEnv(env(bad.k, bad.v)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%s: error %v, want %q", bad.k, bad.v, err, bad.want)
		}
	}
}
