package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/tenant"
)

// buildConnectors makes the supervisor that runs, on this replica, the
// connectors of the PBXes whose leases it holds, publishing their diffs to
// the broker and their completed calls to the history writer.
func (a *app) buildConnectors() error {
	a.directories = &directories{store: a.store, m: map[tenant.ID]*directory{}}
	var coord pbxconn.Coordinator = pbxconn.NewLocalCoordinator()
	if a.redis != nil {
		coord = pbxconn.NewRedisCoordinator(a.redis, "hf:")
	}
	metrics, err := pbxconn.NewSupervisorMetrics(a.registry)
	if err != nil {
		return err
	}
	sup, err := pbxconn.NewSupervisor(pbxconn.SupervisorConfig{
		ReplicaID: a.cfg.ReplicaID,
		Source:    a.pbxSource,
		Run:       a.runConnector,
		Fence: func(ctx context.Context, t, pbx string) (uint64, error) {
			return a.broker.NextFence(ctx, hub.Tenant(t), pbx)
		},
		Coord:    coord,
		LeaseTTL: a.cfg.LeaseTTL,
		Log:      a.log,
		Metrics:  metrics,
	})
	if err != nil {
		return err
	}
	a.supervisor = sup
	return nil
}

// pbxSource lists every enabled PBX of every enabled tenant.
func (a *app) pbxSource(ctx context.Context) ([]pbxconn.PBXRef, error) {
	ps, err := a.store.AllPBXes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pbxconn.PBXRef, 0, len(ps))
	for _, p := range ps {
		if p.Enabled {
			out = append(out, pbxconn.PBXRef{ID: p.ID, Tenant: string(p.Tenant), Version: p.Version})
		}
	}
	return out, nil
}

// runConnector runs one PBX's connector while this replica holds its lease.
func (a *app) runConnector(ctx context.Context, ref pbxconn.PBXRef, fence uint64) error {
	t := tenant.ID(ref.Tenant)
	p, err := a.store.GetPBX(ctx, t, ref.ID)
	if err != nil {
		return fmt.Errorf("load pbx %s: %w", ref.ID, err)
	}
	sec, err := a.store.PBXSecrets(ctx, t, ref.ID)
	if err != nil {
		return fmt.Errorf("load pbx %s secrets: %w", ref.ID, err)
	}
	info := pbxconn.PBXInfo{
		ID: p.ID, Name: p.Name, Tenant: string(t),
		ARIURL: p.ARIURL, ARIUser: p.ARIUser, ARIPassword: sec.ARIPassword, ARIApp: p.ARIApp,
		AMIAddr: p.AMIAddr, AMIUser: p.AMIUser, AMISecret: sec.AMISecret,
	}
	if p.TLSCA != "" || p.TLSSkip || strings.HasPrefix(p.ARIURL, "https") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: p.TLSSkip} //nolint:gosec // the tenant admin's explicit choice
		if p.TLSCA != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(p.TLSCA)) {
				return fmt.Errorf("pbx %s: tls_ca holds no PEM certificate", p.ID)
			}
			tc.RootCAs = pool
		}
		info.TLS = tc
	}
	tb := hub.Tenant(t)
	// If the tenant's epoch changes under this run, Redis lost the state
	// clients were built on: stop, so that the supervisor restarts the
	// connector, whose first resync then republishes everything from the
	// (now empty) broker state.
	rctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	var epoch string // touched only by publishing, which runs on Run's goroutine
	publish := func(ctx context.Context, ds []pbxconn.Diff) (int, error) {
		evs, err := a.publishDiffs(ctx, tb, p.ID, ds)
		for i, ev := range evs {
			if epoch != "" && ev.Epoch != epoch {
				stopRun(errEpochChanged)
				return i, errEpochChanged
			}
			epoch = ev.Epoch
		}
		return len(evs), err
	}
	conn, err := pbxconn.NewConnector(pbxconn.ConnectorConfig{
		PBX:       info,
		Directory: a.directories.get(t),
		Fence:     fence,
		Backoff:   pbxconn.Backoff{Cap: a.cfg.ReconnectMax},
		Publish: func(ctx context.Context, d pbxconn.Diff) error {
			_, err := publish(ctx, []pbxconn.Diff{d})
			return err
		},
		PublishBatch: publish,
		LoadState: func(ctx context.Context) ([]pbxconn.Diff, error) {
			return a.loadPBXState(ctx, tb, p.ID)
		},
		OnCallCompleted: func(c pbxconn.Call) { a.history.add(t, c) },
		AMIFilters:      []string{"!Event: VarSet", "!Event: Newexten", "!Event: RTCPSent", "!Event: RTCPReceived"},
		Log:             a.log.With("tenant", string(t), "pbx", p.ID),
	})
	if err != nil {
		return err
	}
	defer a.commands.register(ref.Tenant, ref.ID, conn)()
	defer a.liveConns.add(t, p.ID, conn)()
	err = conn.Run(rctx)
	if ctx.Err() != nil && a.pbxGone(t, p.ID) {
		// Deleted or disabled (not a handover or a shutdown): clients
		// must see its elements go. The lease, and so the fence, is still
		// ours until this function returns.
		rc, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if rerr := conn.Retire(rc); rerr != nil {
			a.log.Warn("retiring a removed PBX's elements failed", "tenant", string(t), "pbx", p.ID, "err", rerr)
		}
	}
	if errors.Is(context.Cause(rctx), errEpochChanged) && ctx.Err() == nil {
		a.log.Warn("tenant history was reset (Redis lost data): republishing the PBX's state", "tenant", string(t), "pbx", p.ID)
		return errEpochChanged
	}
	return err
}

