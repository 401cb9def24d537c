// Package envelope is the relay's wire format.
//
// Every WebSocket message between an agent and the relay is one binary frame.
// The first byte is the frame type; the rest depends on it. An envelope is a
// small routing header (id, sender, recipient, time) followed by the payload,
// which is ciphertext the agents encrypted end to end: the relay reads the
// header only and passes the payload through untouched.
//
// Envelope layout (all integers big endian):
//
//	version  u8   (1)
//	idLen    u8   then id bytes     (1..64, [A-Za-z0-9._:-])
//	fromLen  u8   then from bytes   (0..200 on send: the relay stamps it)
//	toLen    u8   then to bytes     (1..200, address characters)
//	sent     u64  unix milliseconds (0 on send: the relay stamps it)
//	len      u32  then payload bytes (exactly len, nothing after)
//
// Id lists (ack, delivery ack): count u16, then count times (len u8, id).
//
// A dependency notice (relay to agent) is the frame type followed by a JSON
// document, the rest of the frame (see internal/relay/README.md).
package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Type is the first byte of every frame.
type Type byte

// Frame types.
const (
	// TypeSend carries an envelope from an agent to the relay.
	TypeSend Type = 1
	// TypeDeliver carries an envelope from the relay to its recipient.
	TypeDeliver Type = 2
	// TypeAck tells the sender the relay has durably queued these ids.
	TypeAck Type = 3
	// TypeNack tells the sender the relay refused one envelope.
	TypeNack Type = 4
	// TypeDeliveryAck tells the relay the recipient has taken these ids.
	TypeDeliveryAck Type = 5
	// TypeHello is the relay's first frame on a new connection.
	TypeHello Type = 6
	// TypePing is an application heartbeat from the agent.
	TypePing Type = 7
	// TypePong answers a ping.
	TypePong Type = 8
	// TypeNotice carries the relay's dependency notice: which external
	// dependencies are ok, degraded or down.
	TypeNotice Type = 9
)

// MaxNoticeLen bounds the JSON document of a notice frame.
const MaxNoticeLen = 64 << 10

func (t Type) String() string {
	switch t {
	case TypeSend:
		return "send"
	case TypeDeliver:
		return "deliver"
	case TypeAck:
		return "ack"
	case TypeNack:
		return "nack"
	case TypeDeliveryAck:
		return "delivery-ack"
	case TypeHello:
		return "hello"
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	case TypeNotice:
		return "notice"
	}
	return fmt.Sprintf("type(%d)", byte(t))
}

// Limits of the header fields.
const (
	Version       = 1
	MaxIDLen      = 64
	MaxAddressLen = 200
	MaxIDs        = 4096
	MaxReasonLen  = 200
)

// NackCode says why the relay refused an envelope.
type NackCode byte

// Nack codes. Retryable codes mean the same envelope may be sent again later.
const (
	NackInvalid     NackCode = 1 // bad header; do not retry
	NackTooLarge    NackCode = 2 // payload over the limit; do not retry
	NackInboxFull   NackCode = 3 // recipient's queue is full; retry later
	NackUnavailable NackCode = 4 // no queue reachable; retry later
	NackQuota       NackCode = 5 // over a rate quota of the sender's identity; retry later
)

// Retryable reports whether the sender may try the same envelope again.
func (c NackCode) Retryable() bool {
	return c == NackInboxFull || c == NackUnavailable || c == NackQuota
}

func (c NackCode) String() string {
	switch c {
	case NackInvalid:
		return "invalid"
	case NackTooLarge:
		return "too-large"
	case NackInboxFull:
		return "inbox-full"
	case NackUnavailable:
		return "unavailable"
	case NackQuota:
		return "quota"
	}
	return fmt.Sprintf("nack(%d)", byte(c))
}

// Envelope is one addressed message. Payload is opaque ciphertext.
type Envelope struct {
	ID      string
	From    string
	To      string
	Sent    int64 // unix milliseconds, stamped by the relay
	Payload []byte
}

// Nack is the relay's refusal of one envelope.
type Nack struct {
	ID     string
	Code   NackCode
	Reason string
}

// Hello is the relay's greeting: the address the connection receives for and
// where it landed.
type Hello struct {
	Address  string
	Instance string
	Region   string
	MaxFrame uint32
}

// Frame is a decoded frame. Only the fields of its Type are set.
type Frame struct {
	Type     Type
	Envelope Envelope // send, deliver
	IDs      []string // ack, delivery-ack
	Nack     Nack     // nack
	Hello    Hello    // hello
	Notice   []byte   // notice: the JSON document
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed frame")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// ValidID reports whether s is a valid envelope id.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

// ValidAddress reports whether s is a valid agent address: an identity
// (the token subject), optionally followed by "/" and a label.
func ValidAddress(s string) bool {
	if len(s) == 0 || len(s) > MaxAddressLen {
		return false
	}
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '-' || c == '@':
		case c == '/':
			slashes++
			if slashes > 1 || i == 0 || i == len(s)-1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ValidLabel reports whether s can follow "identity/" in an address.
func ValidLabel(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return false
		}
	}
	return ValidAddress(s)
}

