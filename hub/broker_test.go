package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// brokerOpts are what a conformance test may ask of a new broker.
type brokerOpts struct {
	HistoryLen int
	HistoryAge time.Duration
}

// testBroker is the conformance suite every Broker passes.
func testBroker(t *testing.T, newBroker func(t *testing.T, o brokerOpts) Broker) {
	t.Run("SeqGapFreeUnderConcurrentPublishers", func(t *testing.T) {
		b := newBroker(t, brokerOpts{})
		ctx := context.Background()
		sub := subscribe(t, b, "acme")
		const workers, each = 8, 40
		var wg sync.WaitGroup
		seqs := make(chan uint64, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					ev := testEvent("acme", "channel", fmt.Sprintf("w%d-%d", w, i), OpAdded, nil)
					if err := b.Publish(ctx, ev); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
					seqs <- ev.Seq
				}
			}()
		}
		wg.Wait()
		close(seqs)
		var got []uint64
		for s := range seqs {
			got = append(got, s)
		}
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		for i, s := range got {
			if s != got[0]+uint64(i) {
				t.Fatalf("seq not gap-free at %d: %v", i, got)
			}
		}
		evs := sub.waitN(t, workers*each)
		assertContiguous(t, evs, got[0])
	})

	t.Run("StaleFenceRejected", func(t *testing.T) {
		b := newBroker(t, brokerOpts{})
		ctx := context.Background()
		f1, err := b.NextFence(ctx, "acme", "pbx1")
		if err != nil {
			t.Fatal(err)
		}
		f2, err := b.NextFence(ctx, "acme", "pbx1")
		if err != nil {
			t.Fatal(err)
		}
		if f2 <= f1 {
			t.Fatalf("fence not increasing: %d then %d", f1, f2)
		}
		ev := testEvent("acme", "channel", "a", OpAdded, nil)
		ev.PBX, ev.Fence = "pbx1", f1
		if err := b.Publish(ctx, ev); !errors.Is(err, ErrStaleFence) {
			t.Fatalf("stale fence: got %v, want ErrStaleFence", err)
		}
		ev.Fence = f2
		if err := b.Publish(ctx, ev); err != nil {
			t.Fatalf("current fence: %v", err)
		}
		other := testEvent("acme", "channel", "b", OpAdded, nil)
		other.PBX, other.Fence = "pbx2", f1 // another PBX has its own fence
		if err := b.Publish(ctx, other); err != nil {
			t.Fatalf("other pbx: %v", err)
		}
		s := snapshot(t, b, "acme")
		if len(s.Elements) != 2 {
			t.Fatalf("rejected event reached the state: %+v", s.Elements)
		}
	})

	t.Run("PublishBatchInOrderAndStopsAtStaleFence", func(t *testing.T) {
		b := newBroker(t, brokerOpts{})
		ctx := context.Background()
		c := subscribe(t, b, "acme")
		f1, err := b.NextFence(ctx, "acme", "pbx1")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := b.PublishBatch(ctx, nil); n != 0 || err != nil {
			t.Fatalf("empty batch: %d, %v", n, err)
		}
		var evs []*Event
		for i := 0; i < 50; i++ {
			op := OpAdded
			if i >= 40 {
				op = OpRemoved // the last ten remove keys 0..9
			}
			ev := testEvent("acme", "channel", fmt.Sprint(i%40), op, nil)
			ev.PBX, ev.Fence = "pbx1", f1
			evs = append(evs, ev)
		}
		if n, err := b.PublishBatch(ctx, evs); n != len(evs) || err != nil {
			t.Fatalf("batch: %d, %v", n, err)
		}
		for i, ev := range evs {
			if ev.Seq != evs[0].Seq+uint64(i) || ev.Epoch != evs[0].Epoch {
				t.Fatalf("event %d: %s:%d after %s:%d", i, ev.Epoch, ev.Seq, evs[0].Epoch, evs[0].Seq)
			}
		}
		got := c.waitN(t, len(evs))
		assertContiguous(t, got, evs[0].Seq)
		for i, ev := range got {
			if ev.Key != evs[i].Key || ev.Op != evs[i].Op {
				t.Fatalf("delivery %d is %s %s, want %s %s", i, ev.Op, ev.Key, evs[i].Op, evs[i].Key)
			}
		}
		if s := snapshot(t, b, "acme"); len(s.Elements) != 30 || s.Seq != evs[len(evs)-1].Seq {
			t.Fatalf("snapshot after batch: %d elements at seq %d", len(s.Elements), s.Seq)
		}
		// A newer fence makes the rest of an old owner's batch stale.
		f2, err := b.NextFence(ctx, "acme", "pbx1")
		if err != nil {
			t.Fatal(err)
		}
		fresh := testEvent("acme", "channel", "new", OpAdded, nil)
		fresh.PBX, fresh.Fence = "pbx1", f2
		stale := testEvent("acme", "channel", "old", OpAdded, nil)
		stale.PBX, stale.Fence = "pbx1", f1
		if n, err := b.PublishBatch(ctx, []*Event{fresh, stale}); n != 1 || !errors.Is(err, ErrStaleFence) {
			t.Fatalf("batch with a stale event: %d, %v; want 1, ErrStaleFence", n, err)
		}
		// An invalid event stops the batch before it; nothing after it is sent.
		ok := testEvent("acme", "channel", "ok", OpAdded, nil)
		ok.PBX, ok.Fence = "pbx1", f2
		after := testEvent("acme", "channel", "after", OpAdded, nil)
		after.PBX, after.Fence = "pbx1", f2
		if n, err := b.PublishBatch(ctx, []*Event{ok, {Tenant: "acme"}, after}); n != 1 || !errors.Is(err, ErrInvalidEvent) {
			t.Fatalf("batch with an invalid event: %d, %v; want 1, ErrInvalidEvent", n, err)
		}
		for _, e := range snapshot(t, b, "acme").Elements {
			if e.Key == "old" || e.Key == "after" {
				t.Fatalf("%s reached the state", e.Key)
			}
		}
	})

	t.Run("SnapshotThenSubscribeNoGapNoDup", func(t *testing.T) {
		b := newBroker(t, brokerOpts{})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var lastSeq sync.Map
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					op := OpAdded
					if i%3 == 2 {
						op = OpRemoved
					}
					ev := testEvent("acme", "channel", fmt.Sprintf("w%d-%d", w, i/3), op, map[string]any{"i": i})
					if err := b.Publish(context.Background(), ev); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
					lastSeq.Store(w, ev.Seq)
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		sub := subscribe(t, b, "acme")
		snap := snapshot(t, b, "acme")
		time.Sleep(50 * time.Millisecond)
		cancel()
		wg.Wait()
		var last uint64
		lastSeq.Range(func(_, v any) bool { last = max(last, v.(uint64)); return true })
		sub.waitSeq(t, last)
		// The subscriber has seen the last event, so a snapshot (from a
		// Redis broker's mirror) reflects it too.
		final := snapshot(t, b, "acme")
		if final.Seq != last {
			t.Fatalf("final snapshot at seq %d, last published %d", final.Seq, last)
		}
		evs := sub.events()
		// Apply the deltas after the snapshot to it: the result must equal
		// the final state, and the deltas must be contiguous.
		state := map[string]string{}
		for _, e := range snap.Elements {
			state[e.field()] = string(e.Data)
		}
		var after []Event
		for _, e := range evs {
			if e.Seq > snap.Seq {
				after = append(after, e)
			}
		}
		if len(after) == 0 {
			t.Fatal("no events after the snapshot; test did not exercise concurrency")
		}
		assertContiguous(t, after, snap.Seq+1)
		for _, e := range after {
			if e.Op == OpRemoved {
				delete(state, e.field())
			} else {
				state[e.field()] = string(e.Data)
			}
		}
		want := map[string]string{}
		for _, e := range final.Elements {
			want[e.field()] = string(e.Data)
		}
		if len(want) != len(state) {
			t.Fatalf("snapshot+deltas has %d elements, final snapshot %d", len(state), len(want))
		}
		for k, v := range want {
			if state[k] != v {
				t.Fatalf("element %q: snapshot+deltas %s, final %s", k, state[k], v)
			}
		}
	})

	t.Run("SinceBeyondHistory", func(t *testing.T) {
		b := newBroker(t, brokerOpts{HistoryLen: 20})
		ctx := context.Background()
		var first, last *Event
		for i := range 400 {
			ev := testEvent("acme", "user", fmt.Sprint(i%7), OpUpdated, map[string]any{"i": i})
			if err := b.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = ev
			}
			last = ev
		}
		if _, ok, err := b.Since(ctx, "acme", last.Epoch, first.Seq); err != nil || ok {
			t.Fatalf("since the first event: ok=%v err=%v, want ok=false", ok, err)
		}
		evs, ok, err := b.Since(ctx, "acme", last.Epoch, last.Seq-5)
		if err != nil || !ok || len(evs) != 5 {
			t.Fatalf("since the 5th last: ok=%v err=%v n=%d", ok, err, len(evs))
		}
		assertContiguous(t, evs, last.Seq-4)
		if string(evs[4].Data) != string(last.Data) || evs[4].Key != last.Key {
			t.Fatalf("replayed %+v, published %+v", evs[4], last)
		}
		if evs, ok, err := b.Since(ctx, "acme", last.Epoch, last.Seq); err != nil || !ok || len(evs) != 0 {
			t.Fatalf("since now: %v %v %v", evs, ok, err)
		}
		if _, ok, _ := b.Since(ctx, "acme", last.Epoch, last.Seq+1); ok {
			t.Fatal("since a future seq must not be ok")
		}
		if _, ok, _ := b.Since(ctx, "acme", "not-the-epoch", last.Seq-1); ok {
			t.Fatal("since with a foreign epoch must not be ok")
		}
	})

	t.Run("SinceBeyondHistoryAge", func(t *testing.T) {
		b := newBroker(t, brokerOpts{HistoryAge: 50 * time.Millisecond})
		ctx := context.Background()
		old := testEvent("acme", "user", "u", OpAdded, nil)
		if err := b.Publish(ctx, old); err != nil {
			t.Fatal(err)
		}
		time.Sleep(120 * time.Millisecond)
		ev := testEvent("acme", "user", "u", OpUpdated, nil)
		if err := b.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := b.Since(ctx, "acme", ev.Epoch, old.Seq-1); err != nil || ok {
			t.Fatalf("aged-out history: ok=%v err=%v", ok, err)
		}
		if evs, ok, err := b.Since(ctx, "acme", ev.Epoch, old.Seq); err != nil || !ok || len(evs) != 1 {
			t.Fatalf("recent history: ok=%v err=%v n=%d", ok, err, len(evs))
		}
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		b := newBroker(t, brokerOpts{})
		ctx := context.Background()
		subA := subscribe(t, b, "acme")
		subB := subscribe(t, b, "globex")
		for i := range 10 {
			tn := Tenant("acme")
			if i%2 == 1 {
				tn = "globex"
			}
			if err := b.Publish(ctx, testEvent(tn, "channel", fmt.Sprint(i), OpAdded, map[string]any{"tenant": tn})); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			sub *collector
			tn  Tenant
		}{{subA, "acme"}, {subB, "globex"}} {
			evs := c.sub.waitN(t, 5)
			assertContiguous(t, evs, evs[0].Seq)
			for _, e := range evs {
				if e.Tenant != c.tn || string(e.Data) != fmt.Sprintf(`{"tenant":%q}`, c.tn) {
					t.Fatalf("%s subscriber got %+v", c.tn, e)
				}
			}
			s := snapshot(t, b, c.tn)
			if len(s.Elements) != 5 {
				t.Fatalf("%s snapshot has %d elements, want 5", c.tn, len(s.Elements))
			}
		}
		time.Sleep(30 * time.Millisecond)
		if n := len(subA.events()); n != 5 {
			t.Fatalf("acme subscriber got %d events, want 5", n)
		}
	})

	t.Run("RemovedElementsLeaveSnapshot", func(t *testing.T) {
		b := newBroker(t, brokerOpts{})
		ctx := context.Background()
		for _, k := range []string{"a", "b", "c"} {
			if err := b.Publish(ctx, testEvent("acme", "channel", k, OpAdded, nil)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Publish(ctx, testEvent("acme", "user", "b", OpAdded, nil)); err != nil {
			t.Fatal(err)
		}
		rm := testEvent("acme", "channel", "b", OpRemoved, nil)
		if err := b.Publish(ctx, rm); err != nil {
			t.Fatal(err)
		}
		s := snapshot(t, b, "acme")
		var got []string
		for _, e := range s.Elements {
			got = append(got, e.Element+"/"+e.Key)
			if e.Op != OpAdded {
				t.Fatalf("snapshot element op %q", e.Op)
			}
		}
		want := "[channel/a channel/c user/b]"
		if fmt.Sprint(got) != want || s.Seq != rm.Seq || s.Epoch != rm.Epoch {
			t.Fatalf("snapshot %v at %s:%d, want %s at %s:%d", got, s.Epoch, s.Seq, want, rm.Epoch, rm.Seq)
		}
	})

	t.Run("InvalidEventsRejected", func(t *testing.T) {
		b := newBroker(t, brokerOpts{})
		ctx := context.Background()
		for name, ev := range map[string]*Event{
			"no tenant":  {Element: "channel", Key: "a", Op: OpAdded, Data: json.RawMessage(`{}`)},
			"no key":     {Tenant: "acme", Element: "channel", Op: OpAdded, Data: json.RawMessage(`{}`)},
			"bad op":     {Tenant: "acme", Element: "channel", Key: "a", Op: "exploded", Data: json.RawMessage(`{}`)},
			"bad json":   {Tenant: "acme", Element: "channel", Key: "a", Op: OpAdded, Data: json.RawMessage(`{"a":`)},
			"no element": {Tenant: "acme", Key: "a", Op: OpAdded, Data: json.RawMessage(`{}`)},
		} {
			if err := b.Publish(ctx, ev); !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("%s: got %v, want ErrInvalidEvent", name, err)
			}
		}
	})
}

