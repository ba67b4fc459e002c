package pbxconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeHub applies published diffs to a keyed state, as the hub's state hash
// does, and records protocol violations.
type fakeHub struct {
	mu       sync.Mutex
	state    map[string]Diff // element + " " + key → last diff
	bad      []string
	statuses []string
	calls    []Call
	fail     func(Diff) error // if set, may refuse a diff
	batches  []int            // sizes of the PublishBatch calls
	gate     chan struct{}    // if set, channel diffs wait for it to close
}

func newFakeHub() *fakeHub { return &fakeHub{state: make(map[string]Diff)} }

func (h *fakeHub) publish(_ context.Context, d Diff) error {
	h.mu.Lock()
	if g := h.gate; g != nil && d.Element == ElemChannel {
		h.mu.Unlock()
		<-g
		h.mu.Lock()
	}
	defer h.mu.Unlock()
	if h.fail != nil {
		if err := h.fail(d); err != nil {
			return err
		}
	}
	if d.Element == ElemPBX {
		h.statuses = append(h.statuses, d.Data.(*PBX).Status)
		return nil
	}
	k := string(d.Element) + " " + d.Key
	_, had := h.state[k]
	switch d.Op {
	case OpAdded:
		if had {
			h.bad = append(h.bad, "added twice: "+k)
		}
		h.state[k] = d
	case OpUpdated:
		if !had {
			h.bad = append(h.bad, "update of unknown "+k)
		}
		h.state[k] = d
	case OpRemoved:
		if !had {
			h.bad = append(h.bad, "removal of unknown "+k)
		}
		delete(h.state, k)
	}
	return nil
}

// publishBatch is PublishBatch over publish: in order, stopping at the
// first refusal.
func (h *fakeHub) publishBatch(ctx context.Context, ds []Diff) (int, error) {
	h.mu.Lock()
	h.batches = append(h.batches, len(ds))
	h.mu.Unlock()
	for i, d := range ds {
		if err := h.publish(ctx, d); err != nil {
			return i, err
		}
	}
	return len(ds), nil
}

func (h *fakeHub) largestBatch() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := 0
	for _, n := range h.batches {
		m = max(m, n)
	}
	return m
}

// keys returns the PBX-local ids of the elements of kind e the hub holds.
func (h *fakeHub) keys(e Element) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, d := range h.state {
		if d.Element == e {
			_, local, _ := SplitKey(d.Key)
			out = append(out, local)
		}
	}
	slices.Sort(out)
	return out
}

func (h *fakeHub) lastStatus() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.statuses) == 0 {
		return ""
	}
	return h.statuses[len(h.statuses)-1]
}

type connHarness struct {
	t    *testing.T
	dir  *testDir
	sim  *pbxsim.PBX
	hub  *fakeHub
	conn *Connector
	done chan error
}

