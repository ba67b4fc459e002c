package pbxconn

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CommandMetrics are the CommandRouter's Prometheus metrics. Labels are
// bounded: op is one of the Op* constants, outcome one of ok, invalid,
// not_found, pbx_unavailable, timeout, rejected_by_pbx, unsupported,
// internal; route is local, remote or dedup.
type CommandMetrics struct {
	Commands *prometheus.CounterVec   // hookflash_commands_total{op,outcome}
	Duration *prometheus.HistogramVec // hookflash_command_duration_seconds{route}
	Served   prometheus.Counter       // hookflash_commands_served_total: run here for another replica
}

// NewCommandMetrics creates the metrics and registers them with reg (nil:
// not registered). A collector already registered under the same name is
// adopted.
func NewCommandMetrics(reg prometheus.Registerer) (*CommandMetrics, error) {
	m := &CommandMetrics{
		Commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookflash_commands_total",
			Help: "Call-control commands received by this replica, by operation and outcome.",
		}, []string{"op", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookflash_command_duration_seconds",
			Help:    "Time to answer a call-control command, by route (local, remote through Redis, dedup answered from an earlier request).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		Served: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookflash_commands_served_total",
			Help: "Commands this replica executed on behalf of another replica.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	adopt := func(c prometheus.Collector) (prometheus.Collector, error) {
		err := reg.Register(c)
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector, nil
		}
		if err != nil {
			return nil, fmt.Errorf("register command metrics: %w", err)
		}
		return c, nil
	}
	c, err := adopt(m.Commands)
	if err != nil {
		return nil, err
	}
	cv, ok1 := c.(*prometheus.CounterVec)
	if c, err = adopt(m.Duration); err != nil {
		return nil, err
	}
	hv, ok2 := c.(*prometheus.HistogramVec)
	if c, err = adopt(m.Served); err != nil {
		return nil, err
	}
	sv, ok3 := c.(prometheus.Counter)
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("register command metrics: another collector holds one of their names")
	}
	m.Commands, m.Duration, m.Served = cv, hv, sv
	return m, nil
}

// observe counts one finished command.
func (m *CommandMetrics) observe(op, route string, start time.Time, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = makeOutcome(Result{}, err).Kind
	}
	m.Commands.WithLabelValues(op, outcome).Inc()
	m.Duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}
