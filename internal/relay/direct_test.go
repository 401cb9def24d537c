package relay_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// metric is the value of a counter without labels other than the relay's
// own, from the operations port.
func metric(t *testing.T, r *relaytest.Relay, name string) float64 {
	t.Helper()
	_, body := get(t, "http://"+r.OpsAddr+"/metrics")
	m := regexp.MustCompile(`(?m)^` + name + `\{[^}]*\} (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("metrics lack %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// streamReads is how many times rd ran XRANGE so far (scripts' calls
// included), over every server of a cluster.
func streamReads(t *testing.T, rd *relaytest.Redis) int {
	t.Helper()
	total := 0
	for _, srv := range rd.Servers() {
		c := relaytest.ServerClient(srv)
		info, err := c.Info(context.Background(), "commandstats").Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`cmdstat_xrange:calls=(\d+)`).FindStringSubmatch(info); m != nil {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	return total
}

// alicePlusBob connects alice and bob to two instances on one Redis.
func alicePlusBob(t *testing.T) (rd *relaytest.Redis, rdb redis.UniversalClient, bobs *relaytest.Relay, alice, bob *client.Client) {
	e := newEnv(t)
	rd = relaytest.NewRedis(t)
	rdb = relaytest.Client(rd)
	t.Cleanup(func() { rdb.Close() })
	r1 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	bobs = relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	return rd, rdb, bobs, e.dial("alice", r1.URL), e.dial("bob", bobs.URL)
}

// TestDirectDelivery: envelopes to a connected recipient on another
// instance are delivered from the notice of their storing, without reading
// the inbox: 200 envelopes sent one at a time cost Redis a handful of
// stream reads (the connections' first reads), not one per envelope.
func TestDirectDelivery(t *testing.T) {
	t.Parallel()
	rd, rdb, r2, a, b := alicePlusBob(t)
	reads := streamReads(t, rd)
	ctx := context.Background()
	for i := range 200 {
		if _, err := a.Send(ctx, "bob", fmt.Sprintf("m%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, b, 5*time.Second); got.ID != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s want m%d", got.ID, i)
		}
	}
	if n := streamReads(t, rd) - reads; n > 5 {
		t.Errorf("%d stream reads for 200 envelopes to a connected recipient, want a few", n)
	}
	if n := metric(t, r2, "relay_envelopes_delivered_direct_total"); n < 195 {
		t.Errorf("%.0f of 200 envelopes delivered from their notice", n)
	}
	// And their delivery acks deleted them.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := rdb.XLen(ctx, relaytest.Key(rd, "relay:inbox:", "bob")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left in the inbox after their delivery acks", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDirectDeliveryGap: an entry that reached the inbox without a notice
// (its wake-up lost, or written by a relay that sends none) is not skipped:
// the next notice does not follow the recipient's cursor, so the relay reads
// the inbox and delivers both.
func TestDirectDeliveryGap(t *testing.T) {
	t.Parallel()
	rd, rdb, _, a, b := alicePlusBob(t)
	ctx := context.Background()
	if _, err := a.Send(ctx, "bob", "first", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, b, 5*time.Second); got.ID != "first" {
		t.Fatalf("got %s want first", got.ID)
	}
	env := envelope.Envelope{ID: "silent", From: "carol", To: "bob", Sent: time.Now().UnixMilli(), Payload: []byte("y")}
	frame := envelope.AppendEnvelope(nil, envelope.TypeDeliver, &env)
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: relaytest.Key(rd, "relay:inbox:", "bob"), Values: []any{"i", env.ID, "f", frame, "s", env.From}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "bob", "after", []byte("z")); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		got[recv(t, b, 5*time.Second).ID] = true
	}
	if !got["silent"] || !got["after"] {
		t.Fatalf("received %v, want silent and after", got)
	}
}
