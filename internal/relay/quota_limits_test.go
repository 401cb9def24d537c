package relay_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// replies counts a burst's answers: acks, and nacks by code and reason.
type replies struct {
	acked int
	nacks map[string]int // "code reason"
}

func (r replies) nacked(code envelope.NackCode, reason string) int {
	n := 0
	for k, v := range r.nacks {
		if strings.HasPrefix(k, strconv.Itoa(int(code))+" ") && strings.Contains(k, reason) {
			n += v
		}
	}
	return n
}

// burst sends n envelopes of payload bytes from ws to to, ids prefix0..,
// as fast as the socket takes them, and waits for every answer.
func burst(t *testing.T, ws *websocket.Conn, to, prefix string, n, payload int) replies {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		body := make([]byte, payload)
		for i := range n {
			frame := envelope.AppendEnvelope(nil, envelope.TypeSend, &envelope.Envelope{ID: fmt.Sprintf("%s%d", prefix, i), To: to, Payload: body})
			if ws.Write(ctx, websocket.MessageBinary, frame) != nil {
				return
			}
		}
	}()
	r := replies{nacks: map[string]int{}}
	for total := 0; total < n; {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Errorf("burst %s: %d answers of %d: %v", prefix, total, n, err)
			return r
		}
		f, err := envelope.Decode(b)
		switch {
		case err != nil:
			t.Fatal(err)
		case f.Type == envelope.TypeAck:
			r.acked += len(f.IDs)
			total += len(f.IDs)
		case f.Type == envelope.TypeNack:
			r.nacks[fmt.Sprintf("%d %s", f.Nack.Code, f.Nack.Reason)]++
			total++
		}
	}
	return r
}

// rawConn opens a WebSocket of sub (with label, unless "") that the relay
// keeps, or fails the test.
func rawConn(t *testing.T, url, token, label string) *websocket.Conn {
	t.Helper()
	if label != "" {
		url += "?label=" + label
	}
	ws, code, reason, err := dialRaw(context.Background(), url, token)
	if err != nil || ws == nil {
		t.Fatalf("connect (label %q): %v %d %q", label, err, code, reason)
	}
	t.Cleanup(func() { hangUp(ws) })
	return ws
}

