package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/tenant"
)

// historyWriter records completed calls in the store. Calls are queued in
// memory and written by one goroutine; while the store fails (a Postgres
// outage) they stay queued and are retried with backoff, so an outage delays
// history but loses none of it. RecordCall is idempotent, so a retry after an
// ambiguous failure never duplicates a row. The queue is bounded
// (maxPending); past it the oldest call is dropped and counted — the only
// loss, and a loud one.
type historyWriter struct {
	store tenant.Store
	log   *slog.Logger

	mu      sync.Mutex // guards pending
	pending []*tenant.Call
	wake    chan struct{}

	written, failed, dropped, rejected prometheus.Counter
	queued                             prometheus.GaugeFunc
}

const maxPendingCalls = 200_000

func newHistoryWriter(st tenant.Store, log *slog.Logger, reg prometheus.Registerer) *historyWriter {
	w := &historyWriter{store: st, log: log, wake: make(chan struct{}, 1)}
	w.written = prometheus.NewCounter(prometheus.CounterOpts{Name: "hookflash_history_calls_written_total", Help: "Completed calls written to the history."})
	w.failed = prometheus.NewCounter(prometheus.CounterOpts{Name: "hookflash_history_write_failures_total", Help: "Failed history writes (retried)."})
	w.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "hookflash_history_calls_dropped_total", Help: "Calls dropped because the history queue was full."})
	w.rejected = prometheus.NewCounter(prometheus.CounterOpts{Name: "hookflash_history_calls_rejected_total", Help: "Completed calls the store refused as invalid (logged, not retried)."})
	w.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hookflash_history_calls_queued", Help: "Completed calls waiting to be written."},
		func() float64 { return float64(w.len()) })
	reg.MustRegister(w.written, w.failed, w.dropped, w.rejected, w.queued)
	return w
}

func (w *historyWriter) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// add queues one completed call.
func (w *historyWriter) add(t tenant.ID, c pbxconn.Call) {
	row := &tenant.Call{
		Tenant: t, PBX: c.PBXID, LinkedID: c.LinkedID, Direction: c.Direction,
		From: c.From, FromName: c.FromName, To: c.To, Users: c.Users, Queue: c.Queue,
		Answered: c.Answered, Abandoned: c.Abandoned, Disposition: c.Disposition,
		StartedAt: c.Start.UTC(), EndedAt: c.End.UTC(), TalkSec: nonNegative(c.TalkTime.Seconds()),
	}
	if row.EndedAt.Before(row.StartedAt) { // ARI and AMI clocks may disagree slightly
		row.EndedAt = row.StartedAt
	}
	if row.Users == nil {
		row.Users = []string{}
	}
	if !c.Answer.IsZero() {
		at := c.Answer.UTC()
		row.AnsweredAt = &at
		row.WaitSec = nonNegative(c.Answer.Sub(c.Start).Seconds())
	} else {
		row.WaitSec = nonNegative(c.End.Sub(c.Start).Seconds())
	}
	w.mu.Lock()
	if len(w.pending) >= maxPendingCalls {
		w.pending = w.pending[1:]
		w.dropped.Inc()
	}
	w.pending = append(w.pending, row)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes queued calls until ctx ends, then tries to flush what is left
// for up to flushGrace.
func (w *historyWriter) run(ctx context.Context, flushGrace time.Duration) {
	backoff := 200 * time.Millisecond
	for {
		if w.drain(ctx) {
			backoff = 200 * time.Millisecond
			select {
			case <-ctx.Done():
				w.flush(flushGrace)
				return
			case <-w.wake:
			}
			continue
		}
		// The store failed: wait and retry, keeping the calls.
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		backoff = min(backoff*2, 10*time.Second)
		select {
		case <-ctx.Done():
			w.flush(flushGrace)
			return
		case <-time.After(wait):
		}
	}
}

// drain writes queued calls in order; false when a write failed (the call
// stays at the head of the queue).
func (w *historyWriter) drain(ctx context.Context) bool {
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.mu.Unlock()
			return true
		}
		c := w.pending[0]
		w.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := w.store.RecordCall(wctx, c)
		cancel()
		if errors.Is(err, tenant.ErrInvalid) {
			// The row itself is wrong: retrying cannot help, and it must
			// not block the calls behind it. Say so loudly and move on.
			w.rejected.Inc()
			w.log.Error("history row rejected by the store; skipped", "tenant", c.Tenant, "linked_id", c.LinkedID, "err", err)
			w.pop(c)
			continue
		}
		if err != nil {
			w.failed.Inc()
			if ctx.Err() == nil {
				w.log.Warn("history write failed; will retry", "pending", w.len(), "err", err)
			}
			return false
		}
		w.written.Inc()
		w.pop(c)
	}
}

// pop removes c from the head of the queue.
func (w *historyWriter) pop(c *tenant.Call) {
	w.mu.Lock()
	if len(w.pending) > 0 && w.pending[0] == c {
		w.pending = w.pending[1:]
	}
	w.mu.Unlock()
}

func nonNegative(f float64) float64 {
	if f < 0 || f != f {
		return 0
	}
	return f
}

func (w *historyWriter) flush(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if !w.drain(ctx) || w.len() > 0 {
		w.log.Error("history not fully written at shutdown", "lost", w.len())
	}
}
