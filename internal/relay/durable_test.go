package relay_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// metricValue reads one unlabelled-by-us sample of a relay's /metrics
// (ops is the operations host:port).
func metricValue(t *testing.T, ops, name string) string {
	t.Helper()
	_, m := get(t, "http://"+ops+"/metrics")
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			return l[strings.LastIndexByte(l, ' ')+1:]
		}
	}
	return ""
}

// waitAllRedisUp waits until a relay counts every Redis it knows up.
func waitAllRedisUp(t *testing.T, ops string) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if code, body := get(t, "http://"+ops+"/ready"); code == 200 && strings.Contains(body, `"status": "ok"`) {
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("relay does not count every Redis up")
		}
	}
}

// TestRegionRedisLost: the disaster-recovery case. Region A's relay acks N
// envelopes for a recipient that is offline; then region A's Redis is
// SIGKILLed and restarts empty, or from a snapshot taken halfway through.
// The recipient connects in region B and gets all N, each exactly once at
// the application: every acked envelope was also stored in region B's Redis.
func TestRegionRedisLost(t *testing.T) {
	t.Parallel()
	for _, restart := range []string{"empty", "old-snapshot"} {
		t.Run(restart, func(t *testing.T) {
			e := newEnv(t)
			rdA, rdB := relaytest.NewRedis(t), relaytest.NewRedis(t)
			ra := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{rdB.Addr}, nil)
			rb := relaytest.NewRelay(t, e.v, "b", rdB.Addr, []string{rdA.Addr}, nil)
			waitAllRedisUp(t, ra.OpsAddr)
			waitAllRedisUp(t, rb.OpsAddr)
			a := e.dial("alice", ra.URL)

			const n = 2000
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			send := func(from, to int) {
				var wg sync.WaitGroup
				errs := make(chan error, 8)
				for w := 0; w < 8; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := from + w; i < to; i += 8 {
							if _, err := a.Send(ctx, "bob", fmt.Sprintf("m%05d", i), []byte("ciphertext")); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
					t.Fatalf("send: %v", err)
				}
			}
			send(0, n/2)
			if restart == "old-snapshot" {
				if err := rdA.Save(ctx); err != nil {
					t.Fatal(err)
				}
			}
			send(n/2, n)
			if got := metricValue(t, ra.OpsAddr, "relay_envelopes_accepted_total"); got != fmt.Sprint(n) {
				t.Fatalf("accepted %s, want %d", got, n)
			}
			if got := metricValue(t, ra.OpsAddr, "relay_envelopes_acked_degraded_total"); got != "0" {
				t.Fatalf("degraded acks %s with both Redis up", got)
			}

			rdA.Stop() // SIGKILL
			if err := rdA.Restart(); err != nil {
				t.Fatal(err)
			}

			b := e.dial("bob", rb.URL)
			got := map[string]int{}
			for len(got) < n {
				env := recv(t, b, 10*time.Second)
				got[env.ID]++
			}
			select {
			case env := <-b.Receive():
				t.Fatalf("extra envelope %s", env.ID)
			case <-time.After(500 * time.Millisecond):
			}
			for i := 0; i < n; i++ {
				if c := got[fmt.Sprintf("m%05d", i)]; c != 1 {
					t.Fatalf("m%05d delivered %d times", i, c)
				}
			}
		})
	}
}

// TestDeliveryAckDeletesEveryCopy: after the recipient acknowledges, no copy
// of the envelopes is left in either Redis, nor in their indexes.
func TestDeliveryAckDeletesEveryCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA, rdB := relaytest.NewRedis(t), relaytest.NewRedis(t)
	ra := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{rdB.Addr}, nil)
	rb := relaytest.NewRelay(t, e.v, "b", rdB.Addr, []string{rdA.Addr}, nil)
	waitAllRedisUp(t, ra.OpsAddr)
	waitAllRedisUp(t, rb.OpsAddr)
	a := e.dial("alice", ra.URL)
	ctx := context.Background()
	const n = 200
	for i := 0; i < n; i++ {
		if _, err := a.Send(ctx, "bob", fmt.Sprintf("m%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	rds := []*relaytest.Redis{rdA, rdB}
	clients := []redis.UniversalClient{relaytest.Client(rdA), relaytest.Client(rdB)}
	for i, rc := range clients {
		defer rc.Close()
		if l := rc.XLen(ctx, relaytest.Key(rds[i], "relay:inbox:", "bob")).Val(); l != n {
			t.Fatalf("redis %d holds %d entries before delivery, want %d", i, l, n)
		}
	}
	b := e.dial("bob", rb.URL)
	for i := 0; i < n; i++ {
		if got := recv(t, b, 5*time.Second); got.ID != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s want m%d", got.ID, i)
		}
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		left := int64(0)
		for i, rc := range clients {
			left += rc.XLen(ctx, relaytest.Key(rds[i], "relay:inbox:", "bob")).Val() + rc.HLen(ctx, relaytest.Key(rds[i], "relay:index:", "bob")).Val()
		}
		if left == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d entries or index fields left after delivery", left)
		}
	}
}

// TestDegradedAck: with only one Redis reachable the relay still acks, after
// the one copy, and counts it in relay_envelopes_acked_degraded_total.
func TestDegradedAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdA, rdB := relaytest.NewRedis(t), relaytest.NewRedis(t)
	ra := relaytest.NewRelay(t, e.v, "a", rdA.Addr, []string{rdB.Addr}, nil)
	waitAllRedisUp(t, ra.OpsAddr)
	rdB.Stop()
	a, b := e.dial("alice", ra.URL), e.dial("bob", ra.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 20; i++ {
		if _, err := a.Send(ctx, "bob", fmt.Sprintf("m%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		if got := recv(t, b, 5*time.Second); got.ID != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s want m%d", got.ID, i)
		}
	}
	if got := metricValue(t, ra.OpsAddr, "relay_envelopes_acked_degraded_total"); got != "20" {
		t.Fatalf("degraded acks %s, want 20", got)
	}
}
