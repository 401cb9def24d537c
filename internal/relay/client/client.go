// Package client is the Go client of the agent relay.
//
// A Client keeps one WebSocket connection to one of the relay URLs it was
// given and moves to the next URL when the connection breaks. Send returns once
// the relay has acked the envelope, i.e. durably queued it for the recipient;
// envelopes not yet acked are kept and sent again after a reconnect, to
// whichever instance or region answers. Received envelopes are deduplicated by
// (sender, id) and acknowledged to the relay only once handed to the
// application through Receive. With the relay's at-least-once delivery this
// gives exactly-once delivery to the application for as long as the Client
// lives (the dedup memory is bounded, see WithDedupSize).
//
// The client never looks into payloads: callers pass ciphertext they
// encrypted for the recipient.
package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
)

// TokenSource yields the bearer token for each (re)connection.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a TokenSource that always returns the same token.
type StaticToken string

// Token implements TokenSource.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

// TokenFunc adapts a function to TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token implements TokenSource.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Envelope is a received message. Ciphertext is the sender's payload as is.
type Envelope struct {
	ID         string
	From       string
	To         string
	Sent       time.Time
	Ciphertext []byte
}

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("relay client closed")

// RefusedError is a permanent refusal of one envelope by the relay.
type RefusedError struct {
	Code   envelope.NackCode
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("relay refused envelope: %s: %s", e.Code, e.Reason)
}

// DialError is a refused connection: the HTTP status and reason the relay
// gave (401 for tokens, 503 while shutting down).
type DialError struct {
	URL    string
	Status int
	Reason string
	Err    error
}

func (e *DialError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("relay %s: HTTP %d: %s", e.URL, e.Status, e.Reason)
	}
	return fmt.Sprintf("relay %s: %v", e.URL, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// Stats counts what a client went through.
type Stats struct {
	Connects   int64 // successful connections, the first included
	Resent     int64 // envelopes sent again after a reconnect or retryable nack
	Duplicates int64 // received envelopes dropped as already delivered
	Delivered  int64 // envelopes handed to the application
}

type options struct {
	label        string
	dedupSize    int
	maxPending   int
	backoffMin   time.Duration
	backoffMax   time.Duration
	pingInterval time.Duration
	recvBuffer   int
	logger       *slog.Logger
	httpClient   *http.Client
	rootCAs      *x509.CertPool
	header       http.Header
	onNotice     func(DependencyNotice)
}

// Option configures Dial.
type Option func(*options)

// WithLabel receives for "identity/label" instead of the bare token identity,
// so one identity can hold several independent connections.
func WithLabel(label string) Option { return func(o *options) { o.label = label } }

// WithDedupSize sets how many received (sender, id) pairs are remembered
// (default 100000).
func WithDedupSize(n int) Option { return func(o *options) { o.dedupSize = n } }

// WithMaxPending bounds sends waiting for their ack; Send blocks past it
// (default 1024).
func WithMaxPending(n int) Option { return func(o *options) { o.maxPending = n } }

// WithBackoff sets the reconnect delays (default 50ms doubling to 3s).
func WithBackoff(initial, ceiling time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = initial, ceiling }
}

// WithPingInterval sets the heartbeat that keeps the connection from the
// relay's idle timeout (default 20s).
func WithPingInterval(d time.Duration) Option { return func(o *options) { o.pingInterval = d } }

// WithReceiveBuffer sets the capacity of the Receive channel (default 256).
func WithReceiveBuffer(n int) Option { return func(o *options) { o.recvBuffer = n } }

// WithLogger logs connection changes (never payloads).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithHTTPClient sets the HTTP client used for the WebSocket handshake.
func WithHTTPClient(h *http.Client) Option { return func(o *options) { o.httpClient = h } }

// WithRootCAs makes wss:// connections trust these certificate authorities
// instead of the system's (e.g. localcloud's CA). Verification stays on.
func WithRootCAs(pool *x509.CertPool) Option { return func(o *options) { o.rootCAs = pool } }

