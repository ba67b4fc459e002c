package hub

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/internal/testenv"
)

// testRegistry is the conformance suite of Registry implementations.
func testRegistry(t *testing.T, newReg func(t *testing.T) Registry) {
	ctx := context.Background()
	t0 := time.Now()
	t.Run("CapAndReplaceOldest", func(t *testing.T) {
		r := newReg(t)
		var mu sync.Mutex
		var told []string
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = r.Watch(wctx, func(id string) { mu.Lock(); told = append(told, id); mu.Unlock() })
		}()
		t.Cleanup(func() { cancel(); <-done })
		time.Sleep(100 * time.Millisecond) // the watch is subscribed
		for i, id := range []string{"c1", "c2"} {
			if _, err := r.Acquire(ctx, "acme", "u1", id, t0.Add(time.Duration(i)*time.Second), 2, false); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Acquire(ctx, "acme", "u1", "c3", t0.Add(3*time.Second), 2, false); !errors.Is(err, ErrConnLimit) {
			t.Fatalf("over the cap: %v", err)
		}
		if _, err := r.Acquire(ctx, "acme", "u2", "d1", t0, 2, false); err != nil {
			t.Fatalf("another principal: %v", err)
		}
		if _, err := r.Acquire(ctx, "globex", "u1", "e1", t0, 2, false); err != nil {
			t.Fatalf("same principal name, other tenant: %v", err)
		}
		ev, err := r.Acquire(ctx, "acme", "u1", "c4", t0.Add(4*time.Second), 2, true)
		if err != nil || len(ev) != 1 || ev[0] != "c1" {
			t.Fatalf("replace: evicted %v, %v; want [c1]", ev, err)
		}
		eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(told) == 1 && told[0] == "c1" },
			func() string { return "watch not told about c1" })
		if err := r.Release(ctx, "acme", "u1", "c2", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Acquire(ctx, "acme", "u1", "c5", t0.Add(5*time.Second), 2, false); err != nil {
			t.Fatalf("after release: %v", err)
		}
		ev, err = r.Acquire(ctx, "acme", "u1", "c6", t0.Add(6*time.Second), 1, true)
		sort.Strings(ev)
		if err != nil || len(ev) != 2 || ev[0] != "c4" || ev[1] != "c5" {
			t.Fatalf("replace down to a lower cap: %v, %v", ev, err)
		}
	})
}

func TestMemoryRegistry(t *testing.T) {
	testRegistry(t, func(t *testing.T) Registry { return NewMemoryRegistry() })
}

func TestRedisRegistry(t *testing.T) {
	testRegistry(t, func(t *testing.T) Registry {
		c, prefix := testenv.Redis(t)
		r, err := NewRedisRegistry(RedisRegistryConfig{Client: c, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

// Entries of a replica that stopped refreshing (it died) expire.
func TestRedisRegistryEntriesExpire(t *testing.T) {
	c, prefix := testenv.Redis(t)
	r, err := NewRedisRegistry(RedisRegistryConfig{Client: c, Prefix: prefix, TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	for _, id := range []string{"live", "dead"} {
		if _, err := r.Acquire(ctx, "acme", "u1", id, now, 3, false); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		time.Sleep(120 * time.Millisecond)
		if err := r.Refresh(ctx, "acme", "u1", []ConnRef{{ID: "live", Created: now}}); err != nil {
			t.Fatal(err)
		}
	}
	// "dead" expired; "live" was kept: one more fits under a cap of 2.
	if _, err := r.Acquire(ctx, "acme", "u1", "new", now, 2, false); err != nil {
		t.Fatalf("expired entry still counted: %v", err)
	}
	if _, err := r.Acquire(ctx, "acme", "u1", "more", now, 2, false); !errors.Is(err, ErrConnLimit) {
		t.Fatalf("refreshed entry was not counted: %v", err)
	}
}
