package pbxconn

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// SupervisorMetrics are the Supervisor's Prometheus metrics. Build them
// once per registry with NewSupervisorMetrics; a nil *SupervisorMetrics in
// SupervisorConfig means metrics are kept but not exported.
type SupervisorMetrics struct {
	LeasesHeld        prometheus.Gauge   // hookflash_pbxconn_leases_held
	ConnectorsRunning prometheus.Gauge   // hookflash_pbxconn_connectors_running
	LeaseLosses       prometheus.Counter // hookflash_pbxconn_lease_losses_total
	RunRestarts       prometheus.Counter // hookflash_pbxconn_connector_restarts_total
	Members           prometheus.Gauge   // hookflash_pbxconn_members
	CoordErrors       prometheus.Counter // hookflash_pbxconn_coordinator_errors_total
	SourceErrors      prometheus.Counter // hookflash_pbxconn_source_errors_total
}

// NewSupervisorMetrics creates the metrics and registers them with reg
// (nil: not registered anywhere). Registering twice with one registry fails
// unless the earlier collectors are reused: an AlreadyRegisteredError is
// resolved by adopting the existing collector.
func NewSupervisorMetrics(reg prometheus.Registerer) (*SupervisorMetrics, error) {
	m := &SupervisorMetrics{
		LeasesHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookflash_pbxconn_leases_held",
			Help: "PBX leases this replica holds.",
		}),
		ConnectorsRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookflash_pbxconn_connectors_running",
			Help: "PBX connectors running on this replica.",
		}),
		LeaseLosses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_lease_losses_total",
			Help: "PBX leases lost without being released (expired, taken over or not renewable in time).",
		}),
		RunRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_connector_restarts_total",
			Help: "Connector runs that ended on their own and were restarted with backoff.",
		}),
		Members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookflash_pbxconn_members",
			Help: "Live replicas in the membership set, as last seen by this replica.",
		}),
		CoordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_coordinator_errors_total",
			Help: "Failed membership and lease operations.",
		}),
		SourceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_pbxconn_source_errors_total",
			Help: "Failed polls of the PBX list.",
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
			return nil, fmt.Errorf("register supervisor metrics: %w", err)
		}
		return c, nil
	}
	gauges := []*prometheus.Gauge{&m.LeasesHeld, &m.ConnectorsRunning, &m.Members}
	for _, g := range gauges {
		c, err := register(*g)
		if err != nil {
			return nil, err
		}
		v, ok := c.(prometheus.Gauge)
		if !ok {
			return nil, fmt.Errorf("register supervisor metrics: %T already registered under a gauge's name", c)
		}
		*g = v
	}
	counters := []*prometheus.Counter{&m.LeaseLosses, &m.RunRestarts, &m.CoordErrors, &m.SourceErrors}
	for _, k := range counters {
		c, err := register(*k)
		if err != nil {
			return nil, err
		}
		v, ok := c.(prometheus.Counter)
		if !ok {
			return nil, fmt.Errorf("register supervisor metrics: %T already registered under a counter's name", c)
		}
		*k = v
	}
	return m, nil
}
