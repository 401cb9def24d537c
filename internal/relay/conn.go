package relay

import (
	"context"
	"errors"
	"math/bits"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
)

// conn is one agent connection. The HTTP handler goroutine reads; writing and
// inbox reading run in goroutines started on demand, so an idle connection
// costs one goroutine.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	addr   string
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{} // one per send not yet acked

	closeOnce sync.Once
	idle      *time.Timer
	expiry    *time.Timer

	// Rate limit (reader goroutine only).
	tokens float64
	last   time.Time

	outMu      sync.Mutex
	outAcks    []string
	outFrames  [][]byte
	outRelease int
	writing    bool
	closed     bool

	dmu       sync.Mutex
	dirty     uint64   // nodes whose inbox may hold unread entries
	read      uint64   // nodes whose inbox was read since the connection opened (cursor set)
	draining  uint64   // nodes being read (drainNode)
	cursors   []string // last entry read, per node
	inflight  map[string][]entryRef
	inflightN int
	reserved  int // window room taken by reads in progress
	// Bytes of the deliveries in flight and of the reads in progress,
	// against the byte budget (budget.go).
	inflightBytes int
	reservedBytes int
	// backlog: nodes whose last read of the inbox was cut or full; the
	// others are read without the byte budget's script (see readInbox).
	backlog uint64
}

type entryRef struct {
	node     int
	id       string // stream id
	field    string // index field (indexField), "" for an entry without a sender
	size     int    // bytes counted against the byte budget
	frameLen int    // what the entry counts in the stored bytes (quota_stored.go)
}

