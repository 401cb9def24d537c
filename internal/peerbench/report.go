package peerbench

import (
	"fmt"
	"io"
	"strings"

	"github.com/agentnet/terraform-provider-agentnet/internal/stats"
)

// Round is one product's phases in one round.
type Round struct {
	Full   Result // senders as fast as their window allows
	Common Result // paced at the rate common to every product
	Half   Result // paced at half of this round's full-load rate
}

// Product is everything measured of one product.
type Product struct {
	Name, Guarantee string
	IdleKB          float64 // resident KiB per idle connection
	Rounds          []Round
}

// Summary is a product's medians over its rounds.
type Summary struct {
	Rate, FullP50, FullP99           float64 // msg/s; ms
	CommonRate, CommonP50, CommonP99 float64
	HalfRate, HalfP50, HalfP99       float64
	RedisUSPerMsg, CommonRedisUS     float64 // Redis CPU µs per message, full load and common rate
	MsgsPerCPUSecond                 float64 // nodes and Redis, full load
	NodeCores, RedisCores            float64 // CPU used at full load, in cores
	IdleKB                           float64
	Lost, Errors                     int64 // over every phase of every round
}

// Summary is p's medians over its rounds.
func (p Product) Summary() Summary {
	med := func(f func(Round) float64) float64 {
		xs := make([]float64, len(p.Rounds))
		for i, r := range p.Rounds {
			xs[i] = f(r)
		}
		return stats.Median(xs)
	}
	s := Summary{
		Rate:             med(func(r Round) float64 { return r.Full.Rate() }),
		FullP50:          med(func(r Round) float64 { return r.Full.P(0.50) }),
		FullP99:          med(func(r Round) float64 { return r.Full.P(0.99) }),
		CommonRate:       med(func(r Round) float64 { return r.Common.Rate() }),
		CommonP50:        med(func(r Round) float64 { return r.Common.P(0.50) }),
		CommonP99:        med(func(r Round) float64 { return r.Common.P(0.99) }),
		HalfRate:         med(func(r Round) float64 { return r.Half.Rate() }),
		HalfP50:          med(func(r Round) float64 { return r.Half.P(0.50) }),
		HalfP99:          med(func(r Round) float64 { return r.Half.P(0.99) }),
		RedisUSPerMsg:    med(func(r Round) float64 { return r.Full.RedisCPUPerMsg() * 1e6 }),
		CommonRedisUS:    med(func(r Round) float64 { return r.Common.RedisCPUPerMsg() * 1e6 }),
		MsgsPerCPUSecond: med(func(r Round) float64 { return r.Full.MsgsPerCPUSecond() }),
		NodeCores:        med(func(r Round) float64 { return stats.Ratio(r.Full.NodeCPU, r.Full.Elapsed.Seconds()) }),
		RedisCores:       med(func(r Round) float64 { return stats.Ratio(r.Full.RedisCPU, r.Full.Elapsed.Seconds()) }),
		IdleKB:           p.IdleKB,
	}
	for _, r := range p.Rounds {
		for _, ph := range []Result{r.Full, r.Common, r.Half} {
			s.Lost += ph.Lost()
			s.Errors += ph.Errors
		}
	}
	return s
}

// Setup describes a run, for the report's heading.
type Setup struct {
	Pairs, Window, Rounds, Idle int
	CommonRate                  float64
	PhaseSeconds                float64
	Note                        string // e.g. the machine's load
	// RedisPerProduct: each product has a Redis of its own (two builds of
	// the relay would share inboxes otherwise); else they share one.
	RedisPerProduct bool
}

// WriteReport prints the products side by side as a Markdown table, the
// ratio of the first to the second, each one's rounds and guarantee.
func WriteReport(w io.Writer, su Setup, ps []Product) {
	if len(ps) != 2 {
		fmt.Fprintf(w, "report needs two products, got %d\n", len(ps))
		return
	}
	a, b := ps[0].Summary(), ps[1].Summary()
	redis := "one Redis"
	if su.RedisPerProduct {
		redis = "one Redis per product"
	}
	fmt.Fprintf(w, "%d pairs (sender on node A, recipient on node B, %s), %d B payloads, window %d unacknowledged per sender, "+
		"%d alternating rounds of %.0f s phases, medians; %d idle connections.\n",
		su.Pairs, redis, PayloadSize, su.Window, su.Rounds, su.PhaseSeconds, su.Idle)
	if su.Note != "" {
		fmt.Fprintln(w, su.Note)
	}
	fmt.Fprintf(w, "\n| measure | %s | %s | %s ÷ %s |\n| --- | ---: | ---: | ---: |\n", ps[0].Name, ps[1].Name, ps[0].Name, ps[1].Name)
	row := func(name, format string, x, y float64) {
		fmt.Fprintf(w, "| %s | "+format+" | "+format+" | %.2f |\n", name, x, y, stats.Ratio(x, y))
	}
	row("delivered msg/s, full load (higher is better)", "%.0f", a.Rate, b.Rate)
	row("p50 ms, full load", "%.2f", a.FullP50, b.FullP50)
	row("p99 ms, full load", "%.2f", a.FullP99, b.FullP99)
	row(fmt.Sprintf("p50 ms at a common %.0f msg/s", su.CommonRate), "%.2f", a.CommonP50, b.CommonP50)
	row(fmt.Sprintf("p99 ms at a common %.0f msg/s", su.CommonRate), "%.2f", a.CommonP99, b.CommonP99)
	row("half load (half of its own full load), msg/s", "%.0f", a.HalfRate, b.HalfRate)
	row("p50 ms at half load", "%.2f", a.HalfP50, b.HalfP50)
	row("p99 ms at half load", "%.2f", a.HalfP99, b.HalfP99)
	if su.Idle > 0 {
		row("KB resident per idle connection (lower is better)", "%.1f", a.IdleKB, b.IdleKB)
	}
	row("Redis CPU µs per message, full load", "%.1f", a.RedisUSPerMsg, b.RedisUSPerMsg)
	row(fmt.Sprintf("Redis CPU µs per message at %.0f msg/s", su.CommonRate), "%.1f", a.CommonRedisUS, b.CommonRedisUS)
	row("messages per CPU-second, nodes + Redis, full load (higher is better)", "%.0f", a.MsgsPerCPUSecond, b.MsgsPerCPUSecond)
	row("cores used by the nodes, full load", "%.2f", a.NodeCores, b.NodeCores)
	row("cores used by Redis, full load", "%.2f", a.RedisCores, b.RedisCores)
	fmt.Fprintf(w, "| acked but not delivered, all phases | %d | %d | |\n", a.Lost, b.Lost)
	fmt.Fprintf(w, "| failed sends, all phases | %d | %d | |\n\n", a.Errors, b.Errors)
	for _, p := range ps {
		var rates []string
		for _, r := range p.Rounds {
			rates = append(rates, fmt.Sprintf("%.0f", r.Full.Rate()))
		}
		fmt.Fprintf(w, "- %s, full-load msg/s by round: %s. Guarantee: %s.\n", p.Name, strings.Join(rates, ", "), p.Guarantee)
	}
}
