package drill

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// counter writes a new key to a region's Redis every interval, as the
// relays' state would change, and remembers every write Redis confirmed.
// After a fault and its recovery, verify finds the confirmed writes that
// are gone: the data lost, whose time span is the recovery point.
type counter struct {
	region   string
	interval time.Duration
	rdb      *goredis.Client

	mu     sync.Mutex
	writes []write
	failed int

	stop chan struct{}
	done chan struct{}
}

type write struct {
	n  int
	at time.Time
}

func (c *counter) key(n int) string { return fmt.Sprintf("drill:rpo:%s:%08d", keyOf(c.region), n) }

func value(n int, at time.Time) string {
	return strconv.Itoa(n) + "@" + strconv.FormatInt(at.UnixNano(), 10)
}

func init() {
	// The counter's connection errors while Redis is down are expected;
	// they are counted, not logged.
	goredis.SetLogger(quietRedis{})
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// startCounter starts writing. The client dials whatever port localcloud
// runs the instance on at the time.
func startCounter(e *Env, region string, interval time.Duration) *counter {
	c := &counter{region: region, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	// The AUTH string of the target last dialed: the connection's AUTH
	// follows its dial, so one resolution serves both.
	var password atomic.Pointer[string]
	password.Store(new(string))
	c.rdb = goredis.NewClient(&goredis.Options{
		Addr: instanceID(region), // only a name: the dialer resolves it
		// Resolved at each dial, through the Memorystore API: an instance
		// recreated or restored may come back elsewhere.
		Dialer: func(ctx context.Context, _, _ string) (net.Conn, error) {
			t, err := e.redisTarget(ctx, region)
			if err != nil {
				return nil, err
			}
			password.Store(&t.Password)
			return t.Options().Dialer(ctx, "tcp", t.Addr)
		},
		CredentialsProviderContext: func(context.Context) (string, string, error) {
			return "", *password.Load(), nil
		},
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MaxRetries: -1, PoolSize: 2,
	})
	go c.run()
	return c
}

func (c *counter) run() {
	defer close(c.done)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for n := 1; ; n++ {
		at := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), c.interval*4)
		err := c.rdb.Set(ctx, c.key(n), value(n, at), 0).Err()
		cancel()
		c.mu.Lock()
		if err == nil {
			c.writes = append(c.writes, write{n: n, at: at})
		} else {
			c.failed++
		}
		c.mu.Unlock()
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

func (c *counter) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	c.rdb.Close()
}

// recent returns the last n confirmed writes.
func (c *counter) recent(n int) []write {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.writes) < n {
		n = len(c.writes)
	}
	return append([]write(nil), c.writes[len(c.writes)-n:]...)
}

// check reads writes back and returns the ones whose key is missing or
// holds something else.
func (c *counter) check(ctx context.Context, ws []write) ([]write, error) {
	var bad []write
	for start := 0; start < len(ws); start += 500 {
		chunk := ws[start:min(start+500, len(ws))]
		keys := make([]string, len(chunk))
		for i, w := range chunk {
			keys[i] = c.key(w.n)
		}
		vals, err := c.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			if s, ok := v.(string); !ok || s != value(chunk[i].n, chunk[i].at) {
				bad = append(bad, chunk[i])
			}
		}
	}
	return bad, nil
}

// rpoResult is what a counter lost.
type rpoResult struct {
	Region    string `json:"region"`
	Confirmed int    `json:"writes_confirmed"`
	Failed    int    `json:"writes_refused"` // while Redis was down: never confirmed, so not lost
	Lost      int    `json:"writes_lost"`
	// FirstLost and LastLost are when the first and last lost writes were
	// confirmed; Span is the time between them plus one interval: the
	// data lost, in time.
	FirstLost time.Time     `json:"first_lost,omitzero"`
	LastLost  time.Time     `json:"last_lost,omitzero"`
	Span      time.Duration `json:"-"`
	SpanS     float64       `json:"span_s"`
	LostRuns  string        `json:"lost_writes,omitempty"` // "#41-#83"
	Error     string        `json:"error,omitempty"`
}

// verify checks every confirmed write (retrying while Redis is not back).
func (c *counter) verify(ctx context.Context) rpoResult {
	c.mu.Lock()
	ws := append([]write(nil), c.writes...)
	res := rpoResult{Region: c.region, Confirmed: len(ws), Failed: c.failed}
	c.mu.Unlock()
	var bad []write
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for {
		if bad, err = c.check(ctx, ws); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Lost = len(bad)
	if len(bad) > 0 {
		res.FirstLost, res.LastLost = bad[0].at, bad[len(bad)-1].at
		res.Span = res.LastLost.Sub(res.FirstLost) + c.interval
		res.SpanS = res.Span.Seconds()
		ns := make([]int, len(bad))
		for i, w := range bad {
			ns[i] = w.n
		}
		res.LostRuns = lostRuns(ns)
	}
	return res
}

// lostRuns describes the lost writes as runs of consecutive numbers, for
// the report ("#41-#83").
func lostRuns(ns []int) string {
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprintf("#%d", ns[i]))
		} else {
			parts = append(parts, fmt.Sprintf("#%d-#%d", ns[i], ns[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