// WithHeader adds headers to every WebSocket handshake, e.g.
// X-Agentnet-Region to pin the connection to one region behind the load
// balancer. Authorization is always the token's.
func WithHeader(h http.Header) Option {
	return func(o *options) {
		if o.header == nil {
			o.header = http.Header{}
		}
		for k, v := range h {
			o.header[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
		}
	}
}

type pendingSend struct {
	id    string
	frame []byte
	seq   uint64
	done  chan error
}

type received struct {
	env envelope.Envelope
	dup bool
}

// Client is a connection to the relay that survives instance and region
// failures. Safe for concurrent use.
type Client struct {
	urls   []string
	tokens TokenSource
	o      options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}
	out    chan Envelope

	mu       sync.Mutex
	ws       *websocket.Conn
	hello    envelope.Hello
	url      string
	pending  map[string]*pendingSend
	seq      uint64
	queue    []received
	notify   chan struct{}
	seen     map[string]struct{}
	seenRing []string
	seenNext int

	connects, resent, dups, delivered atomic.Int64
	notice                            atomic.Pointer[DependencyNotice]
}

// Dial connects to the first URL that accepts the connection (trying them in
// order) and keeps the client connected until Close. URLs are wss:// (or
// https://), or ws:// (http://) to a loopback host only; a URL without a path
// gets "/ws".
func Dial(ctx context.Context, urls []string, tokens TokenSource, opts ...Option) (*Client, error) {
	if len(urls) == 0 {
		return nil, errors.New("relay client: no URL")
	}
	o := options{dedupSize: 100000, maxPending: 1024, backoffMin: 50 * time.Millisecond, backoffMax: 3 * time.Second,
		pingInterval: 20 * time.Second, recvBuffer: 256, logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	if o.label != "" && !envelope.ValidLabel(o.label) {
		return nil, fmt.Errorf("relay client: invalid label %q", o.label)
	}
	for _, u := range urls {
		if err := CheckURL(u); err != nil {
			return nil, err
		}
	}
	if o.rootCAs != nil {
		hc, err := withRoots(o.httpClient, o.rootCAs)
		if err != nil {
			return nil, err
		}
		o.httpClient = hc
	}
	c := &Client{
		tokens:   tokens,
		o:        o,
		sem:      make(chan struct{}, o.maxPending),
		out:      make(chan Envelope, o.recvBuffer),
		pending:  map[string]*pendingSend{},
		notify:   make(chan struct{}, 1),
		seen:     make(map[string]struct{}),
		seenRing: make([]string, o.dedupSize),
	}
	for _, u := range urls {
		c.urls = append(c.urls, normalizeURL(u))
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	var firstErr error
	for i, u := range c.urls {
		ws, hello, err := c.connect(ctx, u)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		c.attach(ws, hello, u)
		c.wg.Add(3)
		go c.run(ws, i)
		go c.pump()
		go c.pinger()
		return c, nil
	}
	c.cancel()
	return nil, firstErr
}

// CheckURL refuses a relay URL that would carry tokens and envelopes in
// clear over a network: ws:// and http:// are accepted only to a loopback
// host (a relay on this machine, or localcloud).
func CheckURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("relay client: URL %q: %w", u, err)
	}
	switch strings.ToLower(pu.Scheme) {
	case "wss", "https":
		return nil
	case "ws", "http":
		if isLoopback(pu.Hostname()) {
			return nil
		}
		return fmt.Errorf("relay client: refusing %s: plaintext %s:// to a host that is not loopback; use wss://", u, pu.Scheme)
	default:
		return fmt.Errorf("relay client: URL %q: scheme must be wss or ws (https or http)", u)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// withRoots returns an HTTP client whose TLS connections trust pool: a copy
// of base (or of the default client) with the roots set on a cloned
// transport, so base itself is not changed.
func withRoots(base *http.Client, pool *x509.CertPool) (*http.Client, error) {
	if base == nil {
		base = &http.Client{}
	}
	var tr *http.Transport
	switch t := base.Transport.(type) {
	case nil:
		dt, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, fmt.Errorf("relay client: WithRootCAs needs http.DefaultTransport to be an *http.Transport, not %T (or an HTTP client with one)", http.DefaultTransport)
		}
		tr = dt.Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, errors.New("relay client: WithRootCAs needs the HTTP client's transport to be an *http.Transport")
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.RootCAs = pool
	tr.TLSClientConfig.MinVersion = max(tr.TLSClientConfig.MinVersion, tls.VersionTLS12)
	hc := *base
	hc.Transport = tr
	return &hc, nil
}

func normalizeURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	if pu.Path == "" || pu.Path == "/" {
		pu.Path = "/ws"
	}
	return pu.String()
}

// Address is the address this client receives for.
func (c *Client) Address() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hello.Address
}

