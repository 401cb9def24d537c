package localcloud_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
)

// TestRelayReachesIAMClusterFromItsNetwork runs the real relay binary as
// Cloud Run on localcloud against a Memorystore for Redis Cluster with IAM
// authorization and TLS, as the relay-region module declares one. On the
// cluster's PSC network the relay takes its identity's access token from
// the metadata server localcloud gives it and becomes ready; on another
// network the nodes' gates refuse it. Nothing but a relay gets a token
// from the metadata server.
func TestRelayReachesIAMClusterFromItsNetwork(t *testing.T) {
	const (
		project = "agentnet-test"
		region  = "us-central1"
		network = "projects/" + project + "/global/networks/default"
		other   = "projects/" + project + "/global/networks/other"
	)
	loc := "projects/" + project + "/locations/" + region
	lc := localcloudtest.StartWithOptions(t, localcloudtest.Options{RunReadyTimeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cloudRun := lc.RunAPI(t)
	keys, err := auth.LoadOrCreateDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cluster := lc.CreateCluster(t, loc, "relay-redis", localcloudtest.ThreeShards(network)).GetName()

	good, err := deployRelay(ctx, t, cloudRun, loc, "relay-psc", relayService(cluster, region, keys.Dir, network))
	if err != nil || good.GetTerminalCondition().GetState() != runpb.Condition_CONDITION_SUCCEEDED {
		t.Fatalf("relay on the cluster's network: %v %v\n%s", good.GetTerminalCondition(), err, lc.LogTail(20))
	}
	if _, err := deployRelay(ctx, t, cloudRun, loc, "relay-other", relayService(cluster, region, keys.Dir, other)); err == nil {
		t.Fatal("a relay on another network reached the cluster")
	}

	// The metadata server answers relays only, as Google's answers only
	// code on its machine.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+lc.Addr()+"/computeMetadata/v1/instance/service-accounts/default/token", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the metadata server gave a test process a token: %s", resp.Status)
	}
	if tok, err := lc.Admin().ClusterToken(ctx, cluster); err != nil || !strings.HasPrefix(tok, "ya29.") {
		t.Fatalf("the cluster's token through the admin endpoint: %q %v", tok, err)
	}
}
