package run_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// Under the gcp profile (at a time scale of 10, its Memorystore creation
// shortened) a new revision takes the revision deploy time then a cold
// start before it serves, and raising minimum instances the scale-up time
// then a cold start; each delay is in the ledger of /_localcloud/delays.
func TestRolloutUnderGCPProfile(t *testing.T) {
	t.Parallel()
	const scale = 10
	file := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(file, []byte(`{"name":"gcp-quick-redis","base":"gcp","delays":{"memorystore.create":{"duration":"1s","source":"test: a quick instance"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := setupWith(t, localcloudtest.Options{Profile: file, TimeScale: scale})
	p, err := profile.Load(file, scale)
	if err != nil {
		t.Fatal(err)
	}
	scaled := func(kinds ...profile.Kind) time.Duration {
		var d time.Duration
		for _, k := range kinds {
			d += p.Scaled(p.Delay(k).For(0))
		}
		return d
	}
	const region = "us-central1"
	redis := e.createRedis(t, region, "relay-redis")

	t0 := time.Now()
	svc := e.createService(t, region, "relay", relayService("agentnet-relay:dev", redis, e.keys))
	if took, want := time.Since(t0), scaled(profile.RunRevisionDeploy, profile.RunColdStart); took < want {
		t.Errorf("the first revision served after %v, before its deploy and cold start (%v)", took, want)
	}
	rev1 := svc.LatestReadyRevision

	t0 = time.Now()
	svc.Scaling = &runpb.ServiceScaling{MinInstanceCount: 3}
	svc = e.update(t, svc)
	if took, want := time.Since(t0), scaled(profile.RunScaleUp, profile.RunColdStart); took < want {
		t.Errorf("scaling to 3 instances took %v, less than the scale-up and a cold start (%v)", took, want)
	}
	if svc.LatestReadyRevision != rev1 {
		t.Fatalf("scaling made a revision: %s", svc.LatestReadyRevision)
	}

	t0 = time.Now()
	svc.Template.Containers[0].Env[2].Values = &runpb.EnvVar_Value{Value: "info"}
	svc = e.update(t, svc)
	if took, want := time.Since(t0), scaled(profile.RunRevisionDeploy, profile.RunColdStart); took < want || svc.LatestReadyRevision == rev1 {
		t.Errorf("revision %s (was %s) served after %v, before its deploy and cold start (%v)", svc.LatestReadyRevision, rev1, took, want)
	}

	st, err := e.lc.Admin().Delays(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[profile.Kind]int{}
	for _, a := range st.Applied {
		if strings.HasPrefix(a.Subject, svc.Name) || strings.HasPrefix(a.Subject, "relay-") {
			seen[a.Kind]++
		}
	}
	// Two revisions; three cold starts for the first (1, then 2 more) and
	// three for the second; one scale-up.
	if seen[profile.RunRevisionDeploy] != 2 || seen[profile.RunScaleUp] != 1 || seen[profile.RunColdStart] != 6 {
		t.Errorf("delays applied: %v; want 2 revision deploys, 1 scale-up, 6 cold starts\n%+v", seen, st.Applied)
	}
}
