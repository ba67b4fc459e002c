package authz

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// register registers c with reg (nil: keep unregistered). A collector
// already registered under the same name (a second Authorizer or bus on one
// registry) is shared.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("authz: register metrics: %w", err)
	}
	return c, nil
}

// authorizerMetrics are the Authorizer's collectors.
type authorizerMetrics struct {
	reloads *prometheus.CounterVec // result: ok|error
	changes prometheus.Counter
}

func newAuthorizerMetrics(reg prometheus.Registerer) (*authorizerMetrics, error) {
	var m authorizerMetrics
	var err error
	if m.reloads, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookflash_authz_policy_reloads_total",
		Help: "Tenant policy loads into an enforcer, by result (ok, error).",
	}, []string{"result"})); err != nil {
		return nil, err
	}
	if m.changes, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hookflash_authz_policy_changes_total",
		Help: "Tenant policy changes applied on this replica (listeners told).",
	})); err != nil {
		return nil, err
	}
	return &m, nil
}

// busMetrics are a RedisBus's collectors.
type busMetrics struct {
	received  *prometheus.CounterVec // kind
	published *prometheus.CounterVec // result: ok|error
	resyncs   prometheus.Counter
	dropped   prometheus.Counter
}

func newBusMetrics(reg prometheus.Registerer) (*busMetrics, error) {
	var m busMetrics
	var err error
	if m.received, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookflash_authz_bus_received_total",
		Help: "Invalidation messages received from the bus, by kind.",
	}, []string{"kind"})); err != nil {
		return nil, err
	}
	if m.published, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookflash_authz_bus_published_total",
		Help: "Invalidation messages published, by result (ok, error).",
	}, []string{"result"})); err != nil {
		return nil, err
	}
	if m.resyncs, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hookflash_authz_bus_resyncs_total",
		Help: "Times the bus subscription was re-established after a loss (messages may have been missed).",
	})); err != nil {
		return nil, err
	}
	if m.dropped, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hookflash_authz_bus_bad_messages_total",
		Help: "Received bus payloads that could not be decoded and were dropped.",
	})); err != nil {
		return nil, err
	}
	return &m, nil
}