// TestLabelQuota: an identity holds at most MAX_LABELS_PER_IDENTITY labels
// at a time; another connection of a label it holds, and its bare subject,
// still connect; a label past the limit is closed with 4030 naming it; a
// closed label frees its place; other identities are unaffected.
func TestLabelQuota(t *testing.T) {
	t.Parallel()
	keys := relaytest.DevKeys(t)
	r := relaytest.NewRedis(t)
	rl := relaytest.NewRelay(t, relaytest.Verifier(t, keys), "r1", r.Addr, nil, func(c *relay.Config) { c.MaxLabelsPerIdentity = 2 })
	token := relaytest.Token(t, keys, "labeller")
	ctx := context.Background()
	rawConn(t, rl.URL, token, "a")
	b := rawConn(t, rl.URL, token, "b")
	rawConn(t, rl.URL, token, "a")
	rawConn(t, rl.URL, token, "")
	ws, code, reason, err := dialRaw(ctx, rl.URL+"?label=c", token)
	if err != nil || ws != nil || code != envelope.CloseQuota || !strings.Contains(reason, "MAX_LABELS_PER_IDENTITY=2") {
		t.Fatalf("a third label: %v, kept %v, close %d %q; want %d naming MAX_LABELS_PER_IDENTITY=2", err, ws != nil, code, reason, envelope.CloseQuota)
	}
	rawConn(t, rl.URL, relaytest.Token(t, keys, "other"), "c")
	b.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, _, _, err := dialRaw(ctx, rl.URL+"?label=c", token)
		if err == nil && ws != nil {
			hangUp(ws)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed label's place was not given back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storedBytes reads the byte counts of addr's inbox: all senders, and the
// pair of sender.
func storedBytes(t *testing.T, r *relaytest.Redis, addr, sender string) (total, pair, entries int64) {
	t.Helper()
	rdb := relaytest.Client(r)
	defer rdb.Close()
	ctx := context.Background()
	total, _ = rdb.HGet(ctx, relaytest.Key(r, "relay:stored:", addr), "t").Int64()
	pair, _ = rdb.HGet(ctx, relaytest.Key(r, "relay:stored:", addr), "p:"+sender).Int64()
	entries, _ = rdb.XLen(ctx, relaytest.Key(r, "relay:inbox:", addr)).Result()
	return total, pair, entries
}

// TestPairCapSparesOtherSenders: one sender fills its share of an offline
// victim's inbox (MAX_STORED_BYTES_PER_PAIR) and is nacked naming it, while
// another sender to the same victim is acked at once and delivered; the
// victim's inbox stays under its own cap, and the counts go back to zero
// as the victim takes its envelopes, so the first sender may send again.
func TestPairCapSparesOtherSenders(t *testing.T) {
	t.Parallel()
	const pairCap, charge = 16 << 10, 1 << 10 // small envelopes count 1 KiB
	e := newEnv(t)
	r := relaytest.NewRedis(t)
	rl := relaytest.NewRelay(t, e.v, "r1", r.Addr, nil, func(c *relay.Config) { c.MaxStoredBytesPerPair = pairCap })
	flooder := rawConn(t, rl.URL, relaytest.Token(t, e.keys, "flooder"), "")
	got := burst(t, flooder, "victim", "f", 100, 100)
	if got.acked != pairCap/charge || got.nacked(envelope.NackQuota, "MAX_STORED_BYTES_PER_PAIR=16384") != 100-pairCap/charge {
		t.Fatalf("flood of 100 small envelopes: %d acked, nacks %v; want %d acked, the rest nacked quota naming MAX_STORED_BYTES_PER_PAIR", got.acked, got.nacks, pairCap/charge)
	}
	bystander := e.dial("bystander", rl.URL)
	ctx := context.Background()
	for i := range 10 {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := bystander.Send(sctx, "victim", fmt.Sprintf("b%d", i), []byte("hello")); err != nil {
			t.Fatalf("bystander send %d: %v", i, err)
		}
		cancel()
	}
	if s := bystander.Stats(); s.Resent != 0 {
		t.Fatalf("bystander resent %d envelopes: nacked by the flooder's pair cap", s.Resent)
	}
	total, pair, entries := storedBytes(t, r, "victim", "flooder")
	if pair != pairCap || total != pairCap+10*charge || entries != 26 {
		t.Fatalf("victim's inbox: %d bytes counted, %d of them the flooder's, %d entries; want %d, %d, 26", total, pair, entries, pairCap+10*charge, pairCap)
	}
	if total >= 64<<20 { // the default MAX_STORED_BYTES_PER_RECIPIENT
		t.Fatalf("victim's inbox at %d bytes, not below its cap", total)
	}

	victim := e.dial("victim", rl.URL)
	from := map[string]int{}
	for range 26 {
		from[recv(t, victim, 10*time.Second).From]++
	}
	if from["bystander"] != 10 || from["flooder"] != pairCap/charge {
		t.Fatalf("victim received %v", from)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		total, pair, entries = storedBytes(t, r, "victim", "flooder")
		if total == 0 && pair == 0 && entries == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delivery: %d bytes counted, %d the flooder's, %d entries; want none", total, pair, entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
	victim.Close()
	if got := burst(t, flooder, "victim", "g", 4, 100); got.acked != 4 {
		t.Fatalf("after the victim took its envelopes: %d of 4 acked, nacks %v", got.acked, got.nacks)
	}
}

// TestRecipientByteCap: an inbox holds at most MAX_STORED_BYTES_PER_RECIPIENT
// bytes whoever sends (past it: inbox-full naming the limit); entries older
// than MESSAGE_TTL are trimmed out of the count, so the inbox takes
// envelopes again.
func TestRecipientByteCap(t *testing.T) {
	// Not in parallel: it times writes against a 4 s TTL.
	const recipientCap, charge = 32 << 10, 1 << 10
	const ttl = 4 * time.Second
	keys := relaytest.DevKeys(t)
	r := relaytest.NewRedis(t)
	rl := relaytest.NewRelay(t, relaytest.Verifier(t, keys), "r1", r.Addr, nil, func(c *relay.Config) {
		c.MaxStoredBytesPerRecipient, c.MaxStoredBytesPerPair, c.MessageTTL = recipientCap, -1, ttl
	})
	senders := make([]*websocket.Conn, 4)
	for i := range senders {
		senders[i] = rawConn(t, rl.URL, relaytest.Token(t, keys, fmt.Sprintf("sender-%d", i)), "")
	}
	start := time.Now()
	acked := 0
	for i, ws := range senders {
		got := burst(t, ws, "offline", "a", 10, 100)
		acked += got.acked
		if i < 3 && got.acked != 10 {
			t.Fatalf("sender %d under the cap: %d of 10 acked, nacks %v", i, got.acked, got.nacks)
		}
		if i == 3 && (got.acked != 2 || got.nacked(envelope.NackInboxFull, "MAX_STORED_BYTES_PER_RECIPIENT=32768") != 8) {
			t.Fatalf("sender %d at the cap: %d acked, nacks %v; want 2 acked, 8 nacked inbox-full naming MAX_STORED_BYTES_PER_RECIPIENT", i, got.acked, got.nacks)
		}
	}
	if total, _, entries := storedBytes(t, r, "offline", ""); total != recipientCap || entries != recipientCap/charge {
		t.Fatalf("inbox at the cap: %d bytes counted, %d entries", total, entries)
	}
	// The first envelopes pass their TTL while later writes keep the inbox
	// alive: they are trimmed and uncounted by the next write.
	rdb := relaytest.Client(r)
	defer rdb.Close()
	time.Sleep(time.Until(start.Add(ttl / 2)))
	rdb.PExpire(context.Background(), relaytest.Key(r, "relay:inbox:", "offline"), ttl)
	rdb.PExpire(context.Background(), relaytest.Key(r, "relay:stored:", "offline"), ttl)
	time.Sleep(time.Until(start.Add(ttl + 500*time.Millisecond)))
	if got := burst(t, senders[3], "offline", "b", 10, 100); got.acked != 10 {
		t.Fatalf("after the TTL: %d of 10 acked, nacks %v", got.acked, got.nacks)
	}
	if total, _, entries := storedBytes(t, r, "offline", ""); total != 10*charge || entries != 10 {
		t.Fatalf("after the trim: %d bytes counted, %d entries; want %d, 10", total, entries, 10*charge)
	}
}

// TestQuotasAcrossRegions: two relays of different regions, each with its
// own Redis and the other's as peer, count one identity's connections and
// envelopes per second together, on the identity's home Redis; with one
// Redis down, both count on the other.
func TestQuotasAcrossRegions(t *testing.T) {
	// Not in parallel: it counts sends in one-second windows.
	const conns, rate = 4, 100
	e := newEnv(t)
	ra, rb := relaytest.NewRedis(t), relaytest.NewRedis(t)
	limits := func(c *relay.Config) { c.MaxConnsPerIdentity, c.MaxMsgsPerSecPerIdentity = conns, rate }
	a := relaytest.NewRelay(t, e.v, "region-a", ra.Addr, []string{rb.Addr}, limits)
	b := relaytest.NewRelay(t, e.v, "region-b", rb.Addr, []string{ra.Addr}, limits)
	waitAllRedisUp(t, a.OpsAddr)
	waitAllRedisUp(t, b.OpsAddr)
	urls := []string{a.URL, b.URL}

	// connectionsCut opens the identity's quota of connections over both
	// regions; one more is refused in each.
	connectionsCut := func(t *testing.T, sub string) []*websocket.Conn {
		token := relaytest.Token(t, e.keys, sub)
		var open []*websocket.Conn
		for i := range conns {
			open = append(open, rawConn(t, urls[i%2], token, fmt.Sprintf("l%d", i)))
		}
		for _, url := range urls {
			ws, code, reason, err := dialRaw(context.Background(), url+"?label=l0", token)
			if err != nil || ws != nil || code != envelope.CloseQuota || !strings.Contains(reason, "MAX_CONNS_PER_IDENTITY=4") {
				t.Fatalf("connection %d of %s across both regions: %v, kept %v, close %d %q", conns+1, sub, err, ws != nil, code, reason)
			}
		}
		return open
	}
	t.Run("connections", func(t *testing.T) { connectionsCut(t, "roamer") })

	t.Run("rates", func(t *testing.T) {
		// Both regions send at once; the acks over both may not exceed
		// one identity's rate per window spanned.
		token := relaytest.Token(t, e.keys, "sprinter")
		senders := []*websocket.Conn{rawConn(t, a.URL, token, "a"), rawConn(t, b.URL, token, "b")}
		e.dial("sink", a.URL)
		const each = 3 * rate
		var mu sync.Mutex
		acked := 0
		first := time.Now().Add(time.Second).Truncate(time.Second)
		time.Sleep(time.Until(first))
		var wg sync.WaitGroup
		for i, ws := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := burst(t, ws, "sink", fmt.Sprintf("r%d-", i), each, 10)
				mu.Lock()
				acked += got.acked
				mu.Unlock()
			}()
		}
		wg.Wait()
		windows := time.Now().Unix() - first.Unix() + 1
		t.Logf("%d of %d envelopes acked over %d one-second windows (limit %d per window)", acked, 2*each, windows, rate)
		if acked == 0 || int64(acked) > windows*rate {
			t.Fatalf("%d envelopes acked over %d windows of both regions, limit %d per window for the identity", acked, windows, rate)
		}
	})

	t.Run("one Redis down", func(t *testing.T) {
		ra.Stop()
		for _, r := range []*relaytest.Relay{a, b} {
			waitFor(t, 10*time.Second, "region A's Redis counted down", func() bool {
				_, body := get(t, "http://"+r.OpsAddr+"/ready")
				return strings.Contains(body, `"status": "degraded"`)
			})
		}
		connectionsCut(t, "stranded")
	})
}