// Instance is the relay instance and region of the current connection
// ("" while disconnected).
func (c *Client) Instance() (instance, region string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ws == nil {
		return "", ""
	}
	return c.hello.Instance, c.hello.Region
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Connects: c.connects.Load(), Resent: c.resent.Load(), Duplicates: c.dups.Load(), Delivered: c.delivered.Load()}
}

// Receive returns the channel of received envelopes, each delivered once. It
// is closed by Close. An envelope is acknowledged to the relay once taken from
// the channel; until then the relay keeps it.
func (c *Client) Receive() <-chan Envelope { return c.out }

// NewID returns a random envelope id.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Send sends ciphertext to the agent address to and returns once the relay
// has durably queued it. An empty id is replaced by a random one; the id is
// returned. Until acked the envelope is resent after reconnects. If ctx ends
// first, Send gives up and the envelope may or may not be delivered: send it
// again with the same id, and the recipient drops the duplicate.
func (c *Client) Send(ctx context.Context, to, id string, ciphertext []byte) (string, error) {
	if id == "" {
		id = NewID()
	}
	if !envelope.ValidID(id) {
		return id, fmt.Errorf("relay client: invalid envelope id %q", id)
	}
	if !envelope.ValidAddress(to) {
		return id, fmt.Errorf("relay client: invalid recipient address %q", to)
	}
	e := envelope.Envelope{ID: id, To: to, Payload: ciphertext}
	frame := envelope.AppendEnvelope(make([]byte, 0, envelope.EnvelopeSize(&e)), envelope.TypeSend, &e)
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return id, ctx.Err()
	case <-c.ctx.Done():
		return id, ErrClosed
	}
	defer func() { <-c.sem }()
	p := &pendingSend{id: id, frame: frame, done: make(chan error, 1)}
	c.mu.Lock()
	if maxFrame := c.hello.MaxFrame; maxFrame > 0 && len(frame) > int(maxFrame) {
		c.mu.Unlock()
		return id, &RefusedError{Code: envelope.NackTooLarge, Reason: fmt.Sprintf("frame of %d bytes over the relay's %d", len(frame), maxFrame)}
	}
	if _, dup := c.pending[id]; dup {
		c.mu.Unlock()
		return id, fmt.Errorf("relay client: envelope %q already being sent", id)
	}
	c.seq++
	p.seq = c.seq
	c.pending[id] = p
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		c.write(ws, frame)
	}
	select {
	case err := <-p.done:
		return id, err
	case <-ctx.Done():
		c.forget(id, p)
		return id, ctx.Err()
	case <-c.ctx.Done():
		c.forget(id, p)
		return id, ErrClosed
	}
}

func (c *Client) forget(id string, p *pendingSend) {
	c.mu.Lock()
	if c.pending[id] == p {
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// write sends a frame; a failure breaks the connection, which the read loop
// notices and reconnects.
func (c *Client) write(ws *websocket.Conn, frame []byte) {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageBinary, frame); err != nil {
		_ = ws.CloseNow() // fails only when already closed: the read loop reconnects either way
	}
}

// Close closes the connection and stops the client; sends waiting for their
// ack return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.Close(websocket.StatusNormalClosure, "")
	}
	c.cancel()
	c.wg.Wait()
	return nil
}

