package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

type env struct {
	t    *testing.T
	keys *auth.DevKeys
	v    *auth.Verifier
}

func newEnv(t *testing.T) *env {
	keys := relaytest.DevKeys(t)
	return &env{t: t, keys: keys, v: relaytest.Verifier(t, keys)}
}

func (e *env) dial(sub string, urls ...string) *client.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, urls, client.StaticToken(relaytest.Token(e.t, e.keys, sub)), client.WithBackoff(20*time.Millisecond, 300*time.Millisecond))
	if err != nil {
		e.t.Fatalf("dial %s: %v", sub, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func recv(t *testing.T, c *client.Client, timeout time.Duration) client.Envelope {
	t.Helper()
	select {
	case e, ok := <-c.Receive():
		if !ok {
			t.Fatal("receive channel closed")
		}
		return e
	case <-time.After(timeout):
		t.Fatalf("%s: nothing received within %s", c.Address(), timeout)
	}
	return client.Envelope{}
}

// exchange sends n envelopes each way between a and b and checks they
// arrive intact, in order, stamped with the right sender.
func exchange(t *testing.T, a, b *client.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dir := range [][2]*client.Client{{a, b}, {b, a}} {
		from, to := dir[0], dir[1]
		errc := make(chan error, 1)
		go func() {
			for i := 0; i < n; i++ {
				if _, err := from.Send(ctx, to.Address(), "", []byte(fmt.Sprintf("ct-%d", i))); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		for i := 0; i < n; i++ {
			e := recv(t, to, 10*time.Second)
			if e.From != from.Address() || e.To != to.Address() {
				t.Fatalf("envelope from %q to %q, want %q to %q", e.From, e.To, from.Address(), to.Address())
			}
			if want := fmt.Sprintf("ct-%d", i); !bytes.Equal(e.Ciphertext, []byte(want)) {
				t.Fatalf("got %q want %q", e.Ciphertext, want)
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestSameInstance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	r := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	a, b := e.dial("alice", r.URL), e.dial("bob", r.URL)
	exchange(t, a, b, 200)
}

func TestCrossInstance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	r1 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	r2 := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, nil)
	a, b := e.dial("alice", r1.URL), e.dial("bob", r2.URL)
	exchange(t, a, b, 200)
}

func TestCrossRegion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA, rdB := relaytest.NewRedis(t), relaytest.NewRedis(t)
	ra := relaytest.NewRelay(t, e.v, "europe-west1", rdA.Addr, []string{rdB.Addr}, nil)
	rb := relaytest.NewRelay(t, e.v, "us-central1", rdB.Addr, []string{rdA.Addr}, nil)
	a, b := e.dial("alice", ra.URL), e.dial("bob", rb.URL)
	if _, region := a.Instance(); region != "europe-west1" {
		t.Fatalf("alice in %q", region)
	}
	if _, region := b.Instance(); region != "us-central1" {
		t.Fatalf("bob in %q", region)
	}
	exchange(t, a, b, 100)
}

// TestOfflineRecipient sends to an agent that is not connected anywhere; it
// connects later to another region and receives everything once.
func TestOfflineRecipient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA, rdB := relaytest.NewRedis(t), relaytest.NewRedis(t)
	ra := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{rdB.Addr}, nil)
	rb := relaytest.NewRelay(t, e.v, "b", rdB.Addr, []string{rdA.Addr}, nil)
	a := e.dial("alice", ra.URL)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if _, err := a.Send(ctx, "bob", fmt.Sprintf("m%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	b := e.dial("bob", rb.URL)
	for i := 0; i < 50; i++ {
		if got := recv(t, b, 5*time.Second); got.ID != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s want m%d", got.ID, i)
		}
	}
	select {
	case got := <-b.Receive():
		t.Fatalf("unexpected extra envelope %s", got.ID)
	case <-time.After(300 * time.Millisecond):
	}
}
