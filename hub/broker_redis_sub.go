package hub

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscribe implements Broker. The first subscriber of a tenant subscribes
// the broker's pub/sub connection to the tenant's channel and waits until
// the subscription is confirmed and the mirror loaded; later subscribers
// join at once. The last cancel unsubscribes the channel.
func (b *RedisBroker) Subscribe(ctx context.Context, t Tenant, h func(*Event, error)) (func(), error) {
	if t == "" {
		return nil, fmt.Errorf("%w: empty tenant", ErrInvalidEvent)
	}
	ch := b.keys.events(t)
	b.subMu.Lock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.subMu.Unlock()
		return nil, ErrClosed
	}
	rt := b.tenants[ch]
	first := rt == nil
	if first {
		rt = &redisTenant{t: t, channel: ch, subs: make(map[uint64]func(*Event, error)), ready: make(chan struct{})}
		b.tenants[ch] = rt
	}
	b.nextSub++
	id := b.nextSub
	rt.subs[id] = h
	rt.rebuild()
	b.mu.Unlock()
	var once sync.Once
	cancel := func() { once.Do(func() { b.unsubscribe(rt, id) }) }
	var err error
	if first {
		err = b.ps.Subscribe(ctx, ch)
	}
	b.subMu.Unlock()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("hub: subscribe %s: %w", t, err)
	}
	select {
	case <-rt.ready:
		if rt.initErr != nil {
			cancel()
			return nil, rt.initErr
		}
		return cancel, nil
	case <-ctx.Done():
		cancel()
		return nil, fmt.Errorf("hub: subscribe %s: %w", t, ctx.Err())
	case <-b.done:
		cancel()
		return nil, ErrClosed
	}
}

func (b *RedisBroker) unsubscribe(rt *redisTenant, id uint64) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	delete(rt.subs, id)
	rt.rebuild()
	last := len(rt.subs) == 0 && b.tenants[rt.channel] == rt
	if last {
		delete(b.tenants, rt.channel)
		b.setInterrupted(rt, false)
	}
	closed := b.closed
	b.mu.Unlock()
	if last && !closed {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// On failure the channel is still dropped from the client's list,
		// so a reconnect will not resubscribe it; stray messages are ignored.
		_ = b.ps.Unsubscribe(ctx, rt.channel)
	}
}

// rebuild refreshes hs from subs. RedisBroker.mu held.
func (rt *redisTenant) rebuild() {
	hs := make([]func(*Event, error), 0, len(rt.subs))
	for _, h := range rt.subs {
		hs = append(hs, h)
	}
	rt.hs = hs
}

// run owns the pub/sub connection's reading side: it delivers events in
// seq order, detects gaps and interruptions and recovers from history.
func (b *RedisBroker) run(ctx context.Context) {
	defer close(b.done)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	broken := false
	for ctx.Err() == nil {
		timeout := 10 * time.Second
		if b.pendingRecovery() {
			timeout = 250 * time.Millisecond
		}
		msg, err := b.ps.ReceiveTimeout(ctx, timeout)
		if err != nil && isTimeout(err) && ctx.Err() == nil {
			if err = b.ps.Ping(ctx); err == nil {
				b.recoverPending(ctx)
				continue
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !broken {
				b.log.Warn("hub: redis subscription lost", "err", err)
				broken = true
			}
			b.interrupt()
			timer := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		if broken {
			b.log.Info("hub: redis subscription re-established")
			broken = false
		}
		backoff = minBackoff
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.onSubscribed(ctx, m.Channel)
			}
		case *redis.Message:
			b.onMessage(ctx, m)
		}
	}
}

// interrupt marks every tenant as needing recovery and tells their
// subscribers once per outage.
func (b *RedisBroker) interrupt() {
	var notify []func(*Event, error)
	b.mu.Lock()
	for _, rt := range b.tenants {
		rt.confirmed = false
		if rt.live && !rt.interrupted {
			b.setInterrupted(rt, true)
			notify = append(notify, rt.hs...)
		}
	}
	b.mu.Unlock()
	for _, h := range notify {
		h(nil, ErrBrokerDown)
	}
}

func (b *RedisBroker) pendingRecovery() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.interrupted == 0 {
		return false
	}
	for _, rt := range b.tenants {
		if rt.confirmed && rt.interrupted {
			return true
		}
	}
	return false
}

// recoverPending retries recovery of tenants whose last attempt failed.
func (b *RedisBroker) recoverPending(ctx context.Context) {
	var todo []*redisTenant
	b.mu.Lock()
	for _, rt := range b.tenants {
		if rt.confirmed && rt.interrupted {
			todo = append(todo, rt)
		}
	}
	b.mu.Unlock()
	for _, rt := range todo {
		b.recover(ctx, rt)
	}
}

func (b *RedisBroker) onSubscribed(ctx context.Context, ch string) {
	b.mu.Lock()
	rt := b.tenants[ch]
	if rt == nil {
		b.mu.Unlock()
		return
	}
	rt.confirmed = true
	live, interrupted := rt.live, rt.interrupted
	b.mu.Unlock()
	switch {
	case !live:
		b.load(ctx, rt)
	case interrupted:
		b.recover(ctx, rt)
	}
}

