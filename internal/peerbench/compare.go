package peerbench

import (
	"context"
	"fmt"
	"time"
)

// idleSettle is how long idle connections sit before the nodes' resident
// memory is read.
const idleSettle = 3 * time.Second

// Compare measures benches in the same run: idle connections first, on
// nodes that have carried no traffic yet, then su.Rounds rounds in which
// each product in turn (the order rotating every round, so that the load of
// the machine weighs on all alike) runs its full load, the common paced
// rate and half its full load. logf reports progress.
func Compare(ctx context.Context, benches []*Bench, su Setup, logf func(format string, args ...any)) ([]Product, error) {
	products := make([]Product, len(benches))
	for i, b := range benches {
		products[i] = Product{Name: b.Driver.Name(), Guarantee: b.Driver.Guarantee()}
		if su.Idle > 0 {
			kb, err := b.IdleKB(ctx, su.Idle, idleSettle)
			if err != nil {
				return nil, fmt.Errorf("%s: idle connections: %w", b.Driver.Name(), err)
			}
			products[i].IdleKB = kb
			logf("%s: %.1f KB per idle connection", b.Driver.Name(), kb)
		}
	}
	for _, b := range benches {
		if err := b.Connect(ctx); err != nil {
			return nil, fmt.Errorf("%s: connect pairs: %w", b.Driver.Name(), err)
		}
		if _, err := b.Run(ctx, Phase{Duration: time.Second}); err != nil {
			return nil, fmt.Errorf("%s: warm-up: %w", b.Driver.Name(), err)
		}
	}
	phase := time.Duration(su.PhaseSeconds * float64(time.Second))
	for r := range su.Rounds {
		for k := range benches {
			i := (k + r) % len(benches)
			b := benches[i]
			var rd Round
			var err error
			if rd.Full, err = b.Run(ctx, Phase{Duration: phase}); err != nil {
				return nil, fmt.Errorf("%s: full load: %w", b.Driver.Name(), err)
			}
			if rd.Common, err = b.Run(ctx, Phase{Rate: su.CommonRate, Duration: phase}); err != nil {
				return nil, fmt.Errorf("%s: %.0f msg/s: %w", b.Driver.Name(), su.CommonRate, err)
			}
			if rd.Half, err = b.Run(ctx, Phase{Rate: rd.Full.Rate() / 2, Duration: phase}); err != nil {
				return nil, fmt.Errorf("%s: half load: %w", b.Driver.Name(), err)
			}
			products[i].Rounds = append(products[i].Rounds, rd)
			logf("round %d %s: full %.0f msg/s (p99 %.1f ms), common p50/p99 %.2f/%.2f ms, half %.0f msg/s p50/p99 %.2f/%.2f ms, lost %d, errors %d %s",
				r+1, b.Driver.Name(), rd.Full.Rate(), rd.Full.P(0.99), rd.Common.P(0.5), rd.Common.P(0.99),
				rd.Half.Rate(), rd.Half.P(0.5), rd.Half.P(0.99),
				rd.Full.Lost()+rd.Common.Lost()+rd.Half.Lost(), rd.Full.Errors+rd.Common.Errors+rd.Half.Errors,
				rd.Full.FirstErr+rd.Common.FirstErr+rd.Half.FirstErr)
		}
	}
	return products, nil
}
