// Package peerbench runs the relay and a peer product (Centrifugo) side by
// side on one workload: pairs of agents, the sender connected to one node
// and the recipient to another, both nodes sharing one Redis. It measures
// delivered messages per second with a window of unacknowledged messages
// per sender, publish-to-deliver latency at a paced rate, resident memory
// per idle connection, and CPU (nodes and Redis) per message, from /proc.
package peerbench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/stats"
)

// PayloadSize is the size of every message's payload: a send timestamp and
// a phase number, then filler standing for ciphertext.
const PayloadSize = 256

// Driver is one product under test: its two nodes (already running) and
// its agents' connections.
type Driver interface {
	// Name names the product in the report.
	Name() string
	// Guarantee states the product's delivery guarantee as measured.
	Guarantee() string
	// NodePids are the processes of its nodes.
	NodePids() []int
	// Connect opens n pairs, sender i on the first node and recipient i on
	// the second; deliver is called with every payload recipient i gets.
	Connect(ctx context.Context, n int, deliver func(pair int, payload []byte)) error
	// Send sends payload from sender i to recipient i and returns once the
	// product has acknowledged it. payload is not used after Send returns.
	Send(ctx context.Context, pair int, payload []byte) error
	// OpenIdle opens n idle connections, spread over both nodes, each
	// authenticated and listening as a recipient, and returns their closer.
	OpenIdle(ctx context.Context, n int) (func(), error)
	// Close closes the pairs' connections.
	Close()
}

// Phase is one measured run of the workload.
type Phase struct {
	// Rate paces all senders together at that many messages per second; 0
	// sends as fast as each sender's window of unacknowledged messages
	// allows.
	Rate float64
	// Duration is how long senders send.
	Duration time.Duration
}

// Result is what a phase measured.
type Result struct {
	Acked     int64           // sends the product acknowledged
	Delivered int64           // messages recipients received (this phase's)
	Errors    int64           // sends that failed
	FirstErr  string          // the first failure
	Elapsed   time.Duration   // first send to last delivery
	Latencies []time.Duration // publish to deliver, one per delivery
	NodeCPU   float64         // CPU seconds of the product's nodes
	RedisCPU  float64         // CPU seconds of Redis
}

// Rate is delivered messages per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

// P is the q-quantile of the latencies, in milliseconds.
func (r Result) P(q float64) float64 {
	return float64(stats.Quantile(r.Latencies, q).Microseconds()) / 1000
}

// RedisCPUPerMsg is Redis CPU seconds per delivered message.
func (r Result) RedisCPUPerMsg() float64 { return stats.Ratio(r.RedisCPU, float64(r.Delivered)) }

// MsgsPerCPUSecond is delivered messages per CPU second of the nodes and
// Redis together.
func (r Result) MsgsPerCPUSecond() float64 {
	return stats.Ratio(float64(r.Delivered), r.NodeCPU+r.RedisCPU)
}

// Lost is acknowledged messages that never arrived within the drain grace.
func (r Result) Lost() int64 { return max(r.Acked-r.Delivered, 0) }

// drainGrace is how long a phase waits, after its senders stop, for the
// acknowledged messages still on their way.
const drainGrace = 10 * time.Second

// tokenTTL is the lifetime of the agents' tokens: longer than any run.
const tokenTTL = 2 * time.Hour

// Bench runs phases of the workload against one driver.
type Bench struct {
	Driver    Driver
	Pairs     int   // sender/recipient pairs
	Window    int   // unacknowledged messages per sender
	RedisPids []int // the Redis the nodes share

	rec   atomic.Pointer[recorder]
	phase atomic.Uint32
}

// recorder collects one phase's deliveries.
type recorder struct {
	phase uint32
	mu    sync.Mutex
	lats  []time.Duration
	last  time.Time
}

func (r *recorder) add(lat time.Duration, at time.Time) {
	r.mu.Lock()
	r.lats = append(r.lats, lat)
	r.last = at
	r.mu.Unlock()
}