func newConn(s *Server, ws *websocket.Conn, addr string, expiry time.Time) *conn {
	c := &conn{
		s: s, ws: ws, addr: addr,
		slots:   make(chan struct{}, s.cfg.MaxInflightSends),
		tokens:  float64(s.cfg.RateBurst),
		last:    time.Now(),
		cursors: make([]string, len(s.nodes)),
		backlog: ^uint64(0), // the first read may meet a full inbox
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.idle = time.AfterFunc(s.cfg.IdleTimeout, func() {
		c.closeWith(envelope.CloseIdle, "idle timeout")
	})
	if !expiry.IsZero() {
		c.expiry = time.AfterFunc(time.Until(expiry), func() {
			c.s.m.refused.WithLabelValues("token_expired_live").Inc()
			c.closeWith(envelope.CloseTokenExpired, "token expired")
		})
	}
	return c
}

// closeWith closes the connection with a close frame; the handshake runs in
// the background so no caller blocks on a slow peer.
func (c *conn) closeWith(code int, reason string) {
	c.closeOnce.Do(func() {
		c.s.m.closes.WithLabelValues(strconv.Itoa(code)).Inc()
		if code != envelope.CloseGoingAway && code != envelope.CloseNormal {
			c.s.log.Info("closing connection", "code", code, "reason", reason, c.s.logAddress(c.addr))
		}
		c.outMu.Lock()
		c.closed = true
		c.outMu.Unlock()
		go func() {
			c.ws.Close(websocket.StatusCode(code), reason)
			c.cancel()
		}()
	})
}

func (c *conn) serve() {
	s := c.s
	s.m.connections.Inc()
	defer s.m.connections.Dec()
	// c.ctx is cancelled by closeWith once the close handshake is over:
	// cancelling it sooner aborts a write in flight, and with it the
	// connection, before the peer reads its close frame.
	defer c.idle.Stop()
	if c.expiry != nil {
		defer c.expiry.Stop()
	}
	hello := envelope.AppendHello(nil, &envelope.Hello{
		Address: c.addr, Instance: s.cfg.InstanceID, Region: s.cfg.Region, MaxFrame: uint32(s.cfg.MaxFrameBytes),
	})
	wctx, cancel := context.WithTimeout(c.ctx, s.cfg.WriteTimeout)
	err := c.ws.Write(wctx, websocket.MessageBinary, hello)
	cancel()
	if err != nil {
		_ = c.ws.CloseNow() // the hello failed: the connection is over either way
		c.cancel()
		return
	}
	s.notices.greet(c)
	defer s.notices.forget(c)
	s.register(c) // and reads the inbox once the wake-ups are subscribed
	defer s.unregister(c)
	c.readLoop()
	c.closeWith(envelope.CloseNormal, "")
	c.outMu.Lock()
	c.closed = true
	c.outMu.Unlock()
}

func (c *conn) readLoop() {
	cfg := &c.s.cfg
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				c.s.m.refused.WithLabelValues("frame_too_big").Inc()
				c.s.m.closes.WithLabelValues(strconv.Itoa(envelope.CloseTooBig)).Inc()
				c.s.log.Info("closing connection", "code", envelope.CloseTooBig, "reason", "frame too big", c.s.logAddress(c.addr))
			}
			return
		}
		c.idle.Reset(cfg.IdleTimeout)
		now := time.Now()
		c.tokens += now.Sub(c.last).Seconds() * cfg.RateLimit
		if c.tokens > float64(cfg.RateBurst) {
			c.tokens = float64(cfg.RateBurst)
		}
		c.last = now
		if c.tokens < 1 {
			c.s.m.refused.WithLabelValues("rate_limited").Inc()
			c.closeWith(envelope.CloseRateLimited, "rate limit exceeded")
			return
		}
		c.tokens--
		if typ != websocket.MessageBinary {
			c.s.m.refused.WithLabelValues("malformed").Inc()
			c.closeWith(envelope.ClosePolicy, "binary frames only")
			return
		}
		f, err := envelope.Decode(data)
		if err != nil {
			c.s.m.refused.WithLabelValues("malformed").Inc()
			c.closeWith(envelope.CloseMalformed, "malformed frame")
			return
		}
		switch f.Type {
		case envelope.TypeSend:
			if !c.handleSend(&f.Envelope, now) {
				return
			}
		case envelope.TypeDeliveryAck:
			c.handleDeliveryAck(f.IDs)
		case envelope.TypePing:
			c.queueFrame([]byte{byte(envelope.TypePong)})
		default:
			c.s.m.refused.WithLabelValues("malformed").Inc()
			c.closeWith(envelope.ClosePolicy, "unexpected frame type")
			return
		}
	}
}

func (c *conn) handleSend(e *envelope.Envelope, now time.Time) bool {
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		return false
	}
	out := envelope.Envelope{ID: e.ID, From: c.addr, To: e.To, Sent: now.UnixMilli(), Payload: e.Payload}
	frame := envelope.AppendEnvelope(make([]byte, 0, envelope.EnvelopeSize(&out)), envelope.TypeDeliver, &out)
	c.s.rates.submit(&sendReq{c: c, id: e.ID, to: e.To, frame: frame, start: now})
	return true
}

func (c *conn) ack(id string) {
	c.outMu.Lock()
	c.outAcks = append(c.outAcks, id)
	c.outRelease++
	c.kickLocked()
	c.outMu.Unlock()
}

func (c *conn) nack(id string, code envelope.NackCode, reason string) {
	f := envelope.AppendNack(nil, &envelope.Nack{ID: id, Code: code, Reason: reason})
	c.outMu.Lock()
	c.outFrames = append(c.outFrames, f)
	c.outRelease++
	c.kickLocked()
	c.outMu.Unlock()
}

func (c *conn) queueFrame(f []byte) {
	c.outMu.Lock()
	c.outFrames = append(c.outFrames, f)
	c.kickLocked()
	c.outMu.Unlock()
}

func (c *conn) queueFrames(fs [][]byte) {
	c.outMu.Lock()
	c.outFrames = append(c.outFrames, fs...)
	c.kickLocked()
	c.outMu.Unlock()
}

func (c *conn) kickLocked() {
	if !c.writing && !c.closed {
		c.writing = true
		go c.writeLoop()
	}
}

