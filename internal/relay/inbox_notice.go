package relay

import (
	"strconv"
	"strings"
)

// An inbox notice is what addScript publishes on an address's wake channel
// after storing envelopes there: the id of the stream's last entry before
// them, then each entry, so that a connection that read the inbox up to
// that entry (or past it: what it read may have been deleted since) has
// read every entry before them and delivers them as they are, without
// reading the stream. Entries added and deleted since its last read are
// skipped, as a read would skip them. Anything else (a gap, a
// connection that has not read the inbox yet, a window or byte budget
// without room, a notice lost or too large to carry its entries) falls back
// to reading the stream, as after a plain wake-up (an empty message).
//
//	prev "\n" sid "\n" envelope id "\n" sender "\n" frame length "\n" frame
//	     ["\n" sid "\n" ... for each further entry]
//
// Stream ids, envelope ids and addresses hold no newline; the frame's
// length says where it ends.
type inboxNotice struct {
	prev    string // the stream's last entry before these, "0-0" for none
	entries []inboxEntry
}

// inboxEntry is an inbox stream entry, read or carried by a notice.
type inboxEntry struct {
	sid   string // stream id
	id    string // envelope id
	from  string // sender ("" for an entry written without one)
	frame string // the deliver frame
}

// size is what the entry counts against the byte budget: its values'
// bytes, as readScript counts them.
func (e inboxEntry) size() int { return len(e.id) + len(e.frame) + len(e.from) }

// noticeMaxBytes bounds the frames a notice carries: a larger batch is
// announced by a plain wake-up and read from the stream.
const noticeMaxBytes = 256 << 10

// noticeCap is the frame bytes a notice may carry: no more than a
// connection's byte budget, which a larger notice could not be delivered
// within anyway.
func (s *Server) noticeCap() int {
	if b := s.cfg.ConnByteBudget; b > 0 {
		return min(b, noticeMaxBytes)
	}
	return noticeMaxBytes
}

// parseNotice reads a notice; ok is false for a plain wake-up or a message
// it cannot read, which are handled as a wake-up.
func parseNotice(p string) (n inboxNotice, ok bool) {
	prev, rest, found := strings.Cut(p, "\n")
	if !found || prev == "" {
		return n, false
	}
	n.prev = prev
	for {
		var e inboxEntry
		var length string
		if e.sid, rest, found = strings.Cut(rest, "\n"); !found {
			return n, false
		}
		if e.id, rest, found = strings.Cut(rest, "\n"); !found {
			return n, false
		}
		if e.from, rest, found = strings.Cut(rest, "\n"); !found {
			return n, false
		}
		if length, rest, found = strings.Cut(rest, "\n"); !found {
			return n, false
		}
		k, err := strconv.Atoi(length)
		if err != nil || k < 0 || k > len(rest) || e.sid == "" || e.id == "" {
			return n, false
		}
		e.frame, rest = rest[:k], rest[k:]
		n.entries = append(n.entries, e)
		if rest == "" {
			return n, true
		}
		if rest[0] != '\n' {
			return n, false
		}
		rest = rest[1:]
	}
}

// streamIDAfter reports whether stream id a comes after b; "" (nothing
// read yet) is before any id.
func streamIDAfter(a, b string) bool {
	ams, aseq := splitStreamID(a)
	bms, bseq := splitStreamID(b)
	return ams > bms || ams == bms && aseq > bseq
}

func splitStreamID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

// notice hands a notice from node idx to the connections of addr.
func (s *Server) notice(addr string, idx int, n *inboxNotice) {
	for _, c := range s.connsOf(addr) {
		c.offer(idx, n)
	}
}

// offer delivers a notice's entries when the connection's cursor on node
// i is at or past the stream's last entry before them, the inbox there was read since
// the connection opened and no read of it is running or due, and the
// window and byte budget have room for them all. Entries it already read
// are ignored; in every other case the inbox is read as after a wake-up.
func (c *conn) offer(i int, n *inboxNotice) {
	bit := uint64(1) << i
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.ctx.Err() != nil {
		return
	}
	cursor := c.cursors[i]
	if !streamIDAfter(n.entries[len(n.entries)-1].sid, cursor) {
		return // read already
	}
	size := 0
	for _, e := range n.entries {
		size += e.size()
	}
	budget := c.s.cfg.ConnByteBudget
	if c.read&bit == 0 || (c.dirty|c.draining)&bit != 0 || streamIDAfter(n.prev, cursor) ||
		c.inflightN+c.reserved+len(n.entries) > c.s.cfg.DeliveryWindow ||
		budget > 0 && c.inflightBytes+c.reservedBytes+size > budget {
		c.dirty |= bit
		c.startDrainLocked()
		return
	}
	frames := make([][]byte, 0, len(n.entries))
	for _, e := range n.entries {
		if f := c.takeLocked(i, e); f != nil {
			frames = append(frames, f)
		}
	}
	if len(frames) > 0 {
		c.s.m.delivered.Add(float64(len(frames)))
		c.s.m.deliveredDirect.Add(float64(len(frames)))
		c.queueFrames(frames)
	}
}
