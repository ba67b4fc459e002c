package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Registry = (*RedisRegistry)(nil)

// RedisRegistryConfig configures a RedisRegistry.
type RedisRegistryConfig struct {
	// Client is the Redis client. Required; not closed by the registry.
	Client redis.UniversalClient
	// Prefix starts every key and channel (default "hf"); use the broker's.
	Prefix string
	// TTL is how long an entry lives without Refresh (default 60s). The Hub
	// refreshes its connections every TTL/3.
	TTL time.Duration
	// Log receives watch trouble (default: discard).
	Log *slog.Logger
}

// RedisRegistry keeps one sorted set per principal, members
// "<created ms>:<conn id>" scored by expiry time, and orders evicted
// connections closed on a pub/sub channel every replica's Hub watches.
type RedisRegistry struct {
	cfg  RedisRegistryConfig
	keys keys
}

// NewRedisRegistry returns a RedisRegistry.
func NewRedisRegistry(cfg RedisRegistryConfig) (*RedisRegistry, error) {
	if cfg.Client == nil {
		return nil, errors.New("hub: redis registry needs a client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "hf"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &RedisRegistry{cfg: cfg, keys: keys{prefix: cfg.Prefix}}, nil
}

// TTL is the entry lifetime the Hub refreshes against.
func (r *RedisRegistry) TTL() time.Duration { return r.cfg.TTL }

func connMember(conn string, created time.Time) string {
	return fmt.Sprintf("%015d:%s", created.UnixMilli(), conn)
}

// acquireScript: KEYS 1 the principal's set. ARGV 1 now ms, 2 ttl ms,
// 3 member, 4 limit, 5 replace (1/0), 6 eviction channel.
// Returns {1, {evicted members}} or {0} when over the limit.
var acquireScript = redis.NewScript(`
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[4])
local evicted = {}
if n >= limit then
  if ARGV[5] ~= '1' then return {0} end
  local all = redis.call('ZRANGE', KEYS[1], 0, -1)
  table.sort(all)
  for i = 1, n - limit + 1 do
    evicted[#evicted + 1] = all[i]
    redis.call('ZREM', KEYS[1], all[i])
    redis.call('PUBLISH', ARGV[6], string.sub(all[i], 17))
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, evicted}
`)

// Acquire implements Registry.
func (r *RedisRegistry) Acquire(ctx context.Context, t Tenant, p, conn string, created time.Time, limit int, replace bool) ([]string, error) {
	rep := "0"
	if replace {
		rep = "1"
	}
	res, err := acquireScript.Run(ctx, r.cfg.Client, []string{r.keys.conns(t, p)},
		time.Now().UnixMilli(), r.cfg.TTL.Milliseconds(), connMember(conn, created), limit, rep, r.keys.evictions()).Slice()
	if err != nil {
		return nil, fmt.Errorf("hub: acquire connection slot: %w", err)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		return nil, ErrConnLimit
	}
	var evicted []string
	if len(res) > 1 {
		ms, _ := res[1].([]any)
		for _, m := range ms {
			s, _ := m.(string)
			if _, id, ok := strings.Cut(s, ":"); ok {
				evicted = append(evicted, id)
			}
		}
	}
	return evicted, nil
}

// Refresh implements Registry (ZADD XX: released entries stay released).
func (r *RedisRegistry) Refresh(ctx context.Context, t Tenant, p string, conns []ConnRef) error {
	if len(conns) == 0 {
		return nil
	}
	exp := float64(time.Now().Add(r.cfg.TTL).UnixMilli())
	zs := make([]redis.Z, len(conns))
	for i, c := range conns {
		zs[i] = redis.Z{Score: exp, Member: connMember(c.ID, c.Created)}
	}
	k := r.keys.conns(t, p)
	pipe := r.cfg.Client.Pipeline()
	pipe.ZAddXX(ctx, k, zs...)
	pipe.PExpire(ctx, k, r.cfg.TTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("hub: refresh connections: %w", err)
	}
	return nil
}

// Release implements Registry.
func (r *RedisRegistry) Release(ctx context.Context, t Tenant, p, conn string, created time.Time) error {
	if err := r.cfg.Client.ZRem(ctx, r.keys.conns(t, p), connMember(conn, created)).Err(); err != nil {
		return fmt.Errorf("hub: release connection slot: %w", err)
	}
	return nil
}

// Watch implements Registry with its own pub/sub connection; it resubscribes
// after connection trouble (orders sent meanwhile are lost; the evicted
// entries are gone from the set either way, so caps still hold).
func (r *RedisRegistry) Watch(ctx context.Context, fn func(conn string)) error {
	ps := r.cfg.Client.Subscribe(ctx, r.keys.evictions())
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.cfg.Log.Warn("hub: connection eviction watch", "err", err)
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		if m, ok := msg.(*redis.Message); ok {
			fn(m.Payload)
		}
	}
}
