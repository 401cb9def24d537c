package drill

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// longestSlept is how long the longest delay of a profile may actually
// sleep when the drill chooses the time scale: at most a few seconds for
// each of the few dozen delays a full run waits on keeps `drill -scenario
// all` with the gcp profile within about fifteen minutes.
const longestSlept = 15 * time.Second

// timing is the profile localcloud runs with during a drill, at which time
// scale, and the delays the drill models itself (the alert that tells the
// operator of a failed region: localcloud has no Monitoring API).
type timing struct {
	profile *profile.Profile
	arg     string // localcloud's --profile: default, gcp or a file's absolute path
	// scaling says how the time scale was chosen; empty when the profile
	// models nothing.
	scaling string
	ledger  *profile.Ledger
}

// newTiming loads the profile named by name (default, gcp or a JSON file)
// at scale; scale 0 keeps a file's own scale, else chooses one from the
// profile's figures.
func newTiming(name string, scale float64) (*timing, error) {
	arg := name
	switch name {
	case "":
		arg = "default"
	case "default", "gcp":
	default:
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, fmt.Errorf("-profile: %w", err)
		}
		arg = abs
	}
	p, err := profile.Load(arg, scale)
	if err != nil {
		return nil, fmt.Errorf("-profile/-time-scale: %w", err)
	}
	t := &timing{profile: p, arg: arg}
	kind, longest := longestDelay(p)
	switch {
	case longest <= 0:
		p.Scale = 1
	case scale > 0:
		t.scaling = fmt.Sprintf("time scale %g, as asked (-time-scale)", p.Scale)
	case p.Scale != 1:
		t.scaling = fmt.Sprintf("time scale %g, the profile's own", p.Scale)
	default:
		p.Scale = math.Max(1, math.Ceil(longest.Seconds()/longestSlept.Seconds()))
		t.scaling = fmt.Sprintf("time scale %g, chosen so that the longest modelled delay (%s, %s) sleeps %s at most",
			p.Scale, kind, human(longest), human(longestSlept))
	}
	t.ledger = profile.NewLedger(p)
	return t, nil
}

// CheckTiming reports what is wrong with a profile name and time scale
// (the accepted values), before anything starts.
func CheckTiming(name string, scale float64) error {
	_, err := newTiming(name, scale)
	return err
}

// longestDelay is the profile's longest fixed delay (a drill's data is a
// few kilobytes: the part growing with size does not count).
func longestDelay(p *profile.Profile) (profile.Kind, time.Duration) {
	var kind profile.Kind
	var longest time.Duration
	for k, d := range p.Delays {
		if v := d.For(0); v > longest || v == longest && k < kind {
			kind, longest = k, v
		}
	}
	return kind, longest
}

// models reports whether the profile has any delay: the reports then
// predict Google Cloud's times.
func (t *timing) models() bool { return t != nil && t.scaling != "" }

// localcloudArgs are the flags that run localcloud with this timing.
func (t *timing) localcloudArgs() []string {
	return []string{"--profile", t.arg, "--time-scale", strconv.FormatFloat(t.profile.Scale, 'g', -1, 64)}
}

// wait sleeps a delay the drill models itself, recorded beside
// localcloud's, and returns how long it slept (0 when the profile does not
// model kind).
func (t *timing) wait(ctx context.Context, kind profile.Kind, subject string) (modelled, slept time.Duration) {
	m, _ := t.ledger.Wait(ctx, kind, subject, 0)
	return m, t.profile.Scaled(m)
}

// settle waits until no delay localcloud applied is still running, so
// that a scenario does not start while the previous one's last change is
// still on its way (a URL map change not yet followed by the front door).
func (t *timing) settle(ctx context.Context, lc *localcloud, logf func(string, ...any)) error {
	actx, cancel := lc.ctx()
	defer cancel()
	st, err := lc.admin.Delays(actx)
	if err != nil {
		return fmt.Errorf("reading localcloud's delays: %w", err)
	}
	var last time.Time
	for _, a := range st.Applied {
		if end := a.Start.Add(a.Slept.D()); end.After(last) {
			last = end
		}
	}
	if wait := time.Until(last); wait > 0 {
		logf("waiting %s for the modelled delays still running", wait.Round(time.Millisecond))
		sleep(ctx, wait)
	}
	return ctx.Err()
}

// applied is every delay applied between from and to, by localcloud and by
// the drill, oldest first; localcloud's ledger is read through its admin
// API.
func (t *timing) applied(lc *localcloud, from, to time.Time) ([]ModelledDelay, error) {
	var out []ModelledDelay
	add := func(by string, as []profile.Applied) {
		for _, a := range as {
			if a.Start.Before(to) && a.Start.Add(a.Slept.D()).After(from) {
				out = append(out, ModelledDelay{Applied: a, By: by})
			}
		}
	}
	ctx, cancel := lc.ctx()
	defer cancel()
	st, err := lc.admin.Delays(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading localcloud's delays: %w", err)
	}
	if st.Profile == nil || st.Profile.Name != t.profile.Name || st.Profile.Scale != t.profile.Scale {
		return nil, fmt.Errorf("localcloud runs profile %+v, the drill asked for %s at scale %g", st.Profile, t.profile.Name, t.profile.Scale)
	}
	add("localcloud", st.Applied)
	add("drill", t.ledger.Status().Applied)
	sortDelays(out)
	return out, nil
}
