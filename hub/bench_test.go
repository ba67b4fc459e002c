package hub

import (
	"fmt"
	"testing"
)

// benchSessions builds n live sessions (no sockets: the benchmark measures
// the fan-out into their queues) on a hub tenant.
func benchSessions(b *testing.B, n int, filter func(i int) Filter) (*hubTenant, []*Session) {
	h, err := NewHub(Config{Broker: NewMemoryBroker(MemoryBrokerConfig{}), SendQueueBytes: 1 << 30,
		Mask: func(_ Tenant, _ string, d []byte) []byte { return d }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Shutdown(b.Context()) })
	ht := &hubTenant{hub: h, t: "acme", ready: make(chan struct{})}
	ht.sessions.Store(&[]*Session{})
	ss := make([]*Session, n)
	for i := range ss {
		s := newSession(h, nil, SessionOptions{Tenant: "acme", Filter: filter(i)})
		s.ready, s.epoch = true, "e"
		ss[i] = s
		ht.add(s)
	}
	return ht, ss
}

func drain(ss []*Session) {
	for _, s := range ss {
		s.mu.Lock()
		clear(s.queue)
		s.queue, s.queued = s.queue[:0], 0
		s.mu.Unlock()
	}
}

func benchFanout(b *testing.B, filter func(i int) Filter, audience []string) {
	ht, ss := benchSessions(b, 1000, filter)
	ev := testEvent("acme", "channel", "c1", OpUpdated, map[string]any{
		"uuid": "5714495a-b8a1-4fff-8420-78648863ecd1", "direction": "inbound", "calling_number": "0312341234",
		"called_number": "10001111", "state": map[string]any{"name": "ringing", "ts": 1546839040035125},
	})
	ev.Audience, ev.Epoch = audience, "e"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := *ev
		e.Seq = uint64(i + 1)
		ht.handle(&e, nil)
		if i%64 == 63 {
			b.StopTimer()
			drain(ss)
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/session")
}

// One event to 1,000 sessions that all see it (integrator tokens).
func BenchmarkFanout1000All(b *testing.B) {
	benchFanout(b, func(int) Filter { return testFilter{all: true} }, []string{"u1"})
}

// One event to 1,000 per-user sessions, two of which are in its audience;
// half the sessions are masked.
func BenchmarkFanout1000Own(b *testing.B) {
	benchFanout(b, func(i int) Filter { return testFilter{user: fmt.Sprint("u", i), masked: i%2 == 0} },
		[]string{"u1", "u2"})
}

// The per-event authorization of one session.
func BenchmarkFilterVisible(b *testing.B) {
	f := Filter(testFilter{user: "u7"})
	aud := []string{"u1", "u2", "u7"}
	b.ReportAllocs()
	var n int
	for i := 0; i < b.N; i++ {
		if f.Visible("channel", aud) {
			n++
		}
	}
	if n != b.N {
		b.Fatal("filter lied")
	}
}

func BenchmarkEncodeInfoEvent(b *testing.B) {
	ev := testEvent("acme", "channel", "c1", OpUpdated, map[string]any{
		"uuid": "5714495a-b8a1-4fff-8420-78648863ecd1", "calling_number": "0312341234", "state": map[string]any{"name": "ringing"},
	})
	for _, enc := range []Encoding{EncodingJSON, EncodingMsgpack} {
		b.Run(enc.String(), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := encodeInfoEvent(enc, ev, ev.Data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
