package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// minLogAddressKey is the shortest LOG_ADDRESS_KEY accepted: a shorter key
// could be guessed, and with it every agent's address tested offline.
const minLogAddressKey = 16

// randomLogAddressKey is the key of an instance given none: its logs can be
// correlated with each other, not with another instance's.
func randomLogAddressKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// logAddress is how an agent's address appears in logs: a keyed hash (the
// first 8 bytes of HMAC-SHA256), so logs can follow one agent without
// naming it, and the address cannot be recovered without the key.
func (s *Server) logAddress(addr string) slog.Attr {
	m := hmac.New(sha256.New, s.cfg.LogAddressKey)
	m.Write([]byte(addr))
	return slog.String("agent", hex.EncodeToString(m.Sum(nil)[:8]))
}

// logClient is the client's IP and port in logs, only when LogClientIP is
// set; an empty attribute, which slog drops, otherwise.
func (s *Server) logClient(r *http.Request) slog.Attr {
	if !s.cfg.LogClientIP {
		return slog.Attr{}
	}
	return slog.String("remote", r.RemoteAddr)
}
