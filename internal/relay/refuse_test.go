package relay_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

func rawDial(t *testing.T, url, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
}

// hangUp drops ws without a close handshake, as an agent that is gone
// would; its error only says the connection was closed already.
func hangUp(ws *websocket.Conn) { _ = ws.CloseNow() }

// closeCode reads until the relay closes the connection and returns the code.
func closeCode(t *testing.T, ws *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	r := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, func(c *relay.Config) {
		c.MaxFrameBytes = 4096
		c.RateLimit = 20
		c.RateBurst = 20
	})
	// A healthy pair that must keep working through every refusal.
	a, b := e.dial("alice", r.URL), e.dial("bob", r.URL)
	exchange(t, a, b, 5)

	other := relaytest.DevKeys(t)
	now := time.Now()
	claims := func(m jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"iss": e.keys.Issuer, "aud": e.keys.Audience, "sub": "mallory", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range m {
			c[k] = v
		}
		return c
	}
	sign := func(k interface {
		Sign(jwt.Claims) (string, error)
	}, m jwt.MapClaims) string {
		s, err := k.Sign(claims(m))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	httpCases := []struct {
		name, token string
		status      int
		reason      string
	}{
		{"no token", "", 401, "missing bearer token"},
		{"expired", sign(e.keys, jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}), 401, "token expired"},
		{"wrong audience", sign(e.keys, jwt.MapClaims{"aud": "someone-else"}), 401, "wrong token audience"},
		{"wrong issuer", sign(e.keys, jwt.MapClaims{"iss": "https://elsewhere"}), 401, "wrong token issuer"},
		{"unknown key id", sign(other, nil), 401, "unknown signing key id"},
		{"garbage", "abc.def.ghi", 401, "invalid token"},
		{"exp in 2999", sign(e.keys, jwt.MapClaims{"exp": time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC).Unix()}), 401, "token lifetime over the maximum"},
		{"iat in 24h", sign(e.keys, jwt.MapClaims{"iat": now.Add(24 * time.Hour).Unix(), "exp": now.Add(25 * time.Hour).Unix()}), 401, "token issued in the future"},
		{"exp a string", sign(e.keys, jwt.MapClaims{"exp": strconv.FormatInt(now.Add(time.Hour).Unix(), 10)}), 401, "token dates must be numbers"},
	}
	for _, tc := range httpCases {
		_, resp, err := rawDial(t, r.URL, tc.token)
		if err == nil || resp == nil {
			t.Fatalf("%s: connection accepted", tc.name)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.reason) {
			t.Errorf("%s: HTTP %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.status, tc.reason)
		}
		if tc.status == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
		// The client library reports the same refusal.
		_, cerr := client.Dial(context.Background(), []string{r.URL}, client.StaticToken(tc.token))
		var de *client.DialError
		if !errors.As(cerr, &de) || de.Status != tc.status {
			t.Errorf("%s: client.Dial error %v", tc.name, cerr)
		}
	}
	_, resp, err := rawDial(t, r.URL+"?label=a/b", relaytest.Token(t, e.keys, "mallory"))
	if err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad label accepted: %v", err)
	}

	tok := relaytest.Token(t, e.keys, "mallory")
	inBand := []struct {
		name  string
		write func(*websocket.Conn) error
		code  websocket.StatusCode
	}{
		{"oversize frame", func(ws *websocket.Conn) error {
			big := envelope.AppendEnvelope(nil, envelope.TypeSend, &envelope.Envelope{ID: "m", To: "bob", Payload: make([]byte, 5000)})
			return ws.Write(context.Background(), websocket.MessageBinary, big)
		}, envelope.CloseTooBig},
		{"malformed envelope", func(ws *websocket.Conn) error {
			return ws.Write(context.Background(), websocket.MessageBinary, []byte{byte(envelope.TypeSend), 1, 0, 0})
		}, envelope.CloseMalformed},
		{"text frame", func(ws *websocket.Conn) error {
			return ws.Write(context.Background(), websocket.MessageText, []byte("hello"))
		}, envelope.ClosePolicy},
		{"relay-only frame", func(ws *websocket.Conn) error {
			return ws.Write(context.Background(), websocket.MessageBinary, envelope.AppendIDs(nil, envelope.TypeAck, []string{"x"}))
		}, envelope.ClosePolicy},
		{"over rate limit", func(ws *websocket.Conn) error {
			for i := 0; i < 100; i++ {
				if err := ws.Write(context.Background(), websocket.MessageBinary, []byte{byte(envelope.TypePing)}); err != nil {
					return nil //nolint:nilerr // already closed by the relay
				}
			}
			return nil
		}, envelope.CloseRateLimited},
	}
	for _, tc := range inBand {
		ws, _, err := rawDial(t, r.URL, tok)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := tc.write(ws); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		if code, reason := closeCode(t, ws); code != tc.code {
			t.Errorf("%s: close %d %q, want %d", tc.name, code, reason, tc.code)
		}
		hangUp(ws)
		exchange(t, a, b, 3)
	}

	// A token that expires while connected ends the connection with 4001.
	short, _ := e.keys.Sign(claims(jwt.MapClaims{"exp": time.Now().Add(1500 * time.Millisecond).Unix()}))
	ws, _, err := rawDial(t, r.URL, short)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := closeCode(t, ws); code != envelope.CloseTokenExpired {
		t.Errorf("token expiry: close %d, want %d", code, envelope.CloseTokenExpired)
	}
	exchange(t, a, b, 3)
}

// TestSendToInvalidAddress checks the client refuses what the relay would.
func TestClientValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	r := relaytest.NewRelay(t, e.v, "r1", rd.Addr, nil, func(c *relay.Config) { c.MaxFrameBytes = 1024 })
	a := e.dial("alice", r.URL)
	ctx := context.Background()
	if _, err := a.Send(ctx, "bad address", "", nil); err == nil {
		t.Error("invalid address accepted")
	}
	if _, err := a.Send(ctx, "bob", "bad id!", nil); err == nil {
		t.Error("invalid id accepted")
	}
	var re *client.RefusedError
	if _, err := a.Send(ctx, "bob", "", make([]byte, 2000)); !errors.As(err, &re) || re.Code != envelope.NackTooLarge {
		t.Errorf("oversize payload: %v", err)
	}
}
