package drill

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
)

// traffic is the synthetic agents: pairs of agents, each pair a sender
// and a receiver first connected to different regions through the failover
// group's front door. A sender sends sequence-numbered envelopes one after
// the other; every ack and every receipt is recorded.
type traffic struct {
	env      *Env
	start    time.Time
	interval time.Duration
	pairs    []*pair

	ctx    context.Context
	cancel context.CancelFunc
	send   sync.WaitGroup
	recv   sync.WaitGroup
}

type pair struct {
	idx            int
	from, to       string // regions the sender and receiver first connected to
	sender, recver *client.Client
	toAddr         string

	mu       sync.Mutex
	acked    map[int]time.Time
	received map[int]receipt
	dups     int
	refused  int
}

type receipt struct {
	at     time.Time
	region string // region of the receiver's relay when it arrived
}

// clientOpts are the agents' client settings: trust localcloud's CA, and
// reconnect quickly, as an agent app does, with a short backoff ceiling.
func (e *Env) clientOpts(more ...client.Option) []client.Option {
	return append([]client.Option{client.WithRootCAs(e.roots), client.WithBackoff(50*time.Millisecond, time.Second)}, more...)
}

// dialIn connects an agent through the front door until the load balancer
// puts it in region.
func (e *Env) dialIn(ctx context.Context, region, subject string) (*client.Client, error) {
	tok, err := e.token(subject)
	if err != nil {
		return nil, err
	}
	var got []string
	for i := 0; i < 15; i++ {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := client.Dial(dctx, []string{e.front}, client.StaticToken(tok), e.clientOpts(e.notices.handler(subject))...)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("agent %s through the front door: %w", subject, err)
		}
		if _, r := c.Instance(); r == region {
			return c, nil
		} else {
			got = append(got, r)
		}
		c.Close()
	}
	return nil, fmt.Errorf("agent %s: 15 connections through the front door reached %v, never %s", subject, got, region)
}

// startTraffic connects one pair per ordered pair of regions and starts
// sending.
func startTraffic(ctx context.Context, e *Env, tag string, interval time.Duration) (*traffic, error) {
	t := &traffic{env: e, interval: interval}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	idx := 0
	for _, from := range regions {
		for _, to := range regions {
			if from == to {
				continue
			}
			p := &pair{idx: idx, from: from, to: to, acked: map[int]time.Time{}, received: map[int]receipt{}}
			var err error
			if p.sender, err = e.dialIn(ctx, from, fmt.Sprintf("%s-s%d", tag, idx)); err == nil {
				p.recver, err = e.dialIn(ctx, to, fmt.Sprintf("%s-r%d", tag, idx))
			}
			if err != nil {
				t.pairs = append(t.pairs, p)
				t.close()
				return nil, err
			}
			p.toAddr = p.recver.Address()
			t.pairs = append(t.pairs, p)
			idx++
		}
	}
	t.start = time.Now()
	for _, p := range t.pairs {
		t.recv.Add(1)
		go t.receive(p)
		t.send.Add(1)
		go t.sendLoop(p)
	}
	return t, nil
}

func (t *traffic) sendLoop(p *pair) {
	defer t.send.Done()
	payload := make([]byte, 64) // stands for ciphertext
	for seq := 1; t.ctx.Err() == nil; seq++ {
		id := fmt.Sprintf("p%d-%07d", p.idx, seq)
		for t.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
			_, err := p.sender.Send(ctx, p.toAddr, id, payload)
			cancel()
			if err == nil {
				p.mu.Lock()
				p.acked[seq] = time.Now()
				p.mu.Unlock()
				break
			}
			var refused *client.RefusedError
			if errors.As(err, &refused) {
				p.mu.Lock()
				p.refused++
				p.mu.Unlock()
				break
			}
			// Not acked in time: send again with the same id; the
			// receiver drops a duplicate.
		}
		select {
		case <-time.After(t.interval):
		case <-t.ctx.Done():
		}
	}
}

func (t *traffic) receive(p *pair) {
	defer t.recv.Done()
	for env := range p.recver.Receive() {
		_, region := p.recver.Instance()
		at := time.Now()
		seq, err := strconv.Atoi(env.ID[strings.IndexByte(env.ID, '-')+1:])
		if err != nil {
			continue
		}
		p.mu.Lock()
		if _, dup := p.received[seq]; dup {
			p.dups++
		} else {
			p.received[seq] = receipt{at: at, region: region}
		}
		p.mu.Unlock()
	}
}

