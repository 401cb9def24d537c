package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// TestResendAcrossOutage sends while no relay is reachable: Send waits, and
// the envelopes go out once a relay at the next URL comes up.
func TestResendAcrossOutage(t *testing.T) {
	keys := relaytest.DevKeys(t)
	v := relaytest.Verifier(t, keys)
	rd := relaytest.NewRedis(t)
	r1 := relaytest.NewRelay(t, v, "r", rd.Addr, nil, nil)
	port, err := relaytest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr2 := fmt.Sprintf("127.0.0.1:%d", port)
	url2 := "ws://" + addr2 // no path: the client adds /ws
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok := client.StaticToken(relaytest.Token(t, keys, "alice"))
	a, err := client.Dial(ctx, []string{r1.URL, url2}, tok, client.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r1.Close()

	const n = 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := a.Send(ctx, "bob", fmt.Sprintf("m%d", i), []byte("ct"))
			errs <- err
		}()
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-errs:
		t.Fatalf("send returned with no relay up: %v", err)
	default:
	}
	relaytest.NewRelay(t, v, "r", rd.Addr, nil, func(c *relay.Config) { c.ListenAddr = addr2 })
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st := a.Stats(); st.Connects < 2 || st.Resent < n {
		t.Fatalf("stats %+v", st)
	}
	b, err := client.Dial(ctx, []string{url2}, client.StaticToken(relaytest.Token(t, keys, "bob")))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case e := <-b.Receive():
			if seen[e.ID] {
				t.Fatalf("%s twice", e.ID)
			}
			seen[e.ID] = true
		case <-ctx.Done():
			t.Fatalf("received %d of %d", len(seen), n)
		}
	}
}

// TestDeduplication sends the same id twice (as after a lost ack): the
// application sees it once, and the relay's queue is emptied.
func TestDeduplication(t *testing.T) {
	keys := relaytest.DevKeys(t)
	v := relaytest.Verifier(t, keys)
	rd := relaytest.NewRedis(t)
	r := relaytest.NewRelay(t, v, "r", rd.Addr, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := client.Dial(ctx, []string{r.URL}, client.StaticToken(relaytest.Token(t, keys, "alice")))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := 0; i < 3; i++ {
		if _, err := a.Send(ctx, "bob", "same-id", []byte("ct")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Send(ctx, "bob", "other-id", []byte("ct")); err != nil {
		t.Fatal(err)
	}
	b, err := client.Dial(ctx, []string{r.URL}, client.StaticToken(relaytest.Token(t, keys, "bob")))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var got []string
	for len(got) < 2 {
		select {
		case e := <-b.Receive():
			got = append(got, e.ID)
		case <-ctx.Done():
			t.Fatalf("got %v", got)
		}
	}
	if got[0] != "same-id" || got[1] != "other-id" {
		t.Fatalf("got %v", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().Duplicates != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", b.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A second connection of bob finds nothing left to deliver, once the
	// delivery acks reached Redis (deletes wait for others to share their
	// call).
	rdb := relaytest.Client(rd)
	defer rdb.Close()
	for n := int64(-1); n != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("bob's inbox still holds %d entries", n)
		}
		time.Sleep(20 * time.Millisecond)
		n = rdb.XLen(ctx, relaytest.Key(rd, "relay:inbox:", "bob")).Val()
	}
	b2, err := client.Dial(ctx, []string{r.URL}, client.StaticToken(relaytest.Token(t, keys, "bob")))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	select {
	case e := <-b2.Receive():
		t.Fatalf("acknowledged envelope %s delivered again", e.ID)
	case <-time.After(500 * time.Millisecond):
	}
}
