package pbxconn

import (
	"context"
	"slices"
	"sync"
	"time"
)

// LocalCoordinator is the single-node Coordinator: membership and leases
// live in this process's memory, so a Supervisor using it (alone) owns every
// PBX without Redis. Several Supervisors sharing one LocalCoordinator get
// the same exclusivity guarantees as with Redis, which the tests use.
// The zero value is not usable; call NewLocalCoordinator.
type LocalCoordinator struct {
	now func() time.Time // set at construction, read-only after

	mu      sync.Mutex           // guards the fields below
	members map[string]time.Time // member → expiry
	leases  map[LeaseID]localLease
}

type localLease struct {
	holder  string
	expires time.Time
}

var _ Coordinator = (*LocalCoordinator)(nil)

// NewLocalCoordinator returns an empty in-memory coordinator.
func NewLocalCoordinator() *LocalCoordinator {
	return &LocalCoordinator{
		now:     time.Now,
		members: make(map[string]time.Time),
		leases:  make(map[LeaseID]localLease),
	}
}

// Heartbeat implements Coordinator.
func (c *LocalCoordinator) Heartbeat(ctx context.Context, member string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members[member] = c.now().Add(ttl)
	return nil
}

// Leave implements Coordinator.
func (c *LocalCoordinator) Leave(ctx context.Context, member string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.members, member)
	return nil
}

// Members implements Coordinator.
func (c *LocalCoordinator) Members(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make([]string, 0, len(c.members))
	for m, exp := range c.members {
		if exp.After(now) {
			out = append(out, m)
		} else {
			delete(c.members, m)
		}
	}
	// Members is called on every supervisor tick: sweep dead leases here so
	// leases of deleted PBXes do not accumulate.
	for id, l := range c.leases {
		if !l.expires.After(now) {
			delete(c.leases, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Acquire implements Coordinator.
func (c *LocalCoordinator) Acquire(ctx context.Context, id LeaseID, holder string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	l, ok := c.leases[id]
	if ok && l.expires.After(now) && l.holder != holder {
		return false, nil
	}
	c.leases[id] = localLease{holder: holder, expires: now.Add(ttl)}
	return true, nil
}

// Renew implements Coordinator.
func (c *LocalCoordinator) Renew(ctx context.Context, id LeaseID, holder string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	l, ok := c.leases[id]
	if !ok || !l.expires.After(now) || l.holder != holder {
		return false, nil
	}
	c.leases[id] = localLease{holder: holder, expires: now.Add(ttl)}
	return true, nil
}

// Release implements Coordinator.
func (c *LocalCoordinator) Release(ctx context.Context, id LeaseID, holder string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.leases[id]; ok && l.holder == holder {
		delete(c.leases, id)
	}
	return nil
}

// Holder implements Coordinator.
func (c *LocalCoordinator) Holder(ctx context.Context, id LeaseID) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.leases[id]; ok && l.expires.After(c.now()) {
		return l.holder, nil
	}
	return "", nil
}
