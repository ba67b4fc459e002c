package pbxconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the Supervisor. (Kept here rather than in errors.go, which
// belongs to the connector's half of the package.)
var (
	// ErrSupervisorConfig: NewSupervisor was given an unusable config.
	ErrSupervisorConfig = errors.New("pbxconn: invalid supervisor config")
	// ErrSupervisorStarted: Run was called twice on one Supervisor.
	ErrSupervisorStarted = errors.New("pbxconn: supervisor already running")
	// ErrRunPanicked: a Run function panicked; the supervisor recovered it
	// and restarts the run with backoff.
	ErrRunPanicked = errors.New("pbxconn: connector run panicked")
)

// PBXRef identifies a PBX the Source wants connected. Version changes
// whenever the PBX's configuration does; the supervisor restarts the run of
// a PBX whose Version moved. A PBX that is disabled or deleted is simply
// absent from the Source's list.
type PBXRef struct {
	ID      string
	Tenant  string
	Version int64
}

func (r PBXRef) lease() LeaseID { return LeaseID{Tenant: r.Tenant, PBX: r.ID} }

// SupervisorConfig configures a Supervisor. Zero values take the defaults
// documented on each field.
type SupervisorConfig struct {
	// ReplicaID names this replica in the membership set (the pod name).
	// Required; unique among live replicas.
	ReplicaID string
	// Source lists every PBX that should be connected, across tenants. It
	// is polled every SourceInterval and whenever Refresh is called. When it
	// fails the last good list stays in force. Required.
	Source func(ctx context.Context) ([]PBXRef, error)
	// Run runs the connector of ref with fencing epoch fence until ctx is
	// cancelled, and must return promptly once it is: the supervisor waits
	// for it before releasing or giving up the lease. A Run that returns
	// on its own (or panics) is restarted with backoff while the lease is
	// held. Required.
	Run func(ctx context.Context, ref PBXRef, fence uint64) error
	// Fence issues a new fencing epoch for a PBX (the broker's NextFence).
	// It is called before every Run; an error counts as a failed run.
	// Required.
	Fence func(ctx context.Context, tenant, pbx string) (uint64, error)
	// Coord decides membership and holds the leases. Default: a new
	// LocalCoordinator, i.e. this replica owns every PBX.
	Coord Coordinator
	// LeaseTTL is the lease lifetime and the membership heartbeat TTL; a
	// dead replica's PBXes move within about LeaseTTL. Leases are renewed
	// every LeaseTTL/3, and a run whose lease could not be renewed is
	// cancelled LeaseTTL/4 before the lease could expire. Default 10s.
	LeaseTTL time.Duration
	// Interval is how often membership is heartbeat and read and ownership
	// reconciled (acquire, hand over). Default 1s, at most LeaseTTL/3. No
	// lease is taken before the second membership read, one Interval after
	// Run starts, so replicas starting together see each other first.
	Interval time.Duration
	// SourceInterval is how often Source is polled. Default 3s.
	SourceInterval time.Duration
	// RestartBackoff is the first delay before restarting a run that ended
	// on its own; it doubles per consecutive failure up to
	// RestartBackoffMax, with jitter. Defaults 500ms and 30s.
	RestartBackoff    time.Duration
	RestartBackoffMax time.Duration
	// Log receives lifecycle and failure logs. Default: discarded.
	Log *slog.Logger
	// Metrics are updated as leases and runs come and go. Default: fresh,
	// unregistered metrics.
	Metrics *SupervisorMetrics
}

// Supervisor runs, on this replica, the connectors of exactly the PBXes
// whose lease it holds. It joins the membership set, hashes every PBX of the
// Source over the live members (rendezvous hashing) and tries to hold the
// leases of those it should own; a connector runs only while its lease is
// held, a lost lease cancels it at once, and leases of PBXes that moved
// elsewhere, were removed, or belong to a stopping replica are released
// after their run has returned. See Run.
type Supervisor struct {
	cfg   SupervisorConfig // defaults filled in NewSupervisor; read-only after
	token string           // lease holder token: ReplicaID#random, unique per Supervisor
	log   *slog.Logger
	m     *SupervisorMetrics

	refresh chan struct{} // cap 1: asks the source loop to poll now
	poke    chan struct{} // cap 1: asks the reconcile loop to run now
	started atomic.Bool

	mu      sync.Mutex // guards the fields below
	members []string   // last membership read; nil when unknown
	settled bool       // a second membership read succeeded: peers are visible
	refs    map[LeaseID]PBXRef
	gen     uint64             // bumped whenever members or refs change
	leased  map[LeaseID]PBXRef // leases held right now, for Held
}

// NewSupervisor checks cfg, fills its defaults and returns a Supervisor
// ready to Run.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	switch {
	case cfg.ReplicaID == "":
		return nil, fmt.Errorf("%w: ReplicaID is empty", ErrSupervisorConfig)
	case cfg.Source == nil:
		return nil, fmt.Errorf("%w: Source is nil", ErrSupervisorConfig)
	case cfg.Run == nil:
		return nil, fmt.Errorf("%w: Run is nil", ErrSupervisorConfig)
	case cfg.Fence == nil:
		return nil, fmt.Errorf("%w: Fence is nil", ErrSupervisorConfig)
	case cfg.LeaseTTL < 0 || cfg.Interval < 0 || cfg.SourceInterval < 0 ||
		cfg.RestartBackoff < 0 || cfg.RestartBackoffMax < 0:
		return nil, fmt.Errorf("%w: negative duration", ErrSupervisorConfig)
	}
	if cfg.Coord == nil {
		cfg.Coord = NewLocalCoordinator()
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.LeaseTTL < 30*time.Millisecond {
		return nil, fmt.Errorf("%w: LeaseTTL %v is below 30ms", ErrSupervisorConfig, cfg.LeaseTTL)
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	cfg.Interval = min(cfg.Interval, cfg.LeaseTTL/3)
	if cfg.SourceInterval == 0 {
		cfg.SourceInterval = 3 * time.Second
	}
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = 500 * time.Millisecond
	}
	if cfg.RestartBackoffMax == 0 {
		cfg.RestartBackoffMax = 30 * time.Second
	}
	cfg.RestartBackoffMax = max(cfg.RestartBackoffMax, cfg.RestartBackoff)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil {
		m, err := NewSupervisorMetrics(nil)
		if err != nil {
			return nil, err
		}
		cfg.Metrics = m
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("supervisor token: %w", err)
	}
	return &Supervisor{
		cfg:     cfg,
		token:   cfg.ReplicaID + "#" + hex.EncodeToString(rnd[:]),
		log:     cfg.Log.With("component", "supervisor", "replica", cfg.ReplicaID),
		m:       cfg.Metrics,
		refresh: make(chan struct{}, 1),
		poke:    make(chan struct{}, 1),
		leased:  make(map[LeaseID]PBXRef),
	}, nil
}

