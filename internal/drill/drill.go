// Package drill runs the disaster recovery plan's scenarios end to end on
// localcloud: the three-region configuration applied with tofu, synthetic
// agents exchanging messages through the failover group's front door, a
// fault injected through localcloud, the recovery run as the runbook says
// (tofu plan -detailed-exitcode, then apply), and measurements compared
// with the plan's targets.
//
// A drill measures, from the moment of the fault:
//
//   - time to detect: until `tofu plan -detailed-exitcode` exits 2;
//   - time to respond: from then until the apply starts;
//   - time to recover: from the start of the apply until every new
//     connection through the front door is served (none by a region that is
//     down) and every pair of agents is delivering again;
//   - total downtime: the longest a pair of agents went without a delivery;
//   - acknowledged messages lost: acked by the relay, never received (must
//     be 0);
//   - Redis writes lost: a key is written to the faulted region's Redis every
//     100 ms; after the recovery, the confirmed writes that are gone, as a
//     time span (the recovery point).
package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// Options configure Run.
type Options struct {
	Paths   Paths
	WorkDir string // localcloud data, tofu state, logs; a new temporary folder when empty
	OutDir  string // reports; not written when empty
	Keep    bool   // leave localcloud running at the end
	Logf    func(format string, args ...any)

	// Profile is localcloud's timing profile: default (no delay), gcp
	// (Google Cloud's delays, each cited) or a JSON profile file; with
	// delays the reports predict Google Cloud's times. TimeScale divides
	// the delays slept; 0 keeps a file's own scale, else chooses one from
	// the profile's figures (timing.go).
	Profile   string
	TimeScale float64

	Warmup          time.Duration // traffic before the backup
	Soak            time.Duration // traffic between the backup and the fault
	Settle          time.Duration // traffic after the recovery before returning to normal
	SendInterval    time.Duration // pause between two sends of a pair
	CounterInterval time.Duration // Redis counter writes
	RecoveryTimeout time.Duration // the longest a recovery may take before the drill gives up
}

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.Warmup, 2*time.Second)
	set(&o.Soak, 2*time.Second)
	set(&o.Settle, time.Second)
	set(&o.SendInterval, 50*time.Millisecond)
	set(&o.CounterInterval, 100*time.Millisecond)
	set(&o.RecoveryTimeout, 2*time.Minute)
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Scenarios lists the scenario names, in the order `all` runs them.
func Scenarios() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// Run runs the named scenarios one after the other on one localcloud (a new
// one when a scenario could not bring the system back to normal) and
// returns their reports. The error is about the drill itself (it could not
// run); targets missed are in the reports.
func Run(ctx context.Context, opts Options, names ...string) ([]*Report, error) {
	opts.defaults()
	tm, err := newTiming(opts.Profile, opts.TimeScale)
	if err != nil {
		return nil, err
	}
	if tm.models() {
		// A recovery waits on scaled delays: give it their time too.
		_, longest := longestDelay(tm.profile)
		opts.RecoveryTimeout += 4 * tm.profile.Scaled(longest)
		opts.Logf("profile %s: %s", tm.profile.Name, tm.scaling)
	}
	var list []*scenario
	for _, n := range names {
		if n == "all" {
			list = append(list, scenarios...)
			continue
		}
		s := find(n)
		if s == nil {
			return nil, fmt.Errorf("unknown scenario %q; scenarios: %s, all", n, strings.Join(Scenarios(), ", "))
		}
		list = append(list, s)
	}
	if opts.WorkDir == "" {
		dir, err := os.MkdirTemp("", "agentnet-drill-")
		if err != nil {
			return nil, err
		}
		opts.WorkDir = dir
		if !opts.Keep {
			defer os.RemoveAll(dir)
		}
	}
	var env *Env
	defer func() {
		if env != nil {
			env.Close()
		}
	}()
	var reports []*Report
	for i, s := range list {
		if env != nil && !slices.Equal(env.clusters, s.clusters) {
			opts.Logf("%s runs on Redis Clusters in %v: a new localcloud and configuration", s.name, s.clusters)
			env.Close()
			env = nil
		}
		if env == nil {
			var err error
			env, err = NewEnv(ctx, opts.Paths, filepath.Join(opts.WorkDir, fmt.Sprintf("env%d", i)), opts.Keep, tm, s.clusters, opts.Logf)
			if err != nil {
				return reports, fmt.Errorf("setting up the three regions: %w", err)
			}
		}
		if tm.models() {
			if err := tm.settle(ctx, env.lc, opts.Logf); err != nil {
				return reports, err
			}
		}
		opts.Logf("== %s: %s", s.name, s.title)
		r := &run{env: env, sc: s, opts: opts, tag: fmt.Sprintf("d%d%d", i, time.Now().Unix()%100000)}
		rep, err := r.execute(ctx)
		if rep != nil {
			r.writeRecord(ctx, rep, opts.OutDir)
			reports = append(reports, rep)
			if opts.OutDir != "" {
				werr := recordHistory(opts.OutDir, opts.Paths.Root, rep)
				if werr == nil {
					werr = rep.write(opts.OutDir)
				}
				if werr != nil {
					return reports, werr
				}
			}
		}
		if err != nil {
			return reports, fmt.Errorf("%s: %w", s.name, err)
		}
		if !r.normal {
			opts.Logf("%s did not return to normal; the next scenario gets a new localcloud", s.name)
			env.Close()
			env = nil
		}
	}
	return reports, nil
}

