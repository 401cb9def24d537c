package relay

import (
	"crypto/sha256"
	"encoding/binary"
)

// An identity's quota counters (connection leases, rates) live on one Redis
// of the configured set, its home, so that relays of every region count
// them together. The home is chosen by rendezvous hashing of the identity
// over the Redis names (Memorystore instance names, or addresses in direct
// mode, which every region must then spell alike): the same choice in
// every region without any coordination, and adding or removing a region
// moves only the identities homed there. A home that does not answer is
// replaced by the next Redis in the identity's order, the same one for
// every relay that sees it down: the identity is then counted afresh there
// (fail open, see the README), rather than refused in every region for the
// outage of one.

// homeScore ranks Redis name for subject: the highest score is its home.
func homeScore(name, subject string) uint64 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// quotaHome is the Redis counting subject's quotas: the reachable one
// scoring highest, nil when none answers.
func (s *Server) quotaHome(subject string) *node {
	var home *node
	var best uint64
	for _, n := range s.nodes {
		if !n.up.Load() {
			continue
		}
		if sc := homeScore(n.name, subject); home == nil || sc > best {
			home, best = n, sc
		}
	}
	return home
}