// Refresh asks the supervisor to poll Source now rather than at the next
// SourceInterval. It never blocks; calls while a poll is pending coalesce.
func (s *Supervisor) Refresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Held returns the PBXes whose lease this replica holds right now, sorted by
// tenant and id. Their connectors are running or being (re)started.
func (s *Supervisor) Held() []PBXRef {
	s.mu.Lock()
	out := slices.Collect(maps.Values(s.leased))
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b PBXRef) int {
		if a.Tenant != b.Tenant {
			if a.Tenant < b.Tenant {
				return -1
			}
			return 1
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Owner returns the ReplicaID of the replica whose connector runs the PBX
// (this replica's own ReplicaID when it holds the lease), or "" when no
// replica holds its lease right now (it is moving, or not wanted). It asks
// the Coordinator unless this replica holds the lease; the answer can be
// stale by the time it is used, so callers that act on it must tolerate a
// refusal from the presumed owner.
func (s *Supervisor) Owner(ctx context.Context, tenant, pbx string) (string, error) {
	id := LeaseID{Tenant: tenant, PBX: pbx}
	s.mu.Lock()
	_, mine := s.leased[id]
	s.mu.Unlock()
	if mine {
		return s.cfg.ReplicaID, nil
	}
	holder, err := s.cfg.Coord.Holder(ctx, id)
	if err != nil {
		return "", err
	}
	return replicaOf(holder), nil
}

// replicaOf returns the ReplicaID part of a holder token "ReplicaID#random".
func replicaOf(token string) string {
	if i := strings.LastIndexByte(token, '#'); i >= 0 {
		return token[:i]
	}
	return token
}

// Run supervises until ctx is cancelled, then stops gracefully: it leaves
// the membership set, stops every run and releases every lease, so other
// replicas take the PBXes over at their next Interval rather than after
// LeaseTTL. It returns nil after that shutdown, or ErrSupervisorStarted if
// called twice.
func (s *Supervisor) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrSupervisorStarted
	}
	s.log.Info("supervisor starting", "lease_ttl", s.cfg.LeaseTTL, "interval", s.cfg.Interval)
	var loops sync.WaitGroup
	loops.Go(func() { s.membershipLoop(ctx) })
	loops.Go(func() { s.sourceLoop(ctx) })

	var holders sync.WaitGroup
	held := make(map[LeaseID]*holding)
	s.reconcileLoop(ctx, &holders, held)

	// Shutdown. Leaving first makes the others' rendezvous skip us while
	// the holders stop their runs and release (their ctx is already done).
	loops.Wait()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opTimeout())
	if err := s.cfg.Coord.Leave(lctx, s.cfg.ReplicaID); err != nil {
		s.m.CoordErrors.Inc()
		s.log.Warn("leave membership failed; peers will notice when the heartbeat expires", "err", err)
	}
	cancel()
	for _, h := range held {
		h.cancel()
	}
	holders.Wait()
	s.log.Info("supervisor stopped")
	return nil
}

// opTimeout bounds one coordinator call.
func (s *Supervisor) opTimeout() time.Duration { return s.cfg.LeaseTTL / 3 }

