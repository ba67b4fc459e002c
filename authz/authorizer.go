package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Authorizer. Zero fields take the documented defaults.
type Config struct {
	// Adapter stores the policy lines. Default: a new MemoryAdapter
	// (single node, lost on restart).
	Adapter Adapter
	// Bus carries policy changes between replicas. Default: a new
	// MemoryBus owned (and closed) by the Authorizer. A Bus passed in is
	// owned by the caller.
	Bus Bus
	// Log receives reload failures. Default: discard.
	Log *slog.Logger
	// ReloadEvery reloads every loaded tenant periodically, a safety net
	// for a change announcement that never arrived. Default 10 min;
	// negative disables.
	ReloadEvery time.Duration
	// Metrics registers the hookflash_authz_policy_* collectors; nil keeps
	// them unregistered.
	Metrics prometheus.Registerer
}

// Authorizer answers policy questions for every tenant of a replica. It
// keeps one casbin SyncedEnforcer per tenant, loaded on first use through
// the adapter's domain filter and rebuilt when the tenant's policy changes
// (locally or on another replica, via the Bus). A rebuilt enforcer replaces
// the old one only once it loaded completely, so a failed reload keeps the
// previous policy. All methods are safe for concurrent use.
//
// Principals hold the union of what their stored role and their own subject
// (with its casbin role assignments) are granted.
type Authorizer struct {
	adapter Adapter
	bus     Bus
	ownBus  bool
	log     *slog.Logger
	watcher *Watcher
	metrics *authorizerMetrics

	mu        sync.Mutex // guards the fields below
	tenants   map[string]*tenantEntry
	listeners map[int]func(tenant string)
	nextL     int

	stop context.CancelFunc
	done chan struct{} // closed when the reload loop exited
}

// tenantEntry holds one tenant's current enforcer.
type tenantEntry struct {
	loadMu sync.Mutex // serialises loads of this tenant; guards lastErr
	cur    atomic.Pointer[tenantEnforcer]
	stale  atomic.Bool // a reload failed; a use after retryAt retries
	// retryAt (Unix ns) spaces out reloads after a failure, so an outage
	// of the storage does not put a query (and its timeout) on every
	// authorization.
	retryAt atomic.Int64
	lastErr error
}

// reloadRetry is the pause between reload attempts of a failed tenant.
const reloadRetry = time.Second

// tenantEnforcer is one loaded policy of a tenant and its grants cache.
type tenantEnforcer struct {
	e *casbin.SyncedEnforcer
	// mentioned holds every principal subject ("user:…", "token:…") that
	// appears in the policy; any other principal subject is granted
	// nothing of its own. Set at load, read-only after.
	mentioned map[string]bool

	mu     sync.Mutex        // guards grants
	grants map[string]grants // per subject or role name
}

// maxCachedGrants bounds the per-tenant cache of compiled grants; it is
// emptied when full.
const maxCachedGrants = 4096

// New builds an Authorizer and subscribes it to the bus.
func New(cfg Config) (*Authorizer, error) {
	a := &Authorizer{
		adapter:   cfg.Adapter,
		bus:       cfg.Bus,
		log:       cfg.Log,
		tenants:   map[string]*tenantEntry{},
		listeners: map[int]func(string){},
		done:      make(chan struct{}),
	}
	if a.adapter == nil {
		a.adapter = NewMemoryAdapter()
	}
	if a.bus == nil {
		a.bus = NewMemoryBus()
		a.ownBus = true
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a.log = a.log.With("component", "authz")
	m, err := newAuthorizerMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	a.metrics = m
	w, err := NewWatcher(a.bus)
	if err != nil {
		return nil, err
	}
	a.watcher = w
	_ = w.SetUpdateCallback(a.onPolicyChanged)

	every := cfg.ReloadEvery
	if every == 0 {
		every = 10 * time.Minute
	}
	ctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	if every > 0 {
		go a.reloadLoop(ctx, every)
	} else {
		close(a.done)
	}
	return a, nil
}

// Close stops the Authorizer: no more reloads or change callbacks. It
// closes the Bus only when New created it.
func (a *Authorizer) Close() error {
	a.stop()
	<-a.done
	a.watcher.Close()
	if a.ownBus {
		return a.bus.Close()
	}
	return nil
}

func (a *Authorizer) reloadLoop(ctx context.Context, every time.Duration) {
	defer close(a.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.reloadLoaded()
		}
	}
}

