package hub

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hub's Prometheus collectors. No label carries a tenant
// or principal: cardinality stays bounded.
type metrics struct {
	connections   prometheus.Gauge
	eventsIn      prometheus.Counter
	messagesOut   prometheus.Counter
	slowConsumers prometheus.Counter
	throttled     prometheus.Counter
	resyncs       prometheus.Counter
	rejected      *prometheus.CounterVec
	replays       *prometheus.CounterVec
	latency       prometheus.Histogram
	delivery      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookflash_hub_connections",
			Help: "Open WebSocket sessions on this replica.",
		}),
		eventsIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_hub_events_in_total",
			Help: "Events received from the broker for fan-out.",
		}),
		messagesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_hub_messages_out_total",
			Help: "Messages queued to sessions (events after filtering, snapshots, replies).",
		}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_hub_slow_consumer_closes_total",
			Help: "Sessions closed because their send queue overflowed (close code 4008).",
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_hub_throttled_messages_total",
			Help: "Inbound client messages refused by the per-connection throttle.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_hub_resyncs_total",
			Help: "Sessions sent a fresh snapshot with system_msg resync.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflash_hub_connections_rejected_total",
			Help: "Sessions refused or ended early, by reason.",
		}, []string{"reason"}),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflash_hub_replays_total",
			Help: "Resumes (since) served, by source: the replica's replay cache or the broker's history.",
		}, []string{"source"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookflash_hub_event_latency_seconds",
			Help:    "From the PBX event time (Event.TS) to fan-out into session queues, once per event.",
			Buckets: latencyBuckets,
		}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookflash_hub_delivery_latency_seconds",
			Help:    "From the PBX event time (Event.TS) to the write of the event to a client socket, per delivery.",
			Buckets: latencyBuckets,
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connections, m.eventsIn, m.messagesOut, m.slowConsumers, m.throttled, m.resyncs, m.rejected, m.replays, m.latency, m.delivery} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("hub: register metrics: %w", err)
		}
	}
	return m, nil
}

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
