package relay_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// TestGivenUpCopies: the peer Redis holding the recipient's inbox freezes
// (SIGSTOP) while envelopes are being stored there. The relay gives up on
// those copies once it finds that Redis down and acks with the local copy
// alone; the peer then answers again (SIGCONT) and the local Redis loses
// its data. Every acked envelope must still reach the recipient, exactly
// once, and no copy may stay behind in either Redis once it has: a copy
// given up on is stored late, never dropped, and deleted after delivery
// like the others. With the recipient connected throughout, the late copies
// are deleted too.
func TestGivenUpCopies(t *testing.T) {
	t.Parallel()
	for _, online := range []bool{false, true} {
		name := "recipient offline, local Redis lost"
		if online {
			name = "recipient connected"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			rdA, rdB := relaytest.NewRedis(t), relaytest.NewRedis(t)
			// No rates per identity: they are counted on the sender's home
			// Redis, which may be the frozen one, and sends waiting there
			// would be stored once it is known down, with one copy by
			// design, instead of having a copy given up on.
			ra := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{rdB.Addr}, func(c *relay.Config) {
				c.MaxMsgsPerSecPerIdentity, c.MaxBytesPerSecPerIdentity = -1, -1
			})
			waitAllRedisUp(t, ra.OpsAddr)
			alice := e.dial("alice", ra.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			got := map[string]int{}
			var mu sync.Mutex
			var done sync.WaitGroup
			receive := func() { // bob, counting what reaches the application
				bob := e.dial("bob", ra.URL)
				done.Go(func() {
					for env := range bob.Receive() {
						mu.Lock()
						got[env.ID]++
						mu.Unlock()
					}
				})
				t.Cleanup(func() { bob.Close(); done.Wait() })
			}
			rds := []*relaytest.Redis{rdA, rdB}
			clients := []redis.UniversalClient{relaytest.Client(rdA), relaytest.Client(rdB)}
			for _, rc := range clients {
				defer rc.Close()
			}
			noCopyLeft := func(what string) {
				t.Helper()
				waitFor(t, 30*time.Second, what, func() bool {
					left := int64(0)
					for i, rc := range clients {
						left += rc.XLen(ctx, relaytest.Key(rds[i], "relay:inbox:", "bob")).Val() + rc.HLen(ctx, relaytest.Key(rds[i], "relay:index:", "bob")).Val()
					}
					return left == 0
				})
			}
			if online {
				receive()
			}
			var acked []string
			// send sends n envelopes at once, all before the relay can find
			// the peer down; lead of them first, a moment ahead of the
			// others, so that they take the peer's writers and the others
			// queue behind them.
			send := func(prefix string, n, lead int) {
				t.Helper()
				ids := make([]string, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					if i == lead && lead > 0 {
						time.Sleep(100 * time.Millisecond)
					}
					wg.Go(func() { ids[i], errs[i] = alice.Send(ctx, "bob", fmt.Sprintf("%s-%03d", prefix, i), []byte("x")) })
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("%s-%03d: %v", prefix, i, err)
					}
				}
				acked = append(acked, ids...)
			}
			send("before", 20, 0)
			if online {
				// Their copies deleted before the freeze: a delete that
				// hangs on a frozen Redis is given up on too, and its copy
				// is only found again by the recipient's next connection.
				noCopyLeft("the copies of the envelopes delivered before the freeze deleted")
			}

			frozen := holderOf(t, rdB)
			freeze(t, frozen, true)
			start := time.Now()
			send("frozen", 64, 2) // the peer has two writers
			t.Logf("64 envelopes acked %s after the peer froze; degraded acks: %s", time.Since(start).Round(time.Millisecond),
				metricValue(t, ra.OpsAddr, "relay_envelopes_acked_degraded_total"))
			freeze(t, frozen, false)
			waitAllRedisUp(t, ra.OpsAddr)

			if !online {
				lost := holderOf(t, rdA)
				lost.Stop() // SIGKILL: the local copies are gone
				if err := lost.Restart(); err != nil {
					t.Fatal(err)
				}
				receive()
			}
			var missing []string
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				mu.Lock()
				missing = missing[:0]
				for _, id := range acked {
					if got[id] == 0 {
						missing = append(missing, id)
					}
				}
				mu.Unlock()
				if len(missing) == 0 || time.Now().After(deadline) {
					break
				}
			}
			if len(missing) > 0 {
				t.Fatalf("%d of %d acked envelopes never reached the recipient: %v", len(missing), len(acked), missing)
			}
			// Every copy is deleted once delivered: the late ones too.
			noCopyLeft("no copy left in either Redis after delivery")
			mu.Lock()
			defer mu.Unlock()
			for id, k := range got {
				if k != 1 {
					t.Errorf("%s handed to the recipient %d times", id, k)
				}
			}
		})
	}
}

// holderOf is the server of rd holding bob's inbox: rd itself, or the
// cluster primary of its slot.
func holderOf(t *testing.T, rd *relaytest.Redis) *relaytest.Redis {
	t.Helper()
	if rd.Nodes == nil {
		return rd
	}
	p, err := rd.Primary(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freeze stops (SIGSTOP) or resumes (SIGCONT) a redis-server: frozen, it
// keeps its connections open and answers nothing, like a Redis that hangs.
func freeze(t *testing.T, rd *relaytest.Redis, on bool) {
	t.Helper()
	sig := syscall.SIGCONT
	if on {
		sig = syscall.SIGSTOP
		t.Cleanup(func() { _ = syscall.Kill(rd.Pid(), syscall.SIGCONT) }) // never leave it stopped
	}
	if err := syscall.Kill(rd.Pid(), sig); err != nil {
		t.Fatal(err)
	}
}