func (s *Supervisor) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// membershipLoop heartbeats this replica and reads the live members every
// Interval. When either fails the membership view becomes unknown, which
// freezes ownership changes (held leases keep renewing on their own).
func (s *Supervisor) membershipLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	failing := false
	reads := 0 // successful membership reads, until settled
	for {
		members, err := s.readMembers(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.m.CoordErrors.Inc()
			if !failing {
				s.log.Warn("membership heartbeat failing", "err", err)
			}
			failing = true
		} else if failing {
			s.log.Info("membership heartbeat recovered")
			failing = false
		}
		s.mu.Lock()
		changed := !slices.Equal(s.members, members) || (members == nil) != (s.members == nil)
		if changed {
			s.members = members
			s.gen++
		}
		if err == nil && !s.settled {
			// Replicas that started with us heartbeat within one
			// Interval; until then we would see ourselves alone, grab
			// every PBX and hand most of them straight back.
			s.settled = reads > 0
			reads++
			changed = changed || s.settled
		}
		s.mu.Unlock()
		if changed {
			s.m.Members.Set(float64(len(members)))
			s.log.Debug("membership changed", "members", members)
			s.wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Supervisor) readMembers(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout())
	defer cancel()
	if err := s.cfg.Coord.Heartbeat(ctx, s.cfg.ReplicaID, s.cfg.LeaseTTL); err != nil {
		return nil, err
	}
	ms, err := s.cfg.Coord.Members(ctx)
	if err != nil {
		return nil, err
	}
	if ms == nil {
		ms = []string{}
	}
	return ms, nil
}

// sourceLoop polls Source every SourceInterval and on Refresh. A failed
// poll keeps the previous list.
func (s *Supervisor) sourceLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SourceInterval)
	defer t.Stop()
	failing := false
	for {
		refs, err := s.pollSource(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.m.SourceErrors.Inc()
			if !failing {
				s.log.Warn("pbx source failing; keeping the last list", "err", err)
			}
			failing = true
		} else {
			if failing {
				s.log.Info("pbx source recovered")
				failing = false
			}
			s.mu.Lock()
			changed := s.refs == nil || !maps.Equal(s.refs, refs)
			if changed {
				s.refs = refs
				s.gen++
			}
			s.mu.Unlock()
			if changed {
				s.wake()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.refresh:
		}
	}
}

func (s *Supervisor) pollSource(ctx context.Context) (map[LeaseID]PBXRef, error) {
	ctx, cancel := context.WithTimeout(ctx, max(s.cfg.SourceInterval, s.cfg.LeaseTTL/2))
	defer cancel()
	list, err := s.cfg.Source(ctx)
	if err != nil {
		return nil, fmt.Errorf("pbx source: %w", err)
	}
	refs := make(map[LeaseID]PBXRef, len(list))
	bad := 0
	for _, r := range list {
		if r.ID == "" || r.Tenant == "" {
			bad++
			continue
		}
		if _, dup := refs[r.lease()]; dup {
			bad++
			continue
		}
		refs[r.lease()] = r
	}
	if bad > 0 {
		s.log.Warn("pbx source listed invalid or duplicate PBXes; ignored them", "count", bad)
	}
	return refs, nil
}

// reconcileLoop makes the set of holders match the PBXes this replica should
// own, every Interval and whenever membership or the PBX list changes. It
// alone touches held. It returns when ctx is done.
func (s *Supervisor) reconcileLoop(ctx context.Context, holders *sync.WaitGroup, held map[LeaseID]*holding) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	var (
		gen  uint64
		mine map[LeaseID]PBXRef // the PBXes rendezvous gives us, for gen
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.poke:
		}
		s.mu.Lock()
		known := s.members != nil && s.refs != nil && s.settled
		if known && (mine == nil || gen != s.gen) {
			gen = s.gen
			mine = make(map[LeaseID]PBXRef)
			for id, ref := range s.refs {
				if rendezvousOwner(s.members, id.String()) == s.cfg.ReplicaID {
					mine[id] = ref
				}
			}
		}
		s.mu.Unlock()
		// Reap holders that ended (lost the lease, failed to acquire, or
		// finished releasing) so their PBX can be tried again.
		for id, h := range held {
			select {
			case <-h.done:
				delete(held, id)
			default:
			}
		}
		if !known {
			continue
		}
		for id, h := range held {
			if h.stopping {
				continue
			}
			ref, ok := mine[id]
			if !ok {
				h.stopping = true
				h.cancel()
				continue
			}
			if ref.Version != h.ref.Version {
				h.ref = ref
				select {
				case <-h.update:
				default:
				}
				h.update <- ref
			}
		}
		for id, ref := range mine {
			if _, ok := held[id]; ok {
				continue
			}
			hctx, cancel := context.WithCancel(ctx)
			h := &holding{
				ref:    ref,
				update: make(chan PBXRef, 1),
				cancel: cancel,
				done:   make(chan struct{}),
			}
			held[id] = h
			holders.Go(func() { s.hold(hctx, h, ref) })
		}
	}
}
