package pbxconn

import (
	"context"
	"time"
)

// LeaseID names the lease of one PBX of one tenant. The pair is the unit of
// ownership across replicas: at most one replica holds it at a time.
type LeaseID struct {
	Tenant string
	PBX    string
}

// String returns "tenant/pbx", for logs and rendezvous hashing.
func (id LeaseID) String() string { return id.Tenant + "/" + id.PBX }

// Coordinator is what the Supervisor needs from the cluster: a membership
// set of live replicas and one exclusive, expiring lease per PBX. It has two
// implementations that pass one conformance suite (lease_test.go):
// LocalCoordinator (one process, no Redis) and RedisCoordinator.
//
// Expiry is measured by the coordinator's clock (Redis' clock for
// RedisCoordinator), so replicas' clocks need not agree. Holder strings are
// opaque tokens; a lease is only ever renewed or released by the token that
// holds it. All methods are safe for concurrent use.
type Coordinator interface {
	// Heartbeat records member as live until ttl from now, joining the set
	// if it was absent.
	Heartbeat(ctx context.Context, member string, ttl time.Duration) error
	// Leave removes member from the set at once.
	Leave(ctx context.Context, member string) error
	// Members returns the members whose heartbeat has not expired, sorted.
	Members(ctx context.Context) ([]string, error)

	// Acquire takes lease id for holder for ttl when it is free, or extends
	// it when holder already holds it. ok is false when another holder has it.
	Acquire(ctx context.Context, id LeaseID, holder string, ttl time.Duration) (ok bool, err error)
	// Renew extends lease id to ttl from now only if holder holds it. ok is
	// false when the lease expired or belongs to someone else: it is lost.
	Renew(ctx context.Context, id LeaseID, holder string, ttl time.Duration) (ok bool, err error)
	// Release frees lease id if holder holds it; otherwise it does nothing.
	Release(ctx context.Context, id LeaseID, holder string) error
	// Holder returns the holder of lease id, or "" when it is free.
	Holder(ctx context.Context, id LeaseID) (string, error)
}