func startConnector(t *testing.T, hub *fakeHub, fence uint64, mx ...*ConnectorMetrics) *connHarness {
	t.Helper()
	sim, err := pbxsim.Start(context.Background(), pbxsim.Config{Speed: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	user, pass := sim.ARICredentials()
	amiUser, secret := sim.AMICredentials()
	h := &connHarness{t: t, sim: sim, hub: hub, dir: newTestDir(), done: make(chan error, 1)}
	h.conn, err = NewConnector(ConnectorConfig{
		PBX: PBXInfo{ID: "pbx1", Tenant: "t1", ARIURL: sim.ARIURL(), ARIUser: user, ARIPassword: pass, ARIApp: "cti",
			AMIAddr: sim.AMIAddr(), AMIUser: amiUser, AMISecret: secret},
		Directory:       h.dir,
		Publish:         hub.publish,
		PublishBatch:    hub.publishBatch, // the single-diff path: TestConnectorUnderTrafficAndDrops
		Fence:           fence,
		Metrics:         firstOr(mx),
		Backoff:         Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond},
		SyncTimeout:     5 * time.Second,
		OnCallCompleted: func(c Call) { hub.mu.Lock(); hub.calls = append(hub.calls, c); hub.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- h.conn.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	waitUntil(t, "connector live", func() bool { return h.conn.Status().Status == PBXLive })
	return h
}

// metricValue reads a counter's or gauge's value.
func metricValue(m prometheus.Metric) float64 {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		return -1
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}

func firstOr(mx []*ConnectorMetrics) *ConnectorMetrics {
	if len(mx) > 0 {
		return mx[0]
	}
	return nil
}

// waitUntil polls cond until it holds or a deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// truth is the simulator's state as the hub should mirror it, one line per
// fact: every channel with its name (and "bridged" when it shares a bridge
// with another channel), every parked call with its space, every queue
// caller with its queue and position, every endpoint's registration.
func (h *connHarness) truth() []string {
	var out []string
	chans := h.sim.Channels()
	inBridge := map[string]int{}
	for _, c := range chans {
		if c.BridgeID != "" {
			inBridge[c.BridgeID]++
		}
	}
	for _, c := range chans {
		line := "channel " + c.ID + " " + c.Name
		if inBridge[c.BridgeID] > 1 {
			line += " bridged"
		}
		out = append(out, line)
	}
	for _, p := range h.sim.Parked() {
		out = append(out, "parked "+p.UniqueID+" "+p.Space)
	}
	for _, q := range h.sim.QueueCallers() {
		out = append(out, fmt.Sprintf("queued %s pbx1:%s %d", q.UniqueID, q.Queue, q.Position))
	}
	for _, e := range h.sim.Endpoints() {
		out = append(out, fmt.Sprintf("terminal PJSIP/%s %v", e.Resource, e.Online))
	}
	slices.Sort(out)
	return out
}

// model is the hub's state in truth's terms.
func (h *connHarness) model() []string {
	h.hub.mu.Lock()
	defer h.hub.mu.Unlock()
	var out []string
	for _, d := range h.hub.state {
		_, local, _ := SplitKey(d.Key)
		switch v := d.Data.(type) {
		case *Channel:
			line := "channel " + local + " " + v.Name
			switch v.State.Name {
			case StateBridged, StateConference, StateHold:
				// bridged in the model also covers a Local channel's halves
				// and answered dial legs; only real bridges are in truth.
				if !strings.HasPrefix(v.Name, "Local/") || v.OtherUUID == "" || h.sameBridgeInTruth(local, v.OtherUUID) {
					line += " bridged"
				}
			}
			out = append(out, line)
		case *ParkedChannel:
			out = append(out, "parked "+local+" "+v.Slot)
		case *QueuedChannel:
			out = append(out, fmt.Sprintf("queued %s %s %d", local, v.GroupID, v.Position))
		case *Terminal:
			if strings.HasPrefix(v.Device, "PJSIP/") {
				out = append(out, fmt.Sprintf("terminal %s %v", v.Device, v.Registered))
			}
		}
	}
	slices.Sort(out)
	return out
}

// sameBridgeInTruth reports whether the simulator has both channels in one
// bridge.
func (h *connHarness) sameBridgeInTruth(a, otherKey string) bool {
	_, b, _ := SplitKey(otherKey)
	var ba, bb string
	for _, c := range h.sim.Channels() {
		switch c.ID {
		case a:
			ba = c.BridgeID
		case b:
			bb = c.BridgeID
		}
	}
	return ba != "" && ba == bb
}

// converged waits until the hub mirrors the simulator's truth, and stays
// so for a moment.
func (h *connHarness) converged(what string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for stable := 0; stable < 5; {
		if slices.Equal(h.truth(), h.model()) {
			stable++
		} else {
			stable = 0
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: hub never matched the simulator:\n truth %q\n model %q", what, h.truth(), h.model())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *connHarness) originate(endpoint, exten string) string {
	h.t.Helper()
	raw, err := h.sim.Originate(pbxsim.OriginateRequest{Endpoint: endpoint, Extension: exten, Context: "default"})
	if err != nil {
		h.t.Fatal(err)
	}
	i := strings.Index(string(raw), `"id":"`)
	if i < 0 {
		h.t.Fatalf("originate returned %s", raw)
	}
	id := string(raw[i+6:])
	return id[:strings.IndexByte(id, '"')]
}

func (h *connHarness) noViolations() {
	h.t.Helper()
	h.hub.mu.Lock()
	defer h.hub.mu.Unlock()
	for _, b := range h.hub.bad {
		h.t.Error(b)
	}
}

// The connector's model follows the simulator through calls and through
// every fault: socket drops, stalls, a restart, malformed frames.
func TestConnectorFollowsSimulatorThroughFaults(t *testing.T) {
	reg := prometheus.NewRegistry()
	mx, err := NewConnectorMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := NewConnectorMetrics(reg); err != nil || again.Diffs != mx.Diffs {
		t.Fatalf("second registration: %v", err)
	}
	h := startConnector(t, newFakeHub(), 7, mx)
	if got := h.hub.keys(ElemTerminal); len(got) == 0 {
		t.Fatal("the first resync published no terminals")
	}
	h.converged("idle")

	cust := h.originate("Local/9001@customers", "8000")
	h.converged("queue call")
	if len(h.hub.keys(ElemChannel)) == 0 {
		t.Fatal("no channels for the queue call")
	}
	if !slices.ContainsFunc(h.truth(), func(l string) bool { return strings.HasSuffix(l, " bridged") }) {
		t.Fatalf("the queue call never bridged in the simulator: %q", h.truth())
	}

	t.Run("park", func(t *testing.T) {
		id := h.originate("Local/9002@customers", "1001")
		h.converged("call to 1001")
		var name string
		for _, c := range h.sim.Channels() {
			if c.ID == id {
				name = c.Name
			}
		}
		if err := h.sim.Park(name); err != nil {
			t.Fatal(err)
		}
		h.converged("parked")
		if len(h.hub.keys(ElemParkedChannel)) != 1 {
			t.Fatalf("parked in the model: %v", h.hub.keys(ElemParkedChannel))
		}
		if err := h.sim.Hangup(id, "normal"); err != nil {
			t.Fatal(err)
		}
		h.converged("parked call hung up")
	})

	t.Run("ari drop with a hangup while down", func(t *testing.T) {
		h.sim.DropARI()
		if err := h.sim.Hangup(cust, "normal"); err != nil {
			t.Fatal(err)
		}
		h.converged("after ARI drop")
	})

	t.Run("ami drop", func(t *testing.T) {
		h.originate("Local/9002@customers", "1001")
		h.converged("call to 1001")
		h.sim.DropAMI()
		h.converged("after AMI drop")
	})

	t.Run("stall", func(t *testing.T) {
		h.sim.StallWrites(300 * time.Millisecond)
		h.originate("Local/9003@customers", "1002")
		h.converged("call during a stall")
	})

	t.Run("malformed frames", func(t *testing.T) {
		h.sim.MalformedARI()
		h.sim.MalformedAMI()
		for _, c := range h.sim.Channels() {
			_ = h.sim.Hangup(c.ID, "normal")
		}
		h.converged("hangups after malformed frames")
	})

	t.Run("restart", func(t *testing.T) {
		h.originate("Local/9004@customers", "1003")
		h.converged("call before restart")
		before := len(h.hub.keys(ElemChannel))
		if before == 0 {
			t.Fatal("no channels before the restart")
		}
		h.sim.Restart()
		h.converged("after restart")
		if n := len(h.hub.keys(ElemChannel)); n != 0 {
			t.Errorf("%d ghost channels after the restart", n)
		}
	})
	waitUntil(t, "live again", func() bool { return h.conn.Status().Status == PBXLive })
	h.noViolations()
	if v := metricValue(mx.Status.WithLabelValues(PBXLive)); v != 1 {
		t.Errorf("live connectors gauge %v, want 1", v)
	}
	if v := metricValue(mx.Status.WithLabelValues(PBXDown)); v != 0 {
		t.Errorf("down connectors gauge %v, want 0", v)
	}
	if metricValue(mx.Events.WithLabelValues("ari")) == 0 || metricValue(mx.Events.WithLabelValues("ami")) == 0 ||
		metricValue(mx.Diffs) == 0 || metricValue(mx.Resyncs) < 4 || metricValue(mx.Sessions.WithLabelValues("stream")) < 3 {
		t.Errorf("metrics: events ari %v ami %v, diffs %v, resyncs %v, sessions ended on stream %v",
			metricValue(mx.Events.WithLabelValues("ari")), metricValue(mx.Events.WithLabelValues("ami")),
			metricValue(mx.Diffs), metricValue(mx.Resyncs), metricValue(mx.Sessions.WithLabelValues("stream")))
	}
	if metricValue(mx.Malformed.WithLabelValues("ari")) == 0 {
		t.Error("the malformed ARI frame was not counted")
	}
	h.hub.mu.Lock()
	defer h.hub.mu.Unlock()
	if !slices.Contains(h.hub.statuses, PBXDown) || !slices.Contains(h.hub.statuses, PBXSyncing) {
		t.Errorf("pbx statuses %v lack down/syncing", h.hub.statuses)
	}
	seen := map[string]int{}
	for _, c := range h.hub.calls {
		seen[c.LinkedID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("call %s completed %d times", id, n)
		}
	}
	if len(seen) < 3 {
		t.Errorf("only %d calls completed: %+v", len(seen), h.hub.calls)
	}
}

// A fenced publish stops Run with ErrFenced.
func TestConnectorStopsWhenFenced(t *testing.T) {
	sim, err := pbxsim.Start(context.Background(), pbxsim.Config{Speed: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	user, pass := sim.ARICredentials()
	amiUser, secret := sim.AMICredentials()
	hub := newFakeHub()
	var fenced bool
	hub.fail = func(d Diff) error {
		if d.Element == ElemTerminal {
			fenced = true
			return fmt.Errorf("broker: %w", ErrFenced)
		}
		return nil
	}
	c, err := NewConnector(ConnectorConfig{
		PBX: PBXInfo{ID: "pbx1", ARIURL: sim.ARIURL(), ARIUser: user, ARIPassword: pass, ARIApp: "cti",
			AMIAddr: sim.AMIAddr(), AMIUser: amiUser, AMISecret: secret},
		Directory: newTestDir(),
		Publish:   hub.publish,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Run(ctx); !errors.Is(err, ErrFenced) || !fenced {
		t.Fatalf("Run = %v, want ErrFenced", err)
	}
}

// A publish failure ends the session; after reconnecting the resync
// re-sends what was lost, so the hub ends up complete.
func TestConnectorRepublishesAfterPublishFailure(t *testing.T) {
	hub := newFakeHub()
	var failures int
	hub.fail = func(d Diff) error {
		if d.Element == ElemUser && failures < 2 {
			failures++
			return errors.New("redis down")
		}
		return nil
	}
	h := startConnector(t, hub, 1)
	waitUntil(t, "users published", func() bool {
		h.hub.mu.Lock()
		defer h.hub.mu.Unlock()
		n := 0
		for _, d := range h.hub.state {
			if d.Element == ElemUser {
				n++
			}
		}
		return n == 6
	})
	if failures != 2 {
		t.Errorf("%d publish failures injected, want 2", failures)
	}
	h.converged("after publish failures")
	h.noViolations()
}

func TestConnectorConfigErrors(t *testing.T) {
	pub := func(context.Context, Diff) error { return nil }
	for _, cfg := range []ConnectorConfig{
		{PBX: PBXInfo{ID: "a:b", ARIURL: "http://x/ari", AMIAddr: "x:1"}, Publish: pub},
		{PBX: PBXInfo{ID: "a", AMIAddr: "x:1"}, Publish: pub},
		{PBX: PBXInfo{ID: "a", ARIURL: "http://x/ari"}, Publish: pub},
		{PBX: PBXInfo{ID: "a", ARIURL: "http://x/ari", AMIAddr: "x:1"}},
	} {
		if _, err := NewConnector(cfg); !errors.Is(err, ErrConnectorConfig) {
			t.Errorf("NewConnector(%+v) = %v, want ErrConnectorConfig", cfg.PBX, err)
		}
	}
}

func TestBackoffFullJitter(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Cap: time.Second}
	for n := 0; n < 40; n++ {
		limit := min(time.Second, 100*time.Millisecond<<min(n, 20))
		for i := 0; i < 50; i++ {
			if d := b.delay(n); d < 0 || d >= limit {
				t.Fatalf("delay(%d) = %v, want in [0, %v)", n, d, limit)
			}
		}
	}
}

// DirectoryChanged reaches the live session: a new user appears at once.
func TestConnectorDirectoryChanged(t *testing.T) {
	h := startConnector(t, newFakeHub(), 1)
	h.dir.set(append(h.dir.Users(), UserInfo{ID: "u42", Name: "New agent", Terminals: []string{"PJSIP/1006"}}))
	h.conn.DirectoryChanged()
	waitUntil(t, "new user published", func() bool {
		h.hub.mu.Lock()
		defer h.hub.mu.Unlock()
		d, ok := h.hub.state["user u42"]
		return ok && d.Data.(*User).Presence == PresenceOnline // PJSIP/1006 is registered
	})
	h.hub.mu.Lock()
	term := h.hub.state["terminal pbx1:PJSIP/1006"]
	h.hub.mu.Unlock()
	if tm, ok := term.Data.(*Terminal); !ok || tm.AssocUserID != "u1006" && tm.AssocUserID != "u42" {
		t.Errorf("terminal PJSIP/1006: %+v", term.Data)
	}
	h.noViolations()
}

// Retire after Run removes everything the connector published.
func TestConnectorRetire(t *testing.T) {
	sim, err := pbxsim.Start(context.Background(), pbxsim.Config{Speed: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	user, pass := sim.ARICredentials()
	amiUser, secret := sim.AMICredentials()
	hub := newFakeHub()
	var removedPBX bool
	publish := func(ctx context.Context, d Diff) error {
		if d.Element == ElemPBX && d.Op == OpRemoved {
			removedPBX = true
		}
		return hub.publish(ctx, d)
	}
	c, err := NewConnector(ConnectorConfig{
		PBX: PBXInfo{ID: "pbx1", ARIURL: sim.ARIURL(), ARIUser: user, ARIPassword: pass, ARIApp: "cti",
			AMIAddr: sim.AMIAddr(), AMIUser: amiUser, AMISecret: secret},
		Directory: newTestDir(),
		Publish:   publish,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitUntil(t, "live", func() bool { return c.Status().Status == PBXLive })
	if _, err := sim.Originate(pbxsim.OriginateRequest{Endpoint: "Local/9001@customers", Extension: "8000", Context: "default"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "queued call published", func() bool { return len(hub.keys(ElemQueuedChannel)) > 0 || len(hub.keys(ElemChannel)) > 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := c.Retire(context.Background()); err != nil {
		t.Fatal(err)
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if len(hub.state) != 0 || !removedPBX {
		t.Errorf("after Retire the hub holds %d elements (pbx removed %v)", len(hub.state), removedPBX)
	}
	for _, b := range hub.bad {
		t.Error(b)
	}
}

// A new owner seeded with the previous owner's published state removes the
// calls that ended during the handover, and re-sends nothing unchanged.
func TestConnectorLoadStateRemovesHandoverGhosts(t *testing.T) {
	sim, err := pbxsim.Start(context.Background(), pbxsim.Config{Speed: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	user, pass := sim.ARICredentials()
	amiUser, secret := sim.AMICredentials()
	info := PBXInfo{ID: "pbx1", ARIURL: sim.ARIURL(), ARIUser: user, ARIPassword: pass, ARIApp: "cti",
		AMIAddr: sim.AMIAddr(), AMIUser: amiUser, AMISecret: secret}

	// The previous owner: runs, sees a call, stops (lease lost).
	hub := newFakeHub()
	prev, err := NewConnector(ConnectorConfig{PBX: info, Directory: newTestDir(), Publish: hub.publish})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- prev.Run(ctx) }()
	waitUntil(t, "previous owner live", func() bool { return prev.Status().Status == PBXLive })
	id, err := sim.Originate(pbxsim.OriginateRequest{Endpoint: "Local/9002@customers", Extension: "1001", Context: "default"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "call published", func() bool { return len(hub.keys(ElemChannel)) >= 4 })
	cancel()
	<-done
	// The call ends while nobody owns the PBX.
	var uid struct{ ID string }
	if err := json.Unmarshal(id, &uid); err != nil {
		t.Fatal(err)
	}
	if err := sim.Hangup(uid.ID, "normal"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "call gone in the simulator", func() bool { return len(sim.Channels()) == 0 })

	// The new owner starts from what the hub holds.
	hub.mu.Lock()
	var state []Diff
	for _, d := range hub.state {
		b, _ := json.Marshal(d.Data)
		v, err := DecodeElement(d.Element, b)
		if err != nil {
			t.Fatal(err)
		}
		state = append(state, Diff{Element: d.Element, Key: d.Key, Data: v})
	}
	hub.mu.Unlock()
	var added int
	var ops sync.Mutex
	next, err := NewConnector(ConnectorConfig{PBX: info, Directory: newTestDir(),
		Publish: func(ctx context.Context, d Diff) error {
			if d.Op == OpAdded {
				ops.Lock()
				added++
				ops.Unlock()
			}
			return hub.publish(ctx, d)
		},
		LoadState: func(context.Context) ([]Diff, error) { return state, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _ = next.Run(ctx2) }()
	waitUntil(t, "new owner live", func() bool { return next.Status().Status == PBXLive })
	if n := len(hub.keys(ElemChannel)); n != 0 {
		t.Errorf("%d ghost channels after the takeover", n)
	}
	ops.Lock()
	defer ops.Unlock()
	if added != 0 {
		t.Errorf("the new owner re-added %d unchanged elements", added)
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	for _, b := range hub.bad {
		t.Error(b)
	}
}

// Generated traffic with sockets dropped in the middle of calls: once the
// traffic stops and the calls end, the model is empty again and the hub
// never saw an inconsistent diff.
func TestConnectorUnderTrafficAndDrops(t *testing.T) {
	sim, err := pbxsim.Start(context.Background(), pbxsim.Config{Speed: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	user, pass := sim.ARICredentials()
	amiUser, secret := sim.AMICredentials()
	hub := newFakeHub()
	c, err := NewConnector(ConnectorConfig{
		PBX: PBXInfo{ID: "pbx1", ARIURL: sim.ARIURL(), ARIUser: user, ARIPassword: pass, ARIApp: "cti",
			AMIAddr: sim.AMIAddr(), AMIUser: amiUser, AMISecret: secret},
		Directory: newTestDir(),
		Publish:   hub.publish,
		Backoff:   Backoff{Base: 10 * time.Millisecond, Cap: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "live", func() bool { return c.Status().Status == PBXLive })

	tctx, tcancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer tcancel()
	go func() {
		for i := 0; tctx.Err() == nil; i++ {
			time.Sleep(200 * time.Millisecond)
			if i%2 == 0 {
				sim.DropARI()
			} else {
				sim.DropAMI()
			}
		}
	}()
	var stats pbxsim.TrafficStats
	if err := pbxsim.RunTraffic(tctx, []*pbxsim.PBX{sim}, pbxsim.TrafficConfig{CallsPerSecond: 20, TalkTime: 50 * time.Millisecond, Seed: 3}, &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Started.Load() < 10 {
		t.Fatalf("only %d calls started", stats.Started.Load())
	}
	waitUntil(t, "simulator idle", func() bool {
		for _, ch := range sim.Channels() {
			_ = sim.Hangup(ch.ID, "normal")
		}
		return len(sim.Channels()) == 0
	})
	waitUntil(t, "model empty", func() bool {
		return len(hub.keys(ElemChannel))+len(hub.keys(ElemQueuedChannel))+len(hub.keys(ElemParkedChannel)) == 0 &&
			c.Status().Status == PBXLive
	})
	hub.mu.Lock()
	defer hub.mu.Unlock()
	for _, b := range hub.bad {
		t.Error(b)
	}
}

// A burst of PBX events that arrives while the connector is busy goes out
// as one batch, and the model still ends equal to the simulator's truth.
func TestConnectorBatchesBursts(t *testing.T) {
	hub := newFakeHub()
	h := startConnector(t, hub, 1)
	h.converged("idle")
	gate := make(chan struct{})
	hub.mu.Lock()
	hub.batches, hub.gate = nil, gate
	hub.mu.Unlock()
	h.originate("Local/9001@customers", "1001")
	// The connector is held on the call's first channel diff while the
	// simulator (infinite speed) emits the rest of the call's events.
	waitUntil(t, "call bridged in the simulator", func() bool {
		return slices.ContainsFunc(h.truth(), func(l string) bool { return strings.HasSuffix(l, " bridged") })
	})
	time.Sleep(100 * time.Millisecond) // the events cross the loopback sockets
	hub.mu.Lock()
	hub.gate = nil
	hub.mu.Unlock()
	close(gate)
	h.converged("direct call")
	if n := hub.largestBatch(); n < 5 {
		t.Fatalf("largest batch after a held burst: %d diffs, want several", n)
	}
	h.noViolations()
}
