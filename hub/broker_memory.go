package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

var _ Broker = (*MemoryBroker)(nil)

// MemoryBrokerConfig configures a MemoryBroker.
type MemoryBrokerConfig struct {
	// HistoryLen bounds each tenant's history in events (default 10000).
	HistoryLen int
	// HistoryAge bounds it in time (default 10m).
	HistoryAge time.Duration
	// Now is the clock (default time.Now); tests may replace it.
	Now func() time.Time
}

// MemoryBroker is the single-node Broker: state, history and delivery live
// in this process. Handlers run on the publishing goroutine, serialised per
// tenant in seq order.
type MemoryBroker struct {
	cfg MemoryBrokerConfig

	mu      sync.Mutex // guards the fields below
	tenants map[Tenant]*memTenant
	closed  bool
}

// memTenant is one tenant's state. Lock order: mu, then deliver (taken
// while mu is held, mu released before handlers run, so handlers may call
// Snapshot or Since).
type memTenant struct {
	deliver sync.Mutex // serialises handler calls in seq order

	mu      sync.Mutex // guards the fields below
	epoch   string
	seq     uint64
	state   map[string]*Event
	hist    []memEntry // oldest first
	fences  map[string]uint64
	subs    map[uint64]func(*Event, error)
	hs      []func(*Event, error) // copy of subs values, rebuilt on change
	nextSub uint64
}

type memEntry struct {
	at time.Time
	ev *Event
}

// NewMemoryBroker returns a MemoryBroker with cfg's zero fields defaulted.
func NewMemoryBroker(cfg MemoryBrokerConfig) *MemoryBroker {
	if cfg.HistoryLen <= 0 {
		cfg.HistoryLen = 10000
	}
	if cfg.HistoryAge <= 0 {
		cfg.HistoryAge = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryBroker{cfg: cfg, tenants: make(map[Tenant]*memTenant)}
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (b *MemoryBroker) tenant(t Tenant) (*memTenant, error) {
	if t == "" {
		return nil, fmt.Errorf("%w: empty tenant", ErrInvalidEvent)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	mt := b.tenants[t]
	if mt == nil {
		mt = &memTenant{
			epoch:  newEpoch(),
			state:  make(map[string]*Event),
			fences: make(map[string]uint64),
			subs:   make(map[uint64]func(*Event, error)),
		}
		b.tenants[t] = mt
	}
	return mt, nil
}

// Publish implements Broker.
func (b *MemoryBroker) Publish(ctx context.Context, ev *Event) error {
	if err := ev.validate(); err != nil {
		return err
	}
	mt, err := b.tenant(ev.Tenant)
	if err != nil {
		return err
	}
	mt.mu.Lock()
	if ev.Fence > 0 {
		cur := mt.fences[ev.PBX]
		if ev.Fence < cur {
			mt.mu.Unlock()
			return ErrStaleFence
		}
		mt.fences[ev.PBX] = ev.Fence
	}
	mt.seq++
	ev.Epoch, ev.Seq = mt.epoch, mt.seq
	stored := *ev
	if ev.Op == OpRemoved {
		delete(mt.state, ev.field())
	} else {
		mt.state[ev.field()] = &stored
	}
	now := b.cfg.Now()
	mt.hist = append(mt.hist, memEntry{at: now, ev: &stored})
	mt.trim(now, b.cfg)
	hs := mt.hs
	mt.deliver.Lock()
	mt.mu.Unlock()
	for _, h := range hs {
		h(&stored, nil)
	}
	mt.deliver.Unlock()
	return nil
}

// PublishBatch implements Broker: Publish, one event after the other.
func (b *MemoryBroker) PublishBatch(ctx context.Context, evs []*Event) (int, error) {
	for i, ev := range evs {
		if err := b.Publish(ctx, ev); err != nil {
			return i, err
		}
	}
	return len(evs), nil
}

// trim drops history beyond the configured length and age. mt.mu held.
func (mt *memTenant) trim(now time.Time, cfg MemoryBrokerConfig) {
	drop := max(len(mt.hist)-cfg.HistoryLen, 0)
	cutoff := now.Add(-cfg.HistoryAge)
	for drop < len(mt.hist) && mt.hist[drop].at.Before(cutoff) {
		drop++
	}
	if drop > 0 {
		n := copy(mt.hist, mt.hist[drop:])
		clear(mt.hist[n:])
		mt.hist = mt.hist[:n]
	}
}

// NextFence implements Broker.
func (b *MemoryBroker) NextFence(ctx context.Context, t Tenant, pbx string) (uint64, error) {
	mt, err := b.tenant(t)
	if err != nil {
		return 0, err
	}
	mt.mu.Lock()
	defer mt.mu.Unlock()
	mt.fences[pbx]++
	return mt.fences[pbx], nil
}

// Snapshot implements Broker.
func (b *MemoryBroker) Snapshot(ctx context.Context, t Tenant) (*Snapshot, error) {
	mt, err := b.tenant(t)
	if err != nil {
		return nil, err
	}
	mt.mu.Lock()
	s := &Snapshot{Epoch: mt.epoch, Seq: mt.seq, Elements: make([]Event, 0, len(mt.state))}
	for _, ev := range mt.state {
		e := *ev
		e.Op = OpAdded
		s.Elements = append(s.Elements, e)
	}
	mt.mu.Unlock()
	sortElements(s.Elements)
	return s, nil
}

// Since implements Broker.
func (b *MemoryBroker) Since(ctx context.Context, t Tenant, epoch string, seq uint64) ([]Event, bool, error) {
	mt, err := b.tenant(t)
	if err != nil {
		return nil, false, err
	}
	mt.mu.Lock()
	defer mt.mu.Unlock()
	mt.trim(b.cfg.Now(), b.cfg)
	if epoch != mt.epoch || seq > mt.seq {
		return nil, false, nil
	}
	if seq == mt.seq {
		return nil, true, nil
	}
	if len(mt.hist) == 0 || mt.hist[0].ev.Seq > seq+1 {
		return nil, false, nil
	}
	start := int(seq + 1 - mt.hist[0].ev.Seq)
	out := make([]Event, 0, len(mt.hist)-start)
	for _, e := range mt.hist[start:] {
		out = append(out, *e.ev)
	}
	return out, true, nil
}

// Subscribe implements Broker. Handlers are called on the publisher's
// goroutine, one at a time per tenant.
func (b *MemoryBroker) Subscribe(ctx context.Context, t Tenant, h func(*Event, error)) (func(), error) {
	mt, err := b.tenant(t)
	if err != nil {
		return nil, err
	}
	mt.mu.Lock()
	mt.nextSub++
	id := mt.nextSub
	mt.subs[id] = h
	mt.rebuild()
	mt.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mt.mu.Lock()
			delete(mt.subs, id)
			mt.rebuild()
			mt.mu.Unlock()
		})
	}, nil
}

// rebuild refreshes hs from subs. mt.mu held.
func (mt *memTenant) rebuild() {
	hs := make([]func(*Event, error), 0, len(mt.subs))
	for _, h := range mt.subs {
		hs = append(hs, h)
	}
	mt.hs = hs
}

// Ping implements Broker.
func (b *MemoryBroker) Ping(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Broker.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}