// OnChange registers f to be called after a tenant's policy was reloaded on
// this replica (tenant "" means any tenant may have changed: recheck all).
// The hub and API recompile the scopes of the tenant's open connections in
// f. f runs on the bus goroutine or the caller of SetPolicies and must not
// block for long. The returned func unregisters f.
func (a *Authorizer) OnChange(f func(tenant string)) (cancel func()) {
	a.mu.Lock()
	id := a.nextL
	a.nextL++
	a.listeners[id] = f
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.listeners, id)
		a.mu.Unlock()
	}
}

// onPolicyChanged reloads one loaded tenant ("" = all loaded tenants) and
// tells the listeners: for one tenant only when its policy really changed
// (the echo of a change this replica made and already applied is quiet),
// for "" always (after a bus resync, listeners must recheck everything).
func (a *Authorizer) onPolicyChanged(tenant string) {
	a.mu.Lock()
	var names []string
	if tenant == "" {
		for t := range a.tenants {
			names = append(names, t)
		}
	} else if _, ok := a.tenants[tenant]; ok {
		names = []string{tenant}
	}
	a.mu.Unlock()
	changed := tenant == ""
	for _, t := range names {
		_, diff, err := a.reload(t)
		if err != nil {
			a.log.Warn("policy reload failed; keeping the previous policy", "tenant", t, "err", err)
			continue
		}
		changed = changed || diff
	}
	if changed || len(names) == 0 {
		a.notify(tenant)
	}
}

// reloadLoaded reloads every loaded tenant and tells the listeners about
// each one whose policy changed (the periodic safety net).
func (a *Authorizer) reloadLoaded() {
	a.mu.Lock()
	names := make([]string, 0, len(a.tenants))
	for t := range a.tenants {
		names = append(names, t)
	}
	a.mu.Unlock()
	for _, t := range names {
		_, changed, err := a.reload(t)
		if err != nil {
			a.log.Warn("periodic policy reload failed; keeping the previous policy", "tenant", t, "err", err)
			continue
		}
		if changed {
			a.notify(t)
		}
	}
}

func (a *Authorizer) notify(tenant string) {
	a.metrics.changes.Inc()
	a.mu.Lock()
	ids := make([]int, 0, len(a.listeners))
	for id := range a.listeners {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fs := make([]func(string), 0, len(ids))
	for _, id := range ids {
		fs = append(fs, a.listeners[id])
	}
	a.mu.Unlock()
	for _, f := range fs {
		f(tenant)
	}
}

// entry returns the tenant's entry, creating an empty one.
func (a *Authorizer) entry(tenant string) *tenantEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.tenants[tenant]
	if !ok {
		e = &tenantEntry{}
		a.tenants[tenant] = e
	}
	return e
}