// errEpochChanged ends a connector run whose tenant epoch changed.
var errEpochChanged = errors.New("tenant epoch changed: republish")

// publishDiffs hands diffs to the broker in one batch (one Redis round
// trip) and returns the events published, in order: all of them, or those
// before the one err is about.
func (a *app) publishDiffs(ctx context.Context, t hub.Tenant, pbxID string, ds []pbxconn.Diff) ([]*hub.Event, error) {
	evs := make([]*hub.Event, 0, len(ds))
	var encErr error
	for _, d := range ds {
		ev, err := diffEvent(t, pbxID, d)
		if err != nil {
			encErr = err
			break
		}
		evs = append(evs, ev)
	}
	n, err := a.broker.PublishBatch(ctx, evs)
	switch {
	case errors.Is(err, hub.ErrStaleFence):
		err = fmt.Errorf("%w: %v", pbxconn.ErrFenced, err)
	case err == nil:
		err = encErr
	}
	return evs[:n], err
}

// diffEvent turns an element diff into a hub event.
func diffEvent(t hub.Tenant, pbxID string, d pbxconn.Diff) (*hub.Event, error) {
	data, err := json.Marshal(d.Data)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", d.Element, d.Key, err)
	}
	ev := &hub.Event{
		Tenant: t, Element: string(d.Element), Op: hub.Op(d.Op), Key: d.Key, Data: data,
		Audience: d.Audience, PBX: pbxID, Fence: d.Fence,
	}
	if !d.TS.IsZero() {
		ev.TS = d.TS.UnixMicro()
	}
	return ev, nil
}

// loadPBXState returns what clients were last told about one PBX (its
// elements in the tenant's state), so a new owner diffs against it.
func (a *app) loadPBXState(ctx context.Context, t hub.Tenant, pbxID string) ([]pbxconn.Diff, error) {
	snap, err := a.broker.Snapshot(ctx, t)
	if err != nil {
		return nil, err
	}
	var out []pbxconn.Diff
	for _, e := range snap.Elements {
		if id, _, ok := pbxconn.SplitKey(e.Key); !ok || id != pbxID {
			continue
		}
		v, err := pbxconn.DecodeElement(pbxconn.Element(e.Element), e.Data)
		if err != nil {
			continue // an element of a kind this version does not know
		}
		out = append(out, pbxconn.Diff{Element: pbxconn.Element(e.Element), Op: pbxconn.OpAdded, Key: e.Key, Data: v, Audience: e.Audience})
	}
	return out, nil
}