func (c *conn) writeLoop() {
	var ackBuf []byte
	for {
		c.outMu.Lock()
		acks, frames, release := c.outAcks, c.outFrames, c.outRelease
		c.outAcks, c.outFrames, c.outRelease = nil, nil, 0
		if c.closed || len(acks)+len(frames) == 0 {
			c.writing = false
			c.outMu.Unlock()
			return
		}
		c.outMu.Unlock()
		// A batch holds at most the byte budget of deliveries: one that
		// takes longer than the write timeout is a client that does not read.
		stall := time.AfterFunc(c.s.cfg.WriteTimeout, c.closeSlowReader)
		err := error(nil)
		for len(acks) > 0 && err == nil {
			k := min(len(acks), envelope.MaxIDs)
			ackBuf = envelope.AppendIDs(ackBuf[:0], envelope.TypeAck, acks[:k])
			acks = acks[k:]
			err = c.ws.Write(c.ctx, websocket.MessageBinary, ackBuf)
		}
		for _, f := range frames {
			if err != nil {
				break
			}
			err = c.ws.Write(c.ctx, websocket.MessageBinary, f)
		}
		stall.Stop()
		for range release {
			<-c.slots
		}
		if err != nil {
			c.closeWith(envelope.CloseInternal, "write failed")
			c.outMu.Lock()
			c.writing = false
			c.outMu.Unlock()
			return
		}
	}
}

// markDirty records that the inbox on the given nodes may hold entries and
// starts reading it where no read is running, unless the window is full.
func (c *conn) markDirty(mask uint64) {
	c.dmu.Lock()
	c.dirty |= mask
	c.startDrainLocked()
	c.dmu.Unlock()
}

// startDrainLocked starts a reader for each dirty node that has none. Each
// node is read by a goroutine of its own, so that a slow or unreachable
// Redis does not hold up delivery from the others.
func (c *conn) startDrainLocked() {
	if budget := c.s.cfg.ConnByteBudget; c.ctx.Err() != nil || c.inflightN+c.reserved >= c.s.cfg.DeliveryWindow ||
		budget > 0 && c.inflightBytes+c.reservedBytes >= budget {
		return
	}
	for m := c.dirty &^ c.draining; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		c.draining |= 1 << i
		go c.drainNode(i)
	}
}

// drainNode reads the inbox on node i while it is dirty and the window has
// room. Entries being read count against the window (reserved), so that
// concurrent reads of several nodes do not exceed it; one read takes at most
// a node's share of the window, so that a read that hangs on one Redis
// leaves room for the others.
func (c *conn) drainNode(i int) {
	window := c.s.cfg.DeliveryWindow
	share := (window + len(c.s.nodes) - 1) / len(c.s.nodes)
	budget := c.s.cfg.ConnByteBudget
	byteShare := (budget + len(c.s.nodes) - 1) / len(c.s.nodes)
	n := c.s.nodes[i]
	bit := uint64(1) << i
	c.dmu.Lock()
	for {
		room := min(window-c.inflightN-c.reserved, share)
		byteRoom := noByteBudget
		if budget > 0 {
			byteRoom = min(budget-c.inflightBytes-c.reservedBytes, byteShare)
		}
		if c.dirty&bit == 0 || room <= 0 || budget > 0 && byteRoom <= 0 || c.ctx.Err() != nil {
			c.draining &^= bit
			c.dmu.Unlock()
			return
		}
		c.dirty &^= bit
		// Checked after clearing the bit: a Redis coming back sets up
		// before it marks every connection dirty (resync), so a read
		// skipped here is made then.
		if !n.up.Load() {
			continue
		}
		cursor, backlog := c.cursors[i], c.backlog&bit != 0
		c.reserved += room
		c.reservedBytes += max(byteRoom, 0)
		c.dmu.Unlock()

		entries, cut, err := n.readInbox(c.ctx, c.addr, cursor, room, byteRoom, backlog)

		c.dmu.Lock()
		c.reserved -= room
		c.reservedBytes -= max(byteRoom, 0)
		if err != nil {
			if c.ctx.Err() == nil {
				n.s.m.redisErrors.WithLabelValues(n.name, "read").Inc()
				// A Redis coming back re-reads every inbox; while it is up a
				// failed read is retried shortly.
				if n.up.Load() {
					time.AfterFunc(500*time.Millisecond, func() { c.markDirty(bit) })
				}
			}
			c.startDrainLocked() // the reservation is free again
			continue
		}
		c.read |= bit
		frames := make([][]byte, 0, len(entries))
		for _, e := range entries {
			if f := c.takeLocked(i, e); f != nil {
				frames = append(frames, f)
			}
		}
		if len(entries) == room || cut {
			c.dirty |= bit // there may be more
			c.backlog |= bit
		} else {
			c.backlog &^= bit
		}
		if len(entries) < room {
			c.startDrainLocked() // part of the reservation is free again
		}
		if len(frames) > 0 {
			c.dmu.Unlock()
			c.s.m.delivered.Add(float64(len(frames)))
			c.queueFrames(frames)
			c.dmu.Lock()
		}
	}
}

