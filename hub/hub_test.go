package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// Every broker: a client connecting while events flow gets the snapshot
// and then exactly the events after it, and snapshot+deltas equals the
// final state.
func TestSnapshotThenDeltasNoGapNoDup(t *testing.T) {
	for name, nb := range testBrokers() {
		for _, query := range []string{"all=true", "all=true&batch=true", "all=true&encoding=msgpack&batch=true"} {
			t.Run(name+"/"+query, func(t *testing.T) {
				b := nb(t)
				srv := newServer(t, Config{Broker: b})
				pub := startPublishers(t, b, "acme", 4)
				time.Sleep(20 * time.Millisecond)
				cl := srv.dial(t, query)
				init, epoch, seq := cl.initial()
				time.Sleep(50 * time.Millisecond)
				last := pub.stop()
				if last <= seq {
					t.Fatalf("no events after the snapshot (snapshot %d, last %d)", seq, last)
				}
				evs := cl.readEvents(last)
				assertSeqs(t, evs, seq+1)
				state := map[string]string{}
				for _, d := range init["channel"] {
					m := d.(map[string]any)
					state[fmt.Sprint(m["id"])] = fmt.Sprint(m["i"])
				}
				for _, e := range evs {
					if e["epoch"] != epoch {
						t.Fatalf("epoch changed: %v", e)
					}
					m := e["data"].(map[string]any)
					if e["event"] == "removed" {
						delete(state, fmt.Sprint(m["id"]))
					} else {
						state[fmt.Sprint(m["id"])] = fmt.Sprint(m["i"])
					}
				}
				final := snapshot(t, b, "acme")
				if len(final.Elements) != len(state) {
					t.Fatalf("client state has %d channels, broker %d", len(state), len(final.Elements))
				}
				for _, e := range final.Elements {
					var m map[string]any
					_ = json.Unmarshal(e.Data, &m)
					if state[e.Key] != fmt.Sprint(m["i"]) {
						t.Fatalf("channel %s: client %s, broker %v", e.Key, state[e.Key], m["i"])
					}
				}
			})
		}
	}
}

// testBrokers are the brokers hub-level tests run against.
func testBrokers() map[string]func(t *testing.T) Broker {
	return map[string]func(t *testing.T) Broker{
		"memory": func(t *testing.T) Broker { return NewMemoryBroker(MemoryBrokerConfig{}) },
		"redis": func(t *testing.T) Broker {
			c, prefix := testenv.Redis(t)
			return newTestRedisBroker(t, c, prefix, brokerOpts{})
		},
	}
}

// replayModes are the ways a resume can be served: from the replica's
// replay cache, from the broker's history (cache off), or from the broker
// because the cache does not reach back (a cache of one event).
var replayModes = []struct {
	name   string
	cfg    func(*Config)
	source string
}{
	{"cache", func(*Config) {}, "cache"},
	{"broker", func(c *Config) { c.ReplayCacheBytes, c.TenantLinger = -1, -1 }, "broker"},
	{"cache-too-short", func(c *Config) { c.ReplayCacheBytes = 1 }, "broker"},
}

func TestSinceReplaysWhatWasMissed(t *testing.T) {
	for name, nb := range testBrokers() {
		for _, m := range replayModes {
			t.Run(name+"/"+m.name, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				cfg := Config{Broker: nb(t), Metrics: reg}
				m.cfg(&cfg)
				testSinceReplay(t, cfg)
				got := gatherCounter(t, reg, "hookflash_hub_replays_total", "source", m.source)
				if got != 1 {
					t.Fatalf("replays from %s: %v, want 1", m.source, got)
				}
			})
		}
	}
}

func testSinceReplay(t *testing.T, cfg Config) {
	b := cfg.Broker
	srv := newServer(t, cfg)
	cl := srv.dial(t, "all=true")
	_, epoch, _ := cl.initial()
	for i := range 3 {
		publish(t, b, testEvent("acme", "user", fmt.Sprint(i), OpAdded, nil))
	}
	evs := cl.readEvents(3)
	pos := Position{Epoch: epoch, Seq: num(evs[len(evs)-1]["seq"])}
	_ = cl.c.Close()
	for i := range 4 {
		publish(t, b, testEvent("acme", "user", fmt.Sprint(i), OpUpdated, nil))
	}
	cl2 := srv.dial(t, "all=true&since="+pos.String())
	got := cl2.readEvents(7)
	assertSeqs(t, got, 4)
	publish(t, b, testEvent("acme", "user", "x", OpAdded, nil))
	assertSeqs(t, cl2.readEvents(8), 8)
}

