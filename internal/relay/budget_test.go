package relay_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// TestNonReadingClientsStayWithinBudget queues 256 envelopes of 60 KB for
// each of eight agents whose connections never read: the relay process
// holds at most about their byte budgets (its resident memory is measured),
// and closes them with CloseSlowReader once a write times out.
func TestNonReadingClientsStayWithinBudget(t *testing.T) {
	t.Parallel()
	const clients, queued, payload = 8, 256, 60_000
	keys := relaytest.DevKeys(t)
	r := relaytest.NewRedis(t)
	rdb := relaytest.Client(r)
	defer rdb.Close()
	ctx := context.Background()
	body := make([]byte, payload)
	for k := range clients {
		to := fmt.Sprintf("reader-%d", k)
		pipe := rdb.Pipeline()
		for i := range queued {
			e := envelope.Envelope{ID: fmt.Sprintf("m%d", i), From: "flooder", To: to, Sent: time.Now().UnixMilli(), Payload: body}
			frame := envelope.AppendEnvelope(nil, envelope.TypeDeliver, &e)
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: relaytest.Key(r, "relay:inbox:", to), Values: []any{"i", e.ID, "f", frame, "s", "flooder"}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Go's default garbage collector pace, as Cloud Run runs the relay,
	// whatever the test run's (make test's TEST_GOGC): the bound counts on it.
	p := startProc(t, keys, "r1", r.Addr, "", "GOGC=100")
	time.Sleep(500 * time.Millisecond)
	base := rss(t, p.cmd.Process.Pid)

	for k := range clients {
		h := http.Header{"Authorization": {"Bearer " + relaytest.Token(t, keys, fmt.Sprintf("reader-%d", k))}}
		ws, _, err := websocket.Dial(ctx, p.URL, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		defer hangUp(ws) // never read
	}
	peak := base
	closed := 0
	for deadline := time.Now().Add(60 * time.Second); closed < clients && time.Now().Before(deadline); {
		peak = max(peak, rss(t, p.cmd.Process.Pid))
		closed = closesWith(t, p.ops, envelope.CloseSlowReader)
		time.Sleep(20 * time.Millisecond)
	}
	// Eight budgets of 1 MiB, with the garbage collector's headroom (twice
	// the live heap) and the buffers of the Redis client.
	const bound = 40 << 20
	t.Logf("relay resident memory: %d MiB before, peak %d MiB (growth bound %d MiB)", base>>20, peak>>20, bound>>20)
	if peak-base > bound {
		t.Errorf("relay resident memory grew by %d MiB with %d non-reading clients, over %d MiB", (peak-base)>>20, clients, bound>>20)
	}
	if closed < clients {
		t.Errorf("%d of %d non-reading clients closed with %d within 60s", closed, clients, envelope.CloseSlowReader)
	}
}

// rss is the resident memory of process pid in bytes (/proc/pid/status).
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// closesWith reads relay_closes_total for a close code from the ops port.
func closesWith(t *testing.T, ops string, code int) int {
	t.Helper()
	resp, err := http.Get(ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^relay_closes_total\{[^}]*code="` + strconv.Itoa(code) + `"[^}]*\} (\d+)`)
	m := re.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