// enforcer returns the tenant's loaded enforcer, loading it on first use
// or after a failed reload.
func (a *Authorizer) enforcer(tenant string) (*tenantEnforcer, error) {
	if err := CheckTenant(tenant); err != nil {
		return nil, err
	}
	e := a.entry(tenant)
	te := e.cur.Load()
	if te != nil && !e.stale.Load() {
		return te, nil
	}
	if time.Now().UnixNano() < e.retryAt.Load() {
		if te != nil {
			return te, nil // keep serving the last good policy
		}
		e.loadMu.Lock()
		err := e.lastErr
		e.loadMu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	fresh, changed, err := a.reload(tenant)
	if err != nil {
		if te != nil {
			return te, nil
		}
		return nil, err
	}
	if changed && te != nil {
		// A change whose announcement found the storage down is applied
		// only now: open connections must be rescoped.
		a.notify(tenant)
	}
	return fresh, nil
}

// reload builds a fresh enforcer for tenant and swaps it in. changed
// reports whether its lines differ from the enforcer it replaced.
func (a *Authorizer) reload(tenant string) (te *tenantEnforcer, changed bool, err error) {
	e := a.entry(tenant)
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	m, err := newModel()
	if err != nil {
		return nil, false, err
	}
	se, err := casbin.NewSyncedEnforcer(m)
	if err != nil {
		return nil, false, fmt.Errorf("authz: enforcer for %s: %w", tenant, err)
	}
	se.SetAdapter(a.adapter)
	se.EnableAutoSave(false) // writes go through the adapter's domain methods
	if err := se.LoadFilteredPolicy(Filter{Domain: tenant}); err != nil {
		a.metrics.reloads.WithLabelValues("error").Inc()
		e.lastErr = fmt.Errorf("authz: load policy of %s: %w", tenant, err)
		e.stale.Store(true)
		e.retryAt.Store(time.Now().Add(reloadRetry).UnixNano())
		return nil, false, e.lastErr
	}
	te = &tenantEnforcer{e: se, grants: map[string]grants{}, mentioned: map[string]bool{}}
	pol, err := se.GetPolicy()
	if err != nil {
		return nil, false, fmt.Errorf("authz: read policy of %s: %w", tenant, err)
	}
	grp, err := se.GetGroupingPolicy()
	if err != nil {
		return nil, false, fmt.Errorf("authz: read policy of %s: %w", tenant, err)
	}
	for _, l := range slices.Concat(pol, grp) {
		if len(l) > 0 && isPrincipalSubject(l[0]) {
			te.mentioned[l[0]] = true
		}
	}
	old := e.cur.Load()
	changed = old == nil || !samePolicy(old.e, se)
	a.metrics.reloads.WithLabelValues("ok").Inc()
	e.cur.Store(te)
	e.stale.Store(false)
	e.retryAt.Store(0)
	e.lastErr = nil
	return te, changed, nil
}

// samePolicy reports whether two enforcers hold the same lines in order.
func samePolicy(a, b *casbin.SyncedEnforcer) bool {
	pa, err1 := a.GetPolicy()
	pb, err2 := b.GetPolicy()
	ga, err3 := a.GetGroupingPolicy()
	gb, err4 := b.GetGroupingPolicy()
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return false
	}
	return slices.EqualFunc(pa, pb, slices.Equal) && slices.EqualFunc(ga, gb, slices.Equal)
}

