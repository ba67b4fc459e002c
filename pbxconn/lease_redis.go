package pbxconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCoordinator is the cluster Coordinator: membership is one sorted set
// (member → expiry in ms by the Redis clock) and each PBX lease is one string
// key holding the holder's token with a PX expiry. Every operation touches a
// single key, so it works on Redis Cluster as well as on a standalone server.
//
// Keys (built only by membersKey and leaseKey):
//
//	<prefix>members                     ZSET  member → expiry (ms)
//	<prefix>pbxlease:<tenant>/<pbx>      STRING holder token, PX ttl
type RedisCoordinator struct {
	rdb    redis.UniversalClient // set at construction, read-only after
	prefix string
}

var _ Coordinator = (*RedisCoordinator)(nil)

// NewRedisCoordinator returns a coordinator that keeps its keys under prefix
// (for example "hookflash:") in rdb. The caller owns rdb and closes it.
func NewRedisCoordinator(rdb redis.UniversalClient, prefix string) *RedisCoordinator {
	return &RedisCoordinator{rdb: rdb, prefix: prefix}
}

func (c *RedisCoordinator) leaseKey(id LeaseID) string {
	return c.prefix + "pbxlease:" + id.Tenant + "/" + id.PBX
}

// acquireScript takes the lease with SET NX PX, or extends it when the
// caller already holds it (a re-acquire after a release that did not reach
// Redis). KEYS[1] lease, ARGV[1] holder, ARGV[2] ttl ms. Returns 1 or 0.
var acquireScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// renewScript is compare-and-pexpire: only the holder extends its lease.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript is compare-and-delete: only the holder frees its lease.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Acquire implements Coordinator.
func (c *RedisCoordinator) Acquire(ctx context.Context, id LeaseID, holder string, ttl time.Duration) (bool, error) {
	n, err := acquireScript.Run(ctx, c.rdb, []string{c.leaseKey(id)}, holder, ttlMillis(ttl)).Int()
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", id, err)
	}
	return n == 1, nil
}

// Renew implements Coordinator.
func (c *RedisCoordinator) Renew(ctx context.Context, id LeaseID, holder string, ttl time.Duration) (bool, error) {
	n, err := renewScript.Run(ctx, c.rdb, []string{c.leaseKey(id)}, holder, ttlMillis(ttl)).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", id, err)
	}
	return n == 1, nil
}

// Release implements Coordinator.
func (c *RedisCoordinator) Release(ctx context.Context, id LeaseID, holder string) error {
	if err := releaseScript.Run(ctx, c.rdb, []string{c.leaseKey(id)}, holder).Err(); err != nil {
		return fmt.Errorf("release lease %s: %w", id, err)
	}
	return nil
}

// Holder implements Coordinator.
func (c *RedisCoordinator) Holder(ctx context.Context, id LeaseID) (string, error) {
	h, err := c.rdb.Get(ctx, c.leaseKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease holder %s: %w", id, err)
	}
	return h, nil
}

// ttlMillis rounds ttl to whole milliseconds, at least one.
func ttlMillis(ttl time.Duration) int64 {
	ms := ttl.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return ms
}
