package relay

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	reg         *prometheus.Registry
	connections prometheus.Gauge
	accepted    prometheus.Counter
	delivered   prometheus.Counter
	// deliveredDirect: delivered from an inbox notice, without a read.
	deliveredDirect prometheus.Counter
	deliveryAcks    prometheus.Counter
	refused         *prometheus.CounterVec
	closes          *prometheus.CounterVec
	redisUp         *prometheus.GaugeVec
	redisErrors     *prometheus.CounterVec
	evictionUnsafe  *prometheus.GaugeVec
	acceptLatency   prometheus.Histogram
	degradedAcks    prometheus.Counter
	batchSize       prometheus.Histogram
}

func newMetrics(region, instance string) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	labels := prometheus.Labels{"region": region, "instance": instance}
	m := &metrics{reg: reg}
	m.connections = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "relay_connections", Help: "Open agent connections.", ConstLabels: labels}))
	m.accepted = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "relay_envelopes_accepted_total", Help: "Envelopes durably queued and acked to their sender.", ConstLabels: labels}))
	m.delivered = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "relay_envelopes_delivered_total", Help: "Envelopes written to a recipient connection (redeliveries included).", ConstLabels: labels}))
	m.deliveredDirect = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "relay_envelopes_delivered_direct_total", Help: "Envelopes delivered from the notice of their storing, without reading the inbox (part of relay_envelopes_delivered_total).", ConstLabels: labels}))
	m.deliveryAcks = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "relay_delivery_acks_total", Help: "Envelopes acknowledged by their recipient and removed from its queue.", ConstLabels: labels}))
	m.refused = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relay_refused_total", Help: "Connections or envelopes refused, by reason.", ConstLabels: labels}, []string{"reason"}))
	m.closes = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relay_closes_total", Help: "Connections closed, by WebSocket close code.", ConstLabels: labels}, []string{"code"}))
	m.redisUp = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "relay_redis_up", Help: "Whether a Redis (local or peer region) answers.", ConstLabels: labels}, []string{"redis", "role"}))
	m.redisErrors = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relay_redis_errors_total", Help: "Failed Redis operations.", ConstLabels: labels}, []string{"redis", "op"}))
	m.evictionUnsafe = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "relay_redis_eviction_unsafe", Help: "1 when this region's Redis (local) or a peer region's (peer) has a maxmemory_policy other than noeviction, so acked envelopes could be evicted; the relay is then not ready.", ConstLabels: labels}, []string{"redis"}))
	m.degradedAcks = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "relay_envelopes_acked_degraded_total", Help: "Envelopes acked with fewer Redis copies than ACK_COPIES because fewer Redis servers were reachable.", ConstLabels: labels}))
	m.acceptLatency = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "relay_accept_seconds", Help: "Time from receiving an envelope to its durable queueing.", ConstLabels: labels,
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}))
	m.batchSize = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "relay_redis_batch_size", Help: "Envelopes per Redis pipeline.", ConstLabels: labels,
		Buckets: prometheus.ExponentialBuckets(1, 2, 10)}))
	return m
}

// register registers c with reg and returns it, typed as it was built.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	reg.MustRegister(c)
	return c
}
