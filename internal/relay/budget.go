package relay

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
)

// A connection's byte budget bounds the bytes of the envelopes delivered to
// it and not yet acknowledged (read from Redis, queued for writing, written
// and awaiting the delivery ack). A client that stops reading stops
// acknowledging, so the relay holds at most the budget (plus one frame per
// Redis) for it, whatever its inbox holds.
const defaultConnByteBudget = 1 << 20

// noByteBudget is the room of a read without a budget (ConnByteBudget
// negative, for benchmarks): a plain XRANGE.
const noByteBudget = -1

// minReadRate is the slowest a client may take its deliveries: the write
// timeout is the time to write a whole budget at this rate, so a client
// that does not read is closed (CloseSlowReader) within a few seconds.
const minReadRate = 256 << 10 // bytes per second

// writeTimeoutFor sizes the write timeout to the byte budget.
func writeTimeoutFor(budget int) time.Duration {
	return max(time.Second, time.Duration(budget)*time.Second/minReadRate)
}

// limitSendBuffer sets the socket's send buffer to an eighth of the byte
// budget (the kernel doubles it). Left to itself the kernel grows it to
// megabytes, which would take a client's whole budget without the client
// reading anything, so its writes would never time out.
func limitSendBuffer(nc net.Conn, budget int) error {
	if tc, ok := nc.(*net.TCPConn); ok && budget > 0 {
		if err := tc.SetWriteBuffer(budget / 8); err != nil {
			return fmt.Errorf("relay: bound the send buffer by the byte budget: %w", err)
		}
	}
	return nil
}

// readScript reads up to ARGV[2] inbox entries after ARGV[1] whose values
// add up to at most ARGV[3] bytes; always the first entry, so an envelope
// larger than what is left of the budget is not stuck. The cut is made in
// Redis so that what does not fit never crosses the network into memory.
// The reply is {cut, entries}: cut is 1 when entries were left for lack of
// room.
var readScript = redis.NewScript(`
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
local room = tonumber(ARGV[3])
local out = {}
for _, e in ipairs(entries) do
  local size, kv = 0, e[2]
  for j = 2, #kv, 2 do size = size + #kv[j] end
  if #out > 0 and size > room then return {1, out} end
  room = room - size
  out[#out + 1] = e
end
return {0, out}
`)

// readInbox reads up to count entries after cursor ("" for the start),
// holding at most about room bytes (see readScript; noByteBudget: no
// bound); cut reports entries left for lack of room. Unless backlog, a
// read that room holds whatever the entries' sizes (room over the largest
// entry) is a plain XRANGE of that many entries: cheaper for Redis than
// the script, which copies every entry through Lua, and the usual read of
// a connection keeping up with its inbox.
func (n *node) readInbox(ctx context.Context, addr, cursor string, count, room int, backlog bool) (entries []inboxEntry, cut bool, err error) {
	start := "-"
	if cursor != "" {
		start = "(" + cursor
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if fits := room / n.s.maxEntryBytes(); room == noByteBudget || !backlog && fits > 0 {
		k := count
		if room != noByteBudget {
			k = min(count, fits)
		}
		msgs, err := n.rdb.XRangeN(ctx, n.key(inboxPrefix, addr), start, "+", int64(k)).Result()
		n.markDown("read", err)
		entries := make([]inboxEntry, len(msgs))
		for i, m := range msgs {
			entries[i] = inboxEntry{sid: m.ID, id: value(m.Values, "i"), from: value(m.Values, "s"), frame: value(m.Values, "f")}
		}
		return entries, len(entries) == k && k < count, err
	}
	res, err := readScript.Run(ctx, n.rdb, []string{n.key(inboxPrefix, addr)}, start, count, room).Slice()
	n.markDown("read", err)
	if err != nil {
		return nil, false, err
	}
	if len(res) != 2 {
		return nil, false, fmt.Errorf("read inbox: unexpected reply of %d elements", len(res))
	}
	list, _ := res[1].([]any)
	entries, err = xMessages(list)
	return entries, res[0] == int64(1), err
}

// maxEntryBytes bounds what one inbox entry counts against the budget: a
// frame of MAX_FRAME_BYTES plus what the relay adds to it (sender, time,
// entry fields).
func (s *Server) maxEntryBytes() int { return s.cfg.MaxFrameBytes + 1024 }

// xMessages converts a script's array of stream entries.
func xMessages(res []any) ([]inboxEntry, error) {
	out := make([]inboxEntry, 0, len(res))
	for _, r := range res {
		e, ok := r.([]any)
		if !ok || len(e) != 2 {
			return nil, fmt.Errorf("read inbox: unexpected entry %T", r)
		}
		m := inboxEntry{}
		m.sid, _ = e[0].(string)
		kv, _ := e[1].([]any)
		for j := 0; j+1 < len(kv); j += 2 {
			k, _ := kv[j].(string)
			v, _ := kv[j+1].(string)
			switch k {
			case "i":
				m.id = v
			case "s":
				m.from = v
			case "f":
				m.frame = v
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// value is a stream entry's field k, "" when it has none.
func value(vs map[string]any, k string) string {
	v, _ := vs[k].(string)
	return v
}

// closeSlowReader closes a connection whose write did not finish within the
// write timeout. The close code is set before the write is cancelled, so
// that the failing write and read do not report it as another close.
func (c *conn) closeSlowReader() {
	c.s.m.refused.WithLabelValues("slow_reader").Inc()
	c.closeWith(envelope.CloseSlowReader, "deliveries not read within the write timeout")
	c.cancel()
}