// takeLocked moves the cursor on node i past e and counts e in flight; it
// returns the frame to deliver, or nil for an entry without one or a copy
// of an envelope already delivered from another Redis (its delivery ack
// deletes every copy).
func (c *conn) takeLocked(i int, e inboxEntry) []byte {
	c.cursors[i] = e.sid
	if e.id == "" || e.frame == "" {
		return nil
	}
	field := ""
	if e.from != "" {
		field = indexField(e.from, e.id)
	}
	dup := false
	for _, r := range c.inflight[e.id] {
		if field != "" && r.field == field && r.node != i {
			dup = true
			break
		}
	}
	if c.inflight == nil {
		c.inflight = map[string][]entryRef{}
	}
	size := e.size()
	c.inflight[e.id] = append(c.inflight[e.id], entryRef{node: i, id: e.sid, field: field, size: size, frameLen: len(e.frame)})
	c.inflightN++
	c.inflightBytes += size
	if dup {
		return nil
	}
	return []byte(e.frame)
}

func (c *conn) handleDeliveryAck(ids []string) {
	// Per Redis: the entries read from it, by stream id, and, for every
	// other Redis that may hold a copy, the envelope's index field.
	nodes := c.s.nodes
	byNode := make([][]string, len(nodes))
	acked := 0
	c.dmu.Lock()
	for _, id := range ids {
		refs, ok := c.inflight[id]
		if !ok {
			continue
		}
		delete(c.inflight, id)
		c.inflightN -= len(refs)
		for _, r := range refs {
			c.inflightBytes -= r.size
		}
		acked++
		for k, r := range refs {
			byNode[r.node] = append(byNode[r.node], r.field, r.id, strconv.Itoa(r.frameLen))
			if r.field == "" {
				continue
			}
			first, held := true, uint64(0)
			for j, o := range refs {
				if o.field == r.field {
					held |= 1 << o.node
					if j < k {
						first = false
					}
				}
			}
			if !first {
				continue
			}
			for _, n := range nodes {
				if held&(1<<n.idx) == 0 && n.up.Load() {
					byNode[n.idx] = append(byNode[n.idx], r.field, "", "")
				}
			}
		}
	}
	if len(c.inflight) == 0 {
		c.inflight = nil // give the memory back to idle connections
	}
	c.startDrainLocked()
	c.dmu.Unlock()
	c.s.m.deliveryAcks.Add(float64(acked))
	for i, args := range byNode {
		if len(args) == 0 {
			continue
		}
		select {
		case nodes[i].delCh <- delReq{addr: c.addr, args: args}:
		case <-c.ctx.Done():
			return
		}
	}
}
