package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLoginLimiter is a LoginLimiter whose buckets live in Redis, so all
// replicas share one budget per address and per name. Each bucket is a
// hash {t: tokens, ts: ms} updated by one Lua call on Redis's clock, and
// expires once it would be full again.
//
// Keys (built only by key below):
//
//	<prefix>login:ip:<address>
//	<prefix>login:user:<tenant/name>
//
// Components longer than 200 bytes are replaced by their SHA-256.
type RedisLoginLimiter struct {
	cfg    LimiterConfig
	client redis.UniversalClient
	prefix string
}

var _ LoginLimiter = (*RedisLoginLimiter)(nil)

// RedisLimiterConfig configures a RedisLoginLimiter.
type RedisLimiterConfig struct {
	LimiterConfig
	// Client is the Redis client; the caller owns it. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "hookflash:".
	Prefix string
}

// NewRedisLoginLimiter returns a limiter over cfg.Client.
func NewRedisLoginLimiter(cfg RedisLimiterConfig) (*RedisLoginLimiter, error) {
	if cfg.Client == nil {
		return nil, errors.New("authz: RedisLimiterConfig.Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "hookflash:"
	}
	cfg.fill()
	return &RedisLoginLimiter{cfg: cfg.LimiterConfig, client: cfg.Client, prefix: cfg.Prefix}, nil
}

func (l *RedisLoginLimiter) key(kind, id string) string {
	if len(id) > 200 {
		h := sha256.Sum256([]byte(id))
		id = "sha256:" + hex.EncodeToString(h[:])
	}
	return l.prefix + "login:" + kind + ":" + id
}

// bucketScript refills KEYS[1] to now, consumes one token when ARGV[3] is
// "1" and one is there, and returns the ms until a token is available (0
// when one was). ARGV: rate (tokens per ms), burst, consume.
var bucketScript = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens >= 1 then
  if ARGV[3] == '1' then
    tokens = tokens - 1
  end
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return wait
`)

func (l *RedisLoginLimiter) bucket(ctx context.Context, key string, n int, window time.Duration, consume bool) (time.Duration, error) {
	rate := float64(n) / float64(window.Milliseconds())
	c := "0"
	if consume {
		c = "1"
	}
	ms, err := bucketScript.Run(ctx, l.client, []string{key}, fmt.Sprintf("%.12g", rate), n, c).Int64()
	if err != nil {
		return 0, fmt.Errorf("authz: login limiter: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Allow implements LoginLimiter. A Redis failure returns an error; the
// caller decides whether to fail open or closed.
func (l *RedisLoginLimiter) Allow(ctx context.Context, ip, user string) (time.Duration, bool, error) {
	ipWait, err := l.bucket(ctx, l.key("ip", ip), l.cfg.IPAttempts, l.cfg.IPWindow, true)
	if err != nil {
		return 0, false, err
	}
	userWait, err := l.bucket(ctx, l.key("user", user), l.cfg.UserFailures, l.cfg.UserWindow, false)
	if err != nil {
		return 0, false, err
	}
	if w := max(ipWait, userWait); w > 0 {
		return w, false, nil
	}
	return 0, true, nil
}

// Failed implements LoginLimiter.
func (l *RedisLoginLimiter) Failed(ctx context.Context, user string) error {
	_, err := l.bucket(ctx, l.key("user", user), l.cfg.UserFailures, l.cfg.UserWindow, true)
	return err
}

// Succeeded implements LoginLimiter.
func (l *RedisLoginLimiter) Succeeded(ctx context.Context, user string) error {
	if err := l.client.Del(ctx, l.key("user", user)).Err(); err != nil {
		return fmt.Errorf("authz: login limiter: %w", err)
	}
	return nil
}