// Decode parses one frame. The envelope payload aliases b.
func Decode(b []byte) (Frame, error) {
	var f Frame
	if len(b) == 0 {
		return f, malformed("empty frame")
	}
	f.Type = Type(b[0])
	r := reader{b: b[1:]}
	switch f.Type {
	case TypeSend, TypeDeliver:
		e, err := decodeEnvelope(&r, f.Type == TypeDeliver)
		if err != nil {
			return f, err
		}
		f.Envelope = e
	case TypeAck, TypeDeliveryAck:
		n, ok := r.u16()
		if !ok {
			return f, malformed("short id count")
		}
		if n == 0 || int(n) > MaxIDs {
			return f, malformed("id count %d out of range", n)
		}
		f.IDs = make([]string, 0, n)
		for i := 0; i < int(n); i++ {
			id, ok := r.str8()
			if !ok || !ValidID(id) {
				return f, malformed("bad id %d", i)
			}
			f.IDs = append(f.IDs, id)
		}
	case TypeNack:
		id, ok := r.str8()
		if !ok || !ValidID(id) {
			return f, malformed("bad nack id")
		}
		code, ok := r.u8()
		if !ok || code == 0 {
			return f, malformed("bad nack code")
		}
		reason, ok := r.str8()
		if !ok || len(reason) > MaxReasonLen {
			return f, malformed("bad nack reason")
		}
		f.Nack = Nack{ID: id, Code: NackCode(code), Reason: reason}
	case TypeHello:
		addr, ok1 := r.str8()
		inst, ok2 := r.str8()
		region, ok3 := r.str8()
		maxFrame, ok4 := r.u32()
		if !ok1 || !ok2 || !ok3 || !ok4 || !ValidAddress(addr) {
			return f, malformed("bad hello")
		}
		f.Hello = Hello{Address: addr, Instance: inst, Region: region, MaxFrame: maxFrame}
	case TypeNotice:
		if len(r.b) == 0 || len(r.b) > MaxNoticeLen {
			return f, malformed("notice of %d bytes", len(r.b))
		}
		f.Notice, r.b = r.b, nil
	case TypePing, TypePong:
	default:
		return f, malformed("unknown frame type %d", b[0])
	}
	if len(r.b) != 0 {
		return f, malformed("%d trailing bytes", len(r.b))
	}
	return f, nil
}

func decodeEnvelope(r *reader, deliver bool) (Envelope, error) {
	var e Envelope
	v, ok := r.u8()
	if !ok || v != Version {
		return e, malformed("unsupported envelope version")
	}
	if e.ID, ok = r.str8(); !ok || !ValidID(e.ID) {
		return e, malformed("bad envelope id")
	}
	if e.From, ok = r.str8(); !ok || (e.From != "" || deliver) && !ValidAddress(e.From) {
		return e, malformed("bad sender address")
	}
	if e.To, ok = r.str8(); !ok || !ValidAddress(e.To) {
		return e, malformed("bad recipient address")
	}
	sent, ok := r.u64()
	if !ok || sent > 1<<53 {
		return e, malformed("bad timestamp")
	}
	e.Sent = int64(sent)
	n, ok := r.u32()
	if !ok || int(n) != len(r.b) {
		return e, malformed("payload length does not match frame")
	}
	e.Payload = r.b
	r.b = nil
	return e, nil
}

type reader struct{ b []byte }

func (r *reader) u8() (byte, bool) {
	if len(r.b) < 1 {
		return 0, false
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v, true
}

func (r *reader) u16() (uint16, bool) {
	if len(r.b) < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v, true
}

func (r *reader) u32() (uint32, bool) {
	if len(r.b) < 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, true
}

func (r *reader) u64() (uint64, bool) {
	if len(r.b) < 8 {
		return 0, false
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v, true
}

func (r *reader) str8() (string, bool) {
	n, ok := r.u8()
	if !ok || len(r.b) < int(n) {
		return "", false
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s, true
}

func appendStr8(b []byte, s string) []byte {
	if len(s) > 255 {
		s = s[:255]
	}
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// AppendEnvelope appends a send or deliver frame.
func AppendEnvelope(b []byte, t Type, e *Envelope) []byte {
	b = append(b, byte(t), Version)
	b = appendStr8(b, e.ID)
	b = appendStr8(b, e.From)
	b = appendStr8(b, e.To)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Sent))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Payload)))
	return append(b, e.Payload...)
}

// EnvelopeSize is the encoded size of an envelope frame.
func EnvelopeSize(e *Envelope) int {
	return 2 + 3 + len(e.ID) + len(e.From) + len(e.To) + 8 + 4 + len(e.Payload)
}

// AppendIDs appends an ack or delivery-ack frame. At most MaxIDs ids.
func AppendIDs(b []byte, t Type, ids []string) []byte {
	b = append(b, byte(t))
	b = binary.BigEndian.AppendUint16(b, uint16(len(ids)))
	for _, id := range ids {
		b = appendStr8(b, id)
	}
	return b
}

// AppendNack appends a nack frame.
func AppendNack(b []byte, n *Nack) []byte {
	b = append(b, byte(TypeNack))
	b = appendStr8(b, n.ID)
	b = append(b, byte(n.Code))
	reason := n.Reason
	if len(reason) > MaxReasonLen {
		reason = reason[:MaxReasonLen]
	}
	return appendStr8(b, reason)
}

// AppendHello appends a hello frame.
func AppendHello(b []byte, h *Hello) []byte {
	b = append(b, byte(TypeHello))
	b = appendStr8(b, h.Address)
	b = appendStr8(b, h.Instance)
	b = appendStr8(b, h.Region)
	return binary.BigEndian.AppendUint32(b, h.MaxFrame)
}

// Encode encodes a frame; the inverse of Decode.
func Encode(f *Frame) []byte {
	switch f.Type {
	case TypeSend, TypeDeliver:
		return AppendEnvelope(make([]byte, 0, EnvelopeSize(&f.Envelope)), f.Type, &f.Envelope)
	case TypeAck, TypeDeliveryAck:
		return AppendIDs(nil, f.Type, f.IDs)
	case TypeNack:
		return AppendNack(nil, &f.Nack)
	case TypeHello:
		return AppendHello(nil, &f.Hello)
	case TypeNotice:
		return append([]byte{byte(TypeNotice)}, f.Notice...)
	default:
		return []byte{byte(f.Type)}
	}
}
