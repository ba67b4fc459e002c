package main

import (
	"context"
	"sync"

	"github.com/hookflash/hookflash/cmd/hookflash/internal/api"
	"github.com/hookflash/hookflash/pbxconn"
)

// callControl is call control's wiring: the connectors running on this
// replica, and the router that runs each command on the replica holding
// its PBX's lease.
type callControl struct {
	router *pbxconn.CommandRouter
	calls  *api.Calls

	mu    sync.Mutex // guards conns
	conns map[pbxconn.LeaseID]*pbxconn.Connector

	stop context.CancelFunc // stops the router's request server
	done chan struct{}      // closed when it has stopped
}

// register makes conn the local connector of (tenant, pbx) while it runs;
// call the returned func when its Run has returned.
func (c *callControl) register(tenant, pbx string, conn *pbxconn.Connector) func() {
	id := pbxconn.LeaseID{Tenant: tenant, PBX: pbx}
	c.mu.Lock()
	c.conns[id] = conn
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		if c.conns[id] == conn {
			delete(c.conns, id)
		}
		c.mu.Unlock()
	}
}

// local returns the connector of (tenant, pbx) on this replica, or nil.
func (c *callControl) local(tenant, pbx string) pbxconn.Executor {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn := c.conns[pbxconn.LeaseID{Tenant: tenant, PBX: pbx}]; conn != nil {
		return conn
	}
	return nil
}

// buildCommands makes call control: the router (Redis request/reply to the
// lease holder in a cluster, local only on a single node) and the API
// handler. It runs after buildConnectors (it asks the supervisor who owns
// a PBX) and starts the router's request server.
func (a *app) buildCommands() error {
	c := &callControl{conns: map[pbxconn.LeaseID]*pbxconn.Connector{}, done: make(chan struct{})}
	m, err := pbxconn.NewCommandMetrics(a.registry)
	if err != nil {
		return err
	}
	cfg := pbxconn.CommandRouterConfig{
		Metrics:   m,
		ReplicaID: a.cfg.ReplicaID,
		Local:     c.local,
		Timeout:   a.cfg.CommandTimeout,
		Log:       a.log,
	}
	if a.redis != nil {
		cfg.Redis, cfg.Owner, cfg.Prefix = a.redis, a.supervisor.Owner, "hf:"
	}
	r, err := pbxconn.NewCommandRouter(cfg)
	if err != nil {
		return err
	}
	c.router = r
	c.calls = api.NewCalls(api.CallsConfig{Runner: r, Broker: a.broker, Store: a.store})
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	go func() {
		defer close(c.done)
		r.Run(ctx)
	}()
	a.closers = append(a.closers, func() { c.stop(); <-c.done })
	a.commands = c
	return nil
}
