package drill

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
)

// External Dependency Failure, as the runbook handles it: the operator
// declares the dependency degraded or down on the status page (one line of
// local.dependencies, one apply), the relays push the dependency notice to
// every connected agent, agents switch to their fallback and keep
// exchanging messages; when it is back, the line returns to operational.

// dependencyNames are examples/local's dependency components.
var dependencyNames = []string{"Identity provider", "Calendar", "Language model API"}

// noticeTarget is how soon after the apply every connected agent must
// have the notice.
const noticeTarget = time.Second

// noticeLog records, per agent address, each dependency notice it got: the
// drill's agents react by recording it and keep messaging.
type noticeLog struct {
	mu   sync.Mutex
	seen map[string][]noticeSeen
}

type noticeSeen struct {
	at     time.Time
	notice client.DependencyNotice
}

func (l *noticeLog) handler(address string) client.Option {
	return client.WithNoticeHandler(func(n client.DependencyNotice) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.seen == nil {
			l.seen = map[string][]noticeSeen{}
		}
		l.seen[address] = append(l.seen[address], noticeSeen{at: time.Now(), notice: n})
	})
}

// firstSince is when address first got a notice, after since, with the
// dependency in state, and that notice.
func (l *noticeLog) firstSince(address string, since time.Time, dep, state string) (noticeSeen, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.seen[address] {
		if s.at.After(since) && s.notice.State(dep) == state {
			return s, true
		}
	}
	return noticeSeen{}, false
}

// declareDependency changes one line of local.dependencies for the next
// plan (an override file beside examples/local's status.tf).
func (e *Env) declareDependency(name, state, message string) error {
	if e.dependencies == nil {
		e.dependencies = map[string]string{}
	}
	line := fmt.Sprintf("{ state = %q }", state)
	if message != "" {
		line = fmt.Sprintf("{ state = %q, message = %q }", state, message)
	}
	e.dependencies[name] = line
	var b strings.Builder
	b.WriteString("# Written by the drill: the runbook's one-line change of local.dependencies.\nlocals {\n  dependencies = {\n")
	for _, n := range dependencyNames {
		l := e.dependencies[n]
		if l == "" {
			l = `{ state = "operational" }`
		}
		fmt.Fprintf(&b, "    %q = %s\n", n, l)
	}
	b.WriteString("  }\n}\n")
	return os.WriteFile(filepath.Join(e.tfDir, "dependencies_override.tf"), []byte(b.String()), 0o644)
}

// noticeTiming is how long one declared change took to reach every agent.
type noticeTiming struct {
	dependency, state string
	agents            int
	fromApplyStart    time.Duration
	fromApplyEnd      time.Duration // negative: before the apply returned
	fromWrite         time.Duration // from the status object's write (its generation)
	ok                bool
	why               string
}

// awaitNotice waits until every connected agent of the traffic got a
// notice with dep in state since applyStart, and records the timing.
func (r *run) awaitNotice(ctx context.Context, dep, state string, applyStart, applyEnd time.Time) noticeTiming {
	t := noticeTiming{dependency: dep, state: state}
	var addrs []string
	for _, p := range r.traffic.pairs {
		addrs = append(addrs, p.sender.Address(), p.recver.Address())
	}
	t.agents = len(addrs)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var last noticeSeen
		var missing []string
		for _, a := range addrs {
			s, ok := r.env.notices.firstSince(a, applyStart, dep, state)
			if !ok {
				missing = append(missing, a)
			} else if s.at.After(last.at) {
				last = s
			}
		}
		if len(missing) == 0 {
			t.ok = true
			t.fromApplyStart, t.fromApplyEnd = last.at.Sub(applyStart), last.at.Sub(applyEnd)
			t.fromWrite = last.at.Sub(time.UnixMicro(last.notice.Generation))
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.why = fmt.Sprintf("%d of %d agents without %s %s 5s after the apply started (%s)", len(missing), len(addrs), dep, state, strings.Join(missing[:min(3, len(missing))], ", "))
			break
		}
		sleep(ctx, 5*time.Millisecond)
	}
	if t.ok {
		r.mark("notice delivered", fmt.Sprintf("%d agents had %s %s: %s the apply returned (%s after it started, %s after the status object was written)",
			t.agents, dep, state, signed(t.fromApplyEnd), ms(t.fromApplyStart), ms(t.fromWrite)))
	} else {
		r.mark("notice missing", t.why)
	}
	r.noticeTimings = append(r.noticeTimings, t)
	return t
}