func (r *recorder) count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.lats))
}

// Connect opens the driver's pairs.
func (b *Bench) Connect(ctx context.Context) error {
	return b.Driver.Connect(ctx, b.Pairs, b.deliver)
}

// deliver records a payload of the current phase; late ones of an earlier
// phase are dropped.
func (b *Bench) deliver(_ int, payload []byte) {
	now := time.Now()
	r := b.rec.Load()
	if r == nil || len(payload) < 12 || binary.BigEndian.Uint32(payload[8:]) != r.phase {
		return
	}
	r.add(now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(payload)))), now)
}

// NewPayload is a message of phase stamped with the current time.
func NewPayload(phase uint32) []byte {
	p := make([]byte, PayloadSize)
	binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint32(p[8:], phase)
	for i := 12; i < len(p); i++ {
		p[i] = byte(i)
	}
	return p
}

// Run runs one phase: every sender sends for ph.Duration, then Run waits
// for the acknowledged messages still on their way.
func (b *Bench) Run(ctx context.Context, ph Phase) (Result, error) {
	id := b.phase.Add(1)
	rec := &recorder{phase: id, lats: make([]time.Duration, 0, 1<<16)}
	b.rec.Store(rec)
	defer b.rec.Store(nil)
	nodes0, err := Measure(b.Driver.NodePids())
	if err != nil {
		return Result{}, err
	}
	redis0, err := Measure(b.RedisPids)
	if err != nil {
		return Result{}, err
	}
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	stop := start.Add(ph.Duration)
	var wg sync.WaitGroup
	for p := range b.Pairs {
		var next atomic.Int64
		for range b.Window {
			wg.Go(func() {
				for ctx.Err() == nil {
					i := next.Add(1) - 1
					if ph.Rate > 0 {
						// Pair p's i-th message leaves at start + (i*pairs+p)/rate.
						at := start.Add(time.Duration(float64(i*int64(b.Pairs)+int64(p)) / ph.Rate * float64(time.Second)))
						if !at.Before(stop) {
							return
						}
						time.Sleep(time.Until(at))
					} else if !time.Now().Before(stop) {
						return
					}
					if err := b.Driver.Send(ctx, p, NewPayload(id)); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("pair %d: %v", p, err))
						continue
					}
					acked.Add(1)
				}
			})
		}
	}
	wg.Wait()
	for deadline := time.Now().Add(drainGrace); rec.count() < acked.Load() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	nodes1, err := Measure(b.Driver.NodePids())
	if err != nil {
		return Result{}, err
	}
	redis1, err := Measure(b.RedisPids)
	if err != nil {
		return Result{}, err
	}
	b.rec.Store(nil)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	res := Result{
		Acked: acked.Load(), Delivered: int64(len(rec.lats)), Errors: failed.Load(),
		Latencies: rec.lats, Elapsed: rec.last.Sub(start),
		NodeCPU: nodes1.CPUSeconds - nodes0.CPUSeconds, RedisCPU: redis1.CPUSeconds - redis0.CPUSeconds,
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstErr = e
	}
	if res.Delivered == 0 {
		return res, errors.New(b.Driver.Name() + ": nothing delivered: " + res.FirstErr)
	}
	return res, ctx.Err()
}

// IdleKB opens n idle connections and returns the growth of the nodes'
// resident memory per connection, in KiB, measured after settle.
func (b *Bench) IdleKB(ctx context.Context, n int, settle time.Duration) (float64, error) {
	before, err := Measure(b.Driver.NodePids())
	if err != nil {
		return 0, err
	}
	closeIdle, err := b.Driver.OpenIdle(ctx, n)
	if err != nil {
		return 0, err
	}
	defer closeIdle()
	time.Sleep(settle)
	after, err := Measure(b.Driver.NodePids())
	if err != nil {
		return 0, err
	}
	return float64(after.ResidentKB-before.ResidentKB) / float64(n), nil
}
