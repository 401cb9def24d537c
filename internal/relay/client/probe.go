package client

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"
)

// Probe measures a real round trip through the relay at url: two probe
// agents (labels of the token's identity, on two connections) send an
// envelope one way and the answer back. It returns the round trip time.
// opts are Dial's (WithRootCAs, WithHeader, ...); the probe sets the labels.
func Probe(ctx context.Context, url string, tokens TokenSource, opts ...Option) (time.Duration, error) {
	return ProbeBetween(ctx, url, url, tokens, opts...)
}

// ProbeBetween is Probe with the two agents connected to different relay
// URLs (instances or regions), so the round trip crosses Redis.
func ProbeBetween(ctx context.Context, fromURL, toURL string, tokens TokenSource, opts ...Option) (time.Duration, error) {
	tag := NewID()[:12]
	with := func(label string) []Option { return append(slices.Clip(opts), WithLabel(label)) }
	a, err := Dial(ctx, []string{fromURL}, tokens, with("probe-"+tag+"-a")...)
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	defer a.Close()
	b, err := Dial(ctx, []string{toURL}, tokens, with("probe-"+tag+"-b")...)
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	defer b.Close()
	nonce := []byte(NewID())
	start := time.Now()
	if _, err := a.Send(ctx, b.Address(), "", nonce); err != nil {
		return 0, fmt.Errorf("probe: send: %w", err)
	}
	if err := await(ctx, b, nonce); err != nil {
		return 0, err
	}
	if _, err := b.Send(ctx, a.Address(), "", nonce); err != nil {
		return 0, fmt.Errorf("probe: answer: %w", err)
	}
	if err := await(ctx, a, nonce); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func await(ctx context.Context, c *Client, nonce []byte) error {
	for {
		select {
		case e, ok := <-c.Receive():
			if !ok {
				return fmt.Errorf("probe: %s: %w", c.Address(), ErrClosed)
			}
			if bytes.Equal(e.Ciphertext, nonce) {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("probe: waiting for the envelope at %s: %w", c.Address(), ctx.Err())
		}
	}
}
