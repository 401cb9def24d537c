package resources

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The readiness evaluation: a declared topology against its recovery
// objectives, as pure functions so that every check is tested without a
// cloud and a configuration can assert the result in a check block.

// Severities of a readiness finding; an error makes the topology not ready.
const (
	severityError   = "error"
	severityWarning = "warning"
	severityInfo    = "info"
)

// readinessRegion is one region's declared capacity and Redis sizing.
type readinessRegion struct {
	Name string
	// Weight is the region's share of new connections (100 unless set);
	// a region of weight 0 takes no traffic and no capacity.
	Weight       int64
	MinInstances int64
	MaxInstances int64
	// RedisMemoryGB and RedisExpectedUsageGB are zero when not declared.
	RedisMemoryGB        float64
	RedisExpectedUsageGB float64
}

// readinessTopology is what the evaluation reads; zero durations are "not
// declared" except where a check says otherwise.
type readinessTopology struct {
	Regions           []readinessRegion
	TotalMinInstances int64
	SnapshotInterval  time.Duration
	RTO, RPO          time.Duration
	DrainGrace        time.Duration
	PropagationDelay  time.Duration
	// MessageAckRegions is how many regions hold a message before it is
	// acknowledged: with two or more, losing a region loses no
	// acknowledged message.
	MessageAckRegions int64
	// NewestSnapshotAge is nil when no snapshots prefix was given;
	// SnapshotsFound says whether the prefix held any.
	NewestSnapshotAge *time.Duration
	SnapshotsFound    bool
}

// readinessFinding is one result: what was checked, what is wrong (or
// noted) and what to change.
type readinessFinding struct {
	Severity string
	Check    string
	Message  string
	Remedy   string
}

// redisHeadroomWarning is the used share of a Redis instance's memory above
// which a warning is raised: Memorystore's guidance is to keep memory usage
// under 80 % so that exports (BGSAVE's copy-on-write) and bursts fit.
const redisHeadroomWarning = 0.8

// evaluateReadiness runs every check, in a fixed order.
func evaluateReadiness(t readinessTopology) []readinessFinding {
	var out []readinessFinding
	for _, check := range []func(readinessTopology) []readinessFinding{
		checkRegionLossCapacity,
		checkMinInstancePerRegion,
		checkSnapshotSchedule,
		checkSnapshotAge,
		checkPropagation,
		checkRedisHeadroom,
		checkMessageRPO,
	} {
		out = append(out, check(t)...)
	}
	return out
}

// readinessReady is false when any finding is an error.
func readinessReady(fs []readinessFinding) bool {
	for _, f := range fs {
		if f.Severity == severityError {
			return false
		}
	}
	return true
}