func TestSinceBeyondHistoryResyncs(t *testing.T) {
	b := NewMemoryBroker(MemoryBrokerConfig{HistoryLen: 5})
	srv := newServer(t, Config{Broker: b})
	var first *Event
	for i := range 20 {
		ev := publish(t, b, testEvent("acme", "user", fmt.Sprint(i%3), OpUpdated, nil))
		if first == nil {
			first = ev
		}
	}
	for _, since := range []string{first.Epoch + ":1", "someotherepoch:3"} {
		cl := srv.dial(t, "all=true&since="+since)
		if m := cl.next(5 * time.Second); m["type"] != "system_msg" || m["msg"] != SysResync {
			t.Fatalf("since %s: want system_msg resync first, got %v", since, m)
		}
		init, epoch, seq := cl.initial()
		if epoch != first.Epoch || seq != 20 || len(init["user"]) != 3 {
			t.Fatalf("resync snapshot: %s:%d with %d users", epoch, seq, len(init["user"]))
		}
	}
}

func TestOwnVersusAllVisibility(t *testing.T) {
	b := NewMemoryBroker(MemoryBrokerConfig{})
	srv := newServer(t, Config{Broker: b})
	mine := testEvent("acme", "channel", "c1", OpAdded, nil)
	mine.Audience = []string{"u1", "u9"}
	publish(t, b, mine)
	theirs := testEvent("acme", "channel", "c2", OpAdded, nil)
	theirs.Audience = []string{"u2"}
	publish(t, b, theirs)
	publish(t, b, testEvent("acme", "pbx", "p1", OpAdded, nil))

	own := srv.dial(t, "user=u1")
	all := srv.dial(t, "user=admin&all=true")
	ownInit, _, _ := own.initial()
	allInit, _, _ := all.initial()
	if len(ownInit["channel"]) != 1 || !hasKey(ownInit["channel"], "c1") || len(ownInit["pbx"]) != 0 {
		t.Fatalf("own initial_info: %v", ownInit)
	}
	if len(allInit["channel"]) != 2 || len(allInit["pbx"]) != 1 {
		t.Fatalf("all initial_info: %v", allInit)
	}
	theirs2 := testEvent("acme", "channel", "c3", OpAdded, nil)
	theirs2.Audience = []string{"u2"}
	publish(t, b, theirs2)
	publish(t, b, testEvent("acme", "user", "u1", OpUpdated, nil))
	mine2 := testEvent("acme", "channel", "c1", OpRemoved, nil)
	mine2.Audience = []string{"u1"}
	publish(t, b, mine2)
	got := own.readEvents(6)
	if len(got) != 2 || got[0]["element"] != "user" || got[1]["element"] != "channel" || num(got[1]["seq"]) != 6 {
		t.Fatalf("own session got %v", got)
	}
	assertSeqs(t, all.readEvents(6), 4)
	// 2 deliveries to own, 3 to all; snapshots do not count.
	eventually(t, 5*time.Second, func() bool { return histogramCount(srv.hub.m.delivery) == 5 },
		func() string {
			return fmt.Sprintf("delivery latency samples: %d, want 5", histogramCount(srv.hub.m.delivery))
		})
}

