package pbxconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookflash/hookflash/pbxconn/ami"
	"github.com/hookflash/hookflash/pbxconn/ari"
)

// session runs one connection to the PBX: connect ARI events and AMI,
// resync, then stream events until something fails. wentLive reports
// whether the session got past its first resync. It returns after every
// goroutine it started has exited and both connections are closed.
func (c *Connector) session(ctx context.Context) (wentLive bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	p := c.cfg.PBX

	ariCli, err := ari.New(ari.Config{
		URL: p.ARIURL, Username: p.ARIUser, Password: p.ARIPassword, Application: p.ARIApp,
		TLS: p.TLS, Log: c.log, DialTimeout: c.cfg.SyncTimeout,
	})
	if err != nil {
		cancel()
		return false, fmt.Errorf("ari client: %w", err)
	}
	// The events socket first: events raised while the snapshots are read
	// wait in its queue and are applied after the resync.
	stream, err := ariCli.Events(sctx)
	if err != nil {
		cancel()
		ariCli.CloseIdleConnections()
		return false, fmt.Errorf("ari events: %w", err)
	}
	dctx, dcancel := context.WithTimeout(sctx, c.cfg.SyncTimeout)
	amiCli, err := ami.Dial(dctx, ami.Config{
		Addr: p.AMIAddr, Username: p.AMIUser, Secret: p.AMISecret, UseMD5: p.AMIMD5,
		TLS: p.TLS, Events: true, Filters: c.cfg.AMIFilters, FiltersOptional: true, Log: c.log,
	})
	dcancel()
	if err != nil {
		cancel()
		stream.Close()
		ariCli.CloseIdleConnections()
		return false, fmt.Errorf("ami: %w", err)
	}

	// The loop below polls the ARI stream (Ready/Poll) beside the AMI
	// channel: no goroutine per connector just to turn one into the other.
	defer func() {
		cancel()
		stream.Close()
		amiCli.Close()
		ariCli.CloseIdleConnections()
	}()

	if err := c.setStatus(ctx, PBXSyncing, ""); err != nil {
		return false, err
	}
	if err := c.resync(sctx, ariCli, amiCli); err != nil {
		return false, err
	}
	if err := c.setStatus(ctx, PBXLive, ""); err != nil {
		return true, err
	}
	c.log.Info("pbx live")
	c.setLive(ariCli, amiCli) // commands may use the clients now (connector_exec.go)
	defer c.setLive(nil, nil)

	var buf []Diff
	booted := 0
	// handleARI folds one ARI event into buf; an error ends the session.
	handleARI := func(ev ari.Event) error {
		c.mx.event("ari")
		if _, ok := ev.(*ari.ApplicationReplaced); ok {
			// Another client registered our Stasis application: this
			// socket gets no more events.
			return errors.New("ari: application taken over by another client")
		}
		if u, ok := ev.(*ari.UnknownEvent); ok {
			if u.Err != nil {
				c.mx.malformed("ari")
				c.log.Debug("malformed ari event", "err", u.Err)
			}
			return nil
		}
		buf = c.n.HandleARI(buf, ev)
		return nil
	}
	// handleAMI folds one AMI event into buf; true asks for a resync.
	handleAMI := func(m *ami.Message) (resync bool) {
		c.mx.event("ami")
		switch m.Event() {
		case "FullyBooted":
			// Asterisk greets every session with one; another means the
			// PBX (re)booted under us.
			booted++
			return booted > 1
		case "Reload":
			return true
		}
		buf = c.n.HandleAMI(buf, m)
		return false
	}
	var (
		stop   error // ends the session after publishing what is ready
		resync bool  // resync after publishing what is ready
		ariEnd error // the ARI stream ended (after its queued events)
	)
	// pollARI handles the next queued ARI event; false when none is queued.
	pollARI := func() bool {
		ev, err := stream.Poll()
		if err != nil {
			ariEnd = err
			return false
		}
		if ev == nil {
			return false
		}
		stop = handleARI(ev)
		return true
	}
	for {
		buf, stop, resync = buf[:0], nil, false
		select {
		case <-sctx.Done():
			return true, sctx.Err()
		case <-amiCli.Done():
			return true, fmt.Errorf("ami: %w", amiCli.Err())
		case <-c.dirChanged:
			buf = c.n.RefreshDirectory(buf)
		case <-stream.Ready():
			pollARI()
		case <-stream.Done():
			pollARI() // the events queued before the end, then ariEnd
		case m, ok := <-amiCli.Events():
			if !ok {
				return true, fmt.Errorf("ami: %w", amiCli.Err())
			}
			resync = handleAMI(m)
		}
		// A PBX action is a burst of events (a call's start is dozens):
		// take what else is already waiting, so the diffs go out in one
		// batch instead of one round trip to the hub each.
	drain:
		for stop == nil && !resync && ariEnd == nil && len(buf) < maxBatchDiffs {
			if pollARI() {
				continue
			}
			select {
			case m, ok := <-amiCli.Events():
				if !ok {
					break drain // the next select reports it
				}
				resync = handleAMI(m)
			default:
				break drain
			}
		}
		if err := c.publish(ctx, buf); err != nil {
			return true, err
		}
		if stop != nil {
			return true, stop
		}
		if ariEnd != nil {
			if err := sctx.Err(); err != nil {
				return true, err
			}
			return true, fmt.Errorf("ari events: %w", ariEnd)
		}
		if resync {
			c.log.Info("pbx booted or reloaded, resyncing")
			if err := c.resync(sctx, ariCli, amiCli); err != nil {
				return true, err
			}
		}
	}
}

