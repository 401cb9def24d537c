package peerbench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// CentrifugoGuarantee is Centrifugo's delivery guarantee, as run here.
const CentrifugoGuarantee = "at most once: a publish is acked once handed to Redis PUB/SUB; " +
	"a recipient offline or lagging misses it (history and recovery optional, off here)"

// centrifugoNamespace is the channel namespace of the agents' inboxes:
// user-limited channels (only the named user may subscribe), into which
// any connected client may publish, as any agent may send to any address.
const centrifugoNamespace = "inbox"

// Centrifugo drives two Centrifugo nodes sharing one Redis (engine redis),
// with HMAC connection tokens and client-side publish, the agents speaking
// its protobuf protocol over WebSocket through centrifuge-go.
type Centrifugo struct {
	nodes      []*Node
	urls       []string
	secret     string
	senders    []*centrifuge.Client
	recipients []*centrifuge.Client
	channels   []string
}

// centrifugoConfig is a node's configuration file (Centrifugo v6 keys).
func centrifugoConfig(port int, redisAddr, secret string) map[string]any {
	return map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "warn"},
		"engine": map[string]any{
			"type":  "redis",
			"redis": map[string]any{"address": []string{"redis://" + redisAddr}},
		},
		"client": map[string]any{"token": map[string]any{"hmac_secret_key": secret}},
		"channel": map[string]any{"namespaces": []map[string]any{{
			"name":                        centrifugoNamespace,
			"allow_user_limited_channels": true,
			"allow_publish_for_client":    true,
		}}},
		"health":      map[string]any{"enabled": true},
		"http_api":    map[string]any{"disabled": true},
		"usage_stats": map[string]any{"disabled": true},
	}
}

// StartCentrifugo starts two Centrifugo nodes from bin on redisAddr, with
// their configuration and logs under dir.
func StartCentrifugo(ctx context.Context, bin, redisAddr, dir string) (*Centrifugo, error) {
	c := &Centrifugo{secret: rand.Text()}
	for i := range 2 {
		port, err := relaytest.FreePort()
		if err != nil {
			return nil, err
		}
		cfg, err := json.MarshalIndent(centrifugoConfig(port, redisAddr, c.secret), "", "  ")
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, fmt.Sprintf("centrifugo-%d.json", i))
		if err := os.WriteFile(file, cfg, 0o600); err != nil {
			return nil, err
		}
		n, err := StartNode(ctx, bin, []string{"--config", file}, nil, filepath.Join(dir, fmt.Sprintf("centrifugo-%d.log", i)),
			fmt.Sprintf("http://127.0.0.1:%d/health", port))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
		c.urls = append(c.urls, fmt.Sprintf("ws://127.0.0.1:%d/connection/websocket", port))
	}
	return c, nil
}

// Name implements Driver.
func (c *Centrifugo) Name() string { return "centrifugo" }

// Guarantee implements Driver.
func (c *Centrifugo) Guarantee() string { return CentrifugoGuarantee }

// NodePids implements Driver.
func (c *Centrifugo) NodePids() []int { return pids(c.nodes) }

// inbox is the channel only user may subscribe to.
func inbox(user string) string { return centrifugoNamespace + ":agent#" + user }

// connect opens a client for user on url, subscribed to user's inbox when
// onPub is set, and waits until it is connected (and subscribed).
func (c *Centrifugo) connect(ctx context.Context, url, user string, onPub func([]byte)) (*centrifuge.Client, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "exp": time.Now().Add(tokenTTL).Unix(),
	}).SignedString([]byte(c.secret))
	if err != nil {
		return nil, err
	}
	cl := centrifuge.NewProtobufClient(url, centrifuge.Config{Token: tok})
	// Events after the first ones (reconnects) must not block the client.
	ready := make(chan error, 4)
	signal := func(err error) {
		select {
		case ready <- err:
		default:
		}
	}
	cl.OnConnected(func(centrifuge.ConnectedEvent) { signal(nil) })
	cl.OnError(func(e centrifuge.ErrorEvent) { signal(e.Error) })
	waits := 1
	if onPub != nil {
		sub, err := cl.NewSubscription(inbox(user))
		if err != nil {
			return nil, err
		}
		sub.OnPublication(func(e centrifuge.PublicationEvent) { onPub(e.Data) })
		sub.OnSubscribed(func(centrifuge.SubscribedEvent) { signal(nil) })
		sub.OnError(func(e centrifuge.SubscriptionErrorEvent) { signal(e.Error) })
		if err := sub.Subscribe(); err != nil {
			return nil, err
		}
		waits++
	}
	if err := cl.Connect(); err != nil {
		return nil, err
	}
	for range waits {
		select {
		case err := <-ready:
			if err != nil {
				cl.Close()
				return nil, fmt.Errorf("centrifugo %s as %s: %w", url, user, err)
			}
		case <-ctx.Done():
			cl.Close()
			return nil, ctx.Err()
		}
	}
	return cl, nil
}

// Connect implements Driver: sender i is the user sender-i on the first
// node, recipient i the user recipient-i on the second, subscribed to its
// inbox.
func (c *Centrifugo) Connect(ctx context.Context, n int, deliver func(int, []byte)) error {
	for i := range n {
		s, err := c.connect(ctx, c.urls[0], fmt.Sprintf("sender-%d", i), nil)
		if err != nil {
			return err
		}
		c.senders = append(c.senders, s)
		user := fmt.Sprintf("recipient-%d", i)
		r, err := c.connect(ctx, c.urls[1], user, func(p []byte) { deliver(i, p) })
		if err != nil {
			return err
		}
		c.recipients, c.channels = append(c.recipients, r), append(c.channels, inbox(user))
	}
	return nil
}

// Send implements Driver: a client-side publish, acked by the node once
// Redis took the PUBLISH.
func (c *Centrifugo) Send(ctx context.Context, pair int, payload []byte) error {
	_, err := c.senders[pair].Publish(ctx, c.channels[pair], payload)
	return err
}

// OpenIdle implements Driver: clients connected and subscribed to their own
// inbox, as a recipient waiting for messages.
func (c *Centrifugo) OpenIdle(ctx context.Context, n int) (func(), error) {
	return openAll(n, func(i int) (func(), error) {
		cl, err := c.connect(ctx, c.urls[i%2], fmt.Sprintf("idle-%d", i), func([]byte) {})
		if err != nil {
			return nil, err
		}
		return cl.Close, nil
	})
}

// Close implements Driver.
func (c *Centrifugo) Close() {
	for _, cl := range append(c.senders, c.recipients...) {
		cl.Close()
	}
	c.senders, c.recipients, c.channels = nil, nil, nil
}

// Stop closes the connections and stops the nodes.
func (c *Centrifugo) Stop() {
	c.Close()
	for _, n := range c.nodes {
		n.Stop()
	}
}
