package hub

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Registry counts each principal's open connections across the cluster so
// that the Hub can cap them. Implementations: MemoryRegistry (single node)
// and RedisRegistry. Methods are safe for concurrent use.
type Registry interface {
	// Acquire records connection conn (opened at created) of principal p
	// when p holds fewer than limit live connections. Otherwise, with
	// replace, it removes p's oldest connections to make room, records
	// conn and orders the removed ones closed (see Watch); without replace
	// it returns ErrConnLimit and records nothing. It returns the ids of
	// the removed connections so that the caller can close local ones at
	// once; every Watch of the cluster is told about them too.
	Acquire(ctx context.Context, t Tenant, p, conn string, created time.Time, limit int, replace bool) (evicted []string, err error)
	// Refresh keeps conns of p alive; entries not refreshed within the
	// registry's TTL are considered gone (their replica died).
	Refresh(ctx context.Context, t Tenant, p string, conns []ConnRef) error
	// Release forgets conn.
	Release(ctx context.Context, t Tenant, p, conn string, created time.Time) error
	// Watch calls fn with the id of every connection some replica ordered
	// closed, until ctx ends. fn must not block. The Hub runs one Watch.
	Watch(ctx context.Context, fn func(conn string)) error
}

// ConnRef names one registered connection.
type ConnRef struct {
	ID      string
	Created time.Time
}

var _ Registry = (*MemoryRegistry)(nil)

// MemoryRegistry is the single-node Registry.
type MemoryRegistry struct {
	mu       sync.Mutex // guards the fields below
	conns    map[principalKey][]ConnRef
	watchers map[int]func(string)
	nextW    int
}

type principalKey struct {
	t Tenant
	p string
}

// NewMemoryRegistry returns an empty MemoryRegistry.
func NewMemoryRegistry() *MemoryRegistry {
	return &MemoryRegistry{conns: make(map[principalKey][]ConnRef), watchers: make(map[int]func(string))}
}

// Acquire implements Registry.
func (r *MemoryRegistry) Acquire(ctx context.Context, t Tenant, p, conn string, created time.Time, limit int, replace bool) ([]string, error) {
	k := principalKey{t, p}
	r.mu.Lock()
	cs := r.conns[k]
	var evicted []string
	if len(cs) >= limit {
		if !replace {
			r.mu.Unlock()
			return nil, ErrConnLimit
		}
		sort.Slice(cs, func(i, j int) bool { return cs[i].Created.Before(cs[j].Created) })
		n := len(cs) - limit + 1
		for _, c := range cs[:n] {
			evicted = append(evicted, c.ID)
		}
		cs = append(cs[:0:0], cs[n:]...)
	}
	r.conns[k] = append(cs, ConnRef{ID: conn, Created: created})
	fns := make([]func(string), 0, len(r.watchers))
	for _, fn := range r.watchers {
		fns = append(fns, fn)
	}
	r.mu.Unlock()
	for _, id := range evicted {
		for _, fn := range fns {
			fn(id)
		}
	}
	return evicted, nil
}

// Refresh implements Registry; in one process entries never go stale.
func (r *MemoryRegistry) Refresh(ctx context.Context, t Tenant, p string, conns []ConnRef) error {
	return nil
}

// Release implements Registry.
func (r *MemoryRegistry) Release(ctx context.Context, t Tenant, p, conn string, created time.Time) error {
	k := principalKey{t, p}
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.conns[k]
	for i, c := range cs {
		if c.ID == conn {
			cs = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(r.conns, k)
	} else {
		r.conns[k] = cs
	}
	return nil
}

// Watch implements Registry.
func (r *MemoryRegistry) Watch(ctx context.Context, fn func(conn string)) error {
	r.mu.Lock()
	r.nextW++
	id := r.nextW
	r.watchers[id] = fn
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	delete(r.watchers, id)
	r.mu.Unlock()
	return nil
}
