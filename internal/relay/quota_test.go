package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// dialRaw opens a WebSocket as sub and reads the first frame: the hello
// when the relay keeps the connection, else the close status and reason.
func dialRaw(ctx context.Context, url, token string) (*websocket.Conn, websocket.StatusCode, string, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, 0, "", err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, _, err = ws.Read(rctx); err != nil {
		hangUp(ws)
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil, ce.Code, ce.Reason, nil
		}
		return nil, 0, "", err
	}
	return ws, 0, "", nil
}

// TestConnectionFloodCutAtQuota opens 2,000 connections of one identity,
// spread over two instances sharing a Redis: exactly the identity's quota
// stays open, the others are closed with 4030 naming the limit, and
// another identity still connects; a closed connection gives its lease back.
func TestConnectionFloodCutAtQuota(t *testing.T) {
	t.Parallel()
	const flood, limit = 2000, 64
	keys := relaytest.DevKeys(t)
	v := relaytest.Verifier(t, keys)
	r := relaytest.NewRedis(t)
	a := relaytest.NewRelay(t, v, "r1", r.Addr, nil, nil)
	b := relaytest.NewRelay(t, v, "r1", r.Addr, nil, nil)
	token := relaytest.Token(t, keys, "flooder")
	ctx := context.Background()

	var mu sync.Mutex
	var open []*websocket.Conn
	refused, errs := 0, 0
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range flood {
		url := a.URL
		if i%2 == 1 {
			url = b.URL
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, code, reason, err := dialRaw(ctx, url, token)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs++
				t.Log(err)
			case ws != nil:
				open = append(open, ws)
			case code == envelope.CloseQuota && strings.Contains(reason, "MAX_CONNS_PER_IDENTITY=64"):
				refused++
			default:
				errs++
				t.Logf("closed with %d %q", code, reason)
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, ws := range open {
			hangUp(ws)
		}
	}()
	if len(open) != limit || refused != flood-limit || errs != 0 {
		t.Fatalf("flood of %d: %d open, %d refused with %d, %d other; want %d open", flood, len(open), refused, envelope.CloseQuota, errs, limit)
	}
	other, code, reason, err := dialRaw(ctx, a.URL, relaytest.Token(t, keys, "bystander"))
	if err != nil || other == nil {
		t.Fatalf("another identity during the flood: %v %d %q", err, code, reason)
	}
	hangUp(other)

	open[0].Close(websocket.StatusNormalClosure, "")
	open = open[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, _, _, err := dialRaw(ctx, b.URL, token)
		if err == nil && ws != nil {
			open = append(open, ws)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's lease was not given back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRateQuotaFloodSparesOthers floods a victim from one identity past its
// envelopes per second: the flood is nacked naming the limit, while another
// identity's envelopes to the same victim are all acked at once (never
// nacked, never resent) and delivered.
func TestRateQuotaFloodSparesOthers(t *testing.T) {
	// Not in parallel: it counts sends in one-second windows.
	const flood, limit, others = 2000, 200, 100
	e := newEnv(t)
	r := relaytest.NewRedis(t)
	rl := relaytest.NewRelay(t, e.v, "r1", r.Addr, nil, func(c *relay.Config) { c.MaxMsgsPerSecPerIdentity = limit })
	victim := e.dial("victim", rl.URL)
	bystander := e.dial("bystander", rl.URL)
	ctx := context.Background()
	ws, _, _, err := dialRaw(ctx, rl.URL, relaytest.Token(t, e.keys, "flooder"))
	if err != nil || ws == nil {
		t.Fatal(err)
	}
	defer hangUp(ws)

	var acks, nacks, other int
	replies := make(chan struct{})
	go func() {
		defer close(replies)
		for acks+nacks+other < flood {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			f, err := envelope.Decode(b)
			switch {
			case err != nil:
			case f.Type == envelope.TypeAck:
				acks += len(f.IDs)
			case f.Type == envelope.TypeNack && f.Nack.Code == envelope.NackQuota && strings.Contains(f.Nack.Reason, "MAX_MSGS_PER_SEC_PER_IDENTITY=200"):
				nacks++
			case f.Type == envelope.TypeNack:
				other++
			}
		}
	}()
	start := time.Now()
	go func() {
		for i := range flood {
			frame := envelope.AppendEnvelope(nil, envelope.TypeSend, &envelope.Envelope{ID: fmt.Sprintf("f%d", i), To: "victim", Payload: []byte("flood")})
			if ws.Write(ctx, websocket.MessageBinary, frame) != nil {
				return
			}
		}
	}()
	for i := range others {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := bystander.Send(sctx, "victim", fmt.Sprintf("b%d", i), []byte("hello")); err != nil {
			t.Fatalf("bystander send %d during the flood: %v", i, err)
		}
		cancel()
	}
	select {
	case <-replies:
	case <-time.After(30 * time.Second):
	}
	elapsed := time.Since(start)
	if s := bystander.Stats(); s.Resent != 0 {
		t.Errorf("bystander resent %d envelopes: nacked during another identity's flood", s.Resent)
	}
	if nacks == 0 || other != 0 || acks+nacks != flood || acks > limit*(int(elapsed.Seconds())+2) {
		t.Fatalf("flood of %d in %v: %d acked, %d nacked naming the limit, %d other nacks", flood, elapsed, acks, nacks, other)
	}
	t.Logf("flood of %d in %v: %d acked, %d nacked naming the limit", flood, elapsed, acks, nacks)
	got := 0
	for got < others {
		select {
		case env := <-victim.Receive():
			if env.From == "bystander" {
				got++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("victim received %d of the bystander's %d envelopes", got, others)
		}
	}
}

// TestCrashedInstanceConnectionsAgeOut SIGKILLs a relay process holding an
// identity's whole connection quota: another instance refuses the identity
// while the dead one's leases are live, and lets it in once they expire.
func TestCrashedInstanceConnectionsAgeOut(t *testing.T) {
	t.Parallel()
	keys := relaytest.DevKeys(t)
	r := relaytest.NewRedis(t)
	p := startProc(t, keys, "r1", r.Addr, "", "MAX_CONNS_PER_IDENTITY=2", "CONN_QUOTA_LEASE=2s")
	token := relaytest.Token(t, keys, "crasher")
	ctx := context.Background()
	for range 2 {
		ws, code, reason, err := dialRaw(ctx, p.URL, token)
		if err != nil || ws == nil {
			t.Fatalf("within the quota: %v %d %q", err, code, reason)
		}
		defer hangUp(ws)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	other := relaytest.NewRelay(t, relaytest.Verifier(t, keys), "r1", r.Addr, nil, func(c *relay.Config) {
		c.MaxConnsPerIdentity, c.ConnQuotaLease = 2, 2*time.Second
	})
	killed := time.Now()
	if ws, code, _, err := dialRaw(ctx, other.URL, token); err != nil || ws != nil || code != envelope.CloseQuota {
		t.Fatalf("the dead instance's live leases did not count: %v %d", err, code)
	}
	for {
		ws, _, _, err := dialRaw(ctx, other.URL, token)
		if err == nil && ws != nil {
			hangUp(ws)
			t.Logf("admitted %v after the crash (lease 2s)", time.Since(killed).Round(time.Millisecond))
			return
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatal("a crashed instance's connections still count 10s after its 2s leases")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
