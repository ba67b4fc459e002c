package authz

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisSessionStore keeps sessions in Redis.
//
// Keys (built only by the two key functions below):
//
//	<prefix>sess:<sha256(token) hex>            the session (JSON), TTL = idle timeout
//	<prefix>sess:user:{<tenant>}:<user id>      set of the user's session hashes
//
// A session key carries no tenant: a token arrives before its tenant is
// known, so the token hash is the global index. Sliding expiry is GETEX …
// PX: one round trip per Get/Touch.
type RedisSessionStore struct {
	cfg    SessionConfig
	client redis.UniversalClient
	prefix string
}

var _ SessionStore = (*RedisSessionStore)(nil)

// RedisSessionConfig configures a RedisSessionStore.
type RedisSessionConfig struct {
	SessionConfig
	// Client is the Redis client; the caller owns it. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "hookflash:".
	Prefix string
}

// NewRedisSessionStore returns a store over cfg.Client.
func NewRedisSessionStore(cfg RedisSessionConfig) (*RedisSessionStore, error) {
	if cfg.Client == nil {
		return nil, errors.New("authz: RedisSessionConfig.Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "hookflash:"
	}
	cfg.fill()
	return &RedisSessionStore{cfg: cfg.SessionConfig, client: cfg.Client, prefix: cfg.Prefix}, nil
}

func (r *RedisSessionStore) sessionKey(hash string) string { return r.prefix + "sess:" + hash }

func (r *RedisSessionStore) userKey(tenant, userID string) string {
	return r.prefix + "sess:user:{" + tenant + "}:" + userID
}

// storedSession is the JSON value of a session key.
type storedSession struct {
	Tenant  string `json:"t"`
	UserID  string `json:"u"`
	Role    string `json:"r"`
	Created int64  `json:"c"` // Unix ms
}

// Create starts a session.
func (r *RedisSessionStore) Create(ctx context.Context, tenant, userID, role string) (string, *Session, error) {
	if err := checkSessionArgs(tenant, userID); err != nil {
		return "", nil, err
	}
	token, err := newToken(SessionTokenPrefix)
	if err != nil {
		return "", nil, err
	}
	now := time.UnixMilli(time.Now().UnixMilli()) // the stored precision
	val, err := json.Marshal(storedSession{Tenant: tenant, UserID: userID, Role: role, Created: now.UnixMilli()})
	if err != nil {
		return "", nil, wrapRedis("encode", err)
	}
	h := sessionHash(token)
	ttl := min(r.cfg.IdleTimeout, r.cfg.MaxLifetime)
	uk := r.userKey(tenant, userID)
	// Index first, then the session: a session is never missing from its
	// user's index (DeleteUser must find it); a stale index entry is
	// harmless. The two keys live in different cluster slots, so this is
	// two round trips rather than one MULTI.
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, uk, h)
		p.PExpire(ctx, uk, r.cfg.MaxLifetime)
		return nil
	})
	if err != nil {
		return "", nil, wrapRedis("index", err)
	}
	if err := r.client.Set(ctx, r.sessionKey(h), val, ttl).Err(); err != nil {
		return "", nil, wrapRedis("create", err)
	}
	s := &Session{ID: SessionID(token), Tenant: tenant, UserID: userID, Role: role,
		CreatedAt: now, ExpiresAt: expiry(now, now, r.cfg.IdleTimeout, r.cfg.MaxLifetime)}
	return token, s, nil
}

// Get returns the session and slides its expiry.
func (r *RedisSessionStore) Get(ctx context.Context, token string) (*Session, error) {
	if err := checkSessionToken(token); err != nil {
		return nil, err
	}
	h := sessionHash(token)
	key := r.sessionKey(h)
	raw, err := r.client.GetEx(ctx, key, r.cfg.IdleTimeout).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, wrapRedis("get", err)
	}
	var st storedSession
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, wrapRedis("decode", err)
	}
	created := time.UnixMilli(st.Created)
	now := time.Now()
	end := created.Add(r.cfg.MaxLifetime)
	if !now.Before(end) {
		_ = r.client.Del(ctx, key).Err()
		return nil, ErrSessionNotFound
	}
	if left := end.Sub(now); left < r.cfg.IdleTimeout {
		// Never let the key outlive the maximum lifetime.
		_ = r.client.PExpire(ctx, key, left).Err()
	}
	return &Session{ID: SessionID(token), Tenant: st.Tenant, UserID: st.UserID, Role: st.Role, CreatedAt: created,
		ExpiresAt: expiry(created, now, r.cfg.IdleTimeout, r.cfg.MaxLifetime)}, nil
}

// Touch slides the expiry.
func (r *RedisSessionStore) Touch(ctx context.Context, token string) error {
	_, err := r.Get(ctx, token)
	return err
}

// Delete ends one session.
func (r *RedisSessionStore) Delete(ctx context.Context, token string) error {
	if checkSessionToken(token) != nil {
		return nil
	}
	h := sessionHash(token)
	key := r.sessionKey(h)
	raw, err := r.client.GetDel(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return wrapRedis("delete", err)
	}
	var st storedSession
	if json.Unmarshal(raw, &st) == nil && st.Tenant != "" {
		if err := r.client.SRem(ctx, r.userKey(st.Tenant, st.UserID), h).Err(); err != nil {
			return wrapRedis("delete index", err)
		}
	}
	return nil
}

// DeleteUser ends every session of a user.
func (r *RedisSessionStore) DeleteUser(ctx context.Context, tenant, userID string) ([]string, error) {
	if err := checkSessionArgs(tenant, userID); err != nil {
		return nil, err
	}
	uk := r.userKey(tenant, userID)
	hashes, err := r.client.SMembers(ctx, uk).Result()
	if err != nil {
		return nil, wrapRedis("list user sessions", err)
	}
	var ids []string
	for _, h := range hashes {
		n, err := r.client.Del(ctx, r.sessionKey(h)).Result()
		if err != nil {
			return ids, wrapRedis("delete", err)
		}
		if n == 1 && len(h) >= 32 {
			ids = append(ids, h[:32])
		}
		if err := r.client.SRem(ctx, uk, h).Err(); err != nil {
			return ids, wrapRedis("delete index", err)
		}
	}
	return ids, nil
}