// allow asks casbin for subject or role.
func (te *tenantEnforcer) allow(p Principal, obj, act string) (bool, error) {
	for _, sub := range [2]string{p.Subject, p.Role} {
		if sub == "" {
			continue
		}
		ok, err := te.e.Enforce(sub, p.Tenant, obj, act)
		if err != nil {
			return false, fmt.Errorf("authz: enforce: %w", err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// grantsFor returns the grants of a principal: the union of those of its
// subject and of its role (grants compose by OR, see compileGrants). Each
// name is compiled once per loaded policy, so a thousand users of one role
// cost one compilation, and a subject the policy never mentions none.
func (te *tenantEnforcer) grantsFor(p Principal) (grants, error) {
	var out grants
	for _, name := range [2]string{p.Subject, p.Role} {
		if name == "" || isPrincipalSubject(name) && !te.mentioned[name] {
			continue
		}
		g, err := te.grantsOf(p.Tenant, name)
		if err != nil {
			return grants{}, err
		}
		out = out.union(g)
	}
	return out, nil
}

func (te *tenantEnforcer) grantsOf(tenant, name string) (grants, error) {
	te.mu.Lock()
	g, ok := te.grants[name]
	te.mu.Unlock()
	if ok {
		return g, nil
	}
	g, err := compileGrants(func(obj, act string) (bool, error) {
		ok, err := te.e.Enforce(name, tenant, obj, act)
		if err != nil {
			return false, fmt.Errorf("authz: enforce: %w", err)
		}
		return ok, nil
	})
	if err != nil {
		return grants{}, err
	}
	te.mu.Lock()
	if len(te.grants) >= maxCachedGrants {
		clear(te.grants)
	}
	te.grants[name] = g
	te.mu.Unlock()
	return g, nil
}

// Can reports whether p may perform act on obj. It fails closed: an
// unloadable policy or a malformed tenant means false (and is logged).
func (a *Authorizer) Can(p Principal, obj, act string) bool {
	te, err := a.enforcer(p.Tenant)
	if err != nil {
		a.log.Warn("authorization refused: policy unavailable", "tenant", p.Tenant, "err", err)
		return false
	}
	ok, err := te.allow(p, obj, act)
	if err != nil {
		a.log.Warn("authorization refused", "tenant", p.Tenant, "obj", obj, "err", err)
		return false
	}
	return ok
}

// Scope compiles what p may see and do on a connection that asked for
// fullEvents. It returns ErrFullEventsForbidden when fullEvents is asked
// without the full_events grant, and an error when the policy cannot be
// loaded.
func (a *Authorizer) Scope(p Principal, fullEvents bool) (*Scope, error) {
	te, err := a.enforcer(p.Tenant)
	if err != nil {
		return nil, err
	}
	g, err := te.grantsFor(p)
	if err != nil {
		return nil, err
	}
	return g.scope(p, fullEvents)
}

// Policies returns the stored policy lines of tenant, in order.
func (a *Authorizer) Policies(ctx context.Context, tenant string) ([][]string, error) {
	if err := CheckTenant(tenant); err != nil {
		return nil, err
	}
	lines, err := a.adapter.LoadDomain(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("authz: policies of %s: %w", tenant, err)
	}
	return lines, nil
}

// SetPolicies validates lines (see ValidatePolicies) and replaces the
// tenant's whole policy with them, then applies it here and announces it
// to every replica. Invalid input returns ErrInvalidPolicy naming the line
// and changes nothing.
func (a *Authorizer) SetPolicies(ctx context.Context, tenant string, lines [][]string) error {
	if err := ValidatePolicies(tenant, lines); err != nil {
		return err
	}
	if err := a.adapter.ReplaceDomain(ctx, tenant, lines); err != nil {
		return err
	}
	a.changed(ctx, tenant)
	return nil
}

// EnsureDefaults stores DefaultPolicies for a tenant that has no policy
// lines yet (a new tenant) and reports whether it did.
func (a *Authorizer) EnsureDefaults(ctx context.Context, tenant string) (bool, error) {
	if err := CheckTenant(tenant); err != nil {
		return false, err
	}
	stored, err := a.adapter.InitDomain(ctx, tenant, DefaultPolicies(tenant))
	if err != nil {
		return false, err
	}
	if stored {
		a.changed(ctx, tenant)
	}
	return stored, nil
}

// DropTenant deletes every policy line of tenant (the tenant was deleted).
func (a *Authorizer) DropTenant(ctx context.Context, tenant string) error {
	if err := CheckTenant(tenant); err != nil {
		return err
	}
	if err := a.adapter.ReplaceDomain(ctx, tenant, nil); err != nil {
		return err
	}
	a.changed(ctx, tenant)
	a.mu.Lock()
	delete(a.tenants, tenant)
	a.mu.Unlock()
	return nil
}

// AssignRole makes role the only casbin role assigned to subject (a
// UserSubject or TokenSubject) in tenant, on top of the principal's stored
// role; an empty role removes the assignment. The role must exist in the
// tenant's policy.
func (a *Authorizer) AssignRole(ctx context.Context, tenant, subject, role string) error {
	if err := CheckTenant(tenant); err != nil {
		return err
	}
	if !isPrincipalSubject(subject) {
		return fmt.Errorf("%w: subject %q is not user:<id> or token:<id>", ErrInvalidPolicy, subject)
	}
	lines, err := a.Policies(ctx, tenant)
	if err != nil {
		return err
	}
	if role != "" {
		exists := false
		for _, l := range lines {
			if l[0] == "p" && len(l) > 1 && l[1] == role || l[0] == "g" && len(l) > 1 && l[1] == role {
				exists = true
				break
			}
		}
		if !exists {
			return fmt.Errorf("%w: role %q does not exist in %s", ErrInvalidPolicy, role, tenant)
		}
	}
	if err := a.adapter.RemoveFilteredPolicy("g", "g", 0, subject, "", tenant); err != nil {
		return fmt.Errorf("authz: unassign roles of %s: %w", subject, err)
	}
	if role != "" {
		if err := a.adapter.AddPolicy("g", "g", []string{subject, role, tenant}); err != nil {
			return fmt.Errorf("authz: assign role %s to %s: %w", role, subject, err)
		}
	}
	a.changed(ctx, tenant)
	return nil
}

// changed applies a stored change here, then announces it. A failed
// announcement is logged, not returned: the change is saved, and other
// replicas catch up on their bus resync or periodic reload.
func (a *Authorizer) changed(ctx context.Context, tenant string) {
	if _, _, err := a.reload(tenant); err != nil {
		a.log.Warn("policy reload after change failed", "tenant", tenant, "err", err)
	}
	a.notify(tenant)
	if err := a.bus.Publish(ctx, Message{Kind: KindPolicy, Tenant: tenant}); err != nil && !errors.Is(err, ErrBusClosed) {
		a.log.Warn("policy change not announced to other replicas", "tenant", tenant, "err", err)
	}
}
