package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/redis/go-redis/v9"
)

func newTestRedisBroker(t *testing.T, client redis.UniversalClient, prefix string, o brokerOpts) *RedisBroker {
	t.Helper()
	b, err := NewRedisBroker(RedisBrokerConfig{Client: client, Prefix: prefix, HistoryLen: o.HistoryLen, HistoryAge: o.HistoryAge})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestRedisBroker(t *testing.T) {
	testBroker(t, func(t *testing.T, o brokerOpts) Broker {
		c, prefix := testenv.Redis(t)
		return newTestRedisBroker(t, c, prefix, o)
	})
}

// A second replica's broker sees what the first publishes, from its own
// subscription and mirror.
func TestRedisBrokerAcrossReplicas(t *testing.T) {
	c, prefix := testenv.Redis(t)
	b1 := newTestRedisBroker(t, c, prefix, brokerOpts{})
	b2 := newTestRedisBroker(t, c, prefix, brokerOpts{})
	ctx := context.Background()
	for i := range 3 {
		if err := b1.Publish(ctx, testEvent("acme", "user", fmt.Sprint(i), OpAdded, nil)); err != nil {
			t.Fatal(err)
		}
	}
	sub := subscribe(t, b2, "acme")
	s := snapshot(t, b2, "acme")
	if len(s.Elements) != 3 || s.Seq != 3 {
		t.Fatalf("replica 2 snapshot: seq %d, %d elements", s.Seq, len(s.Elements))
	}
	rm := testEvent("acme", "user", "1", OpRemoved, nil)
	if err := b1.Publish(ctx, rm); err != nil {
		t.Fatal(err)
	}
	evs := sub.waitN(t, 1)
	if evs[0].Seq != 4 || evs[0].Op != OpRemoved {
		t.Fatalf("replica 2 got %+v", evs[0])
	}
	if s := snapshot(t, b2, "acme"); len(s.Elements) != 2 || s.Seq != 4 {
		t.Fatalf("mirror after removal: seq %d, %d elements", s.Seq, len(s.Elements))
	}
}

// Killing the broker's pub/sub connection (as Redis does on an output
// buffer overflow) loses nothing: missed events come from the history.
func TestRedisBrokerRecoversKilledSubscription(t *testing.T) {
	base, prefix := testenv.Redis(t)
	opt := *base.Options()
	opt.ClientName = "hftest-" + strings.ReplaceAll(prefix, ":", "-")
	client := redis.NewClient(&opt)
	t.Cleanup(func() { _ = client.Close() })
	b := newTestRedisBroker(t, client, prefix, brokerOpts{})
	pub := newTestRedisBroker(t, base, prefix, brokerOpts{})
	ctx := context.Background()
	sub := subscribe(t, b, "acme")

	publishN := func(n int) {
		for i := range n {
			if err := pub.Publish(ctx, testEvent("acme", "channel", fmt.Sprint(i), OpUpdated, nil)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publishN(10)
	sub.waitN(t, 10)
	for round := range 3 {
		killPubSub(t, base, opt.ClientName)
		publishN(25) // some of these are published while the subscriber is gone
		evs := sub.waitN(t, 10+25*(round+1))
		assertContiguous(t, evs, 1)
	}
	var down int
	for _, err := range sub.notices() {
		if errors.Is(err, ErrGap) {
			t.Fatalf("history covered the outage, yet the subscriber got ErrGap")
		}
		if errors.Is(err, ErrBrokerDown) {
			down++
		}
	}
	if down == 0 {
		t.Fatal("subscriber was never told the subscription dropped")
	}
}

// killPubSub kills the pub/sub connections of the named client only, so
// parallel tests on the shared Redis are not disturbed.
func killPubSub(t *testing.T, c *redis.Client, name string) {
	t.Helper()
	ctx := context.Background()
	var killed int
	eventually(t, 5*time.Second, func() bool {
		list, err := c.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(list, "\n") {
			if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, " sub=") || strings.Contains(line, " sub=0 ") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if id, ok := strings.CutPrefix(f, "id="); ok {
					if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
						killed++
					}
				}
			}
		}
		return killed > 0
	}, func() string { return "no subscribed pub/sub connection named " + name })
}

// Events published while the subscriber's Redis connection was down for
// good are delivered once it is back (same Redis, persistent).
func TestRedisBrokerSurvivesRedisRestart(t *testing.T) {
	srv := startRedisServer(t, true)
	client := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	b := newTestRedisBroker(t, client, "hf", brokerOpts{})
	ctx := context.Background()
	sub := subscribe(t, b, "acme")
	for i := range 5 {
		if err := b.Publish(ctx, testEvent("acme", "channel", fmt.Sprint(i), OpAdded, nil)); err != nil {
			t.Fatal(err)
		}
	}
	sub.waitN(t, 5)
	srv.stop(t)
	eventually(t, 10*time.Second, func() bool { return hasNotice(sub, ErrBrokerDown) },
		func() string { return "subscriber not told that Redis went away" })
	if err := b.Publish(ctx, testEvent("acme", "channel", "x", OpAdded, nil)); err == nil {
		t.Fatal("publish succeeded with Redis down")
	}
	srv.start(t)
	// A second broker (another replica) publishes as soon as Redis is back.
	other := newTestRedisBroker(t, client, "hf", brokerOpts{})
	eventually(t, 10*time.Second, func() bool { return other.Ping(ctx) == nil }, func() string { return "redis did not come back" })
	for i := range 5 {
		if err := other.Publish(ctx, testEvent("acme", "channel", fmt.Sprint(i), OpUpdated, nil)); err != nil {
			t.Fatal(err)
		}
	}
	evs := sub.waitN(t, 10)
	assertContiguous(t, evs, 1)
	eventually(t, 10*time.Second, func() bool {
		n := sub.notices()
		return len(n) > 0 && n[len(n)-1] == nil
	}, func() string { return fmt.Sprintf("no resume notice: %v", sub.notices()) })
	if hasNotice(sub, ErrGap) {
		t.Fatal("persistent Redis came back, yet ErrGap")
	}
	if s := snapshot(t, b, "acme"); s.Seq != 10 || len(s.Elements) != 5 {
		t.Fatalf("mirror after restart: seq %d, %d elements", s.Seq, len(s.Elements))
	}
}

// A Redis that comes back empty gives the tenant a new epoch: subscribers
// are told ErrGap and then follow the new epoch.
func TestRedisBrokerNewEpochAfterDataLoss(t *testing.T) {
	srv := startRedisServer(t, false)
	client := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	b := newTestRedisBroker(t, client, "hf", brokerOpts{})
	ctx := context.Background()
	sub := subscribe(t, b, "acme")
	first := testEvent("acme", "channel", "a", OpAdded, nil)
	if err := b.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	sub.waitN(t, 1)
	srv.stop(t)
	srv.start(t)
	eventually(t, 10*time.Second, func() bool { return hasNotice(sub, ErrGap) },
		func() string { return fmt.Sprintf("subscriber not told about the lost history: %v", sub.notices()) })
	s := snapshot(t, b, "acme")
	if s.Epoch == first.Epoch || s.Seq != 0 || len(s.Elements) != 0 {
		t.Fatalf("after data loss: epoch %s (was %s) seq %d elements %d", s.Epoch, first.Epoch, s.Seq, len(s.Elements))
	}
	next := testEvent("acme", "channel", "b", OpAdded, nil)
	if err := b.Publish(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next.Epoch != s.Epoch || next.Seq != 1 {
		t.Fatalf("new epoch event %s:%d, snapshot epoch %s", next.Epoch, next.Seq, s.Epoch)
	}
	evs := sub.waitN(t, 2)
	if evs[1].Seq != 1 || evs[1].Epoch != s.Epoch {
		t.Fatalf("after resync got %+v", evs[1])
	}
	if _, ok, _ := b.Since(ctx, "acme", first.Epoch, 0); ok {
		t.Fatal("since in the lost epoch must not be ok")
	}
}

func hasNotice(c *collector, want error) bool {
	for _, err := range c.notices() {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

// After SCRIPT FLUSH (a Redis restart, a failover to a fresh replica) a
// pipelined batch meets NOSCRIPT: it loads the script and sends the batch
// again, every event published once.
func TestRedisBrokerPublishBatchReloadsScript(t *testing.T) {
	c, prefix := testenv.Redis(t)
	b := newTestRedisBroker(t, c, prefix, brokerOpts{})
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		var evs []*Event
		for i := range 5 {
			evs = append(evs, testEvent("acme", "user", fmt.Sprint(round, i), OpAdded, nil))
		}
		if n, err := b.PublishBatch(ctx, evs); n != 5 || err != nil {
			t.Fatalf("round %d: %d, %v", round, n, err)
		}
	}
	if s := snapshot(t, b, "acme"); len(s.Elements) != 10 || s.Seq != 10 {
		t.Fatalf("snapshot: %d elements at seq %d, want 10 at 10", len(s.Elements), s.Seq)
	}
}

// BenchmarkRedisPublish measures publishing one event at a time and in
// batches of 20 (a connector's burst), per event: the wall time and the
// Redis server's own time (from INFO commandstats, evalsha). Needs the
// test Redis (make test's, or HOOKFLASH_TEST_REDIS_URL).
func BenchmarkRedisPublish(b *testing.B) {
	for _, batch := range []int{1, 20} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			c, prefix := testenv.Redis(b)
			br, err := NewRedisBroker(RedisBrokerConfig{Client: c, Prefix: prefix})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = br.Close() })
			ctx := context.Background()
			fence, err := br.NextFence(ctx, "acme", "pbx1")
			if err != nil {
				b.Fatal(err)
			}
			data := map[string]any{"uuid": "pbx1:1796215089.42", "name": "PJSIP/1001-00000015", "calling_number": "+15550009016",
				"called_number": "1001", "direction": "inbound", "state": map[string]any{"name": "ringing", "ts": 1546839040035125}}
			evs := make([]*Event, batch)
			redisBefore := evalshaMicros(b, c)
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				for k := range evs {
					evs[k] = testEvent("acme", "channel", fmt.Sprint("pbx1:", k), OpUpdated, data)
					evs[k].PBX, evs[k].Fence = "pbx1", fence
				}
				if n, err := br.PublishBatch(ctx, evs); err != nil || n != batch {
					b.Fatalf("publish: %d, %v", n, err)
				}
			}
			b.StopTimer()
			events := float64((b.N + batch - 1) / batch * batch)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
			b.ReportMetric((evalshaMicros(b, c)-redisBefore)/events, "redis-µs/event")
			b.ReportMetric(0, "ns/op") // per event above; an op is not an event here
		})
	}
}

// evalshaMicros reads the Redis server's total EVALSHA time so far.
func evalshaMicros(b *testing.B, c *redis.Client) float64 {
	s, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "cmdstat_evalsha:") {
			continue
		}
		for _, f := range strings.Split(strings.TrimSpace(strings.TrimPrefix(line, "cmdstat_evalsha:")), ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
	}
	return 0
}
