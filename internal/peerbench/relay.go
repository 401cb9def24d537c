package peerbench

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// Relay drives two relay processes of one region (cmd/relay, direct Redis
// mode) sharing one Redis, with the modules' limits except the
// per-connection frame rate, lifted as Centrifugo has none.
type Relay struct {
	// Label names it in the report, "relay" when empty: e.g. "relay-before"
	// for a build of an earlier commit run against the current one.
	Label      string
	copies     int // Redis servers an envelope is stored on before its ack
	nodes      []*Node
	urls       []string
	ops        []string // the nodes' /metrics
	keys       *auth.DevKeys
	senders    []*client.Client
	recipients []*client.Client
	to         []string
	wg         sync.WaitGroup
}

// RelayOptions change how the relay nodes run.
type RelayOptions struct {
	// PeerRedis is another region's Redis: each envelope is then stored on
	// both before its ack, as in a region with a peer.
	PeerRedis []string
	// Env is added to the nodes' environment, over the defaults.
	Env []string
}

// StartRelay starts two relay nodes from bin on redisAddr, with dev keys,
// logs and state under dir.
func StartRelay(ctx context.Context, bin, dir, redisAddr string, o RelayOptions) (*Relay, error) {
	keys, err := auth.LoadOrCreateDevKeys(filepath.Join(dir, "relay-keys"))
	if err != nil {
		return nil, err
	}
	r := &Relay{keys: keys, copies: 1 + len(o.PeerRedis)}
	for i := range 2 {
		port, err := relaytest.FreePort()
		if err != nil {
			return nil, err
		}
		ops, err := relaytest.FreePort()
		if err != nil {
			return nil, err
		}
		env := []string{
			fmt.Sprintf("PORT=%d", port), fmt.Sprintf("OPS_PORT=%d", ops), "LISTEN_HOST=127.0.0.1", "K_SERVICE=",
			"REDIS_ADDR=" + redisAddr, "PEER_REDIS_ADDRS=" + strings.Join(o.PeerRedis, ","), fmt.Sprintf("ACK_COPIES=%d", r.copies),
			"REDIS_INSTANCE=", "PEER_REDIS_INSTANCES=",
			"REGION=bench", fmt.Sprintf("INSTANCE_ID=relay-%d", i),
			"JWKS_FILE=" + keys.JWKSPath(), "JWT_ISSUER=" + keys.Issuer, "JWT_AUDIENCE=" + keys.Audience,
			// modules/relay-region's limits, as a region runs them.
			"CONN_BYTE_BUDGET=1048576", "WRITE_TIMEOUT=4s", "MAX_CONNS_PER_IDENTITY=64", "MAX_LABELS_PER_IDENTITY=16",
			"MAX_MSGS_PER_SEC_PER_IDENTITY=1000", "MAX_BYTES_PER_SEC_PER_IDENTITY=8388608",
			"MAX_STORED_BYTES_PER_RECIPIENT=67108864", "MAX_STORED_BYTES_PER_PAIR=8388608",
			"RATE_LIMIT=1000000", "RATE_BURST=1000000", "LOG_LEVEL=warn",
		}
		env = append(env, o.Env...) // the last of duplicates wins
		n, err := StartNode(ctx, bin, []string{"serve"}, env, filepath.Join(dir, fmt.Sprintf("relay-%d.log", i)),
			fmt.Sprintf("http://127.0.0.1:%d/ready", port))
		if err != nil {
			r.Stop()
			return nil, err
		}
		r.nodes = append(r.nodes, n)
		r.urls = append(r.urls, fmt.Sprintf("ws://127.0.0.1:%d/ws", port))
		r.ops = append(r.ops, fmt.Sprintf("http://127.0.0.1:%d/metrics", ops))
	}
	return r, nil
}

// Name implements Driver.
func (r *Relay) Name() string { return cmp.Or(r.Label, "relay") }

// Guarantee implements Driver.
func (r *Relay) Guarantee() string {
	where := "one here, two with a peer region"
	if r.copies > 1 {
		where = "this region's and a peer region's"
	}
	return fmt.Sprintf("at least once, exactly once to the application: acked once stored on %d Redis (%s), "+
		"resent until acked, deduplicated by the client", r.copies, where)
}

// NodePids implements Driver.
func (r *Relay) NodePids() []int { return pids(r.nodes) }

// Connect implements Driver: sender i is the identity sender-i on the first
// node, recipient i the identity recipient-i on the second.
func (r *Relay) Connect(ctx context.Context, n int, deliver func(int, []byte)) error {
	for i := range n {
		s, err := r.dial(ctx, r.urls[0], fmt.Sprintf("sender-%d", i))
		if err != nil {
			return err
		}
		r.senders = append(r.senders, s)
		rc, err := r.dial(ctx, r.urls[1], fmt.Sprintf("recipient-%d", i))
		if err != nil {
			return err
		}
		r.recipients, r.to = append(r.recipients, rc), append(r.to, rc.Address())
		r.wg.Go(func() {
			for e := range rc.Receive() {
				deliver(i, e.Ciphertext)
			}
		})
	}
	return nil
}

func (r *Relay) dial(ctx context.Context, url, sub string, opts ...client.Option) (*client.Client, error) {
	tok, err := r.keys.Token(sub, tokenTTL)
	if err != nil {
		return nil, err
	}
	return client.Dial(ctx, []string{url}, client.StaticToken(tok), opts...)
}

// Send implements Driver.
func (r *Relay) Send(ctx context.Context, pair int, payload []byte) error {
	_, err := r.senders[pair].Send(ctx, r.to[pair], "", payload)
	return err
}

// OpenIdle implements Driver: raw WebSocket connections, each an address
// (identity idle-k, label i) whose inbox the relay watches, within the
// per-identity connection and label limits.
func (r *Relay) OpenIdle(ctx context.Context, n int) (func(), error) {
	perIdentity := 16
	headers := make([]http.Header, (n+perIdentity-1)/perIdentity)
	for k := range headers {
		tok, err := r.keys.Token(fmt.Sprintf("idle-%d", k), tokenTTL)
		if err != nil {
			return nil, err
		}
		headers[k] = http.Header{"Authorization": {"Bearer " + tok}}
	}
	return openAll(n, func(i int) (func(), error) {
		c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s?label=i%d", r.urls[i%2], i),
			&websocket.DialOptions{HTTPHeader: headers[i/perIdentity]})
		if err != nil {
			return nil, err
		}
		// Closing ends the benchmark's connection: nothing to report.
		return func() { _ = c.CloseNow() }, nil
	})
}

// Refused counts what the nodes refused so far by reason
// (relay_refused_total: quotas, rate limits, slow readers...): a limit
// reached would make the comparison one of configurations.
func (r *Relay) Refused(ctx context.Context) (map[string]float64, error) {
	total := map[string]float64{}
	for _, u := range r.ops {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
		if f := families["relay_refused_total"]; f != nil {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "reason" && m.GetCounter().GetValue() > 0 {
						total[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return total, nil
}

// Close implements Driver.
func (r *Relay) Close() {
	for _, c := range append(r.senders, r.recipients...) {
		c.Close()
	}
	r.wg.Wait()
	r.senders, r.recipients, r.to = nil, nil, nil
}

// Stop closes the connections and stops the nodes.
func (r *Relay) Stop() {
	r.Close()
	for _, n := range r.nodes {
		n.Stop()
	}
}
