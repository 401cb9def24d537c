package resources

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The failover group's decisions, kept free of API calls so that the plan
// and the apply compute the same thing and tests can check every rule.

// Region states of a failover group.
const (
	regionActive  = "active"  // takes traffic while healthy
	regionDrained = "drained" // takes no traffic; capacity back to baseline
	regionStandby = "standby" // takes no traffic; kept at baseline, ready to be activated
)

var regionStates = []string{regionActive, regionDrained, regionStandby}

// regionSpec is one region as declared.
type regionSpec struct {
	Region  string
	Service string
	State   string
	Weight  int64
}

// failoverRules are the group-wide settings the plan needs.
type failoverRules struct {
	TotalMinInstances    int64
	BaselineMinInstances int64
	MinActiveRegions     int64
}

// regionTarget is where the apply takes one region.
type regionTarget struct {
	Region       string
	Weight       int64 // URL map weight once the apply is done
	MinInstances int64
	Unhealthy    string // why an active region takes no traffic, if it is unhealthy
}

// servingRegions lists, sorted, the regions the configuration means to take
// traffic (active with a weight), whatever their health.
func servingRegions(regions []regionSpec) []string {
	var out []string
	for _, r := range regions {
		if r.State == regionActive && r.Weight > 0 {
			out = append(out, r.Region)
		}
	}
	sort.Strings(out)
	return out
}

// changesServingRegions reports whether going from prior to regions changes
// which regions are meant to take traffic (as opposed to health changing
// it). A group without prior configuration (prior nil) changes nothing.
func changesServingRegions(prior, regions []regionSpec) bool {
	if prior == nil {
		return false
	}
	return !slices.Equal(servingRegions(prior), servingRegions(regions))
}

// planDecision is what the plan decided: the targets, and why automatic
// failover was held back ("" when it was not).
type planDecision struct {
	Targets  []regionTarget
	HeldBack string
}

// decide runs the planning rules over the declared regions (prior: the
// regions of the configuration in state, nil on create). A plan that breaks
// a safety rule because of a change in the configuration is refused; one
// that breaks it only because health checks failed keeps the configured
// weights (automatic failover held back), since moving traffic to nowhere
// helps nobody. Without automatic failover, health never moves traffic,
// but active regions found unhealthy are still reported.
func decide(regions, prior []regionSpec, rules failoverRules, automatic bool, unhealthy map[string]string) (planDecision, error) {
	healthy := 0
	for _, s := range regions {
		if s.takesTraffic(unhealthy) {
			healthy++
		}
	}
	if changesServingRegions(prior, regions) && (healthy == 0 || int64(healthy) < rules.MinActiveRegions) {
		_, err := planTargets(regions, rules, unhealthy)
		if err == nil {
			err = fmt.Errorf("only %d healthy region(s) would take traffic; min_active_regions is %d", healthy, rules.MinActiveRegions)
		}
		return planDecision{}, err
	}
	followHealth := unhealthy
	if !automatic {
		followHealth = nil
	}
	var d planDecision
	targets, err := planTargets(regions, rules, followHealth)
	if err != nil {
		d.HeldBack = err.Error()
		if targets, err = planTargets(regions, rules, nil); err != nil {
			return planDecision{}, err
		}
	}
	for i := range targets {
		if why, sick := unhealthy[targets[i].Region]; sick && regions[i].State == regionActive {
			targets[i].Unhealthy = why
		}
	}
	d.Targets = targets
	return d, nil
}

// takesTraffic reports whether a declared region should receive traffic,
// given the regions found unhealthy.
func (r regionSpec) takesTraffic(unhealthy map[string]string) bool {
	_, sick := unhealthy[r.Region]
	return r.State == regionActive && r.Weight > 0 && !sick
}

// planTargets decides each region's weight and minimum instances. Regions
// that take traffic share TotalMinInstances in proportion to their weights
// (each gets at least one), so draining a region raises the others'; the
// rest keep BaselineMinInstances. It refuses, like a safety rule, any plan
// that leaves fewer than MinActiveRegions regions taking traffic.
func planTargets(regions []regionSpec, rules failoverRules, unhealthy map[string]string) ([]regionTarget, error) {
	var serving []regionSpec
	var sum int64
	for _, r := range regions {
		if r.takesTraffic(unhealthy) {
			serving = append(serving, r)
			sum += r.Weight
		}
	}
	if int64(len(serving)) < rules.MinActiveRegions || len(serving) == 0 {
		return nil, safetyError(regions, rules, unhealthy, len(serving))
	}
	shares := splitCapacity(serving, sum, max(rules.TotalMinInstances, int64(len(serving))))
	targets := make([]regionTarget, len(regions))
	for i, r := range regions {
		t := regionTarget{Region: r.Region, MinInstances: rules.BaselineMinInstances}
		if r.takesTraffic(unhealthy) {
			t.Weight, t.MinInstances = r.Weight, shares[r.Region]
		} else if why, sick := unhealthy[r.Region]; sick && r.State == regionActive {
			t.Unhealthy = why
		}
		targets[i] = t
	}
	return targets, nil
}