func (c *Client) connect(ctx context.Context, u string) (*websocket.Conn, envelope.Hello, error) {
	var hello envelope.Hello
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, hello, &DialError{URL: u, Err: fmt.Errorf("token: %w", err)}
	}
	target := u
	if c.o.label != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		target += sep + "label=" + url.QueryEscape(c.o.label)
	}
	hdr := c.o.header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("Authorization", "Bearer "+tok)
	ws, resp, err := websocket.Dial(ctx, target, &websocket.DialOptions{
		HTTPClient:      c.o.httpClient,
		HTTPHeader:      hdr,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		de := &DialError{URL: u, Err: err}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			de.Status = resp.StatusCode
			if resp.Body != nil {
				b, _ := io.ReadAll(resp.Body)
				de.Reason = strings.TrimSpace(string(b))
			}
		}
		return nil, hello, de
	}
	ws.SetReadLimit(16 << 20)
	typ, data, err := ws.Read(ctx)
	if err == nil && typ == websocket.MessageBinary {
		var f envelope.Frame
		if f, err = envelope.Decode(data); err == nil && f.Type == envelope.TypeHello {
			return ws, f.Hello, nil
		}
	}
	_ = ws.CloseNow() // a failed handshake: err says why, not the close
	if err == nil {
		err = errors.New("no hello from relay")
	}
	return nil, hello, &DialError{URL: u, Err: err}
}

// attach makes ws the current connection and resends every unacked envelope
// on it, oldest first.
func (c *Client) attach(ws *websocket.Conn, hello envelope.Hello, u string) {
	c.mu.Lock()
	first := c.ws == nil && c.hello.Address == ""
	c.ws, c.hello, c.url = ws, hello, u
	resend := make([]*pendingSend, 0, len(c.pending))
	for _, p := range c.pending {
		resend = append(resend, p)
	}
	c.mu.Unlock()
	c.connects.Add(1)
	c.o.logger.Debug("relay connected", "url", u, "instance", hello.Instance, "region", hello.Region, "first", first)
	slices.SortFunc(resend, func(a, b *pendingSend) int { return cmp.Compare(a.seq, b.seq) })
	if len(resend) > 0 {
		c.resent.Add(int64(len(resend)))
	}
	for _, p := range resend {
		c.write(ws, p.frame)
	}
}

func (c *Client) detach(ws *websocket.Conn) {
	c.mu.Lock()
	if c.ws == ws {
		c.ws = nil
	}
	c.mu.Unlock()
	_ = ws.CloseNow() // fails only when already closed, which is the point
}

// run reads the current connection and reconnects, moving round robin through
// the URLs, until Close.
func (c *Client) run(ws *websocket.Conn, idx int) {
	defer c.wg.Done()
	defer c.failPending()
	for {
		code := c.readLoop(ws)
		c.detach(ws)
		if c.ctx.Err() != nil {
			return
		}
		c.o.logger.Debug("relay connection lost", "code", code)
		delay := time.Duration(0) // going away: another instance takes over now
		switch code {
		case int(websocket.StatusGoingAway), envelope.CloseTokenExpired:
		case envelope.CloseRateLimited:
			delay = max(time.Second, c.o.backoffMin)
		default:
			delay = c.o.backoffMin
		}
		ws = nil
		for attempt := 0; ws == nil; attempt++ {
			if delay > 0 {
				select {
				case <-time.After(jitter(delay)):
				case <-c.ctx.Done():
					return
				}
			}
			idx = (idx + 1) % len(c.urls)
			u := c.urls[idx]
			nws, hello, err := c.connect(c.ctx, u)
			if err != nil {
				if c.ctx.Err() != nil {
					return
				}
				c.o.logger.Debug("relay reconnect failed", "url", u, "err", err)
				if delay == 0 {
					delay = c.o.backoffMin
				} else if attempt%len(c.urls) == len(c.urls)-1 {
					delay = min(2*delay, c.o.backoffMax)
				}
				continue
			}
			ws = nws
			c.attach(ws, hello, u)
		}
	}
}

func jitter(d time.Duration) time.Duration {
	var b [1]byte
	rand.Read(b[:])
	return d/2 + d*time.Duration(b[0])/512
}

func (c *Client) failPending() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.pending {
		delete(c.pending, id)
		p.done <- ErrClosed
	}
}

