package pki

import (
	"crypto/tls"
	"testing"
)

func TestIssuedCertificateVerifiesAgainstReloadedCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("127.0.0.1", "relay.example.com")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := Pool(again.PEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc, ok := c.(*tls.Conn)
			if !ok {
				t.Errorf("tls.Listen accepted a %T", c)
				c.Close()
				return
			}
			_ = tc.Handshake() // the client under test reports the handshake's outcome
			tc.Close()
		}
	}()
	for _, name := range []string{"127.0.0.1", "relay.example.com"} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.Close()
	}
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "other.example.com"}); err == nil {
		c.Close()
		t.Fatal("a name the certificate does not carry verified")
	}
}
