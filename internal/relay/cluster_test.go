package relay_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// clusterRelay is a relay on a three-primary Redis Cluster with one replica
// per primary, acking an envelope once its shard's replica has it
// (WAIT_REPLICAS=1).
func clusterRelay(t *testing.T, e *env) (*relaytest.Redis, *relaytest.Relay) {
	t.Helper()
	rd := relaytest.NewRedisWith(t, relaytest.RedisOptions{Shards: 3, Replicas: 1})
	r := relaytest.NewRelay(t, e.v, "a", rd.Addr, nil, func(c *relay.Config) { c.WaitReplicas = 1 })
	return rd, r
}

// TestClusterPrimaryKilled streams envelopes between pairs of agents whose
// inboxes spread over the shards, and SIGKILLs the primary holding one
// recipient's inbox in the middle: its replica is promoted, and every
// envelope acked before, during and after the failover arrives exactly once
// at the application. What guarantees it is WAIT 1: an envelope is acked
// only once the shard's replica, the one promoted, has it.
func TestClusterPrimaryKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd, r := clusterRelay(t, e)
	const pairs, n = 6, 600
	var senders, recvrs []*client.Client
	for i := range pairs {
		senders = append(senders, e.dial(fmt.Sprintf("alice-%d", i), r.URL))
		recvrs = append(recvrs, e.dial(fmt.Sprintf("bob-%d", i), r.URL))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	victim, err := rd.Primary(ctx, "bob-0")
	if err != nil {
		t.Fatal(err)
	}
	var acked [pairs]sync.Map
	var nAcked atomic.Int64
	var killOnce sync.Once
	restarted := make(chan error, 1)
	var wg sync.WaitGroup
	errs := make(chan error, pairs)
	for p := range pairs {
		wg.Go(func() {
			for i := range n {
				id := fmt.Sprintf("m%05d", i)
				if _, err := senders[p].Send(ctx, recvrs[p].Address(), id, []byte("ciphertext")); err != nil {
					errs <- fmt.Errorf("pair %d, %s: %w", p, id, err)
					return
				}
				acked[p].Store(id, true)
				if nAcked.Add(1) == pairs*n/3 {
					killOnce.Do(func() { go killPrimary(t, rd, victim, restarted) })
				}
			}
		})
	}
	got := make([]map[string]int, pairs)
	var rwg sync.WaitGroup
	for p := range pairs {
		got[p] = map[string]int{}
		rwg.Go(func() {
			for len(got[p]) < n {
				select {
				case env := <-recvrs[p].Receive():
					got[p][env.ID]++
				case <-time.After(15 * time.Second):
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	rwg.Wait()
	for p := range pairs {
		missing, dups := deliveredOnce(&acked[p], got[p])
		if missing > 0 || dups > 0 || len(got[p]) != n {
			t.Errorf("pair %d: of %d envelopes %d acked but missing, %d delivered twice, %d received", p, n, missing, dups, len(got[p]))
		}
	}
	now, err := rd.Primary(ctx, "bob-0")
	if err != nil {
		t.Fatal(err)
	}
	if now == victim || now != rd.Replica(victim) {
		t.Fatalf("bob-0's shard is served by %s after the kill of %s, want its replica %s", now.Addr, victim.Addr, rd.Replica(victim).Addr)
	}
}

// killPrimary SIGKILLs victim, waits for the cluster to promote its
// replica, then starts it again, as Memorystore replaces a failed node: it
// comes back as the new primary's replica, so that WAIT 1 can ack again.
func killPrimary(t *testing.T, rd *relaytest.Redis, victim *relaytest.Redis, done chan<- error) {
	victim.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if p, err := rd.Primary(ctx, "bob-0"); err == nil && p != victim {
			break
		}
		select {
		case <-ctx.Done():
			done <- fmt.Errorf("no failover within 30s of the kill of %s", victim.Addr)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("failed over %s; restarting it", victim.Addr)
	done <- victim.Restart()
}

// TestClusterAckWaitsForReplica: with the replica of a recipient's shard
// down, an envelope to it is not acked (WAIT 1 finds no replica), while
// one to a recipient on another shard is; once the replica is back and in
// sync, the first goes through. This is what makes an acked envelope
// survive the loss of its primary.
func TestClusterAckWaitsForReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd, r := clusterRelay(t, e)
	ctx := context.Background()
	victim, err := rd.Primary(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	other := ""
	for i := 0; other == ""; i++ {
		a := fmt.Sprintf("carol-%d", i)
		if p, err := rd.Primary(ctx, a); err == nil && p != victim {
			other = a
		}
	}
	alice := e.dial("alice", r.URL)
	replica := rd.Replica(victim)
	replica.Stop()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := alice.Send(sctx, "bob", "unreplicated", []byte("x")); err == nil {
		t.Fatal("an envelope was acked while its shard had no replica to confirm it")
	}
	octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
	defer ocancel()
	if _, err := alice.Send(octx, other, "other-shard", []byte("x")); err != nil {
		t.Fatalf("an envelope to a shard with its replica: %v", err)
	}
	if err := replica.Restart(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel = context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := alice.Send(sctx, "bob", "replicated", []byte("x")); err != nil {
		t.Fatalf("once the replica is back: %v", err)
	}
	bob := e.dial("bob", r.URL)
	if got := recv(t, bob, 10*time.Second); got.ID != "unreplicated" && got.ID != "replicated" {
		t.Fatalf("bob got %q", got.ID)
	}
}

// TestClusterPrimaryLostSecondCopy: the other guarantee, without replicas.
// Envelopes are acked once stored in this region's cluster and in a peer
// region's (ACK_COPIES=2); the primary holding the recipient's inbox here
// is SIGKILLed and its shard restarted empty (no replica, no persistence):
// every acked envelope is still delivered, from the peer's copy.
func TestClusterPrimaryLostSecondCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA := relaytest.NewRedisWith(t, relaytest.RedisOptions{Shards: 3})
	rdB := relaytest.NewRedisWith(t, relaytest.RedisOptions{Shards: 3})
	ra := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{rdB.Addr}, nil)
	alice := e.dial("alice", ra.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 200
	for i := range n {
		if _, err := alice.Send(ctx, "bob", fmt.Sprintf("m%03d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Both copies of every envelope are stored (a write the relay gave up
	// on as slow, acking with one copy on a loaded machine, still lands; and
	// a relay just started is not ready before its peer has been checked,
	// else the first sends get one copy).
	rc, rcB := relaytest.Client(rdA), relaytest.Client(rdB)
	defer func() { _, _ = rc.Close(), rcB.Close() }() // the test's end
	var here, peer int64
	defer func() {
		if t.Failed() {
			t.Logf("copies of bob's envelopes: %d here, %d on the peer, want %d each", here, peer, n)
		}
	}()
	waitFor(t, 30*time.Second, "both copies of every envelope stored", func() bool {
		here = rc.XLen(context.Background(), relaytest.Key(rdA, "relay:inbox:", "bob")).Val()
		peer = rcB.XLen(context.Background(), relaytest.Key(rdB, "relay:inbox:", "bob")).Val()
		return here == n && peer == n
	})
	victim, err := rdA.Primary(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	victim.Stop() // SIGKILL: bob's inbox here is gone
	if err := victim.Restart(); err != nil {
		t.Fatal(err)
	}
	if l := rc.XLen(ctx, relaytest.Key(rdA, "relay:inbox:", "bob")).Val(); l != 0 {
		t.Fatalf("bob's inbox here holds %d entries after its shard restarted empty", l)
	}
	bob := e.dial("bob", ra.URL)
	got := map[string]int{}
	for len(got) < n {
		got[recv(t, bob, 10*time.Second).ID]++
	}
	for id, k := range got {
		if k != 1 {
			t.Fatalf("%s delivered %d times", id, k)
		}
	}
}