func histogramCount(h prometheus.Histogram) uint64 {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		panic(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestTenantsNeverCross(t *testing.T) {
	b := NewMemoryBroker(MemoryBrokerConfig{})
	srv := newServer(t, Config{Broker: b})
	publish(t, b, testEvent("globex", "user", "g0", OpAdded, nil))
	cl := srv.dial(t, "tenant=acme&all=true")
	init, _, _ := cl.initial()
	if len(init["user"]) != 0 {
		t.Fatalf("acme snapshot holds globex users: %v", init["user"])
	}
	for i := range 10 {
		publish(t, b, testEvent("globex", "user", fmt.Sprint("g", i), OpAdded, nil))
	}
	last := publish(t, b, testEvent("acme", "user", "a1", OpAdded, nil))
	evs := cl.readEvents(last.Seq)
	if len(evs) != 1 || evs[0]["data"].(map[string]any)["id"] != "a1" {
		t.Fatalf("acme session got %v", evs)
	}
}

func TestSlowConsumerIsClosedWith4008(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := NewMemoryBroker(MemoryBrokerConfig{})
	srv := newServer(t, Config{Broker: b, SendQueueBytes: 32 << 10, Metrics: reg})
	cl := srv.dial(t, "all=true")
	cl.initial()
	big := strings.Repeat("x", 8<<10)
	// The client reads nothing while far more than the socket buffers and
	// the queue can hold is published.
	for i := 0; i < 4000 && counterValue(srv.hub.m.slowConsumers) == 0; i++ {
		publish(t, b, testEvent("acme", "user", fmt.Sprint(i), OpUpdated, map[string]any{"pad": big}))
	}
	if n := counterValue(srv.hub.m.slowConsumers); n != 1 {
		t.Fatalf("slow consumer counter %v", n)
	}
	if code := cl.waitClose(20 * time.Second); code != CloseSlowConsumer {
		t.Fatalf("close code %d, want %d", code, CloseSlowConsumer)
	}
}

func TestInboundThrottle(t *testing.T) {
	srv := newServer(t, Config{ThrottleMessages: 3, ThrottlePer: time.Minute, ThrottleBurst: 3})
	cl := srv.dial(t, "all=true")
	cl.initial()
	for i := range 6 {
		cl.send(map[string]any{"id": fmt.Sprint(i), "request": "ping"})
	}
	var ok, throttled int
	for range 6 {
		m := cl.next(5 * time.Second)
		switch {
		case m["type"] == "response" && m["result"] == "success":
			ok++
		case m["type"] == "error" && m["error"] == "Maximum throttle throughput exceeded.":
			throttled++
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	if ok != 3 || throttled != 3 {
		t.Fatalf("%d answered, %d throttled; want 3 and 3", ok, throttled)
	}
	if n := counterValue(srv.hub.m.throttled); n != 3 {
		t.Fatalf("throttled counter %v", n)
	}
}

func TestOversizeFrameCloses1009(t *testing.T) {
	srv := newServer(t, Config{MaxFrameBytes: 1024})
	cl := srv.dial(t, "all=true")
	cl.initial()
	big, _ := json.Marshal(map[string]any{"request": "echo", "text": strings.Repeat("a", 4096)})
	_ = cl.c.WriteMessage(fws.TextMessage, big) // the server may stop reading midway
	if code := cl.waitClose(5 * time.Second); code != CloseMessageTooBig {
		t.Fatalf("close code %d, want %d", code, CloseMessageTooBig)
	}
}

func TestRequests(t *testing.T) {
	srv := newServer(t, Config{})
	cl := srv.dial(t, "all=true&user=u7")
	cl.initial()
	cases := []struct {
		send string
		want map[string]any
	}{
		{`{not json`, map[string]any{"type": "error", "error": `malformed request: expected a JSON object with "request"`}},
		{`[1,2]`, map[string]any{"type": "error"}},
		{`{"id":"1"}`, map[string]any{"type": "response", "id": "1", "result": "error", "error": "missing request"}},
		{`{"id":"2","request":"teleport"}`, map[string]any{"type": "response", "id": "2", "result": "error", "error": `unknown request "teleport"`}},
		{`{"id":3,"request":"echo","text":"hi"}`, map[string]any{"type": "response", "id": "3", "result": "success"}},
		{`{"id":"4","request":"fail"}`, map[string]any{"type": "response", "id": "4", "result": "error", "error": "channel not found"}},
		{`{"id":"5","request":"panic"}`, map[string]any{"type": "response", "id": "5", "result": "error", "error": "internal error"}},
		{`{"id":"6","request":"ping"}`, map[string]any{"type": "response", "id": "6", "result": "success"}},
	}
	for _, c := range cases {
		if err := cl.c.WriteMessage(fws.TextMessage, []byte(c.send)); err != nil {
			t.Fatal(err)
		}
		m := cl.next(5 * time.Second)
		for k, v := range c.want {
			if m[k] != v {
				t.Fatalf("%s: got %v, want %s=%v", c.send, m, k, v)
			}
		}
		if c.send[len(c.send)-5:] == `"hi"}` {
			d := m["data"].(map[string]any)
			if d["echo"] != "hi" || d["principal"] != "u7" {
				t.Fatalf("echo data %v", d)
			}
		}
	}
}

func TestMsgpackEncoding(t *testing.T) {
	b := NewMemoryBroker(MemoryBrokerConfig{})
	srv := newServer(t, Config{Broker: b})
	publish(t, b, testEvent("acme", "group", "g1", OpAdded, map[string]any{"id": "g1", "waiting": 3, "sl": 97.5}))
	cl := srv.dial(t, "all=true&encoding=msgpack")
	init, _, _ := cl.initial()
	g := init["group"][0].(map[string]any)
	if num(g["waiting"]) != 3 || g["sl"] != 97.5 || g["id"] != "g1" {
		t.Fatalf("group over msgpack: %#v", g)
	}
	publish(t, b, testEvent("acme", "group", "g1", OpUpdated, map[string]any{"id": "g1", "waiting": 4}))
	ev := cl.readEvents(2)[0]
	if ev["event"] != "updated" || num(ev["data"].(map[string]any)["waiting"]) != 4 {
		t.Fatalf("info_event over msgpack: %#v", ev)
	}
	cl.send(map[string]any{"id": "9", "request": "ping"})
	if m := cl.next(5 * time.Second); m["type"] != "response" || m["id"] != "9" || m["result"] != "success" {
		t.Fatalf("msgpack ping: %#v", m)
	}
}

func TestMaskedSessionsGetMaskedData(t *testing.T) {
	b := NewMemoryBroker(MemoryBrokerConfig{})
	var masks int
	mask := func(_ Tenant, _ string, data []byte) []byte {
		masks++
		return bytes.ReplaceAll(data, []byte("5551234"), []byte("555xxxx"))
	}
	srv := newServer(t, Config{Broker: b, Mask: mask})
	clear := srv.dial(t, "all=true")
	masked := srv.dial(t, "all=true&masked=true")
	masked2 := srv.dial(t, "all=true&masked=true")
	for _, c := range []*client{clear, masked, masked2} {
		c.initial()
	}
	masks = 0
	publish(t, b, testEvent("acme", "channel", "c1", OpAdded, map[string]any{"calling_number": "5551234"}))
	want := map[*client]string{clear: "5551234", masked: "555xxxx", masked2: "555xxxx"}
	for c, num := range want {
		ev := c.readEvents(1)[0]
		if got := ev["data"].(map[string]any)["calling_number"]; got != num {
			t.Fatalf("got %v, want %s", got, num)
		}
	}
	if masks != 1 {
		t.Fatalf("mask ran %d times for one event, want once", masks)
	}
}

func TestConnectionLimitAndForce(t *testing.T) {
	srv := newServer(t, Config{})
	first := srv.dial(t, "user=u1&max=1")
	first.initial()
	second := srv.dial(t, "user=u1&max=1")
	if m := second.next(5 * time.Second); m["type"] != "system_msg" || m["msg"] != SysConnectionLimit {
		t.Fatalf("over the cap: got %v", m)
	}
	if code := second.waitClose(5 * time.Second); code != CloseConnectionLimit {
		t.Fatalf("close code %d, want %d", code, CloseConnectionLimit)
	}
	other := srv.dial(t, "user=u2&max=1") // another principal is not affected
	other.initial()
	third := srv.dial(t, "user=u1&max=1&force=true")
	third.initial()
	if m := first.next(5 * time.Second); m["type"] != "system_msg" || m["msg"] != SysReplaced {
		t.Fatalf("replaced connection got %v", m)
	}
	if code := first.waitClose(5 * time.Second); code != CloseReplaced {
		t.Fatalf("close code %d, want %d", code, CloseReplaced)
	}
}

func TestDeadPeerIsDropped(t *testing.T) {
	srv := newServer(t, Config{PingInterval: 100 * time.Millisecond, PongTimeout: time.Second})
	cl := srv.dial(t, "all=true")
	cl.initial()
	// The client stops reading, so it never answers pings.
	eventually(t, 5*time.Second, func() bool { return len(srv.hub.Sessions("acme")) == 1 }, func() string { return "no session" })
	eventually(t, 5*time.Second, func() bool { return len(srv.hub.Sessions("acme")) == 0 },
		func() string { return "silent peer still connected" })
	// A reading client answers pings and stays.
	live := srv.dial(t, "all=true")
	live.initial()
	_, err := live.read(2500 * time.Millisecond) // reads (and pongs) past the timeout
	if err == nil {
		t.Fatal("unexpected message")
	}
	if len(srv.hub.Sessions("acme")) != 1 {
		t.Fatal("live peer was dropped")
	}
}

func TestManagementAPI(t *testing.T) {
	b := NewMemoryBroker(MemoryBrokerConfig{})
	srv := newServer(t, Config{Broker: b})
	mine := testEvent("acme", "channel", "c2", OpAdded, nil)
	mine.Audience = []string{"u2"}
	publish(t, b, mine)
	cl := srv.dial(t, "user=u1")
	init, _, _ := cl.initial()
	if len(init["channel"]) != 0 {
		t.Fatal("u1 sees u2's channel")
	}
	ss := srv.hub.Sessions("acme")
	if len(ss) != 1 || ss[0].Principal() != "u1" {
		t.Fatalf("sessions %v", ss)
	}
	srv.hub.SystemMsg("acme", "pbx_down")
	if m := cl.next(5 * time.Second); m["msg"] != "pbx_down" {
		t.Fatalf("got %v", m)
	}
	// Widening the filter resyncs the session under the new scope.
	ss[0].SetFilter(testFilter{all: true})
	if m := cl.next(5 * time.Second); m["msg"] != SysResync {
		t.Fatalf("got %v", m)
	}
	init, _, _ = cl.initial()
	if len(init["channel"]) != 1 {
		t.Fatalf("after SetFilter: %v", init["channel"])
	}
	ss[0].CloseWith(CloseUnauthorized, "token revoked")
	if code := cl.waitClose(5 * time.Second); code != CloseUnauthorized {
		t.Fatalf("close code %d", code)
	}
}

func TestShutdownTellsClientsToReconnect(t *testing.T) {
	srv := newServer(t, Config{})
	cl := srv.dial(t, "all=true")
	cl.initial()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if m := cl.next(5 * time.Second); m["msg"] != SysReconnect {
		t.Fatalf("got %v", m)
	}
	if code := cl.waitClose(5 * time.Second); code != CloseGoingAway {
		t.Fatalf("close code %d", code)
	}
}

// Two replicas share a Redis registry: force=true on one replaces the
// oldest connection held on the other.
func TestConnectionCapAcrossReplicas(t *testing.T) {
	c, prefix := testenv.Redis(t)
	b := newTestRedisBroker(t, c, prefix, brokerOpts{})
	newReg := func() Registry {
		r, err := NewRedisRegistry(RedisRegistryConfig{Client: c, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := newServer(t, Config{Broker: b, Registry: newReg()})
	z := newServer(t, Config{Broker: b, Registry: newReg()})
	time.Sleep(100 * time.Millisecond) // both eviction watches subscribed
	first := a.dial(t, "user=u1&max=1")
	first.initial()
	refused := z.dial(t, "user=u1&max=1")
	if m := refused.next(5 * time.Second); m["msg"] != SysConnectionLimit {
		t.Fatalf("got %v", m)
	}
	forced := z.dial(t, "user=u1&max=1&force=true")
	forced.initial()
	if m := first.next(5 * time.Second); m["msg"] != SysReplaced {
		t.Fatalf("got %v", m)
	}
	if code := first.waitClose(5 * time.Second); code != CloseReplaced {
		t.Fatalf("close code %d", code)
	}
}

// Redis going away is announced to clients, who keep their session and
// get every event once Redis is back.
func TestRedisOutageIsAnnouncedAndRecovered(t *testing.T) {
	srvR := startRedisServer(t, true)
	client := redis.NewClient(&redis.Options{Addr: srvR.addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	b := newTestRedisBroker(t, client, "hf", brokerOpts{})
	srv := newServer(t, Config{Broker: b})
	cl := srv.dial(t, "all=true")
	cl.initial()
	publish(t, b, testEvent("acme", "user", "a", OpAdded, nil))
	cl.readEvents(1)
	srvR.stop(t)
	if m := cl.next(10 * time.Second); m["msg"] != SysBrokerDown {
		t.Fatalf("got %v", m)
	}
	// A client connecting during the outage is served from the mirror.
	late := srv.dial(t, "all=true")
	lateInit, _, lateSeq := late.initial()
	if lateSeq != 1 || len(lateInit["user"]) != 1 {
		t.Fatalf("snapshot during the outage: seq %d, users %v", lateSeq, lateInit["user"])
	}
	srvR.start(t)
	other := newTestRedisBroker(t, client, "hf", brokerOpts{})
	eventually(t, 10*time.Second, func() bool { return other.Ping(context.Background()) == nil }, func() string { return "redis not back" })
	for i := range 3 {
		publish(t, other, testEvent("acme", "user", fmt.Sprint(i), OpUpdated, nil))
	}
	var evs []map[string]any
	sawUp := false
	for len(evs) < 3 {
		m := cl.next(10 * time.Second)
		switch {
		case m["type"] == "system_msg" && m["msg"] == SysBrokerUp:
			sawUp = true
		case m["type"] == "info_event":
			evs = append(evs, m)
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	assertSeqs(t, evs, 2)
	if !sawUp {
		if m := cl.next(10 * time.Second); m["msg"] != SysBrokerUp {
			t.Fatalf("want broker_up, got %v", m)
		}
	}
	var lateEvs []map[string]any
	for len(lateEvs) < 3 {
		if m := late.next(10 * time.Second); m["type"] == "info_event" {
			lateEvs = append(lateEvs, m)
		}
	}
	assertSeqs(t, lateEvs, 2)
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// Clients on two replicas (each its own RedisBroker) of one Redis see the
// same events in the same order while a third replica publishes.
func TestReplicasDeliverTheSameStream(t *testing.T) {
	c, prefix := testenv.Redis(t)
	pubBroker := newTestRedisBroker(t, c, prefix, brokerOpts{})
	a := newServer(t, Config{Broker: newTestRedisBroker(t, c, prefix, brokerOpts{})})
	z := newServer(t, Config{Broker: newTestRedisBroker(t, c, prefix, brokerOpts{})})
	pub := startPublishers(t, pubBroker, "acme", 3)
	ca := a.dial(t, "all=true")
	_, _, seqA := ca.initial()
	cz := z.dial(t, "all=true&encoding=msgpack")
	_, _, seqZ := cz.initial()
	time.Sleep(50 * time.Millisecond)
	last := pub.stop()
	evA, evZ := ca.readEvents(last), cz.readEvents(last)
	assertSeqs(t, evA, seqA+1)
	assertSeqs(t, evZ, seqZ+1)
	from := max(seqA, seqZ) + 1
	key := func(m map[string]any) string {
		return fmt.Sprint(num(m["seq"]), m["event"], m["data"].(map[string]any)["id"], num(m["data"].(map[string]any)["i"]))
	}
	for i := range evA {
		sa := num(evA[i]["seq"])
		if sa < from {
			continue
		}
		j := int(sa - (seqZ + 1))
		if key(evA[i]) != key(evZ[j]) {
			t.Fatalf("replicas differ at seq %d: %s vs %s", sa, key(evA[i]), key(evZ[j]))
		}
	}
}

// A client that drops and resumes with since while events keep flowing
// sees every event exactly once across the two connections.
func TestResumeUnderConcurrentPublishing(t *testing.T) {
	for name, nb := range testBrokers() {
		for _, m := range replayModes {
			t.Run(name+"/"+m.name, func(t *testing.T) {
				b := nb(t)
				cfg := Config{Broker: b}
				m.cfg(&cfg)
				testResumeUnderPublishing(t, b, cfg)
			})
		}
	}
}

func testResumeUnderPublishing(t *testing.T, b Broker, cfg Config) {
	srv := newServer(t, cfg)
	pub := startPublishers(t, b, "acme", 3)
	cl := srv.dial(t, "all=true")
	_, epoch, seq := cl.initial()
	first := cl.readEvents(seq + 20)
	assertSeqs(t, first, seq+1)
	_ = cl.c.Close()
	pos := Position{Epoch: epoch, Seq: num(first[len(first)-1]["seq"])}
	time.Sleep(20 * time.Millisecond) // events flow while disconnected
	cl2 := srv.dial(t, "all=true&since="+pos.String())
	time.Sleep(30 * time.Millisecond)
	last := pub.stop()
	second := cl2.readEvents(last)
	assertSeqs(t, second, pos.Seq+1)
}

// A Mask that panics or breaks the JSON never leaks clear data and never
// takes the fan-out down.
func TestBrokenMaskFailsClosed(t *testing.T) {
	b := NewMemoryBroker(MemoryBrokerConfig{})
	mask := func(_ Tenant, element string, data []byte) []byte {
		if element == "channel" {
			panic("bad privacy rule")
		}
		return []byte("not json")
	}
	srv := newServer(t, Config{Broker: b, Mask: mask})
	publish(t, b, testEvent("acme", "channel", "c0", OpAdded, map[string]any{"calling_number": "5551234"}))
	masked := srv.dial(t, "all=true&masked=true")
	init, _, _ := masked.initial()
	for _, d := range init["channel"] {
		if fmt.Sprint(d) != "map[]" {
			t.Fatalf("snapshot leaked %v", d)
		}
	}
	clear := srv.dial(t, "all=true")
	clear.initial()
	publish(t, b, testEvent("acme", "channel", "c1", OpAdded, map[string]any{"calling_number": "5551234"}))
	publish(t, b, testEvent("acme", "user", "u1", OpAdded, map[string]any{"main_extension": "5551234"}))
	for _, ev := range masked.readEvents(3) {
		if len(ev["data"].(map[string]any)) != 0 {
			t.Fatalf("masked session got %v", ev)
		}
	}
	got := clear.readEvents(3)
	if got[0]["data"].(map[string]any)["calling_number"] != "5551234" {
		t.Fatalf("clear session got %v", got[0])
	}
}

// Redis coming back empty starts a new epoch: clients are resynced with a
// fresh snapshot and then follow the new epoch.
func TestRedisDataLossResyncsClients(t *testing.T) {
	srvR := startRedisServer(t, false)
	client := redis.NewClient(&redis.Options{Addr: srvR.addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	b := newTestRedisBroker(t, client, "hf", brokerOpts{})
	srv := newServer(t, Config{Broker: b})
	cl := srv.dial(t, "all=true")
	_, oldEpoch, _ := cl.initial()
	publish(t, b, testEvent("acme", "user", "a", OpAdded, nil))
	cl.readEvents(1)
	srvR.stop(t)
	srvR.start(t)
	for {
		m := cl.next(15 * time.Second)
		if m["type"] == "system_msg" && m["msg"] == SysResync {
			break
		}
		if m["type"] != "system_msg" {
			t.Fatalf("before resync got %v", m)
		}
	}
	init, epoch, seq := cl.initial()
	if epoch == oldEpoch || seq != 0 || len(init["user"]) != 0 {
		t.Fatalf("resync snapshot %s:%d users %v (old epoch %s)", epoch, seq, init["user"], oldEpoch)
	}
	ev := publish(t, b, testEvent("acme", "user", "b", OpAdded, nil))
	for {
		m := cl.next(10 * time.Second)
		if m["type"] == "info_event" {
			if m["epoch"] != epoch || num(m["seq"]) != ev.Seq {
				t.Fatalf("after resync got %v", m)
			}
			break
		}
	}
}

// gatherCounter reads one labelled counter from reg.
func gatherCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A tenant's subscription outlives its last session by TenantLinger (so a
// client coming back resumes from the cache), then ends; a session that
// comes back in time keeps it.
func TestTenantSubscriptionLingers(t *testing.T) {
	srv := newServer(t, Config{TenantLinger: 300 * time.Millisecond})
	subscribed := func() bool {
		srv.hub.mu.Lock()
		defer srv.hub.mu.Unlock()
		return srv.hub.tenants["acme"] != nil
	}
	cl := srv.dial(t, "all=true")
	cl.initial()
	_ = cl.c.Close()
	time.Sleep(150 * time.Millisecond)
	if !subscribed() {
		t.Fatal("subscription ended before the linger time")
	}
	cl2 := srv.dial(t, "all=true")
	cl2.initial()
	time.Sleep(400 * time.Millisecond)
	if !subscribed() {
		t.Fatal("a returning session did not keep the subscription")
	}
	_ = cl2.c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for subscribed() {
		if time.Now().After(deadline) {
			t.Fatal("subscription still there long after the last session left")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
