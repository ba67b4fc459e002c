package pbxconn

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// ConnectorMetrics are the Prometheus metrics all connectors of a replica
// share (no per-PBX labels). Build them once per registry with
// NewConnectorMetrics; a nil *ConnectorMetrics in ConnectorConfig means
// metrics are not kept.
type ConnectorMetrics struct {
	Events     *prometheus.CounterVec // hookflash_pbxconn_events_total{protocol}
	Malformed  *prometheus.CounterVec // hookflash_pbxconn_malformed_events_total{protocol}
	Diffs      prometheus.Counter     // hookflash_pbxconn_diffs_total
	Resyncs    prometheus.Counter     // hookflash_pbxconn_resyncs_total
	Sessions   *prometheus.CounterVec // hookflash_pbxconn_sessions_ended_total{reason}
	Status     *prometheus.GaugeVec   // hookflash_pbxconn_connector_status{status}
	CallsEnded prometheus.Counter     // hookflash_pbxconn_calls_completed_total
}

// NewConnectorMetrics creates the metrics and registers them with reg (nil:
// not registered). Collectors already registered under the same names are
// adopted, so a second call with one registry returns the same metrics.
func NewConnectorMetrics(reg prometheus.Registerer) (*ConnectorMetrics, error) {
	m := &ConnectorMetrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_events_total",
			Help: "PBX events received by connectors, by protocol (ari, ami).",
		}, []string{"protocol"}),
		Malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_malformed_events_total",
			Help: "PBX frames that could not be decoded and were skipped, by protocol.",
		}, []string{"protocol"}),
		Diffs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_diffs_total",
			Help: "Element diffs published by connectors.",
		}),
		Resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_resyncs_total",
			Help: "Resyncs from fresh PBX snapshots.",
		}),
		Sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_sessions_ended_total",
			Help: "PBX sessions that ended, by reason (connect, sync, stream, publish, fenced, cancelled).",
		}, []string{"reason"}),
		Status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookflash_pbxconn_connector_status",
			Help: "Connectors on this replica by status (connecting, syncing, live, down).",
		}, []string{"status"}),
		CallsEnded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_calls_completed_total",
			Help: "Completed calls reported for the call history.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	register := func(c prometheus.Collector) (prometheus.Collector, error) {
		err := reg.Register(c)
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector, nil
		}
		if err != nil {
			return nil, fmt.Errorf("register connector metrics: %w", err)
		}
		return c, nil
	}
	adopt := func(dst any, c prometheus.Collector) error {
		ok := false
		switch d := dst.(type) {
		case **prometheus.CounterVec:
			var v *prometheus.CounterVec
			v, ok = c.(*prometheus.CounterVec)
			*d = v
		case **prometheus.GaugeVec:
			var v *prometheus.GaugeVec
			v, ok = c.(*prometheus.GaugeVec)
			*d = v
		case *prometheus.Counter:
			var v prometheus.Counter
			v, ok = c.(prometheus.Counter)
			*d = v
		}
		if !ok {
			return fmt.Errorf("register connector metrics: %T already registered under this name", c)
		}
		return nil
	}
	for _, p := range []struct {
		dst any
		c   prometheus.Collector
	}{
		{&m.Events, m.Events}, {&m.Malformed, m.Malformed}, {&m.Diffs, m.Diffs}, {&m.Resyncs, m.Resyncs},
		{&m.Sessions, m.Sessions}, {&m.Status, m.Status}, {&m.CallsEnded, m.CallsEnded},
	} {
		c, err := register(p.c)
		if err != nil {
			return nil, err
		}
		if err := adopt(p.dst, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// metrics is the nil-safe view a Connector uses.
type connMetrics struct{ m *ConnectorMetrics }

func (c connMetrics) event(protocol string) {
	if c.m != nil {
		c.m.Events.WithLabelValues(protocol).Inc()
	}
}

func (c connMetrics) malformed(protocol string) {
	if c.m != nil {
		c.m.Malformed.WithLabelValues(protocol).Inc()
	}
}

func (c connMetrics) diffs(n int) {
	if c.m != nil && n > 0 {
		c.m.Diffs.Add(float64(n))
	}
}

func (c connMetrics) resync() {
	if c.m != nil {
		c.m.Resyncs.Inc()
	}
}

func (c connMetrics) sessionEnded(reason string) {
	if c.m != nil {
		c.m.Sessions.WithLabelValues(reason).Inc()
	}
}

func (c connMetrics) status(from, to string) {
	if c.m == nil || from == to {
		return
	}
	if from != "" {
		c.m.Status.WithLabelValues(from).Dec()
	}
	if to != "" {
		c.m.Status.WithLabelValues(to).Inc()
	}
}

func (c connMetrics) callEnded() {
	if c.m != nil {
		c.m.CallsEnded.Inc()
	}
}
