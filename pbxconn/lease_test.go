package pbxconn

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/internal/testenv"
)

func TestLocalCoordinator(t *testing.T) {
	testCoordinator(t, func(t *testing.T) Coordinator { return NewLocalCoordinator() })
}

func TestRedisCoordinator(t *testing.T) {
	testCoordinator(t, func(t *testing.T) Coordinator {
		rdb, prefix := testenv.Redis(t)
		return NewRedisCoordinator(rdb, prefix+":")
	})
}

// testCoordinator is the conformance suite every Coordinator passes.
func testCoordinator(t *testing.T, newCoord func(t *testing.T) Coordinator) {
	ctx := context.Background()
	// Long enough that a loaded CI machine does not expire leases between
	// renewals, short enough to wait out.
	const ttl = time.Second
	id := LeaseID{Tenant: "acme.example.com", PBX: "pbx-1"}

	t.Run("acquire is exclusive", func(t *testing.T) {
		c := newCoord(t)
		mustAcquire(t, c, id, "a", ttl, true)
		mustAcquire(t, c, id, "b", ttl, false)
		// The holder may acquire again (it extends).
		mustAcquire(t, c, id, "a", ttl, true)
		// Another PBX, or the same PBX id in another tenant, is independent.
		mustAcquire(t, c, LeaseID{Tenant: "acme.example.com", PBX: "pbx-2"}, "b", ttl, true)
		mustAcquire(t, c, LeaseID{Tenant: "other.example.com", PBX: "pbx-1"}, "b", ttl, true)
	})

	t.Run("only the holder renews", func(t *testing.T) {
		c := newCoord(t)
		mustAcquire(t, c, id, "a", ttl, true)
		if ok, err := c.Renew(ctx, id, "b", ttl); err != nil || ok {
			t.Fatalf("renew by non-holder: ok=%v err=%v, want false, nil", ok, err)
		}
		for range 4 { // renewing keeps it alive past its first ttl
			time.Sleep(ttl / 3)
			if ok, err := c.Renew(ctx, id, "a", ttl); err != nil || !ok {
				t.Fatalf("renew by holder: ok=%v err=%v", ok, err)
			}
		}
		mustAcquire(t, c, id, "b", ttl, false)
	})

	t.Run("expires without renew", func(t *testing.T) {
		c := newCoord(t)
		mustAcquire(t, c, id, "a", ttl, true)
		time.Sleep(ttl + 200*time.Millisecond)
		if ok, err := c.Renew(ctx, id, "a", ttl); err != nil || ok {
			t.Fatalf("renew after expiry: ok=%v err=%v, want false, nil", ok, err)
		}
		mustHolder(t, c, id, "")
		mustAcquire(t, c, id, "b", ttl, true)
		mustHolder(t, c, LeaseID{Tenant: "x", PBX: "never-held"}, "")
	})

	t.Run("only the holder releases", func(t *testing.T) {
		c := newCoord(t)
		mustAcquire(t, c, id, "a", ttl, true)
		if err := c.Release(ctx, id, "b"); err != nil {
			t.Fatalf("release by non-holder: %v", err)
		}
		mustAcquire(t, c, id, "b", ttl, false)
		if err := c.Release(ctx, id, "a"); err != nil {
			t.Fatalf("release: %v", err)
		}
		mustAcquire(t, c, id, "b", ttl, true)
		if ok, err := c.Renew(ctx, id, "a", ttl); err != nil || ok {
			t.Fatalf("renew after release: ok=%v err=%v, want false, nil", ok, err)
		}
		mustHolder(t, c, id, "b")
		if err := c.Release(ctx, id, "b"); err != nil {
			t.Fatalf("release: %v", err)
		}
		mustHolder(t, c, id, "")
		if err := c.Release(ctx, LeaseID{Tenant: "x", PBX: "never-held"}, "a"); err != nil {
			t.Fatalf("release of a free lease: %v", err)
		}
	})

	t.Run("racing acquirers get one winner", func(t *testing.T) {
		c := newCoord(t)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
		)
		for i := range 16 {
			wg.Go(func() {
				holder := fmt.Sprint("h", i)
				ok, err := c.Acquire(ctx, id, holder, ttl)
				if err != nil {
					t.Errorf("acquire: %v", err)
				}
				if ok {
					mu.Lock()
					winners = append(winners, holder)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("winners %v, want exactly one", winners)
		}
	})

	t.Run("membership", func(t *testing.T) {
		c := newCoord(t)
		mustMembers(t, c)
		for _, m := range []string{"r2", "r1", "r3"} {
			if err := c.Heartbeat(ctx, m, ttl); err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
		}
		mustMembers(t, c, "r1", "r2", "r3")
		if err := c.Leave(ctx, "r2"); err != nil {
			t.Fatalf("leave: %v", err)
		}
		mustMembers(t, c, "r1", "r3")
		// r1 keeps heartbeating, r3 stops: r3 expires.
		deadline := time.Now().Add(ttl + 200*time.Millisecond)
		for time.Now().Before(deadline) {
			if err := c.Heartbeat(ctx, "r1", ttl); err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			time.Sleep(ttl / 5)
		}
		mustMembers(t, c, "r1")
		if err := c.Leave(ctx, "never-joined"); err != nil {
			t.Fatalf("leave of a non-member: %v", err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		c := newCoord(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.Acquire(cctx, id, "a", ttl); err == nil {
			t.Fatal("acquire with a cancelled context succeeded")
		}
		if err := c.Heartbeat(cctx, "a", ttl); err == nil {
			t.Fatal("heartbeat with a cancelled context succeeded")
		}
	})
}

func mustAcquire(t *testing.T, c Coordinator, id LeaseID, holder string, ttl time.Duration, want bool) {
	t.Helper()
	ok, err := c.Acquire(context.Background(), id, holder, ttl)
	if err != nil {
		t.Fatalf("acquire %s by %s: %v", id, holder, err)
	}
	if ok != want {
		t.Fatalf("acquire %s by %s: ok=%v, want %v", id, holder, ok, want)
	}
}

func mustHolder(t *testing.T, c Coordinator, id LeaseID, want string) {
	t.Helper()
	got, err := c.Holder(context.Background(), id)
	if err != nil {
		t.Fatalf("holder of %s: %v", id, err)
	}
	if got != want {
		t.Fatalf("holder of %s is %q, want %q", id, got, want)
	}
}

func mustMembers(t *testing.T, c Coordinator, want ...string) {
	t.Helper()
	got, err := c.Members(context.Background())
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
}
