package pbxconn

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"
)

// holding is the reconcile loop's handle on one PBX's holder goroutine.
// ref and stopping are owned by the reconcile loop (the holder never reads
// them); the channels are shared.
type holding struct {
	ref      PBXRef
	stopping bool               // cancel was called: the holder is releasing
	update   chan PBXRef        // cap 1, latest ref wins; read by the holder
	cancel   context.CancelFunc // stop the run and release the lease
	done     chan struct{}      // closed when the holder has exited
}

// hold acquires the lease of ref, runs the connector while the lease is
// held, and returns when the lease could not be acquired, was lost, or ctx
// was cancelled (then it stops the run and releases the lease). It never
// returns while its run is still running.
// Later versions of ref arrive on h.update.
func (s *Supervisor) hold(ctx context.Context, h *holding, ref PBXRef) {
	defer close(h.done)
	id := ref.lease()
	log := s.log.With("tenant", ref.Tenant, "pbx", ref.ID)
	ttl := s.cfg.LeaseTTL
	margin := ttl / 4

	actx, cancel := context.WithTimeout(ctx, s.opTimeout())
	t0 := time.Now()
	ok, err := s.cfg.Coord.Acquire(actx, id, s.token, ttl)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.m.CoordErrors.Inc()
			log.Warn("acquire lease failed", "err", err)
		}
		return
	}
	if !ok {
		return // held elsewhere, typically a replica still handing it over
	}
	validUntil := t0.Add(ttl)
	s.setLeased(id, ref, true)
	s.m.LeasesHeld.Inc()
	log.Info("lease acquired")
	defer func() {
		s.setLeased(id, ref, false)
		s.m.LeasesHeld.Dec()
	}()

	r := &runner{s: s, log: log}
	defer r.stop()
	r.start(ctx, ref)

	renew := time.NewTimer(ttl / 3)
	defer renew.Stop()
	guard := time.NewTimer(time.Until(validUntil.Add(-margin)))
	defer guard.Stop()
	var restart <-chan time.Time
	failures := 0

	for {
		select {
		case <-ctx.Done():
			r.stop()
			// Stop reporting the lease before releasing it, so no report
			// ever shows it held here and on the replica that takes it.
			s.setLeased(id, ref, false)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opTimeout())
			if err := s.cfg.Coord.Release(rctx, id, s.token); err != nil {
				s.m.CoordErrors.Inc()
				log.Warn("release lease failed; it will expire", "err", err)
			} else {
				log.Info("lease released")
			}
			cancel()
			return

		case nr := <-h.update:
			if nr.Version == ref.Version {
				continue
			}
			log.Info("pbx changed; restarting its connector", "version", nr.Version)
			ref = nr
			r.stop()
			restart, failures = nil, 0
			r.start(ctx, ref)

		case err := <-r.done:
			ran := time.Since(r.began)
			r.reset()
			if ran > s.cfg.RestartBackoffMax {
				failures = 0
			}
			delay := s.backoff(failures)
			failures++
			s.m.RunRestarts.Inc()
			log.Warn("connector run ended; restarting", "err", err, "ran", ran.Round(time.Millisecond), "in", delay.Round(time.Millisecond))
			restart = time.After(delay)

		case <-restart:
			restart = nil
			r.start(ctx, ref)

		case <-renew.C:
			// The call may take at most until the guard: past it the run
			// must be stopped anyway.
			rctx, cancel := context.WithDeadline(ctx, validUntil.Add(-margin))
			t0 := time.Now()
			ok, err := s.cfg.Coord.Renew(rctx, id, s.token, ttl)
			cancel()
			switch {
			case err == nil && ok:
				validUntil = t0.Add(ttl)
				guard.Reset(time.Until(validUntil.Add(-margin)))
				renew.Reset(ttl / 3)
			case err == nil:
				r.stop()
				s.m.LeaseLosses.Inc()
				log.Warn("lease lost: expired or taken over; connector stopped")
				return
			default:
				if ctx.Err() != nil {
					continue // shutting down: the ctx.Done case releases
				}
				s.m.CoordErrors.Inc()
				log.Warn("renew lease failed; retrying", "err", err, "valid_for", time.Until(validUntil).Round(time.Millisecond))
				renew.Reset(max(ttl/10, time.Millisecond))
			}

		case <-guard.C:
			r.stop()
			s.m.LeaseLosses.Inc()
			log.Warn("lease could not be renewed before expiry; connector stopped")
			return
		}
	}
}

// backoff returns the delay before restart number n+1: RestartBackoff·2ⁿ
// capped at RestartBackoffMax, jittered into its upper half.
func (s *Supervisor) backoff(n int) time.Duration {
	d := s.cfg.RestartBackoff
	for i := 0; i < n && d < s.cfg.RestartBackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RestartBackoffMax)
	return d/2 + rand.N(d/2+1)
}

func (s *Supervisor) setLeased(id LeaseID, ref PBXRef, held bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if held {
		s.leased[id] = ref
	} else {
		delete(s.leased, id)
	}
}

// runner is one holder's connector run: at most one at a time. It is owned
// by the holder goroutine and not safe for concurrent use.
type runner struct {
	s      *Supervisor
	log    *slog.Logger
	cancel context.CancelFunc // nil when not running
	done   chan error         // receives the run's result once; nil when not running
	began  time.Time
}

// start launches a run of ref: a new fencing epoch, then Run.
func (r *runner) start(ctx context.Context, ref PBXRef) {
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	r.cancel, r.done, r.began = cancel, done, time.Now()
	go func() { done <- r.s.runOnce(rctx, ref, r.log) }()
}

// stop cancels the run, if any, and waits for it to return.
func (r *runner) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.reset()
}

// reset forgets a run whose result has been received.
func (r *runner) reset() {
	if r.cancel != nil {
		r.cancel()
	}
	r.cancel, r.done = nil, nil
}

// runOnce fences and runs ref once, turning a panic into ErrRunPanicked.
func (s *Supervisor) runOnce(ctx context.Context, ref PBXRef, log *slog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("connector run panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrRunPanicked, p)
		}
	}()
	fence, err := s.cfg.Fence(ctx, ref.Tenant, ref.ID)
	if err != nil {
		return fmt.Errorf("fence %s/%s: %w", ref.Tenant, ref.ID, err)
	}
	s.m.ConnectorsRunning.Inc()
	defer s.m.ConnectorsRunning.Dec()
	if err := s.cfg.Run(ctx, ref, fence); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return fmt.Errorf("run of %s/%s returned without error while its lease is held", ref.Tenant, ref.ID)
	}
	return nil
}