// scenario is one disaster of the plan and its runbook.
type scenario struct {
	name, title string
	seedName    string        // the seed's scenario
	target      time.Duration // the seed's estimated recovery time
	runbook     string        // docs/runbooks/...
	fault       string        // what is injected, for the report
	down        []string      // regions new connections must avoid once recovered
	redis       []string      // regions whose Redis data is watched for loss
	// clusters are the regions whose Redis is a Redis Cluster
	// (examples/local's redis_cluster_regions) during the scenario.
	clusters []string
	// planMustChange: the fault must show in the plan (exit 2).
	planMustChange bool
	// alerted: on Google Cloud the operator learns of the fault from
	// modules/monitoring's region_unhealthy alert; with a profile that
	// models it the drill waits for it before the detection plan.
	alerted bool
	// noChange explains a plan that exits 0, as the runbook does.
	noChange string
	// scope says which steps of the runbook the drill runs.
	scope string

	prepare    func(ctx context.Context, r *run) error // optional: readies the fault, just before it
	inject     func(ctx context.Context, r *run) error
	beforePlan func(ctx context.Context, r *run) error          // optional: assessment before the plan
	recovered  func(ctx context.Context, r *run) (bool, string) // optional: scenario's own recovery check
	normalize  func(ctx context.Context, r *run) error          // return to normal
	metrics    func(r *run) []Metric                            // optional: the scenario's own measurements
}

func find(name string) *scenario {
	for _, s := range scenarios {
		if s.name == name {
			return s
		}
	}
	return nil
}

// run is one scenario being drilled.
type run struct {
	env  *Env
	sc   *scenario
	opts Options
	tag  string

	traffic  *traffic
	counters []*counter
	events   []Event
	start    time.Time

	fault, detected, applyStart, applyEnd, recovered, normalAt time.Time
	stopped                                                    time.Time
	backupStart, snapshotAt                                    time.Time
	plan                                                       planInfo
	applyTook                                                  time.Duration
	notes                                                      []string
	noticeTimings                                              []noticeTiming
	// stores watches the inboxes of a Redis Cluster's shard that lost its
	// primary (cluster.go).
	stores *storeWatch
	shard  int // the shard whose primary is killed
	normal bool
}