// ms formats a notice's latency to the millisecond.
func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// signed formats a latency that may be negative: the notice came before
// tofu returned (it still writes the state after publishing).
func signed(d time.Duration) string {
	if d < 0 {
		return ms(-d) + " before"
	}
	return ms(d) + " after"
}

// noticeMetrics are the report's lines for the notices: the time from the
// apply's end to the last agent, at most noticeTarget (a notice there
// before the apply returned counts as 0).
func (r *run) noticeMetrics() []Metric {
	var out []Metric
	for _, t := range r.noticeTimings {
		m := Metric{Name: fmt.Sprintf("Dependency notice %s %s: apply done → every connected agent", t.dependency, t.state),
			Target: "≤ " + human(noticeTarget), Margin: "—"}
		met := t.ok && t.fromApplyEnd <= noticeTarget
		m.Met = &met
		if !t.ok {
			m.Measured = "not delivered: " + t.why
		} else {
			v := max(0, t.fromApplyEnd).Seconds()
			target := noticeTarget.Seconds()
			m.Value, m.TargetS = &v, &target
			m.Measured = fmt.Sprintf("%d agents, the last %s the apply returned (%s after it started, %s after the status object was written)",
				t.agents, signed(t.fromApplyEnd), ms(t.fromApplyStart), ms(t.fromWrite))
			m.Margin = ms(noticeTarget-max(0, t.fromApplyEnd)) + " under"
			if !met {
				m.Margin = ms(t.fromApplyEnd-noticeTarget) + " over"
			}
		}
		out = append(out, m)
	}
	return out
}

// dependencyScenario drills one dependency declared state (degraded or
// outage on the status page, degraded or down in the notice).
func dependencyScenario(name, dep, pageState, noticeState, message string) *scenario {
	return &scenario{
		name: name, title: fmt.Sprintf("%s %s (declared on the status page)", dep, map[string]string{"outage": "down", "degraded": "degraded"}[pageState]),
		seedName: "External Dependency Failure", runbook: "docs/runbooks/external-dependency-failure.md",
		scope: fmt.Sprintf("Runbook steps run: communication (local.dependencies[%q] set to %s with the message agents show, plan exit 2, apply), "+
			"graceful degradation (every connected agent gets the dependency notice within %s of the apply and keeps exchanging messages), "+
			"service restoration (back to operational, plan and apply, the ok notice delivered).", dep, pageState, human(noticeTarget)),
		fault:          fmt.Sprintf("%s %s: declared %s in local.dependencies (%q)", dep, pageState, pageState, message),
		planMustChange: true,
		inject: func(ctx context.Context, r *run) error {
			return r.env.declareDependency(dep, pageState, message)
		},
		recovered: func(ctx context.Context, r *run) (bool, string) {
			return r.noticeDelivered(ctx, dep, noticeState)
		},
		normalize: func(ctx context.Context, r *run) error {
			return r.dependencyBack(ctx, dep)
		},
	}
}

// noticeDelivered checks once, after the recovery apply, that every agent
// has the notice (waiting for it the first time).
func (r *run) noticeDelivered(ctx context.Context, dep, state string) (bool, string) {
	i := slices.IndexFunc(r.noticeTimings, func(t noticeTiming) bool { return t.dependency == dep && t.state == state })
	if i < 0 {
		r.awaitNotice(ctx, dep, state, r.applyStart, r.applyEnd)
		i = len(r.noticeTimings) - 1
	}
	if t := r.noticeTimings[i]; !t.ok {
		return false, t.why
	}
	return true, ""
}

// dependencyBack declares dep operational again, applies, and measures the
// ok notice.
func (r *run) dependencyBack(ctx context.Context, dep string) error {
	if err := r.env.declareDependency(dep, "operational", ""); err != nil {
		return err
	}
	r.mark("dependency back", dep+" declared operational")
	res, err := r.env.plan(ctx, "normal.tfplan")
	if err != nil {
		return err
	}
	if res.code != 2 {
		return fmt.Errorf("declaring %s operational planned no change", dep)
	}
	start := time.Now()
	if _, err := r.env.applyPlan(ctx, "normal.tfplan"); err != nil {
		return err
	}
	if t := r.awaitNotice(ctx, dep, client.DependencyOK, start, time.Now()); !t.ok {
		return fmt.Errorf("the ok notice did not reach every agent: %s", t.why)
	}
	return r.planApplyUntilClean(ctx)
}