// stopSending stops the senders (a send waiting for its ack gives up; it
// was not acked) and waits until every acked envelope has been received
// or the wait ends. It returns how many acked envelopes are still missing.
func (t *traffic) stopSending(wait time.Duration) int {
	t.cancel()
	t.send.Wait()
	deadline := time.Now().Add(wait)
	for {
		missing := 0
		for _, p := range t.pairs {
			p.mu.Lock()
			for seq := range p.acked {
				if _, ok := p.received[seq]; !ok {
					missing++
				}
			}
			p.mu.Unlock()
		}
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (t *traffic) close() {
	if t.cancel != nil {
		t.cancel()
	}
	t.send.Wait()
	for _, p := range t.pairs {
		if p.sender != nil {
			p.sender.Close()
		}
		if p.recver != nil {
			p.recver.Close()
		}
	}
	t.recv.Wait()
}

// flowingSince reports whether every pair has received an envelope at or
// after since, and the pairs that have not.
func (t *traffic) flowingSince(since time.Time) (bool, []string) {
	var stalled []string
	for _, p := range t.pairs {
		p.mu.Lock()
		ok := false
		for _, r := range p.received {
			if !r.at.Before(since) {
				ok = true
				break
			}
		}
		p.mu.Unlock()
		if !ok {
			stalled = append(stalled, p.name())
		}
	}
	return len(stalled) == 0, stalled
}

func (p *pair) name() string {
	return fmt.Sprintf("%s->%s", keyOf(p.from), keyOf(p.to))
}

// messageStats are the totals over every pair.
type messageStats struct {
	Pairs      int `json:"pairs"`
	Acked      int `json:"acked"`
	Received   int `json:"received"`
	AckedLost  int `json:"acked_lost"`
	Duplicates int `json:"duplicates"`
	Refused    int `json:"refused"`
	// LostIDs are the first acked envelopes never received.
	LostIDs []string `json:"lost_ids,omitempty"`
}

func (t *traffic) stats() messageStats {
	s := messageStats{Pairs: len(t.pairs)}
	for _, p := range t.pairs {
		p.mu.Lock()
		s.Acked += len(p.acked)
		s.Received += len(p.received)
		s.Duplicates += p.dups
		s.Refused += p.refused
		var lost []int
		for seq := range p.acked {
			if _, ok := p.received[seq]; !ok {
				lost = append(lost, seq)
			}
		}
		p.mu.Unlock()
		sort.Ints(lost)
		s.AckedLost += len(lost)
		for _, seq := range lost {
			if len(s.LostIDs) < 20 {
				s.LostIDs = append(s.LostIDs, fmt.Sprintf("%s #%d (p%d-%07d)", p.name(), seq, p.idx, seq))
			}
		}
	}
	return s
}

// gap is the longest time a pair went without a delivered envelope.
type gap struct {
	Pair  string
	From  time.Time
	To    time.Time
	Width time.Duration
}

// longestGap returns the longest interval between consecutive deliveries
// of any pair, between the start of the traffic and end.
func (t *traffic) longestGap(end time.Time) gap {
	var worst gap
	for _, p := range t.pairs {
		p.mu.Lock()
		times := make([]time.Time, 0, len(p.received)+2)
		for _, r := range p.received {
			if !r.at.After(end) {
				times = append(times, r.at)
			}
		}
		p.mu.Unlock()
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		if len(times) == 0 {
			times = []time.Time{t.start}
		}
		times = append(times, end)
		for i := 1; i < len(times); i++ {
			if w := times[i].Sub(times[i-1]); w > worst.Width {
				worst = gap{Pair: p.name(), From: times[i-1], To: times[i], Width: w}
			}
		}
	}
	return worst
}

// deliveries counts deliveries per bin since the start of the traffic, by
// the region of the receiver's relay.
func (t *traffic) deliveries(end time.Time, bin time.Duration) map[string][]int {
	n := int(end.Sub(t.start)/bin) + 1
	out := map[string][]int{}
	for _, r := range regions {
		out[r] = make([]int, n)
	}
	for _, p := range t.pairs {
		p.mu.Lock()
		for _, r := range p.received {
			i := int(r.at.Sub(t.start) / bin)
			if i < 0 || i >= n {
				continue
			}
			if _, ok := out[r.region]; !ok {
				out[r.region] = make([]int, n)
			}
			out[r.region][i]++
		}
		p.mu.Unlock()
	}
	return out
}

// newConnectionsServed dials n fresh agents through the front door, one
// after the other: every one must connect, and none may land in a region
// of avoid. It returns the regions reached.
func (e *Env) newConnectionsServed(ctx context.Context, n int, avoid []string) (map[string]int, error) {
	tok, err := e.token("drill-visitor")
	if err != nil {
		return nil, err
	}
	got := map[string]int{}
	for i := 0; i < n; i++ {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := client.Dial(dctx, []string{e.front}, client.StaticToken(tok), e.clientOpts(client.WithLabel(fmt.Sprintf("v%d", i)))...)
		cancel()
		if err != nil {
			return got, fmt.Errorf("new connection %d: %w", i+1, err)
		}
		_, region := c.Instance()
		c.Close()
		got[region]++
		for _, a := range avoid {
			if region == a {
				return got, fmt.Errorf("new connection %d reached %s, which is down", i+1, region)
			}
		}
	}
	return got, nil
}
