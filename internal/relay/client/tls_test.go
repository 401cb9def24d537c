package client_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// TestRefusesPlaintextToRemoteHost: tokens and envelopes never cross a
// network in clear, whatever the options.
func TestRefusesPlaintextToRemoteHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, u := range []string{"ws://relay.example.com/ws", "http://10.0.0.7:8080", "ws://[2001:db8::1]/ws"} {
		_, err := client.Dial(ctx, []string{u}, client.StaticToken("t"))
		if err == nil || !strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), "wss://") {
			t.Errorf("Dial(%s) = %v, want a refusal naming the URL", u, err)
		}
		if _, err := client.Probe(ctx, u, client.StaticToken("t")); err == nil || !strings.Contains(err.Error(), u) {
			t.Errorf("Probe(%s) = %v, want a refusal naming the URL", u, err)
		}
	}
	for _, u := range []string{"ws://127.0.0.1:1/ws", "ws://localhost:1", "http://[::1]:1", "wss://relay.example.com/ws"} {
		if err := client.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%s) = %v", u, err)
		}
	}
}

// TestRootCAsAndHeader: a wss:// relay (TLS terminated by a proxy, as the load
// balancer does) is reached only with its CA, and WithHeader reaches it on
// every handshake, the probe's included.
func TestRootCAsAndHeader(t *testing.T) {
	keys := relaytest.DevKeys(t)
	v := relaytest.Verifier(t, keys)
	rd := relaytest.NewRedis(t)
	r := relaytest.NewRelay(t, v, "r", rd.Addr, nil, nil)
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "test front door CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	backend, _ := url.Parse("http://" + r.Addr)
	var pinned, seen atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(backend)
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		seen.Add(1)
		if req.Header.Get("X-Agentnet-Region") == "r" {
			pinned.Add(1)
		}
		proxy.ServeHTTP(w, req)
	}))
	front.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	front.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	front.StartTLS()
	defer front.Close()
	wss := "wss" + strings.TrimPrefix(front.URL, "https") + "/ws"

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok := client.StaticToken(relaytest.Token(t, keys, "alice"))
	if _, err := client.Dial(ctx, []string{wss}, tok); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial without the CA: %v, want a certificate error", err)
	}
	pool, err := pki.Pool(ca.PEM)
	if err != nil {
		t.Fatal(err)
	}
	opts := []client.Option{client.WithRootCAs(pool), client.WithHeader(http.Header{"x-agentnet-region": {"r"}})}
	c, err := client.Dial(ctx, []string{wss}, tok, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := client.Probe(ctx, wss, tok, opts...); err != nil {
		t.Fatal(err)
	}
	if pinned.Load() != 3 || seen.Load() != 3 {
		t.Fatalf("%d of %d handshakes carried the region header, want 3 of 3", pinned.Load(), seen.Load())
	}
}
