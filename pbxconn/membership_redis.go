package pbxconn

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

func (c *RedisCoordinator) membersKey() string { return c.prefix + "members" }

// heartbeatScript records a member's expiry by the Redis clock, so replicas'
// clocks never matter, and drops expired members. The set itself expires
// when nobody heartbeats any more. KEYS[1] members, ARGV[1] member,
// ARGV[2] ttl ms.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl * 4)
return 1
`)

// membersScript returns the members whose expiry is still ahead, by the
// Redis clock. KEYS[1] members.
var membersScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`)

// Heartbeat implements Coordinator.
func (c *RedisCoordinator) Heartbeat(ctx context.Context, member string, ttl time.Duration) error {
	if err := heartbeatScript.Run(ctx, c.rdb, []string{c.membersKey()}, member, ttlMillis(ttl)).Err(); err != nil {
		return fmt.Errorf("heartbeat %s: %w", member, err)
	}
	return nil
}

// Leave implements Coordinator.
func (c *RedisCoordinator) Leave(ctx context.Context, member string) error {
	if err := c.rdb.ZRem(ctx, c.membersKey(), member).Err(); err != nil {
		return fmt.Errorf("leave %s: %w", member, err)
	}
	return nil
}

// Members implements Coordinator. The result is sorted.
func (c *RedisCoordinator) Members(ctx context.Context) ([]string, error) {
	ms, err := membersScript.Run(ctx, c.rdb, []string{c.membersKey()}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	slices.Sort(ms)
	return ms, nil
}