// directories keeps each tenant's terminal → user map for the normalizers,
// re-read when users change (and every minute as a safety net).
type directories struct {
	store tenant.Store

	mu sync.Mutex // guards m
	m  map[tenant.ID]*directory
}

type directory struct {
	snap   atomic.Pointer[dirSnapshot]
	loaded atomic.Int64 // unix nanos of the last load
	t      tenant.ID
	d      *directories
}

type dirSnapshot struct {
	byTerm map[string]string // lower-case terminal -> user id
	users  []pbxconn.UserInfo
}

const directoryTTL = time.Minute

func (ds *directories) get(t tenant.ID) *directory {
	ds.mu.Lock()
	d := ds.m[t]
	if d == nil {
		d = &directory{t: t, d: ds}
		d.snap.Store(&dirSnapshot{byTerm: map[string]string{}})
		ds.m[t] = d
	}
	ds.mu.Unlock()
	if d.loaded.Load() == 0 {
		d.reload()
	}
	return d
}

func (ds *directories) invalidate(t tenant.ID) {
	ds.mu.Lock()
	d := ds.m[t]
	ds.mu.Unlock()
	if d != nil {
		d.reload()
	}
}

func (d *directory) reload() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	us, err := d.d.store.ListUsers(ctx, d.t)
	if err != nil {
		return // keep the last directory
	}
	s := &dirSnapshot{byTerm: map[string]string{}}
	for _, u := range us {
		if u.Disabled || len(u.Terminals) == 0 {
			continue
		}
		for _, term := range u.Terminals {
			s.byTerm[strings.ToLower(term)] = u.ID
		}
		s.users = append(s.users, pbxconn.UserInfo{ID: u.ID, Name: u.Name, MainExtension: u.MainExtension, Email: u.Email, Role: u.Role, Terminals: u.Terminals})
	}
	d.snap.Store(s)
	d.loaded.Store(time.Now().UnixNano())
}

func (d *directory) fresh() *dirSnapshot {
	if time.Since(time.Unix(0, d.loaded.Load())) > directoryTTL {
		go d.reload()
		d.loaded.Store(time.Now().UnixNano()) // one reload at a time
	}
	return d.snap.Load()
}

// UserByTerminal implements pbxconn.Directory.
func (d *directory) UserByTerminal(term string) (string, bool) {
	id, ok := d.fresh().byTerm[strings.ToLower(term)]
	return id, ok
}

// Users implements pbxconn.Directory.
func (d *directory) Users() []pbxconn.UserInfo { return d.fresh().users }

// pbxGone reports whether a PBX was deleted or disabled (or its tenant
// was); a store error counts as not gone, so nothing is retired by mistake.
func (a *app) pbxGone(t tenant.ID, pbxID string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := a.store.GetPBX(ctx, t, pbxID)
	if errors.Is(err, tenant.ErrNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	if !p.Enabled {
		return true
	}
	tt, err := a.store.GetTenant(ctx, t)
	return errors.Is(err, tenant.ErrNotFound) || (err == nil && tt.Disabled)
}

// liveConnectors tracks this replica's running connectors by tenant, so
// directory changes reach them at once.
type liveConnectors struct {
	mu sync.Mutex // guards m
	m  map[tenant.ID]map[string]*pbxconn.Connector
}

func (l *liveConnectors) add(t tenant.ID, pbxID string, c *pbxconn.Connector) (remove func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[tenant.ID]map[string]*pbxconn.Connector{}
	}
	if l.m[t] == nil {
		l.m[t] = map[string]*pbxconn.Connector{}
	}
	l.m[t][pbxID] = c
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.m[t][pbxID] == c {
			delete(l.m[t], pbxID)
		}
	}
}

func (l *liveConnectors) of(t tenant.ID) []*pbxconn.Connector {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*pbxconn.Connector, 0, len(l.m[t]))
	for _, c := range l.m[t] {
		out = append(out, c)
	}
	return out
}
