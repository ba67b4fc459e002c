package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hookflash/hookflash/internal/testenv"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder collects messages delivered to a subscriber.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
}

func (r *recorder) handle(m Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *recorder) has(m Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.msgs {
		if x == m {
			return true
		}
	}
	return false
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// newRedisBuses returns n buses ("replicas") on one test channel, each with
// its own Redis client named name-i.
func newRedisBuses(t *testing.T, n int) []*RedisBus {
	t.Helper()
	return newRedisBusesWith(t, n, nil)
}

// newRedisBusesWith is newRedisBuses registering metrics with reg.
func newRedisBusesWith(t *testing.T, n int, reg prometheus.Registerer) []*RedisBus {
	t.Helper()
	_, prefix := testenv.Redis(t)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []*RedisBus
	for i := range n {
		o := *opt
		o.ClientName = fmt.Sprintf("%s-bus-%d", strings.ReplaceAll(prefix, ":", "-"), i)
		c := redis.NewClient(&o)
		b, err := NewRedisBus(context.Background(), RedisBusConfig{Client: c, Channel: prefix + ":authz", Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = b.Close()
			_ = c.Close()
		})
		out = append(out, b)
	}
	return out
}

func TestMemoryBus(t *testing.T) {
	t.Parallel()
	testBus(t, func(t *testing.T, n int) []Bus {
		b := NewMemoryBus()
		t.Cleanup(func() { _ = b.Close() })
		out := make([]Bus, n)
		for i := range out {
			out[i] = b
		}
		return out
	})
}

func TestRedisBus(t *testing.T) {
	t.Parallel()
	testBus(t, func(t *testing.T, n int) []Bus {
		var out []Bus
		for _, b := range newRedisBuses(t, n) {
			out = append(out, b)
		}
		return out
	})
}

// testBus is the conformance suite of Bus. newBuses returns n handles on
// one bus as seen from n replicas.
func testBus(t *testing.T, newBuses func(t *testing.T, n int) []Bus) {
	ctx := context.Background()

	t.Run("every replica gets every message within 1s", func(t *testing.T) {
		t.Parallel()
		buses := newBuses(t, 2)
		var recs [2]recorder
		for i, b := range buses {
			if _, err := b.Subscribe(recs[i].handle); err != nil {
				t.Fatal(err)
			}
		}
		msgs := []Message{
			{Kind: KindToken, Tenant: "a.example", ID: "tok1"},
			{Kind: KindSession, Tenant: "a.example", ID: "s1"},
			{Kind: KindUser, Tenant: "b.example", ID: "u1"},
			{Kind: KindPolicy, Tenant: "b.example"},
		}
		for _, m := range msgs {
			if err := buses[0].Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		for i := range recs {
			eventually(t, time.Second, fmt.Sprintf("replica %d got all messages", i), func() bool {
				for _, m := range msgs {
					if !recs[i].has(m) {
						return false
					}
				}
				return true
			})
		}
	})

	t.Run("cancel and bad messages", func(t *testing.T) {
		t.Parallel()
		buses := newBuses(t, 1)
		var kept, dropped recorder
		if _, err := buses[0].Subscribe(kept.handle); err != nil {
			t.Fatal(err)
		}
		cancel, err := buses[0].Subscribe(dropped.handle)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		cancel() // idempotent
		for _, bad := range []Message{{Kind: "nope"}, {Kind: KindResync}, {Kind: KindUser, ID: strings.Repeat("x", 2000)}} {
			if err := buses[0].Publish(ctx, bad); err == nil {
				t.Fatalf("Publish(%v) accepted", bad.Kind)
			}
		}
		m := Message{Kind: KindUser, Tenant: "a.example", ID: "u9"}
		if err := buses[0].Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Second, "kept subscriber got the message", func() bool { return kept.has(m) })
		if dropped.count() != 0 {
			t.Fatalf("cancelled subscriber got %d messages", dropped.count())
		}
	})

	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		buses := newBuses(t, 1)
		if err := buses[0].Close(); err != nil {
			t.Fatal(err)
		}
		if err := buses[0].Publish(ctx, Message{Kind: KindPolicy}); !errors.Is(err, ErrBusClosed) {
			t.Fatalf("Publish after Close: %v, want ErrBusClosed", err)
		}
		if _, err := buses[0].Subscribe(func(Message) {}); !errors.Is(err, ErrBusClosed) {
			t.Fatalf("Subscribe after Close: %v, want ErrBusClosed", err)
		}
	})

	t.Run("watcher across replicas", func(t *testing.T) {
		t.Parallel()
		buses := newBuses(t, 2)
		var mu sync.Mutex
		got := map[int][]string{}
		for i, b := range buses {
			w, err := NewWatcher(b)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			_ = w.SetUpdateCallback(func(dom string) {
				mu.Lock()
				got[i] = append(got[i], dom)
				mu.Unlock()
			})
		}
		w0, _ := NewWatcher(buses[0])
		defer w0.Close()
		var own atomic.Int32
		_ = w0.SetUpdateCallback(func(string) { own.Add(1) })
		if err := w0.UpdateForAddPolicy("p", "p", "agent", "a.example", "element/channel", "read"); err != nil {
			t.Fatal(err)
		}
		if err := w0.UpdateForRemoveFilteredPolicy("g", "g", 0, "user:1", "", "b.example"); err != nil {
			t.Fatal(err)
		}
		if err := w0.Update(); err != nil {
			t.Fatal(err)
		}
		want := []string{"a.example", "b.example", ""}
		for i := range buses {
			eventually(t, time.Second, fmt.Sprintf("watcher %d saw %v", i, want), func() bool {
				mu.Lock()
				defer mu.Unlock()
				return strings.Join(got[i], "|") == strings.Join(want, "|")
			})
		}
		if n := own.Load(); n != 0 {
			t.Fatalf("a watcher got %d of its own announcements", n)
		}
	})
}

// TestRedisBusResyncAfterReconnect kills the bus's own subscription
// connection and expects KindResync, then normal delivery again.
func TestRedisBusResyncAfterReconnect(t *testing.T) {
	t.Parallel()
	buses := newRedisBuses(t, 2)
	var rec recorder
	if _, err := buses[0].Subscribe(rec.handle); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, _ := testenv.Redis(t)
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	name := buses[0].client.(*redis.Client).Options().ClientName
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, " sub=1 ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed != 1 {
		t.Fatalf("found %d subscription connections named %s, want 1", killed, name)
	}
	eventually(t, 5*time.Second, "resync after the subscription was killed", func() bool {
		return rec.has(Message{Kind: KindResync})
	})
	m := Message{Kind: KindToken, Tenant: "a.example", ID: "t1"}
	if err := buses[1].Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "delivery after reconnect", func() bool { return rec.has(m) })
}
