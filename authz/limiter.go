package authz

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// LimiterConfig configures a LoginLimiter. Zero fields take the defaults.
type LimiterConfig struct {
	// IPAttempts login attempts per IPWindow are allowed from one client
	// address, whatever their outcome. Default 30 per minute.
	IPAttempts int
	IPWindow   time.Duration
	// UserFailures failed attempts per UserWindow are allowed for one login
	// name before it is held back. Default 5 per 5 minutes.
	UserFailures int
	UserWindow   time.Duration
	// MaxKeys bounds the addresses plus names MemoryLoginLimiter tracks.
	// When exceeded, keys whose budget is full again are dropped, then
	// arbitrary ones. Default 100,000. (Redis keys expire once full.)
	MaxKeys int
	// Now is the clock of MemoryLoginLimiter (tests). Default time.Now.
	// RedisLoginLimiter uses Redis's clock.
	Now func() time.Time
}

// LoginLimiter throttles password logins per client address and per login
// name with token buckets that refill continuously. Implementations:
// MemoryLoginLimiter (each replica counts its own attempts) and
// RedisLoginLimiter (shared by all replicas); both pass one conformance
// suite. Safe for concurrent use.
//
// Use: Allow before checking the password (429 with Retry-After when it
// refuses), Failed after a wrong password, Succeeded after a right one.
type LoginLimiter interface {
	// Allow reports whether a login attempt from ip for user (the tenant
	// and normalised name, e.g. domain + "/" + Login.Key()) may go ahead,
	// counting it against ip whatever its outcome. When it may not,
	// retryAfter (> 0) says when to try again.
	Allow(ctx context.Context, ip, user string) (retryAfter time.Duration, ok bool, err error)
	// Failed records a wrong password for user.
	Failed(ctx context.Context, user string) error
	// Succeeded forgets user's failures.
	Succeeded(ctx context.Context, user string) error
}

// MemoryLoginLimiter is the in-memory LoginLimiter.
type MemoryLoginLimiter struct {
	cfg LimiterConfig

	mu    sync.Mutex // guards the maps
	ips   map[string]*rate.Limiter
	users map[string]*rate.Limiter
}

var _ LoginLimiter = (*MemoryLoginLimiter)(nil)

func (cfg *LimiterConfig) fill() {
	if cfg.IPAttempts <= 0 {
		cfg.IPAttempts = 30
	}
	if cfg.IPWindow <= 0 {
		cfg.IPWindow = time.Minute
	}
	if cfg.UserFailures <= 0 {
		cfg.UserFailures = 5
	}
	if cfg.UserWindow <= 0 {
		cfg.UserWindow = 5 * time.Minute
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
}

// NewMemoryLoginLimiter returns an in-memory limiter.
func NewMemoryLoginLimiter(cfg LimiterConfig) *MemoryLoginLimiter {
	cfg.fill()
	return &MemoryLoginLimiter{cfg: cfg, ips: map[string]*rate.Limiter{}, users: map[string]*rate.Limiter{}}
}

// bucket returns the limiter of key in m, creating a full one.
func (l *MemoryLoginLimiter) bucket(m map[string]*rate.Limiter, key string, n int, window time.Duration, now time.Time) *rate.Limiter {
	b, ok := m[key]
	if !ok {
		if len(l.ips)+len(l.users) >= l.cfg.MaxKeys {
			l.evictLocked(now)
		}
		b = rate.NewLimiter(rate.Limit(float64(n)/window.Seconds()), n)
		m[key] = b
	}
	return b
}

// evictLocked drops full buckets, then arbitrary ones down to 3/4 of
// MaxKeys.
func (l *MemoryLoginLimiter) evictLocked(now time.Time) {
	for _, m := range []map[string]*rate.Limiter{l.ips, l.users} {
		for k, b := range m {
			if b.TokensAt(now) >= float64(b.Burst()) {
				delete(m, k)
			}
		}
	}
	target := l.cfg.MaxKeys * 3 / 4
	for _, m := range []map[string]*rate.Limiter{l.ips, l.users} {
		for k := range m {
			if len(l.ips)+len(l.users) <= target {
				return
			}
			delete(m, k)
		}
	}
}

// wait returns how long until b holds one token at now.
func wait(b *rate.Limiter, now time.Time) time.Duration {
	need := 1 - b.TokensAt(now)
	if need <= 0 {
		return 0
	}
	secs := need / float64(b.Limit())
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}

// Allow implements LoginLimiter; it never fails.
func (l *MemoryLoginLimiter) Allow(_ context.Context, ip, user string) (time.Duration, bool, error) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ub := l.bucket(l.users, user, l.cfg.UserFailures, l.cfg.UserWindow, now)
	ib := l.bucket(l.ips, ip, l.cfg.IPAttempts, l.cfg.IPWindow, now)
	userWait := wait(ub, now)
	if !ib.AllowN(now, 1) {
		return max(wait(ib, now), userWait), false, nil
	}
	if userWait > 0 {
		return userWait, false, nil
	}
	return 0, true, nil
}

// Failed implements LoginLimiter.
func (l *MemoryLoginLimiter) Failed(_ context.Context, user string) error {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket(l.users, user, l.cfg.UserFailures, l.cfg.UserWindow, now).AllowN(now, 1)
	return nil
}

// Succeeded implements LoginLimiter.
func (l *MemoryLoginLimiter) Succeeded(_ context.Context, user string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.users, user)
	return nil
}
