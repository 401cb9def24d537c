package localcloudtest

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
)

// RedisOptions resolves a Memorystore instance the way the relay does on
// Google Cloud: its address from GetInstance, with transit encryption TLS
// trusting exactly the instance's server_ca_certs, and with AUTH the string
// from GetInstanceAuthString. emulator is localcloud's address (host:port);
// name is projects/P/locations/R/instances/I.
func RedisOptions(ctx context.Context, emulator, name string) (*goredis.Options, error) {
	r, err := relay.NewMemorystoreResolver(ctx, emulator)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	t, err := r.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	opts := t.Options()
	opts.ReadTimeout = 10 * time.Second
	return opts, nil
}

// RedisClient connects to a Memorystore instance of this localcloud with
// its address, AUTH string and CA from the Memorystore API (RedisOptions).
// t.Cleanup closes it.
func (i *Instance) RedisClient(t testing.TB, name string) *goredis.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := RedisOptions(ctx, i.Addr(), name)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}
