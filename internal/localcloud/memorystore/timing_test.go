package memorystore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	goredis "github.com/redis/go-redis/v9"
)

// gcpScale runs the gcp profile 200 times faster than Google Cloud: its
// 3 minute import takes 0.9 s.
const gcpScale = 200

// Under the gcp profile an import takes its modelled time and the instance
// serves no client meanwhile: a new connection's PING fails while the import
// runs and works after, with the snapshot's data. A failed import (a
// corrupt snapshot) is unavailable the same way and leaves the instance
// flushed.
func TestImportUnderGCPProfile(t *testing.T) {
	p, err := profile.Load("gcp", gcpScale)
	if err != nil {
		t.Fatal(err)
	}
	e := startProfile(t, t.TempDir(), p)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	createStart := time.Now()
	inst := e.create(t, "cache", &redispb.Instance{})
	if took, want := time.Since(createStart), p.Scaled(p.Delay(profile.RedisCreate).For(0)); took < want {
		t.Errorf("create took %v, less than the modelled %v", took, want)
	}
	c := client(inst)
	defer c.Close()
	data := map[string]string{}
	writeKeys(t, c, "k", 1000, data)
	if err := e.gcs.Bucket("snaps").Create(ctx, "agentnet-test", nil); err != nil {
		t.Fatal(err)
	}
	e.exportRDB(t, inst.Name, "gs://snaps/good.rdb")
	good := e.get(t, "good.rdb")
	e.put(t, "corrupt.rdb", good[:len(good)/2])
	writeKeys(t, c, "after-export", 10, map[string]string{})

	modelled := p.Delay(profile.RedisImport).For(int64(len(good)))
	wantSlept := p.Scaled(modelled)

	// The good snapshot: unavailable throughout, then its data.
	took, failed, err := importWhilePinging(e, inst, "gs://snaps/good.rdb")
	if err != nil {
		t.Fatalf("import of the good snapshot: %v", err)
	}
	t.Logf("import took %v (modelled %v, slept %v); %d PINGs failed during it", took, modelled, wantSlept, failed)
	if took < wantSlept {
		t.Errorf("import took %v, less than the modelled %v scaled by %d (%v)", took, modelled, gcpScale, wantSlept)
	}
	if failed == 0 {
		t.Error("every PING during the import was answered: the instance must be unavailable")
	}
	if err := freshClient(inst).Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after the import: %v", err)
	}
	checkKeys(t, c, data, "after the import")
	var recorded bool
	for _, a := range e.srv.Timing().Status().Applied {
		recorded = recorded || a.Kind == profile.RedisImport && a.Subject == inst.Name && a.Modelled.D() == modelled && a.Slept.D() == wantSlept
	}
	if !recorded {
		t.Errorf("no %s of %v for %s in the ledger: %+v", profile.RedisImport, modelled, inst.Name, e.srv.Timing().Status().Applied)
	}

	// The corrupt one: unavailable, refused, and the instance flushed.
	took, failed, err = importWhilePinging(e, inst, "gs://snaps/corrupt.rdb")
	if err == nil || !strings.Contains(err.Error(), "back online with no data") || strings.Contains(err.Error(), "were answered") {
		t.Fatalf("import of a corrupt snapshot: %v", err)
	}
	t.Logf("failed import took %v; %d PINGs failed during it: %v", took, failed, err)
	if failed == 0 {
		t.Error("every PING during the failed import was answered")
	}
	got := e.instance(t, inst.Name)
	if got.State != redispb.Instance_READY {
		t.Fatalf("after the failed import: %v", got.State)
	}
	checkKeys(t, freshClient(inst), map[string]string{}, "after the failed import")
}

// importWhilePinging imports uri into inst and, while the instance reads
// IMPORTING, PINGs it on a new connection every 20 ms; it returns how long
// the import took and how many PINGs failed. A PING answered while the
// instance still reads IMPORTING after it is an error.
func importWhilePinging(e *env, inst *redispb.Instance, uri string) (time.Duration, int, error) {
	start := time.Now()
	imported := make(chan error, 1)
	go func() { imported <- e.importRDB(inst.Name, uri) }()
	importing := func() (bool, error) {
		got, err := e.redis.GetInstance(context.Background(), &redispb.GetInstanceRequest{Name: inst.Name})
		return got.GetState() == redispb.Instance_IMPORTING, err
	}
	for {
		on, err := importing()
		if err != nil {
			return 0, 0, err
		}
		if on {
			break
		}
		select {
		case err := <-imported:
			return 0, 0, fmt.Errorf("the instance never read IMPORTING (import: %v)", err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	var failed, answered int
	for {
		c := freshClient(inst)
		perr := c.Ping(context.Background()).Err()
		c.Close()
		on, err := importing()
		if err != nil {
			return 0, 0, err
		}
		if !on {
			break
		}
		if perr != nil {
			failed++
		} else {
			answered++
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := <-imported
	if answered > 0 {
		err = errors.Join(err, fmt.Errorf("%d PINGs were answered during the import: the instance must be unavailable", answered))
	}
	return time.Since(start), failed, err
}

// freshClient opens new connections only, without retries.
func freshClient(inst *redispb.Instance) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", inst.Host, inst.Port), MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, PoolSize: 1})
}
