package drill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
)

var scenarios = []*scenario{
	{
		name: "region-outage", title: "Single region outage (europe-west1 down)",
		seedName: "Single Region Outage", target: 5 * time.Minute, runbook: "docs/runbooks/region-failover.md",
		scope:          "Runbook steps run: confirm the outage (plan -detailed-exitcode with automatic failover), initiate failover and capacity adjustment and traffic redirection (the apply of that plan), verification (new connections and deliveries), return to normal (region-up, plan and apply until the plan is empty).",
		fault:          "region-down europe-west1: its relays and Redis are killed and held down, its APIs answer UNAVAILABLE",
		down:           []string{"europe-west1"},
		redis:          []string{"europe-west1"},
		planMustChange: true,
		alerted:        true,
		inject: func(ctx context.Context, r *run) error {
			err := r.env.lc.fault("region-down", map[string]any{"region": "europe-west1"})
			return err
		},
		normalize: func(ctx context.Context, r *run) error {
			if err := r.env.lc.fault("region-up", map[string]any{"region": "europe-west1"}); err != nil {
				return err
			}
			r.mark("region-up", "europe-west1 is back; the next plan ramps it in")
			return r.planApplyUntilClean(ctx)
		},
	},
	{
		name: "multi-region-outage", title: "Multi-region outage (europe-west1 and asia-east1 down)",
		seedName: "Multi-Region Outage", target: 30 * time.Minute, runbook: "docs/runbooks/multi-region-recovery.md",
		scope:          "Runbook steps run: assessment (plan -detailed-exitcode: both regions unhealthy), load balancer and capacity (the apply moves all traffic and the minimum instances to us-central1), return. Not run: the emergency deployment to an alternative region, which the runbook calls for when no healthy region is left; one is left here.",
		fault:          "region-down europe-west1 and asia-east1: two of the three regions lose their relays and Redis",
		down:           []string{"europe-west1", "asia-east1"},
		redis:          []string{"europe-west1", "asia-east1"},
		planMustChange: true,
		alerted:        true,
		inject: func(ctx context.Context, r *run) error {
			// Both at once, as one disaster.
			errs := make(chan error, 2)
			for _, region := range []string{"europe-west1", "asia-east1"} {
				go func() {
					err := r.env.lc.fault("region-down", map[string]any{"region": region})
					errs <- err
				}()
			}
			return errors.Join(<-errs, <-errs)
		},
		normalize: func(ctx context.Context, r *run) error {
			for _, region := range []string{"europe-west1", "asia-east1"} {
				if err := r.env.lc.fault("region-up", map[string]any{"region": region}); err != nil {
					return err
				}
			}
			r.mark("region-up", "europe-west1 and asia-east1 are back")
			return r.planApplyUntilClean(ctx)
		},
	},
	{
		name: "websocket-server-failure", title: "WebSocket server failure (asia-east1 relays crash and stay down)",
		seedName: "WebSocket Server Failure", target: 15 * time.Minute, runbook: "docs/runbooks/websocket-server-recovery.md",
		scope:          "Runbook steps run: assessment (plan: the service reads not ready and is planned for redeployment; automatic failover plans asia-east1 to weight 0), infrastructure restoration and service deployment (the apply), service verification (new connections, deliveries, every asia-east1 instance ready).",
		fault:          "service-kill --hold of the asia-east1 relay service: every instance killed, none restarted",
		redis:          []string{"asia-east1"},
		planMustChange: true,
		alerted:        true,
		inject: func(ctx context.Context, r *run) error {
			err := r.env.lc.fault("service-kill", map[string]any{"service": serviceID("asia-east1"), "hold": true})
			return err
		},
		recovered: func(ctx context.Context, r *run) (bool, string) {
			return r.serviceReady(serviceID("asia-east1"))
		},
		normalize: func(ctx context.Context, r *run) error {
			return r.planApplyUntilClean(ctx)
		},
	},
	{
		name: "redis-failure", title: "Redis failure (us-central1 instance killed)",
		seedName: "Redis Failure", target: 10 * time.Minute, runbook: "docs/runbooks/redis-recovery.md",
		scope: "Runbook steps run: assessment (plan), verify data (the counter keys read back), pub/sub verification (deliveries across regions). No instance to recreate: the instance was repaired, not deleted.",
		fault: "redis-kill of relay-us (us-central1): its redis-server is SIGKILLed; Memorystore (localcloud) repairs it " +
			"from its last RDB file after the repair delay",
		redis: []string{"us-central1"},
		noChange: "Memorystore repairs a crashed instance by itself (localcloud restarts its redis-server after the repair delay, " +
			"from the RDB file the last backup export wrote), and the us-central1 relays route through the other regions' Redis " +
			"meanwhile, so the runbook's assessment plan has nothing to change. The recovery measured is the repair.",
		inject: func(ctx context.Context, r *run) error {
			err := r.env.lc.fault("redis-kill", map[string]any{"instance": instanceID("us-central1")})
			return err
		},
		recovered: func(ctx context.Context, r *run) (bool, string) {
			return r.redisReady("us-central1")
		},
		normalize: func(ctx context.Context, r *run) error {
			return r.planApplyUntilClean(ctx)
		},
	},
	{
		// A scenario of its own rather than a variant of redis-failure:
		// another Redis (a cluster, set up by its own configuration), another
		// recovery (a replica promoted within seconds, not an instance
		// repaired from its RDB) and its own history to compare runs with.
		name: "redis-cluster-primary-failure", title: "Redis Cluster primary failure (a us-central1 shard's primary killed)",
		seedName: "Redis Failure", target: 10 * time.Minute, runbook: "docs/runbooks/redis-recovery.md",
		clusters: []string{"us-central1"},
		scope: "Runbook steps run: assessment (plan: nothing to change, the cluster failed over by itself), pub/sub verification " +
			"(deliveries across regions, new connections served, every shard with a primary). No instance to recreate or restore: " +
			"the shard's replica took over and the lost node came back as its replica.",
		fault: "cluster-primary-kill on relay-us-central1, us-central1's Memorystore for Redis Cluster (three primaries with a " +
			"replica each): the primary of the shard holding the most receivers' inboxes is SIGKILLed during traffic; the cluster " +
			"promotes its replica, and localcloud starts the node again as a replica after the repair delay",
		noChange: "Memorystore for Redis Cluster promotes a lost primary's replica by itself and replaces the node; the relays follow " +
			"the shard's slots to the promoted replica, so the runbook's assessment plan has nothing to change. The recovery measured " +
			"is the failover: until every shard has a primary again and every pair is delivering.",
		prepare: func(ctx context.Context, r *run) error {
			shard, keys, why, err := r.busiestShard(ctx, "us-central1")
			if err != nil {
				return err
			}
			r.mark("shard chosen", why)
			r.shard = shard
			r.stores, err = r.watchStores(ctx, "us-central1", keys, r.opts.RecoveryTimeout)
			return err
		},
		inject: func(ctx context.Context, r *run) error {
			// The fault answers once the primary is dead.
			err := r.env.lc.fault("cluster-primary-kill", map[string]any{"cluster": clusterID("us-central1"), "shard": r.shard})
			r.stores.killedAt(time.Now())
			return err
		},
		recovered: func(ctx context.Context, r *run) (bool, string) {
			return r.clusterPrimaries("us-central1")
		},
		normalize: func(ctx context.Context, r *run) error {
			if err := r.awaitClusterWhole(ctx, "us-central1", time.Minute); err != nil {
				return err
			}
			return r.planApplyUntilClean(ctx)
		},
		metrics: (*run).clusterFailoverMetrics,
	},
	{
		name: "data-corruption", title: "Data corruption (us-central1 Redis data damaged)",
		seedName: "Data Corruption", target: 20 * time.Minute, runbook: "docs/runbooks/data-corruption-recovery.md",
		scope:          "Runbook steps run: isolation and Redis recovery in one line of local.regions, `\"us-central1\" = { state = \"drained\", restore_from = \"<time the corruption began>\" }` (modules/relay-region: agentnet_redis_snapshot_restore of the newest non-empty snapshot written before that time, its signed manifest verified, pinned in state), one plan and apply, verification (every key written before the snapshot reads back intact), service restoration (back to active, ramped in, the restore resource removed).",
		fault:          "redis-corrupt of relay-us (us-central1): half of its keys deleted or overwritten with random bytes",
		down:           []string{"us-central1"},
		redis:          []string{"us-central1"},
		planMustChange: true,
		inject: func(ctx context.Context, r *run) error {
			err := r.env.lc.fault("redis-corrupt", map[string]any{"instance": instanceID("us-central1")})
			return err
		},
		// Assessment: the integrity check of the data finds the damage;
		// the operator isolates the region and restores the newest
		// snapshot from before the corruption began (one change to the
		// configuration, one apply), never one of the damaged data.
		beforePlan: func(ctx context.Context, r *run) error {
			c := r.counters[0]
			deadline := time.Now().Add(30 * time.Second)
			for {
				bad, err := c.check(ctx, c.recent(50))
				if err == nil && len(bad) > 0 {
					r.mark("corruption found", fmt.Sprintf("%d of the last 50 counter keys damaged; drain us-central1 and restore its newest snapshot from before the corruption", len(bad)))
					break
				}
				if time.Now().After(deadline) {
					return errors.New("the integrity check found no damage within 30s")
				}
				sleep(ctx, 100*time.Millisecond)
			}
			r.env.setRegion("us-central1", fmt.Sprintf(`{ state = "drained", restore_from = %q }`, r.fault.UTC().Format(time.RFC3339Nano)))
			return nil
		},
		recovered: func(ctx context.Context, r *run) (bool, string) {
			if ok, why := r.redisReady("us-central1"); !ok {
				return false, why
			}
			// Verification: every write confirmed before the snapshot reads
			// back intact.
			c := r.counters[0]
			var before []write
			for _, w := range c.recent(1 << 30) {
				if w.at.Before(r.backupStart) {
					before = append(before, w)
				}
			}
			bad, err := c.check(ctx, before)
			if err != nil {
				return false, "reading the restored data: " + err.Error()
			}
			if len(bad) > 0 {
				return false, fmt.Sprintf("%d of %d keys written before the snapshot are still damaged", len(bad), len(before))
			}
			return true, ""
		},
		normalize: func(ctx context.Context, r *run) error {
			// Without restore_from the restore resource goes (leaving the
			// data alone) and a fresh snapshot is taken.
			r.env.setRegion("us-central1", "")
			return r.planApplyUntilClean(ctx)
		},
	},
	{
		name: "identity-provider-outage", title: "Identity provider outage (JWKS endpoint down)",
		seedName: "External Dependency Failure", runbook: "docs/runbooks/external-dependency-failure.md",
		scope: "Runbook steps run: assessment (the restarted relays' logs show the failed JWKS fetch and the cache in use), communication (local.dependencies[\"Identity provider\"] declared degraded, plan exit 2, apply: every connected agent gets the dependency notice within 1 s and keeps messaging), service restoration (the identity provider back, declared operational, plan and apply, the ok notice delivered).",
		fault: "the JWKS endpoint the relays fetch signing keys from stops answering; then the europe-west1 relays crash " +
			"(service-kill, restarted by Cloud Run), so restarted relays must verify tokens from their JWKS cache and " +
			"every agent connected to them reconnects",
		planMustChange: true,
		inject: func(ctx context.Context, r *run) error {
			r.env.jwks.stop()
			r.mark("identity provider down", r.env.jwks.url()+" refuses connections")
			sleep(ctx, 500*time.Millisecond)
			if err := r.env.lc.fault("service-kill", map[string]any{"service": serviceID("europe-west1")}); err != nil {
				return err
			}
			r.mark("relays crashed", "europe-west1 relay instances killed; Cloud Run restarts them")
			return nil
		},
		// Assessment once the crashed relays are back: nothing to apply
		// while cached keys verify tokens.
		beforePlan: func(ctx context.Context, r *run) error {
			deadline := time.Now().Add(30 * time.Second)
			for {
				if ok, _ := r.serviceReady(serviceID("europe-west1")); ok {
					r.mark("relays restarted", "europe-west1 instances ready without the identity provider")
					failed := len(r.env.relayLogLines("europe-west1", "jwks fetch failed at start", r.fault))
					cached := len(r.env.relayLogLines("europe-west1", "using cached jwks", r.fault))
					r.mark("relay logs", fmt.Sprintf("%d restarted instance(s) could not fetch the JWKS, %d verify tokens with the cached JWKS", failed, cached))
					if failed == 0 || cached < failed {
						r.note("the restarted relays' logs do not show them using the JWKS cache (%d failed fetches, %d cache loads)", failed, cached)
					}
					// Communication: the relays keep verifying tokens from
					// their cache; agents are told sign-ins may fail.
					return r.env.declareDependency("Identity provider", "degraded", "Sign-in provider unreachable: connected agents keep working, new sign-ins may fail")
				}
				if time.Now().After(deadline) {
					return errors.New("the europe-west1 relays did not start again within 30s without the identity provider")
				}
				sleep(ctx, 100*time.Millisecond)
			}
		},
		recovered: func(ctx context.Context, r *run) (bool, string) {
			if ok, why := r.serviceReady(serviceID("europe-west1")); !ok {
				return false, why
			}
			return r.noticeDelivered(ctx, "Identity provider", client.DependencyDegraded)
		},
		normalize: func(ctx context.Context, r *run) error {
			if err := r.env.jwks.restart(); err != nil {
				return err
			}
			r.mark("identity provider back", r.env.jwks.url())
			return r.dependencyBack(ctx, "Identity provider")
		},
	},
	dependencyScenario("calendar-outage", "Calendar", "outage", client.DependencyDown,
		"Calendar API unreachable: offline calendar mode, calendar operations are queued"),
	dependencyScenario("language-model-degraded", "Language model API", "degraded", client.DependencyDegraded,
		"Language model API slow: agents use fallback responses"),
}

// serviceReady reports whether every instance of a Cloud Run service runs
// and is ready.
func (r *run) serviceReady(name string) (bool, string) {
	sts, err := r.env.lc.services()
	if err != nil {
		return false, err.Error()
	}
	for _, s := range sts {
		if s.Name != name {
			continue
		}
		if len(s.Instances) == 0 {
			return false, name + " has no instance"
		}
		for _, in := range s.Instances {
			if !in.Ready || in.PID == 0 {
				return false, fmt.Sprintf("%s instance %s is %s", name, in.ID, in.State)
			}
		}
		return true, ""
	}
	return false, name + " not found"
}

// redisReady reports whether a region's Redis instance is READY.
func (r *run) redisReady(region string) (bool, string) {
	sts, err := r.env.lc.instances()
	if err != nil {
		return false, err.Error()
	}
	for _, s := range sts {
		if s.Name == instanceID(region) {
			if s.State != "READY" || s.PID == 0 {
				return false, fmt.Sprintf("Redis %s is %s", s.Name, s.State)
			}
			return true, ""
		}
	}
	return false, instanceID(region) + " not found"
}
