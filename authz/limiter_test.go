package authz

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/internal/testenv"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemoryLoginLimiter(t *testing.T) {
	t.Parallel()
	testLoginLimiter(t, func(t *testing.T, cfg LimiterConfig) LoginLimiter { return NewMemoryLoginLimiter(cfg) })
}

func TestRedisLoginLimiter(t *testing.T) {
	t.Parallel()
	testLoginLimiter(t, func(t *testing.T, cfg LimiterConfig) LoginLimiter {
		c, prefix := testenv.Redis(t)
		l, err := NewRedisLoginLimiter(RedisLimiterConfig{LimiterConfig: cfg, Client: c, Prefix: prefix + ":"})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// testLoginLimiter is the conformance suite of LoginLimiter, on the real
// clock with windows long enough for a loaded machine.
func testLoginLimiter(t *testing.T, newLimiter func(t *testing.T, cfg LimiterConfig) LoginLimiter) {
	ctx := context.Background()
	allow := func(t *testing.T, l LoginLimiter, ip, user string) (time.Duration, bool) {
		t.Helper()
		d, ok, err := l.Allow(ctx, ip, user)
		if err != nil {
			t.Fatal(err)
		}
		return d, ok
	}

	t.Run("per user failures", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t, LimiterConfig{UserFailures: 3, UserWindow: 3 * time.Second})
		const user = "acme.example/user:alice"
		for i := range 3 {
			if _, ok := allow(t, l, "10.0.0.1", user); !ok {
				t.Fatalf("attempt %d refused", i+1)
			}
			if err := l.Failed(ctx, user); err != nil {
				t.Fatal(err)
			}
		}
		retry, ok := allow(t, l, "10.0.0.2", user) // another address does not help
		if ok || retry <= 0 || retry > time.Second+50*time.Millisecond {
			t.Fatalf("4th attempt: ok=%v retry=%v, want refused with 0 < retry ≤ 1 s", ok, retry)
		}
		if _, ok := allow(t, l, "10.0.0.2", "acme.example/user:bob"); !ok {
			t.Fatal("another user is held back")
		}
		time.Sleep(retry + 20*time.Millisecond)
		if _, ok := allow(t, l, "10.0.0.1", user); !ok {
			t.Fatal("refused after waiting Retry-After")
		}
		// Success forgets the failures.
		if err := l.Failed(ctx, user); err != nil {
			t.Fatal(err)
		}
		if err := l.Succeeded(ctx, user); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, ok := allow(t, l, fmt.Sprintf("10.0.1.%d", i), user); !ok {
				t.Fatal("refused after a successful login")
			}
		}
	})

	t.Run("per address attempts", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t, LimiterConfig{IPAttempts: 5, IPWindow: 5 * time.Second})
		for i := range 5 {
			// Every attempt from the address counts, whatever its outcome.
			if _, ok := allow(t, l, "192.0.2.7", fmt.Sprintf("acme.example/user:u%d", i)); !ok {
				t.Fatalf("attempt %d refused", i+1)
			}
		}
		retry, ok := allow(t, l, "192.0.2.7", "acme.example/user:z")
		if ok || retry <= 0 || retry > time.Second+50*time.Millisecond {
			t.Fatalf("6th attempt from one address: ok=%v retry=%v", ok, retry)
		}
		if _, ok := allow(t, l, "192.0.2.8", "acme.example/user:z"); !ok {
			t.Fatal("another address is held back")
		}
		time.Sleep(retry + 20*time.Millisecond)
		if _, ok := allow(t, l, "192.0.2.7", "acme.example/user:z"); !ok {
			t.Fatal("refused after Retry-After")
		}
	})
}

func TestMemoryLoginLimiterClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := NewMemoryLoginLimiter(LimiterConfig{Now: clk.Now}) // defaults: 5 failures / 5 min, 30 attempts / min
	const user = "acme.example/user:alice"
	for range 5 {
		_ = l.Failed(ctx, user)
	}
	retry, ok, _ := l.Allow(ctx, "10.0.0.1", user)
	if ok || retry != time.Minute {
		t.Fatalf("after 5 failures: ok=%v retry=%v, want refused for 1 min", ok, retry)
	}
	clk.Advance(time.Minute)
	if _, ok, _ := l.Allow(ctx, "10.0.0.1", user); !ok {
		t.Fatal("refused after a minute")
	}
	for i := range 29 {
		if _, ok, _ := l.Allow(ctx, "10.0.0.1", fmt.Sprint("acme.example/user:", i)); !ok {
			t.Fatalf("attempt %d from one address refused", i+2)
		}
	}
	if retry, ok, _ := l.Allow(ctx, "10.0.0.1", "acme.example/user:x"); ok || retry != 2*time.Second {
		t.Fatalf("31st attempt a minute: ok=%v retry=%v, want refused for 2 s", ok, retry)
	}
}

func TestMemoryLoginLimiterBoundedKeys(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := NewMemoryLoginLimiter(LimiterConfig{MaxKeys: 100, Now: clk.Now})
	for i := range 1000 {
		_, _, _ = l.Allow(context.Background(), fmt.Sprint("198.51.100.", i), "u")
	}
	l.mu.Lock()
	n := len(l.ips) + len(l.users)
	l.mu.Unlock()
	if n > 100 {
		t.Fatalf("%d keys tracked, cap 100", n)
	}
}