// maxBatchDiffs bounds the diffs one publish batch carries, so a flood
// still reaches clients in steady steps.
const maxBatchDiffs = 256

// resync reads fresh snapshots from both protocols and publishes the
// normalizer's diff against what was published.
func (c *Connector) resync(ctx context.Context, ariCli *ari.Client, amiCli *ami.Client) error {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.SyncTimeout)
	defer cancel()
	s := &Snapshot{HasARI: true, HasAMI: true}
	var err error
	if s.Channels, err = ariCli.Channels().List(rctx); err != nil {
		return fmt.Errorf("resync ari channels: %w", err)
	}
	if s.Bridges, err = ariCli.Bridges().List(rctx); err != nil {
		return fmt.Errorf("resync ari bridges: %w", err)
	}
	if s.Endpoints, err = ariCli.Endpoints().List(rctx); err != nil {
		return fmt.Errorf("resync ari endpoints: %w", err)
	}
	if s.DeviceStates, err = ariCli.DeviceStates().List(rctx); err != nil {
		return fmt.Errorf("resync ari device states: %w", err)
	}
	// Keep no REST connection warm between resyncs: with a thousand
	// connectors per replica an idle keep-alive connection each (two
	// goroutines, two buffers, a socket) is a large share of their memory;
	// the rare command dials again.
	ariCli.CloseIdleConnections()
	lists := []struct {
		action string
		dst    *[]*ami.Message
	}{
		{"CoreShowChannels", &s.CoreShowChannels},
		{"QueueStatus", &s.QueueStatus},
		{"QueueSummary", &s.QueueSummary},
		{"ParkedCalls", &s.ParkedCalls},
		{"DeviceStateList", &s.DeviceStateList},
		{"PJSIPShowEndpoints", &s.PJSIPEndpoints},
	}
	for _, l := range lists {
		var m ami.Message
		m.Add("Action", l.action)
		r, err := amiCli.DoList(rctx, m)
		var perr *ami.Error
		switch {
		case errors.As(err, &perr):
			// The PBX refused (module not loaded, nothing to list): an
			// empty list.
			c.log.Debug("resync ami list refused", "action", l.action, "err", err)
		case err != nil:
			return fmt.Errorf("resync ami %s: %w", l.action, err)
		default:
			*l.dst = r.Items
		}
	}
	s.TS = c.cfg.Now()
	c.mx.resync()
	return c.publish(ctx, c.n.Resync(nil, s))
}
