package rediscluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	goredis "github.com/redis/go-redis/v9"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/rediscluster"
)

// nodesOf are the cluster's nodes as localcloud's admin endpoint shows
// them.
func nodesOf(t *testing.T, lc *localcloudtest.Instance, name string) []rediscluster.NodeStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := lc.Admin().Clusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if c.Name == name {
			return c.Nodes
		}
	}
	t.Fatalf("cluster %s not in /_localcloud/clusters: %v", name, all)
	return nil
}

// A primary killed while clients write: its replica is promoted by the
// cluster, every write a replica confirmed (WAIT 1) before the kill is
// still there, and the killed node comes back as a replica. Under a timing
// profile the failover is in the ledger of modelled delays (a drill's
// prediction counts it from there); the profile here keeps the default
// node timeout, 2 s.
func TestClusterPrimaryKilledDuringWrites(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(prof, []byte(`{"name": "failover-test", "base": "default", "scale": 1,
		"delays": {"memorystore.cluster_failover": {"duration": "2s", "source": "localcloud's default node timeout"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	lc := localcloudtest.StartWithOptions(t, localcloudtest.Options{Profile: prof})
	name := lc.CreateCluster(t, parent, "failover", localcloudtest.ThreeShards(network)).GetName()
	rc := lc.ClusterClient(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The keys of shard 0: a hash tag whose slot is in its range (0 to
	// 5460 of three shards).
	tag := ""
	for i := 0; tag == ""; i++ {
		if slot, err := rc.ClusterKeySlot(ctx, fmt.Sprint(i)).Result(); err != nil {
			t.Fatal(err)
		} else if slot < 16384/3 {
			tag = fmt.Sprint(i)
		}
	}
	var confirmed []string
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("{%s}k%d", tag, i)
			// SET then WAIT on the key's primary: acknowledged once a
			// replica has the write.
			m, err := rc.MasterForKey(ctx, key)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			var wait *goredis.Cmd
			_, err = m.Pipelined(ctx, func(p goredis.Pipeliner) error {
				p.Set(ctx, key, i, 0)
				wait = p.Do(ctx, "WAIT", 1, 1000)
				return nil
			})
			if n, _ := wait.Int(); err == nil && n >= 1 {
				mu.Lock()
				confirmed = append(confirmed, key)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	var killed rediscluster.KillResult
	fr := lc.Fault(t, "cluster-primary-kill", "", map[string]any{"cluster": name, "shard": 0})
	if err := json.Unmarshal(fr.Result, &killed); err != nil || len(killed.Ports) != 1 {
		t.Fatalf("cluster-primary-kill: %s %v", fr.Result, err)
	}
	killedAt := time.Now()
	delays, err := lc.Admin().Delays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	failovers := 0
	for _, d := range delays.Applied {
		if d.Kind == profile.ClusterFailover && d.Modelled.D() == 2*time.Second && d.Subject == killed.Cluster+" shard 0" {
			failovers++
		}
	}
	if failovers != 1 {
		t.Errorf("%d failovers of shard 0 in the ledger, want 1: %+v", failovers, delays.Applied)
	}
	// Writes go on through the failover.
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(confirmed)
		mu.Unlock()
		ok := false
		for _, ns := range nodesOf(t, lc, name) {
			ok = ok || (ns.Port == killed.Ports[0] && ns.Role == "replica" && ns.PID != 0)
		}
		if ok && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed primary did not come back as a replica: %+v", nodesOf(t, lc, name))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the killed primary is back as a replica after %s", time.Since(killedAt).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond) // writes on the promoted primary
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, k := range confirmed {
		if err := rc.Get(ctx, k).Err(); err != nil {
			t.Fatalf("%s, confirmed by a replica before or after the kill, is lost: %v (of %d confirmed)", k, err, len(confirmed))
		}
	}
	t.Logf("%d writes confirmed by a replica, none lost (checked in %s)", len(confirmed), time.Since(killedAt).Round(time.Millisecond))
	primaries := 0
	for _, ns := range nodesOf(t, lc, name) {
		if ns.Shard == 0 && ns.Role == "master" {
			primaries++
		}
	}
	if primaries != 1 {
		t.Fatalf("shard 0 has %d primaries: %+v", primaries, nodesOf(t, lc, name))
	}
}

// A restarted localcloud brings the cluster back: the same discovery
// endpoint, the same shape, the data.
func TestClusterSurvivesRestart(t *testing.T) {
	lc := localcloudtest.Start(t)
	before := lc.CreateCluster(t, parent, "kept", localcloudtest.ThreeShards(network))
	rc := lc.ClusterClient(t, before.GetName())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range 50 {
		if err := rc.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	lc.Restart(t)
	after, err := lc.ClusterAPI(t).GetCluster(ctx, &clusterpb.GetClusterRequest{Name: before.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetState() != clusterpb.Cluster_ACTIVE || after.GetDiscoveryEndpoints()[0].GetPort() != before.GetDiscoveryEndpoints()[0].GetPort() {
		t.Fatalf("after restart: %v; before: %v", after, before)
	}
	rc = lc.ClusterClient(t, before.GetName())
	for i := range 50 {
		if v, err := rc.Get(ctx, fmt.Sprintf("k%d", i)).Int(); err != nil || v != i {
			t.Fatalf("k%d after restart: %v %v", i, v, err)
		}
	}
	if n := len(nodesOf(t, lc, before.GetName())); n != 6 {
		t.Fatalf("%d nodes after restart, want 6", n)
	}
}