// load (re)reads the tenant's state into the mirror. The first load
// completes Subscribe; a later one (epoch change, history exhausted) tells
// subscribers ErrGap.
func (b *RedisBroker) load(ctx context.Context, rt *redisTenant) {
	snap, mirror, err := b.readSnapshot(ctx, rt.t)
	b.mu.Lock()
	if b.tenants[rt.channel] != rt {
		b.mu.Unlock()
		return
	}
	if err != nil {
		if !rt.live {
			// First load failed: fail the waiting Subscribe calls.
			delete(b.tenants, rt.channel)
			rt.initErr = err
			close(rt.ready)
			b.mu.Unlock()
			b.subMu.Lock()
			_ = b.ps.Unsubscribe(ctx, rt.channel)
			b.subMu.Unlock()
			return
		}
		b.setInterrupted(rt, true) // retried by recoverPending
		b.mu.Unlock()
		b.log.Warn("hub: reload tenant state", "tenant", rt.t, "err", err)
		return
	}
	reload := rt.live
	rt.epoch, rt.seq, rt.mirror = snap.Epoch, snap.Seq, mirror
	rt.live = true
	b.setInterrupted(rt, false)
	hs := rt.hs
	if !reload {
		close(rt.ready)
	}
	b.mu.Unlock()
	if reload {
		for _, h := range hs {
			h(nil, ErrGap)
		}
	}
}

// recover fetches what the tenant missed while interrupted and delivers
// it, then tells subscribers delivery resumed; or reloads (ErrGap).
func (b *RedisBroker) recover(ctx context.Context, rt *redisTenant) {
	b.mu.Lock()
	epoch, seq := rt.epoch, rt.seq
	b.mu.Unlock()
	evs, ok, err := b.Since(ctx, rt.t, epoch, seq)
	if err != nil {
		b.log.Warn("hub: recover from history", "tenant", rt.t, "err", err)
		return
	}
	if !ok {
		b.load(ctx, rt)
		return
	}
	for i := range evs {
		b.deliver(rt, &evs[i])
	}
	b.mu.Lock()
	if b.tenants[rt.channel] != rt {
		b.mu.Unlock()
		return
	}
	b.setInterrupted(rt, false)
	hs := rt.hs
	b.mu.Unlock()
	for _, h := range hs {
		h(nil, nil)
	}
}

func (b *RedisBroker) onMessage(ctx context.Context, m *redis.Message) {
	b.mu.Lock()
	rt := b.tenants[m.Channel]
	if rt == nil || !rt.live || rt.interrupted {
		b.mu.Unlock()
		return // recovery or the first load will cover it
	}
	epoch, seq := rt.epoch, rt.seq
	b.mu.Unlock()

	msgEpoch, rest, ok1 := strings.Cut(m.Payload, "\n")
	seqStr, payload, ok2 := strings.Cut(rest, "\n")
	s, err := strconv.ParseUint(seqStr, 10, 64)
	if !ok1 || !ok2 || err != nil {
		b.log.Warn("hub: malformed pub/sub message", "tenant", rt.t)
		return
	}
	switch {
	case msgEpoch != epoch:
		b.load(ctx, rt)
	case s <= seq:
		// Already delivered (recovered from history).
	case s > seq+1:
		// Gap: the history holds everything up to at least s.
		evs, ok, err := b.Since(ctx, rt.t, epoch, seq)
		if err != nil {
			b.log.Warn("hub: fill gap from history", "tenant", rt.t, "err", err)
			b.mu.Lock()
			b.setInterrupted(rt, true)
			hs := rt.hs
			b.mu.Unlock()
			for _, h := range hs {
				h(nil, ErrBrokerDown)
			}
			return
		}
		if !ok {
			b.load(ctx, rt)
			return
		}
		for i := range evs {
			b.deliver(rt, &evs[i])
		}
	default:
		ev, err := unmarshalWire(rt.t, msgEpoch, s, []byte(payload))
		if err != nil {
			b.log.Warn("hub: undecodable event; reloading", "tenant", rt.t, "err", err)
			b.load(ctx, rt)
			return
		}
		b.deliver(rt, &ev)
	}
}

// deliver applies ev to the mirror and hands it to the subscribers.
func (b *RedisBroker) deliver(rt *redisTenant, ev *Event) {
	b.mu.Lock()
	if ev.Seq <= rt.seq || b.tenants[rt.channel] != rt {
		b.mu.Unlock()
		return
	}
	if ev.Op == OpRemoved {
		delete(rt.mirror, ev.field())
	} else {
		rt.mirror[ev.field()] = ev
	}
	rt.seq = ev.Seq
	hs := rt.hs
	b.mu.Unlock()
	for _, h := range hs {
		h(ev, nil)
	}
}

// setInterrupted changes rt.interrupted and keeps the count of interrupted
// tenants, so the delivery loop looks for work only when there is some.
// b.mu held.
func (b *RedisBroker) setInterrupted(rt *redisTenant, v bool) {
	if rt.interrupted == v {
		return
	}
	rt.interrupted = v
	if v {
		b.interrupted++
	} else {
		b.interrupted--
	}
}
