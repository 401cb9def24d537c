package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// records returns the log records whose message is msg.
func (l *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes())); sc.Scan(); {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestLogsHashAddressesAndOmitClientIPs: an agent closed for a bad frame
// and a refused connection are logged without the agent's address (a
// keyed hash stands for it) and without the client's IP, unless
// LogClientIP is set.
func TestLogsHashAddressesAndOmitClientIPs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	key := []byte("a log address key of 32 bytes..")
	start := func(clientIP bool) (*relaytest.Relay, *logBuffer) {
		logs := &logBuffer{}
		r := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, func(c *relay.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			c.LogAddressKey = key
			c.LogClientIP = clientIP
		})
		return r, logs
	}
	r, logs := start(false)

	// A text frame is refused: the connection is closed and logged.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{"Authorization": {"Bearer " + relaytest.Token(t, e.keys, "alice")}}
	ws, _, err := websocket.Dial(ctx, r.URL+"?label=phone", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	// A text frame is refused: the relay closes, so the read fails; what
	// the test checks is the log.
	_ = ws.Write(ctx, websocket.MessageText, []byte("hello"))
	_, _, _ = ws.Read(ctx)
	hangUp(ws)
	// A connection without a token is refused and logged.
	if resp, err := http.Get("http://" + r.Addr + "/ws"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %v %v", resp, err)
	}

	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("alice/phone"))
	want := hex.EncodeToString(mac.Sum(nil)[:8])
	waitFor(t, 5*time.Second, "the closing connection record", func() bool { return len(logs.records(t, "closing connection")) > 0 })
	closing := logs.records(t, "closing connection")
	if len(closing) != 1 || closing[0]["agent"] != want {
		t.Errorf("closing records %v, want one with agent %s", closing, want)
	}
	if strings.Contains(logs.String(), "alice") {
		t.Errorf("the logs name the agent:\n%s", logs)
	}
	refused := logs.records(t, "connection refused")
	if len(refused) != 1 {
		t.Fatalf("refused records %v", refused)
	}
	if remote, ok := refused[0]["remote"]; ok {
		t.Errorf("the client IP is logged without LogClientIP: %v", remote)
	}

	r, logs = start(true)
	if resp, err := http.Get("http://" + r.Addr + "/ws"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %v %v", resp, err)
	}
	refused = logs.records(t, "connection refused")
	if len(refused) != 1 {
		t.Fatalf("with LogClientIP: refused records %v, want one", refused)
	}
	// Not a string (or absent): the empty string, which the check refuses.
	if remote, _ := refused[0]["remote"].(string); !strings.HasPrefix(remote, "127.0.0.1:") {
		t.Errorf("with LogClientIP: refused records %v", refused)
	}
}

func TestLogPrivacyFromEnv(t *testing.T) {
	t.Parallel()
	base := map[string]string{"REDIS_ADDR": "10.0.0.3:6379", "JWKS_URL": "https://example/jwks", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"}
	env := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	c, err := relay.ConfigFromEnv(env(nil))
	if err != nil || c.LogClientIP || len(c.LogAddressKey) != 0 {
		t.Fatalf("defaults: client IP %v, key %q, %v", c.LogClientIP, c.LogAddressKey, err)
	}
	c, err = relay.ConfigFromEnv(env(map[string]string{"LOG_CLIENT_IP": "true", "LOG_ADDRESS_KEY": "0123456789abcdef"}))
	if err != nil || !c.LogClientIP || string(c.LogAddressKey) != "0123456789abcdef" {
		t.Fatalf("set: client IP %v, key %q, %v", c.LogClientIP, c.LogAddressKey, err)
	}
	for k, v := range map[string]string{"LOG_CLIENT_IP": "yes", "LOG_ADDRESS_KEY": "short"} {
		if _, err := relay.ConfigFromEnv(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming %s", k, v, err, k)
		}
	}
}

// TestOpsEndpointsNeverOnThePublicPort: whatever the path, query or
// headers, the port behind the front door (PORT) serves no metrics, no
// profiling and no readiness detail, and its /ready names no Redis, with
// every Redis up, a peer down, or all down.
func TestOpsEndpointsNeverOnThePublicPort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd, peer := relaytest.NewRedis(t), relaytest.NewRedis(t)
	r := relaytest.NewRelay(t, e.v, "r1", rd.Addr, []string{peer.Addr}, nil)
	base := "http://" + r.Addr
	check := func(state string) {
		t.Helper()
		for _, p := range []string{"/metrics", "/metrics/", "/ready?verbose=1", "/ready?detail=true", "/readyz", "/debug/pprof/",
			"/debug/pprof/cmdline", "/debug/vars", "//metrics", "/ws/../metrics", "/%6detrics"} {
			for _, accept := range []string{"", "application/json", "text/plain; version=0.0.4"} {
				req, _ := http.NewRequest(http.MethodGet, base+p, nil)
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if _, err := b.ReadFrom(resp.Body); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				body := b.String()
				for _, leak := range []string{rd.Addr, peer.Addr, "127.0.0.1", "relay_", "go_goroutines", "pprof", `"status"`} {
					if strings.Contains(body, leak) {
						t.Errorf("%s: GET %s (Accept %q) on PORT: %d, body has %q:\n%s", state, p, accept, resp.StatusCode, leak, body)
					}
				}
				if !strings.HasPrefix(p, "/ready") && resp.StatusCode == http.StatusOK {
					t.Errorf("%s: GET %s on PORT served: %d", state, p, resp.StatusCode)
				}
			}
		}
	}
	check("all up")
	peer.Stop()
	check("a peer down")
	rd.Stop()
	check("all down")
	// The detail is on the operations port.
	if code, body := get(t, "http://"+r.OpsAddr+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no Redis reachable") {
		t.Fatalf("detailed ready on the operations port: %d %s", code, body)
	}
}