type planInfo struct {
	ExitCode int      `json:"exit_code"`
	TookS    float64  `json:"took_s"`
	Changes  []string `json:"changes,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Attempts int      `json:"attempts"`
}

func (r *run) mark(name, detail string) time.Time {
	now := time.Now()
	r.events = append(r.events, Event{Name: name, At: now, Detail: detail})
	if detail != "" {
		r.opts.Logf("  %6.1fs  %s: %s", now.Sub(r.start).Seconds(), name, detail)
	} else {
		r.opts.Logf("  %6.1fs  %s", now.Sub(r.start).Seconds(), name)
	}
	return now
}

func (r *run) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// execute runs the scenario: traffic, backup, fault, detection, recovery,
// return to normal, and the report.
func (r *run) execute(ctx context.Context) (*Report, error) {
	r.start = time.Now()
	e := r.env
	var err error
	if r.traffic, err = startTraffic(ctx, e, r.tag, r.opts.SendInterval); err != nil {
		return nil, err
	}
	defer r.traffic.close()
	r.start = r.traffic.start
	r.mark("traffic", fmt.Sprintf("%d pairs of agents across regions, one send every %s per pair", len(r.traffic.pairs), r.opts.SendInterval))
	for _, region := range r.sc.redis {
		r.counters = append(r.counters, startCounter(e, region, r.opts.CounterInterval))
	}
	defer func() {
		for _, c := range r.counters {
			c.close()
		}
	}()
	sleep(ctx, r.opts.Warmup)

	// Backup: a snapshot of every watched instance now (the backup table's
	// "Redis Data: RDB snapshots"; examples/local takes them hourly), by
	// replacing the region's scheduled snapshot with a targeted apply.
	if len(r.sc.redis) > 0 {
		args := []string{"apply", "-auto-approve"}
		for _, region := range r.sc.redis {
			args = append(args, fmt.Sprintf("-replace=module.region[%q].module.backup[0].agentnet_redis_snapshot.this", region))
		}
		r.backupStart = time.Now()
		res, err := e.tofu(ctx, args...)
		if err == nil && res.code != 0 {
			err = fmt.Errorf("backup apply exited %d:\n%s", res.code, tail(res.out, 30))
		}
		if err != nil {
			return nil, err
		}
		r.snapshotAt = r.mark("backup", fmt.Sprintf("snapshot of %s exported to gs://%s (apply %s)", strings.Join(r.sc.redis, ", "), bucket, res.took.Round(time.Millisecond)))
	}
	// Baseline: before the fault the plan is empty, so that what the
	// detection plan shows is the fault's doing.
	for attempt := 1; ; attempt++ {
		res, err := e.plan(ctx, "baseline.tfplan")
		if err != nil {
			return nil, err
		}
		if res.code == 0 {
			r.mark("baseline plan", "exit 0: nothing to change before the fault")
			break
		}
		if attempt == 2 {
			return nil, fmt.Errorf("the plan is not empty before the fault: %s", orNone(planChanges(res.out)))
		}
		r.mark("baseline plan", "exit 2 before the fault, applied: "+orNone(planChanges(res.out)))
		if _, err := e.applyPlan(ctx, "baseline.tfplan"); err != nil {
			return nil, err
		}
	}
	sleep(ctx, r.opts.Soak)

	// The fault.
	if r.sc.prepare != nil {
		if err := r.sc.prepare(ctx, r); err != nil {
			return nil, fmt.Errorf("preparing the fault: %w", err)
		}
	}
	r.fault = r.mark("fault", r.sc.fault)
	if err := r.sc.inject(ctx, r); err != nil {
		return nil, fmt.Errorf("injecting the fault: %w", err)
	}
	if r.sc.alerted {
		if modelled, slept := e.timing.wait(ctx, profile.UptimeAlert, r.sc.name); modelled > 0 {
			r.mark("alert", fmt.Sprintf("region_unhealthy alert modelled after %s (slept %s)", human(modelled), human(slept)))
		}
	}
	if r.sc.beforePlan != nil {
		if err := r.sc.beforePlan(ctx, r); err != nil {
			return r.report(), err
		}
	}

	// Detection: tofu plan -detailed-exitcode, as `make drift` runs it.
	planFile := "recovery-" + r.sc.name + ".tfplan"
	for attempt := 1; ; attempt++ {
		res, err := e.plan(ctx, planFile)
		r.plan = planInfo{ExitCode: res.code, TookS: res.took.Seconds(), Changes: planChanges(res.out), Warnings: planWarnings(res.out), Attempts: attempt}
		if err != nil {
			if attempt < 3 {
				r.mark("plan failed", firstLine(err.Error()))
				continue
			}
			return r.report(), err
		}
		if res.code == 2 {
			r.detected = r.mark("plan exit 2", fmt.Sprintf("%d change(s) in %s; warnings: %s", len(r.plan.Changes), res.took.Round(time.Millisecond), orNone(r.plan.Warnings)))
			break
		}
		r.mark("plan exit 0", "no change planned ("+res.took.Round(time.Millisecond).String()+")")
		if !r.sc.planMustChange {
			break
		}
		if attempt >= 3 {
			return r.report(), errors.New("the plan showed no change three times while the fault was in place")
		}
	}

	// Response: apply the saved plan.
	// An apply that fails is a failed step of the runbook: it is reported,
	// and the operator plans and applies again.
	if r.plan.ExitCode == 2 {
		r.applyStart = r.mark("apply started", planFile)
		for attempt := 1; ; attempt++ {
			res, err := e.applyPlan(ctx, planFile)
			r.applyTook += res.took
			if err == nil {
				r.applyEnd = r.mark("apply done", res.took.Round(time.Millisecond).String())
				break
			}
			errs := applyErrors(res.out)
			r.note("the recovery apply (attempt %d) failed after %s: %s", attempt, human(res.took), strings.Join(errs, "; "))
			r.mark("apply failed", strings.Join(errs, "; "))
			if attempt == 3 {
				return r.report(), err
			}
			pres, err := e.plan(ctx, planFile)
			if err != nil {
				return r.report(), err
			}
			if pres.code == 0 {
				r.applyEnd = r.mark("plan exit 0", "nothing left to apply after the failed apply")
				break
			}
			r.mark("plan exit 2", "re-planned after the failed apply: "+orNone(planChanges(pres.out)))
		}
	}

	// Recovery: every new connection served, every pair delivering.
	deadline := time.Now().Add(r.opts.RecoveryTimeout)
	var why string
	for {
		if ok, w := r.recoveredNow(ctx); ok {
			r.recovered = r.mark("recovered", w)
			break
		} else {
			why = w
		}
		if time.Now().After(deadline) {
			r.note("not recovered within %s: %s", r.opts.RecoveryTimeout, why)
			r.mark("not recovered", why)
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	sleep(ctx, r.opts.Settle)

	// Return to normal, then check nothing acknowledged was lost and what
	// Redis lost.
	start := time.Now()
	if err := r.sc.normalize(ctx, r); err != nil {
		r.note("return to normal failed: %v", err)
		r.mark("return to normal failed", firstLine(err.Error()))
	} else {
		r.normal = true
		r.normalAt = r.mark("back to normal", time.Since(start).Round(time.Millisecond).String())
	}
	sleep(ctx, r.opts.Settle)
	r.stopped = r.mark("senders stop", "waiting for every acked envelope to arrive")
	if missing := r.traffic.stopSending(20 * time.Second); missing > 0 {
		r.mark("delivery check", fmt.Sprintf("%d acked envelope(s) still not received after 20s", missing))
	}
	r.mark("end", "")
	return r.report(), nil
}

// recoveredNow checks the recovery conditions once.
func (r *run) recoveredNow(ctx context.Context) (bool, string) {
	if r.sc.recovered != nil {
		if ok, why := r.sc.recovered(ctx, r); !ok {
			return false, why
		}
	}
	reached, err := r.env.newConnectionsServed(ctx, 9, r.sc.down)
	if err != nil {
		return false, err.Error()
	}
	if ok, stalled := r.traffic.flowingSince(time.Now().Add(-time.Second)); !ok {
		return false, "no delivery in the last second for " + strings.Join(stalled, ", ")
	}
	return true, fmt.Sprintf("9 new connections served (%s), every pair delivering", regionCounts(reached))
}

// planApplyUntilClean plans and applies until the plan is empty (at most
// three rounds): the return to normal of the failover group.
func (r *run) planApplyUntilClean(ctx context.Context) error {
	for i := 0; i < 3; i++ {
		res, err := r.env.plan(ctx, "normal.tfplan")
		if err != nil {
			return err
		}
		if res.code == 0 {
			return nil
		}
		r.mark("return plan exit 2", strings.Join(planChanges(res.out), "; "))
		if res, err := r.env.applyPlan(ctx, "normal.tfplan"); err != nil {
			if res.code != 0 {
				return fmt.Errorf("the apply failed: %s", strings.Join(applyErrors(res.out), "; "))
			}
			return err
		}
	}
	return errors.New("the plan still shows changes after three applies")
}

func regionCounts(m map[string]int) string {
	var parts []string
	for _, r := range regions {
		if m[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
		}
	}
	for r, n := range m {
		if !contains(regions, r) {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	return strings.Join(parts, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func orNone(ws []string) string {
	if len(ws) == 0 {
		return "none"
	}
	return strings.Join(ws, "; ")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