func TestMemoryBroker(t *testing.T) {
	testBroker(t, func(t *testing.T, o brokerOpts) Broker {
		b := NewMemoryBroker(MemoryBrokerConfig{HistoryLen: o.HistoryLen, HistoryAge: o.HistoryAge})
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

func testEvent(tn Tenant, element, key string, op Op, data map[string]any) *Event {
	if data == nil {
		data = map[string]any{"id": key}
	}
	raw, _ := json.Marshal(data)
	return &Event{Tenant: tn, Element: element, Key: key, Op: op, Data: raw, TS: time.Now().UnixMicro()}
}

func snapshot(t *testing.T, b Broker, tn Tenant) *Snapshot {
	t.Helper()
	s, err := b.Snapshot(context.Background(), tn)
	if err != nil {
		t.Fatalf("snapshot %s: %v", tn, err)
	}
	return s
}

// collector records what a subscription handler receives.
type collector struct {
	mu   sync.Mutex
	evs  []Event
	errs []error // nil entries record "resumed"
}

func (c *collector) handle(ev *Event, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev != nil {
		c.evs = append(c.evs, *ev)
		return
	}
	c.errs = append(c.errs, err)
}

func (c *collector) events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.evs...)
}

func (c *collector) notices() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

func subscribe(t *testing.T, b Broker, tn Tenant) *collector {
	t.Helper()
	c := &collector{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stop, err := b.Subscribe(ctx, tn, c.handle)
	if err != nil {
		t.Fatalf("subscribe %s: %v", tn, err)
	}
	t.Cleanup(stop)
	return c
}

func (c *collector) waitN(t *testing.T, n int) []Event {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return len(c.events()) >= n },
		func() string { return fmt.Sprintf("got %d of %d events", len(c.events()), n) })
	return c.events()
}

func (c *collector) waitSeq(t *testing.T, seq uint64) []Event {
	t.Helper()
	eventually(t, 10*time.Second, func() bool {
		evs := c.events()
		return len(evs) > 0 && evs[len(evs)-1].Seq >= seq
	}, func() string { return fmt.Sprintf("never reached seq %d", seq) })
	return c.events()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func assertContiguous(t *testing.T, evs []Event, from uint64) {
	t.Helper()
	for i, e := range evs {
		if e.Seq != from+uint64(i) {
			seqs := make([]uint64, len(evs))
			for j := range evs {
				seqs[j] = evs[j].Seq
			}
			t.Fatalf("event %d has seq %d, want %d (gap or duplicate): %v", i, e.Seq, from+uint64(i), seqs)
		}
	}
}
