package profile

import (
	"context"
	"sync"
	"time"
)

// Applied is one modelled delay as it happened.
type Applied struct {
	Kind Kind `json:"kind"`
	// Subject is what waited: an instance, a URL map, a revision.
	Subject  string    `json:"subject"`
	Start    time.Time `json:"start"`
	Modelled Duration  `json:"modelled"`
	Slept    Duration  `json:"slept"`
	Source   string    `json:"source"`
}

// maxApplied bounds the ledger; older entries are dropped first.
const maxApplied = 10000

// Ledger is the profile in force and the delays applied so far, served by
// localcloud at /_localcloud/delays.
type Ledger struct {
	profile *Profile
	mu      sync.Mutex
	applied []Applied
}

// NewLedger records the delays of p.
func NewLedger(p *Profile) *Ledger {
	if p == nil {
		p = Default()
	}
	return &Ledger{profile: p}
}

// Profile is the profile in force.
func (l *Ledger) Profile() *Profile {
	if l == nil {
		return Default()
	}
	return l.profile
}

// Wait sleeps the scaled delay of kind for size bytes of subject, records
// it, and returns the modelled duration. It returns early with ctx's error.
// A kind the profile does not model returns at once, unrecorded.
func (l *Ledger) Wait(ctx context.Context, kind Kind, subject string, size int64) (time.Duration, error) {
	if l == nil {
		return 0, nil
	}
	d := l.profile.Delay(kind)
	modelled := d.For(size)
	if modelled <= 0 {
		return 0, nil
	}
	slept := l.profile.Scaled(modelled)
	start := time.Now()
	l.record(Applied{Kind: kind, Subject: subject, Start: start, Modelled: Duration(modelled), Slept: Duration(slept), Source: d.Source})
	t := time.NewTimer(slept)
	defer t.Stop()
	select {
	case <-t.C:
		return modelled, nil
	case <-ctx.Done():
		return modelled, ctx.Err()
	}
}

// Record notes a delay applied by other means (a timer the caller owns).
func (l *Ledger) Record(kind Kind, subject string, start time.Time, modelled time.Duration) {
	if l == nil || modelled <= 0 {
		return
	}
	l.record(Applied{Kind: kind, Subject: subject, Start: start, Modelled: Duration(modelled),
		Slept: Duration(l.profile.Scaled(modelled)), Source: l.profile.Delay(kind).Source})
}

func (l *Ledger) record(a Applied) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.applied) >= maxApplied {
		l.applied = append(l.applied[:0], l.applied[len(l.applied)-maxApplied/2:]...)
	}
	l.applied = append(l.applied, a)
}

// Status is what /_localcloud/delays answers.
type Status struct {
	Profile *Profile  `json:"profile"`
	Applied []Applied `json:"applied"`
}

// Status returns the profile and the delays applied so far, oldest first.
func (l *Ledger) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Status{Profile: l.profile, Applied: append([]Applied(nil), l.applied...)}
}