// readLoop handles frames until the connection ends; it returns the close code.
func (c *Client) readLoop(ws *websocket.Conn) int {
	for {
		typ, data, err := ws.Read(c.ctx)
		if err != nil {
			return int(websocket.CloseStatus(err))
		}
		if typ != websocket.MessageBinary {
			continue
		}
		f, err := envelope.Decode(data)
		if err != nil {
			c.o.logger.Warn("malformed frame from relay", "err", err)
			return -1
		}
		switch f.Type {
		case envelope.TypeAck:
			c.mu.Lock()
			for _, id := range f.IDs {
				if p, ok := c.pending[id]; ok {
					delete(c.pending, id)
					p.done <- nil
				}
			}
			c.mu.Unlock()
		case envelope.TypeNack:
			c.handleNack(f.Nack)
		case envelope.TypeDeliver:
			c.enqueue(f.Envelope)
		case envelope.TypeNotice:
			c.handleNotice(f.Notice)
		}
	}
}

func (c *Client) handleNack(n envelope.Nack) {
	c.mu.Lock()
	p, ok := c.pending[n.ID]
	if ok && !n.Code.Retryable() {
		delete(c.pending, n.ID)
		p.done <- &RefusedError{Code: n.Code, Reason: n.Reason}
	}
	c.mu.Unlock()
	if !ok || !n.Code.Retryable() {
		return
	}
	time.AfterFunc(jitter(500*time.Millisecond), func() {
		c.mu.Lock()
		ws := c.ws
		still := c.pending[n.ID] == p
		c.mu.Unlock()
		if still && ws != nil {
			c.resent.Add(1)
			c.write(ws, p.frame)
		}
	})
}

func (c *Client) enqueue(e envelope.Envelope) {
	key := e.From + "\x00" + e.ID
	c.mu.Lock()
	_, dup := c.seen[key]
	if !dup {
		if old := c.seenRing[c.seenNext]; old != "" {
			delete(c.seen, old)
		}
		c.seenRing[c.seenNext] = key
		c.seenNext = (c.seenNext + 1) % len(c.seenRing)
		c.seen[key] = struct{}{}
	}
	c.queue = append(c.queue, received{env: e, dup: dup})
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// pump hands received envelopes to the application in order and acks them
// to the relay once handed over; duplicates are only acked.
func (c *Client) pump() {
	defer c.wg.Done()
	defer close(c.out)
	var acks []string
	flush := func() {
		if len(acks) == 0 {
			return
		}
		c.mu.Lock()
		ws := c.ws
		c.mu.Unlock()
		if ws != nil {
			c.write(ws, envelope.AppendIDs(nil, envelope.TypeDeliveryAck, acks))
		}
		acks = acks[:0]
	}
	for {
		c.mu.Lock()
		var r received
		have := len(c.queue) > 0
		if have {
			r = c.queue[0]
			c.queue[0] = received{}
			c.queue = c.queue[1:]
		}
		c.mu.Unlock()
		if !have {
			flush()
			select {
			case <-c.notify:
				continue
			case <-c.ctx.Done():
				return
			}
		}
		if r.dup {
			c.dups.Add(1)
		} else {
			e := Envelope{ID: r.env.ID, From: r.env.From, To: r.env.To, Sent: time.UnixMilli(r.env.Sent), Ciphertext: r.env.Payload}
			select {
			case c.out <- e:
				c.delivered.Add(1)
			default:
				// The application is behind: ack what it already took.
				flush()
				select {
				case c.out <- e:
					c.delivered.Add(1)
				case <-c.ctx.Done():
					return
				}
			}
		}
		acks = append(acks, r.env.ID)
		if len(acks) >= 256 {
			flush()
		}
	}
}

func (c *Client) pinger() {
	defer c.wg.Done()
	t := time.NewTicker(c.o.pingInterval)
	defer t.Stop()
	ping := []byte{byte(envelope.TypePing)}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		ws := c.ws
		c.mu.Unlock()
		if ws != nil {
			c.write(ws, ping)
		}
	}
}
