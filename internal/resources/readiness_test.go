package resources

import (
	"strings"
	"testing"
	"time"
)

// readyTopology passes every check but message_rpo's info: three regions of
// 5 instances at most, 6 needed, snapshots every 5 minutes against a 5
// minute RPO, a drain (propagation and grace) within the RTO.
func readyTopology() readinessTopology {
	return readinessTopology{
		Regions: []readinessRegion{
			{Name: "us-central1", Weight: 100, MinInstances: 2, MaxInstances: 5, RedisMemoryGB: 1, RedisExpectedUsageGB: 0.5},
			{Name: "europe-west1", Weight: 100, MinInstances: 2, MaxInstances: 5},
			{Name: "asia-east1", Weight: 100, MinInstances: 2, MaxInstances: 5},
		},
		TotalMinInstances: 6,
		SnapshotInterval:  5 * time.Minute,
		RTO:               15 * time.Minute,
		RPO:               5 * time.Minute,
		DrainGrace:        5 * time.Minute,
		PropagationDelay:  5 * time.Minute,
		MessageAckRegions: 2,
	}
}

func TestEvaluateReadiness(t *testing.T) {
	minutes := func(n int) *time.Duration { d := time.Duration(n) * time.Minute; return &d }
	cases := []struct {
		name   string
		change func(*readinessTopology)
		want   []string // severity check: fragment of the message
		ready  bool
	}{
		{"ready", func(*readinessTopology) {}, nil, true},
		{"hourly snapshots against a 5 minute RPO", func(t *readinessTopology) { t.SnapshotInterval = time.Hour },
			[]string{"error snapshot_schedule: Snapshots every 1h0m0s can lose up to 1h0m0s of Redis data, more than the RPO (5m0s)."}, false},
		{"one region's max_instances lowered", func(t *readinessTopology) { t.Regions[1].MaxInstances = 2 },
			[]string{
				"error region_loss_capacity: Without asia-east1, europe-west1 must run 3 of total_min_instances (6) but its max_instances is 2; the other regions can run 7 in all. Change: raise europe-west1's max_instances to at least 3, or lower total_min_instances.",
				"error region_loss_capacity: Without us-central1, europe-west1 must run 3",
			}, false},
		{"weights shift the shares", func(t *readinessTopology) {
			t.Regions[1].MaxInstances = 2
			t.Regions[1].Weight = 50 // 6 over 100:50 is 4 and 2
		}, nil, true},
		{"the only other weighted region lost", func(t *readinessTopology) {
			t.Regions = t.Regions[:2]
			t.Regions[1].Weight = 0
		}, []string{
			"error region_loss_capacity: Without europe-west1, us-central1 must run 6 of total_min_instances (6) but its max_instances is 5",
			"error region_loss_capacity: Without us-central1 no region with a weight is left",
		}, false},
		{"a single region", func(t *readinessTopology) { t.Regions = t.Regions[:1] },
			[]string{
				"error region_loss_capacity: 1 region declared",
				"warning message_rpo: Messages are acknowledged when one region holds them (message_ack_regions 2, 1 region(s))",
			}, false},
		{"a region without a minimum instance", func(t *readinessTopology) { t.Regions[2].MinInstances = 0 },
			[]string{"warning min_instance_per_region: asia-east1 has min_instances 0"}, true},
		{"the newest snapshot too old", func(t *readinessTopology) { t.NewestSnapshotAge, t.SnapshotsFound = minutes(7), true },
			[]string{"error snapshot_age: The newest snapshot is 7m0s old, older than the RPO (5m0s)."}, false},
		{"no snapshot under the prefix", func(t *readinessTopology) { t.NewestSnapshotAge = minutes(0) },
			[]string{"error snapshot_age: No snapshot under snapshots_prefix"}, false},
		{"a fresh snapshot", func(t *readinessTopology) { t.NewestSnapshotAge, t.SnapshotsFound = minutes(4), true }, nil, true},
		// No soak check: its probes go through the front door the apply
		// waited on. The grace starts there too, but other front ends may
		// take the drain later.
		{"a grace shorter than propagation", func(t *readinessTopology) { t.DrainGrace = 2 * time.Second },
			[]string{"warning propagation: drain_grace_period (2s) is shorter than the propagation delay (5m0s): the grace starts once the front door the apply reaches follows the drain, but other front ends may take it later"}, true},
		{"a drain longer than the RTO", func(t *readinessTopology) { t.RTO = 8 * time.Minute },
			[]string{"error propagation: A failover waits for the front door to follow the new weights (the propagation delay) and then the drain's grace before it tells agents to reconnect: 10m0s, more than the RTO (8m0s). Change: raise the RTO to at least 10m0s, or shorten drain_grace_period."}, false},
		{"propagation longer than the group waits", func(t *readinessTopology) {
			t.PropagationDelay, t.DrainGrace, t.RTO = 11*time.Minute, 11*time.Minute, time.Hour
		},
			[]string{"error propagation: A URL map change takes 11m0s to reach the load balancer's edge, longer than the failover group waits for one (10m0s)"}, false},
		{"propagation as long as the group waits", func(t *readinessTopology) {
			t.PropagationDelay, t.DrainGrace, t.RTO = propagationTimeout, propagationTimeout, time.Hour
		}, nil, true},
		{"Redis above 80 %", func(t *readinessTopology) { t.Regions[0].RedisExpectedUsageGB = 0.9 },
			[]string{"warning redis_headroom: us-central1 expects 90% of its Redis memory in use"}, true},
		{"Redis over its memory", func(t *readinessTopology) { t.Regions[0].RedisExpectedUsageGB = 1.5 },
			[]string{"error redis_headroom: us-central1 expects 1.5 GB in a 1 GB Redis"}, false},
		{"messages acknowledged on one region", func(t *readinessTopology) { t.MessageAckRegions = 1 },
			[]string{"warning message_rpo: Messages are acknowledged when one region holds them (message_ack_regions 1, 3 region(s))"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top := readyTopology()
			c.change(&top)
			fs := evaluateReadiness(top)
			var got []string
			for _, f := range fs {
				if f.Check == "message_rpo" && f.Severity == severityInfo {
					continue // every ready topology has it: tested below
				}
				got = append(got, f.Severity+" "+f.Check+": "+f.Message+" Change: "+f.Remedy)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(c.want), strings.Join(got, "\n"))
			}
			for i, w := range c.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("finding %d is\n  %s\nwant it to start with\n  %s", i, got[i], w)
				}
				if fs[i].Remedy == "" {
					t.Errorf("finding %d says nothing to change", i)
				}
			}
			if readinessReady(fs) != c.ready {
				t.Errorf("ready = %t, want %t", readinessReady(fs), c.ready)
			}
		})
	}
}

// With messages acknowledged on two regions, the report says their RPO is
// 0 while other Redis data has the snapshots'.
func TestCheckMessageRPO_splitsMessagesFromRedisData(t *testing.T) {
	top := readyTopology()
	top.SnapshotInterval = time.Hour
	fs := checkMessageRPO(top)
	if len(fs) != 1 || fs[0].Severity != severityInfo || !strings.Contains(fs[0].Message, "RPO 0") || !strings.Contains(fs[0].Message, "up to 1h0m0s") {
		t.Fatalf("got %+v", fs)
	}
}

func TestReadinessReport(t *testing.T) {
	top := readyTopology()
	top.SnapshotInterval = time.Hour
	r := readinessReport(evaluateReadiness(top))
	for _, w := range []string{"ready: false\n", "error   snapshot_schedule: Snapshots every 1h0m0s", "Change: take snapshots at least every 5m0s (backup_interval_minutes = 5)", "info    message_rpo: "} {
		if !strings.Contains(r, w) {
			t.Errorf("the report lacks %q:\n%s", w, r)
		}
	}
	if got := readinessReport(nil); got != "ready: no findings\n" {
		t.Errorf("empty report: %q", got)
	}
}