func safetyError(regions []regionSpec, rules failoverRules, unhealthy map[string]string, serving int) error {
	var why []string
	for _, r := range regions {
		switch {
		case unhealthy[r.Region] != "" && r.State == regionActive:
			why = append(why, fmt.Sprintf("%s is unhealthy (%s)", r.Region, unhealthy[r.Region]))
		case r.State != regionActive:
			why = append(why, fmt.Sprintf("%s is %s", r.Region, r.State))
		case r.Weight == 0:
			why = append(why, fmt.Sprintf("%s has weight 0", r.Region))
		}
	}
	if serving == 0 {
		return fmt.Errorf("refusing to drain the last healthy region: no region would take traffic (%s)", strings.Join(why, "; "))
	}
	return fmt.Errorf("refusing a plan with %d region(s) taking traffic while min_active_regions is %d (%s)",
		serving, rules.MinActiveRegions, strings.Join(why, "; "))
}

// splitCapacity divides total instances over the serving regions by weight
// (largest remainder), at least one each.
func splitCapacity(serving []regionSpec, weightSum, total int64) map[string]int64 {
	out := make(map[string]int64, len(serving))
	type rem struct {
		region string
		frac   int64
	}
	var rems []rem
	given := int64(0)
	for _, r := range serving {
		n := total * r.Weight / weightSum
		out[r.Region] = n
		given += n
		rems = append(rems, rem{r.Region, total * r.Weight % weightSum})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].frac > rems[j].frac })
	for i := 0; given < total; i = (i + 1) % len(rems) {
		out[rems[i].region]++
		given++
	}
	for _, r := range serving {
		out[r.Region] = max(out[r.Region], 1)
	}
	return out
}

// rampWeights are the weights a returning region goes through: each step is
// a percentage of its target weight, the last one 100.
func rampWeights(target int64, steps []int64) []int64 {
	out := make([]int64, 0, len(steps))
	for _, pct := range steps {
		w := max(target*pct/100, 1)
		if len(out) == 0 || out[len(out)-1] != w {
			out = append(out, w)
		}
	}
	return out
}

// healthNotice is the warning a plan gives about a region found unhealthy
// (t.Unhealthy set), saying what the plan really does with it: prior is the
// region's weight in the load balancer before the plan, known false for a
// new group. Only a plan that takes traffic away says "failing over"; once
// the region is at weight 0 the plan just says it stays there.
func healthNotice(t regionTarget, prior int64, known, automatic bool) (summary, detail string) {
	failed := fmt.Sprintf("The health check of %s failed (%s).", t.Region, t.Unhealthy)
	switch {
	case !automatic:
		return "Region " + t.Region + " is unhealthy",
			failed + " automatic_failover is off: drain it with state = \"drained\"."
	case t.Weight > 0:
		return "Region " + t.Region + " is unhealthy: keeps its traffic",
			fmt.Sprintf("%s Automatic failover is held back by the safety rules (see that warning): %s keeps weight %d.", failed, t.Region, t.Weight)
	case !known:
		return "Region " + t.Region + " is unhealthy: starts at weight 0",
			failed + " The new group sends it no traffic until it is healthy again."
	case prior > 0:
		return "Region " + t.Region + " is unhealthy: failing over",
			fmt.Sprintf("%s Automatic failover plans it from weight %d to 0; the apply moves its traffic to the healthy regions.", failed, prior)
	default:
		return "Region " + t.Region + " is still unhealthy: stays at weight 0", failed
	}
}

// keepCapacityOf leaves the minimum instances of the regions in kept (their
// API does not answer) at the value state last read from them: the apply
// cannot scale such a region, and recording a target it never reached
// would show as drift once the region answers again.
func keepCapacityOf(targets []regionTarget, kept map[string]int64) {
	for i, t := range targets {
		if n, ok := kept[t.Region]; ok {
			targets[i].MinInstances = n
		}
	}
}
