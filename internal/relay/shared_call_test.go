package relay_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// TestInboxErrorFailsOnlyItsAddress: the envelopes of a batch share a
// script call on a single Redis; an inbox Redis refuses to write (a key of
// the wrong type) nacks its own envelopes, while those for another address
// sent at the same time, in the same batches, are all stored and acked.
func TestInboxErrorFailsOnlyItsAddress(t *testing.T) {
	t.Parallel()
	keys := relaytest.DevKeys(t)
	r := relaytest.NewRedis(t)
	rdb := relaytest.Client(r)
	defer rdb.Close()
	if err := rdb.Set(context.Background(), relaytest.Key(r, "relay:inbox:", "broken"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rl := relaytest.NewRelay(t, relaytest.Verifier(t, keys), "r1", r.Addr, nil, nil)
	// Ten senders to each address at once, so that batches hold both.
	const senders, n = 10, 100
	results := make([]replies, 2*senders)
	var wg sync.WaitGroup
	for i := range results {
		to := []string{"broken", "bob"}[i%2]
		ws := rawConn(t, rl.URL, relaytest.Token(t, keys, fmt.Sprintf("sender-%d", i)), "")
		wg.Go(func() { results[i] = burst(t, ws, to, "x", n, 64) })
	}
	wg.Wait()
	for i, got := range results {
		if i%2 == 1 && got.acked != n {
			t.Errorf("sender %d to bob: %d of %d acked, nacks %v", i, got.acked, n, got.nacks)
		}
		if i%2 == 0 && (got.acked != 0 || got.nacked(envelope.NackUnavailable, "") != n) {
			t.Errorf("sender %d to the broken inbox: %d acked, nacks %v; want all %d nacked unavailable", i, got.acked, got.nacks, n)
		}
	}
	if l := rdb.XLen(context.Background(), relaytest.Key(r, "relay:inbox:", "bob")).Val(); l < senders*n {
		t.Errorf("bob's inbox holds %d entries, want at least %d", l, senders*n)
	}
}