// readinessReport renders findings as text, one per line with its remedy.
func readinessReport(fs []readinessFinding) string {
	if len(fs) == 0 {
		return "ready: no findings\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ready: %t\n", readinessReady(fs))
	for _, f := range fs {
		fmt.Fprintf(&b, "%-7s %s: %s", f.Severity, f.Check, f.Message)
		if f.Remedy != "" {
			fmt.Fprintf(&b, " Change: %s", f.Remedy)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// checkRegionLossCapacity: when any one region is lost, the failover group
// spreads total_min_instances over the others by weight (splitCapacity, as
// the group does), and each must be able to run its share within its
// max_instances.
func checkRegionLossCapacity(t readinessTopology) []readinessFinding {
	if len(t.Regions) < 2 {
		return []readinessFinding{{severityError, "region_loss_capacity",
			fmt.Sprintf("%d region declared: losing it leaves nothing to fail over to.", len(t.Regions)),
			"declare at least two regions."}}
	}
	regions := sortedRegions(t.Regions)
	var out []readinessFinding
	for _, lost := range regions {
		var survivors []regionSpec
		var weights, room int64
		byName := map[string]readinessRegion{}
		for _, r := range regions {
			if r.Name != lost.Name && r.Weight > 0 {
				survivors = append(survivors, regionSpec{Region: r.Name, Weight: r.Weight})
				weights += r.Weight
				room += r.MaxInstances
				byName[r.Name] = r
			}
		}
		if len(survivors) == 0 {
			out = append(out, readinessFinding{severityError, "region_loss_capacity",
				fmt.Sprintf("Without %s no region with a weight is left to take its traffic.", lost.Name),
				"give another region a weight above 0."})
			continue
		}
		need := splitCapacity(survivors, weights, t.TotalMinInstances)
		for _, s := range survivors {
			if r := byName[s.Region]; need[s.Region] > r.MaxInstances {
				out = append(out, readinessFinding{severityError, "region_loss_capacity",
					fmt.Sprintf("Without %s, %s must run %d of total_min_instances (%d) but its max_instances is %d; the other regions can run %d in all.",
						lost.Name, s.Region, need[s.Region], t.TotalMinInstances, r.MaxInstances, room),
					fmt.Sprintf("raise %s's max_instances to at least %d, or lower total_min_instances.", s.Region, need[s.Region])})
			}
		}
	}
	return out
}

// checkMinInstancePerRegion: Cloud Run service health fails a region over
// only when the region has an instance to probe.
func checkMinInstancePerRegion(t readinessTopology) []readinessFinding {
	var out []readinessFinding
	for _, r := range sortedRegions(t.Regions) {
		if r.MinInstances < 1 {
			out = append(out, readinessFinding{severityWarning, "min_instance_per_region",
				fmt.Sprintf("%s has min_instances %d: with no instance running, Cloud Run service health has nothing to probe and cannot fail the region over by itself.", r.Name, r.MinInstances),
				fmt.Sprintf("give %s at least one minimum instance (baseline_min_instances = 1).", r.Name)})
		}
	}
	return out
}

// checkSnapshotSchedule: a snapshot taken every interval can lose up to an
// interval of Redis data.
func checkSnapshotSchedule(t readinessTopology) []readinessFinding {
	if t.SnapshotInterval > t.RPO {
		return []readinessFinding{{severityError, "snapshot_schedule",
			fmt.Sprintf("Snapshots every %s can lose up to %s of Redis data, more than the RPO (%s).", t.SnapshotInterval, t.SnapshotInterval, t.RPO),
			fmt.Sprintf("take snapshots at least every %s (backup_interval_minutes = %d), or raise the RPO to %s.", t.RPO, int64(t.RPO/time.Minute), t.SnapshotInterval)}}
	}
	return nil
}

// checkSnapshotAge: the newest snapshot under the prefix, when one was given.
func checkSnapshotAge(t readinessTopology) []readinessFinding {
	switch {
	case t.NewestSnapshotAge == nil:
		return nil
	case !t.SnapshotsFound:
		return []readinessFinding{{severityError, "snapshot_age", "No snapshot under snapshots_prefix: a restore would have nothing to restore.",
			"take a snapshot (apply the backup schedule) or fix snapshots_prefix."}}
	case *t.NewestSnapshotAge > t.RPO:
		return []readinessFinding{{severityError, "snapshot_age",
			fmt.Sprintf("The newest snapshot is %s old, older than the RPO (%s).", t.NewestSnapshotAge.Round(time.Second), t.RPO),
			"check that the backup schedule runs (an apply in each slot), then take a snapshot now."}}
	}
	return nil
}

// checkPropagation: the failover group waits until the front door it
// reaches follows each URL map change before it counts the soak or the
// drain's grace (failover_live.go), so the propagation delay lengthens a
// failover rather than eating into either. What still depends on it:
//   - a change the front door does not follow within the group's wait
//     (propagationTimeout) fails the apply that made it;
//   - a drain tells agents to reconnect only after the delay and then the
//     grace, which must fit the RTO;
//   - Google's other front ends take the change one by one, up to the delay
//     after it: agents told to reconnect through one that has not taken it
//     yet may land in the drained region again, unless the grace covers it.
//     (A soak needs no such margin: its probes go through the front door
//     the apply waited on.)
func checkPropagation(t readinessTopology) []readinessFinding {
	var out []readinessFinding
	if t.PropagationDelay > propagationTimeout {
		out = append(out, readinessFinding{severityError, "propagation",
			fmt.Sprintf("A URL map change takes %s to reach the load balancer's edge, longer than the failover group waits for one (%s): every apply that moves traffic would fail with the change not live.", t.PropagationDelay, propagationTimeout),
			fmt.Sprintf("measure the propagation of your load balancer again and set propagation_delay to it; the failover group waits at most %s per change.", propagationTimeout)})
	}
	if t.DrainGrace < t.PropagationDelay {
		out = append(out, readinessFinding{severityWarning, "propagation",
			fmt.Sprintf("drain_grace_period (%s) is shorter than the propagation delay (%s): the grace starts once the front door the apply reaches follows the drain, but other front ends may take it later, and agents reconnecting through them may land in the drained region again.", t.DrainGrace, t.PropagationDelay),
			fmt.Sprintf("set drain_grace_period to at least %s.", t.PropagationDelay)})
	}
	if took := t.DrainGrace + t.PropagationDelay; t.RTO > 0 && took > t.RTO {
		out = append(out, readinessFinding{severityError, "propagation",
			fmt.Sprintf("A failover waits for the front door to follow the new weights (the propagation delay) and then the drain's grace before it tells agents to reconnect: %s, more than the RTO (%s).", took, t.RTO),
			fmt.Sprintf("raise the RTO to at least %s, or shorten drain_grace_period.", took)})
	}
	return out
}

// checkRedisHeadroom: expected usage against each instance's memory, where
// both are declared.
func checkRedisHeadroom(t readinessTopology) []readinessFinding {
	var out []readinessFinding
	for _, r := range sortedRegions(t.Regions) {
		if r.RedisMemoryGB <= 0 || r.RedisExpectedUsageGB <= 0 {
			continue
		}
		share := r.RedisExpectedUsageGB / r.RedisMemoryGB
		need := r.RedisExpectedUsageGB / redisHeadroomWarning
		switch {
		case share > 1:
			out = append(out, readinessFinding{severityError, "redis_headroom",
				fmt.Sprintf("%s expects %.2g GB in a %.2g GB Redis: writes would fail (noeviction).", r.Name, r.RedisExpectedUsageGB, r.RedisMemoryGB),
				fmt.Sprintf("raise %s's memory_size_gb to at least %.3g.", r.Name, need)})
		case share > redisHeadroomWarning:
			out = append(out, readinessFinding{severityWarning, "redis_headroom",
				fmt.Sprintf("%s expects %.0f%% of its Redis memory in use, above %.0f%%: an export or a burst can run out.", r.Name, share*100, redisHeadroomWarning*100),
				fmt.Sprintf("raise %s's memory_size_gb to at least %.3g.", r.Name, need)})
		}
	}
	return out
}

// checkMessageRPO: messages acknowledged once two regions hold them survive
// a region loss; other Redis data has the snapshots' RPO.
func checkMessageRPO(t readinessTopology) []readinessFinding {
	if t.MessageAckRegions >= 2 && len(t.Regions) >= 2 {
		return []readinessFinding{{severityInfo, "message_rpo",
			fmt.Sprintf("Messages are acknowledged once %d regions hold them: losing a region loses no acknowledged message (RPO 0). Other Redis data (rate allowances, presence) has the snapshots' RPO: up to %s.", t.MessageAckRegions, t.SnapshotInterval),
			""}}
	}
	return []readinessFinding{{severityWarning, "message_rpo",
		fmt.Sprintf("Messages are acknowledged when one region holds them (message_ack_regions %d, %d region(s)): their RPO is that of Redis data, up to %s of snapshots.", t.MessageAckRegions, len(t.Regions), t.SnapshotInterval),
		"acknowledge messages only once two regions hold them (message_ack_regions = 2, with at least two regions)."}}
}

func sortedRegions(rs []readinessRegion) []readinessRegion {
	out := append([]readinessRegion(nil), rs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
