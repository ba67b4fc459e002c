package pbxconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
	"github.com/hookflash/hookflash/pbxconn/ari"
)

// scenarioRun is one scenario replayed through a fresh normalizer.
type scenarioRun struct {
	n     *Normalizer
	diffs []Diff
	calls []Call
}

func runScenario(t *testing.T, name string) *scenarioRun {
	t.Helper()
	r := &scenarioRun{}
	r.n = newTestNormalizer(&r.calls)
	r.diffs = replay(r.n, loadScenario(t, name))
	return r
}

// seen reports whether some diff of elem matches pred.
func (r *scenarioRun) seen(elem Element, pred func(Diff) bool) bool {
	for _, d := range r.diffs {
		if d.Element == elem && pred(d) {
			return true
		}
	}
	return false
}

func (r *scenarioRun) group(t *testing.T, name string) Group {
	t.Helper()
	for _, g := range r.n.Groups() {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no group %s", name)
	return Group{}
}

func chanData(d Diff) *Channel { return d.Data.(*Channel) }

// TestScenarioInvariants checks what must hold after every scenario: no
// element outlives its call, removals follow additions, nothing is
// resurrected, one completed call per linkedid.
func TestScenarioInvariants(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc, func(t *testing.T) {
			r := runScenario(t, sc)
			if c := r.n.Channels(); len(c) != 0 {
				t.Errorf("%d channels left after the scenario, first %s (%s)", len(c), c[0].UUID, c[0].State.Name)
			}
			if q := r.n.QueuedChannels(); len(q) != 0 {
				t.Errorf("%d queued channels left", len(q))
			}
			if p := r.n.ParkedChannels(); len(p) != 0 {
				t.Errorf("%d parked channels left", len(p))
			}
			live := map[string]bool{}
			removed := map[string]bool{}
			for _, d := range r.diffs {
				k := string(d.Element) + " " + d.Key
				switch d.Op {
				case OpAdded:
					if live[k] {
						t.Errorf("%s added twice", k)
					}
					if removed[k] && (d.Element == ElemChannel) {
						t.Errorf("%s resurrected after its removal", k)
					}
					live[k] = true
				case OpUpdated:
					if !live[k] {
						t.Errorf("%s updated before it was added", k)
					}
				case OpRemoved:
					if !live[k] {
						t.Errorf("%s removed but never added", k)
					}
					delete(live, k)
					removed[k] = true
				}
				if d.Element == ElemChannel {
					c := chanData(d)
					if !slices.IsSorted(d.Audience) {
						t.Errorf("%s audience not sorted: %v", k, d.Audience)
					}
					if c.UserID != "" && !slices.Contains(d.Audience, c.UserID) {
						t.Errorf("%s audience %v lacks its own user %s", k, d.Audience, c.UserID)
					}
				}
			}
			ids := map[string]int{}
			for _, c := range r.calls {
				ids[c.LinkedID]++
			}
			for id, n := range ids {
				if n != 1 {
					t.Errorf("call %s completed %d times", id, n)
				}
			}
			linked := map[string]bool{}
			for _, d := range r.diffs {
				if d.Element == ElemChannel && d.Op == OpRemoved {
					linked[chanData(d).LinkedID] = true
				}
			}
			if len(ids) != len(linked) {
				t.Errorf("%d calls completed for %d linkedids", len(ids), len(linked))
			}
		})
	}
}

func TestScenarioQueue(t *testing.T) {
	r := runScenario(t, "queue")
	g := r.group(t, "support")
	if g.Waiting != 0 || g.Answered != 1 || g.Abandoned != 0 || g.AvgHoldS != 1 || g.AvgTalkS != 5 {
		t.Errorf("support after the call: %+v", g)
	}
	if !r.seen(ElemGroup, func(d Diff) bool { return d.Data.(*Group).Waiting == 1 }) {
		t.Error("the queue never showed a waiting caller")
	}
	if !r.seen(ElemQueuedChannel, func(d Diff) bool {
		q := d.Data.(*QueuedChannel)
		return d.Op == OpAdded && q.GroupID == "pbx1:support" && q.Position == 1 && q.PeerNumber == "+15550009001"
	}) {
		t.Error("no queued_channel added for the customer")
	}
	if !r.seen(ElemChannel, func(d Diff) bool {
		c := chanData(d)
		return c.UserID == "u1003" && c.State.Name == StateBridged && c.GroupID == "pbx1:support" && c.OtherUUID == "pbx1:1795442854.0"
	}) {
		t.Error("agent 1003's leg never bridged to the customer")
	}
	if !r.seen(ElemChannel, func(d Diff) bool {
		c := chanData(d)
		return c.UUID == "pbx1:1795442854.0" && c.State.Name == StateBridged && slices.Contains(d.Audience, "u1003")
	}) {
		t.Error("the customer's bridged channel is not in agent 1003's audience")
	}
	var m GroupMember
	for _, x := range r.n.GroupMembers() {
		if x.Interface == "Local/1003@agents/n" {
			m = x
		}
	}
	if m.CallsTaken != 1 || m.UserID != "u1003" || m.LastCallTS == 0 {
		t.Errorf("member 1003: %+v", m)
	}
	if len(r.calls) != 1 {
		t.Fatalf("calls: %+v", r.calls)
	}
	c := r.calls[0]
	if c.LinkedID != "1795442854.0" || !c.Answered || c.Queue != "pbx1:support" || c.Disposition != "answered" ||
		c.Direction != "inbound" || c.From != "+15550009001" || c.To != "8000" || !slices.Contains(c.Users, "u1003") {
		t.Errorf("call: %+v", c)
	}
}

func TestScenarioQueueAbandon(t *testing.T) {
	r := runScenario(t, "queue-abandon")
	g := r.group(t, "support")
	if g.Waiting != 0 || g.Abandoned != 1 {
		t.Errorf("support: %+v", g)
	}
	if !r.seen(ElemGroupMember, func(d Diff) bool {
		m := d.Data.(*GroupMember)
		return m.Paused && m.PauseReason == "lunch"
	}) {
		t.Error("no member paused with reason lunch")
	}
	for _, m := range r.n.GroupMembers() {
		if m.Paused || m.PauseReason != "" {
			t.Errorf("member still paused: %+v", m)
		}
		if m.Interface == "Local/1010@agents/n" {
			t.Errorf("removed member still present: %+v", m)
		}
	}
	if !r.seen(ElemGroupMember, func(d Diff) bool { return d.Op == OpRemoved && d.Data.(*GroupMember).Interface == "Local/1010@agents" }) &&
		!r.seen(ElemGroupMember, func(d Diff) bool {
			return d.Op == OpRemoved && slices.Contains([]string{"Local/1010@agents", "Local/1010@agents/n"}, d.Data.(*GroupMember).Interface)
		}) {
		t.Error("QueueRemove of Local/1010 produced no removal")
	}
	if len(r.calls) != 1 || !r.calls[0].Abandoned || r.calls[0].Disposition != "abandoned" || r.calls[0].Answered {
		t.Errorf("calls: %+v", r.calls)
	}
}

func TestScenarioPark(t *testing.T) {
	for _, sc := range []string{"park", "park-xfer"} {
		t.Run(sc, func(t *testing.T) {
			r := runScenario(t, sc)
			var added, removed int
			for _, d := range r.diffs {
				if d.Element != ElemParkedChannel {
					continue
				}
				p := d.Data.(*ParkedChannel)
				switch d.Op {
				case OpAdded:
					added++
					if p.Slot != "701" || p.Lot != "default" || p.ParkerUserID != "u1001" || p.TimeoutTS == 0 {
						t.Errorf("parked: %+v", p)
					}
				case OpRemoved:
					removed++
				}
			}
			if added != 1 || removed != 1 {
				t.Errorf("parked added %d removed %d, want 1 and 1", added, removed)
			}
			if !r.seen(ElemChannel, func(d Diff) bool { return chanData(d).State.Name == StatePark && chanData(d).State.Data.Slot == "701" }) {
				t.Error("no channel in state park")
			}
		})
	}
}

func TestScenarioTransfers(t *testing.T) {
	r := runScenario(t, "transfer-blind")
	if !r.seen(ElemChannel, func(d Diff) bool {
		c := chanData(d)
		return c.Direction == "outbound" && c.UserID == "u1002" && c.State.Name == StateBridged
	}) {
		t.Error("blind transfer: 1002 never bridged")
	}
	if !r.seen(ElemChannel, func(d Diff) bool { c := chanData(d); return c.Target.Type == "user" && c.Target.ID == "u1002" }) {
		t.Error("blind transfer: the transferee never targeted 1002")
	}

	r = runScenario(t, "transfer-attended")
	if !r.seen(ElemChannel, func(d Diff) bool { return chanData(d).Hold && chanData(d).UserID == "u1001" }) {
		t.Error("attended transfer: the transferer was never on hold")
	}
	if !r.seen(ElemChannel, func(d Diff) bool {
		c := chanData(d)
		return c.UUID == "pbx1:1795442975.34" && c.State.Name == StateBridged && slices.Contains(d.Audience, "u1002")
	}) {
		t.Error("attended transfer: the customer never bridged towards 1002")
	}
	if !r.seen(ElemChannel, func(d Diff) bool {
		c := chanData(d)
		return c.UUID == "pbx1:1795442975.34" && c.Target.Type == "user" && c.Target.ID == "u1002"
	}) {
		t.Error("attended transfer: the customer's target never became 1002")
	}

	r = runScenario(t, "transfer-redirect")
	if len(r.calls) != 1 || r.calls[0].Queue != "pbx1:support" || !r.calls[0].Answered {
		t.Errorf("redirect into the queue: calls %+v", r.calls)
	}
}

func TestScenarioHold(t *testing.T) {
	r := runScenario(t, "hold-sip")
	var states []string
	for _, d := range r.diffs {
		if d.Element == ElemChannel && d.Key == "pbx1:1795443101.68" {
			if s := chanData(d).State.Name; len(states) == 0 || states[len(states)-1] != s {
				states = append(states, s)
			}
		}
	}
	want := []string{StateCalling, StateBridged, StateHold, StateBridged, StateHangup}
	if !slices.Equal(states, want) {
		t.Errorf("PJSIP/1001 states %v, want %v", states, want)
	}
	if c := r.calls; len(c) != 1 || c[0].Direction != "internal" || c[0].From != "1001" || c[0].To != "1003" {
		t.Errorf("calls: %+v", c)
	}

	// Asterisk raises no hold event for an ARI hold of a Local channel,
	// only music on hold: the customer is on hold from 14:10:05 to 14:10:08,
	// and not while it waits in the queue with music later.
	r = runScenario(t, "hold-ari")
	var holds []string
	for _, d := range r.diffs {
		if d.Element == ElemChannel && d.Key == "pbx1:1795442999.42" {
			c := chanData(d)
			if s := fmt.Sprintf("%v@%s", c.Hold, d.TS.UTC().Format("15:04:05")); len(holds) == 0 || !strings.HasPrefix(holds[len(holds)-1], fmt.Sprint(c.Hold)) {
				holds = append(holds, s)
			}
		}
	}
	if want := []string{"false@14:09:59", "true@14:10:05", "false@14:10:08"}; !slices.Equal(holds, want) {
		t.Errorf("hold-ari: customer hold changes %v, want %v", holds, want)
	}
	// The far side of a SIP hold hears music: its leg is on hold too.
	r = runScenario(t, "hold-sip")
	if !r.seen(ElemChannel, func(d Diff) bool { return chanData(d).UserID == "u1003" && chanData(d).Hold }) {
		t.Error("hold-sip: 1003's leg never showed the hold")
	}
}

func TestScenarioHangup(t *testing.T) {
	r := runScenario(t, "hangup")
	causes := map[int]bool{}
	for _, d := range r.diffs {
		if d.Element == ElemChannel && d.Op == OpRemoved {
			causes[chanData(d).State.Data.Cause] = true
			if chanData(d).HangupTimestamp == 0 {
				t.Errorf("%s removed without hangup_timestamp", d.Key)
			}
		}
	}
	if !causes[16] || !causes[17] {
		t.Errorf("hangup causes seen %v, want 16 and 17", causes)
	}
	if len(r.calls) != 3 {
		t.Fatalf("calls: %+v", r.calls)
	}
	unanswered := 0
	for _, c := range r.calls {
		if !c.Answered {
			unanswered++
		}
	}
	if unanswered != 1 {
		t.Errorf("want exactly the still-ringing call unanswered: %+v", r.calls)
	}
}

func TestScenarioRegister(t *testing.T) {
	r := runScenario(t, "register")
	if !r.seen(ElemTerminal, func(d Diff) bool { tm := d.Data.(*Terminal); return tm.Device == "PJSIP/1002" && tm.Registered }) {
		t.Error("PJSIP/1002 never registered")
	}
	if !r.seen(ElemUser, func(d Diff) bool { return d.Key == "u1002" && d.Data.(*User).Presence == PresenceOnline }) {
		t.Error("u1002 never online")
	}
	if !r.seen(ElemUser, func(d Diff) bool { return d.Key == "u1002" && d.Data.(*User).Presence == PresenceBusy }) {
		t.Error("u1002 never busy during the call")
	}
	for _, tm := range r.n.Terminals() {
		if tm.Device == "PJSIP/1002" && (tm.Registered || tm.DeviceState != "unavailable") {
			t.Errorf("PJSIP/1002 after un-REGISTER: %+v", tm)
		}
	}
	for _, u := range r.n.Users() {
		if u.ID == "u1002" && u.Presence != PresenceOffline {
			t.Errorf("u1002 after un-REGISTER: %+v", u)
		}
	}
}

func TestScenarioConfbridge(t *testing.T) {
	r := runScenario(t, "confbridge")
	if !r.seen(ElemChannel, func(d Diff) bool {
		return chanData(d).State.Name == StateConference && chanData(d).State.Data.Room == "7000"
	}) {
		t.Error("no channel in conference 7000")
	}
	if !r.seen(ElemChannel, func(d Diff) bool { return chanData(d).Muted }) {
		t.Error("ConfbridgeMute not reflected")
	}
}

func TestScenarioDeviceState(t *testing.T) {
	r := runScenario(t, "devicestate")
	var tm Terminal
	for _, x := range r.n.Terminals() {
		if x.Device == "Stasis:agent-1001" {
			tm = x
		}
	}
	if tm.DeviceState != "inuse" || tm.AssocUserID != "u1001" {
		t.Errorf("Stasis:agent-1001: %+v", tm)
	}
	for _, u := range r.n.Users() {
		if u.ID == "u1001" && u.Presence != PresenceBusy {
			t.Errorf("u1001 presence %s, want busy from its custom device", u.Presence)
		}
	}
}

// Either protocol alone keeps the model right: AMI alone (ARI socket down)
// and ARI alone (no queue or parking events) both end every scenario clean
// and agree with the merged replay on which channels existed.
func TestSingleProtocolReplays(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc, func(t *testing.T) {
			all := loadScenario(t, sc)
			var amiOnly, ariOnly []fixtureEvent
			for _, e := range all {
				if e.ami != nil {
					amiOnly = append(amiOnly, e)
				} else {
					ariOnly = append(ariOnly, e)
				}
			}
			added := func(ds []Diff) []string {
				var ks []string
				for _, d := range ds {
					if d.Element == ElemChannel && d.Op == OpAdded {
						ks = append(ks, d.Key)
					}
				}
				slices.Sort(ks)
				return ks
			}
			want := added(replay(newTestNormalizer(nil), all))
			for name, evs := range map[string][]fixtureEvent{"ami": amiOnly, "ari": ariOnly} {
				n := newTestNormalizer(nil)
				ds := replay(n, evs)
				if len(n.Channels()) != 0 {
					t.Errorf("%s only: %d channels left", name, len(n.Channels()))
				}
				if got := added(ds); len(evs) > 0 && !slices.Equal(got, want) {
					t.Errorf("%s only: channels %v, merged replay %v", name, got, want)
				}
			}
		})
	}
}

// Seeded with what a previous owner published, the first resync removes
// what no longer exists and re-sends nothing that is unchanged.
func TestSeedThenResync(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	prev := newTestNormalizer(nil)
	prev.Resync(nil, loadSnapshot(t, "during-park", t0))
	// What the hub holds, through JSON as a state hash would keep it.
	var state []Diff
	for _, d := range prev.State() {
		b, err := json.Marshal(d.Data)
		if err != nil {
			t.Fatal(err)
		}
		v, err := DecodeElement(d.Element, b)
		if err != nil {
			t.Fatal(err)
		}
		state = append(state, Diff{Element: d.Element, Key: d.Key, Data: v})
	}
	state = append(state, Diff{Element: ElemChannel, Key: "otherpbx:1.1", Data: &Channel{UUID: "otherpbx:1.1"}})

	n := newTestNormalizer(nil)
	n.Seed(state)
	if ds := n.Resync(nil, loadSnapshot(t, "during-park", t0)); countDiffs(ds, ElemChannel, "") != 0 || countDiffs(ds, ElemParkedChannel, "") != 0 {
		t.Errorf("resync of the seeded state re-sent channels: %+v", ds)
	}
	ds := n.Resync(nil, loadSnapshot(t, "idle", t0.Add(time.Minute)))
	if countDiffs(ds, ElemChannel, OpRemoved) != len(prev.Channels()) || countDiffs(ds, ElemParkedChannel, OpRemoved) != 1 {
		t.Errorf("idle resync after seeding: %d channel and %d parked removals, want %d and 1",
			countDiffs(ds, ElemChannel, OpRemoved), countDiffs(ds, ElemParkedChannel, OpRemoved), len(prev.Channels()))
	}
	for _, d := range ds {
		if strings.HasPrefix(d.Key, "otherpbx") {
			t.Errorf("touched another PBX's element %s", d.Key)
		}
	}
	if _, err := DecodeElement("bogus", []byte("{}")); !errors.Is(err, ErrBadElement) {
		t.Errorf("DecodeElement(bogus) = %v", err)
	}
	if _, err := DecodeElement(ElemChannel, []byte("[")); !errors.Is(err, ErrBadElement) {
		t.Errorf("DecodeElement(broken) = %v", err)
	}
}

// Hostile input: events with missing or absurd fields never panic and
// never create channels without ids.
func TestHostileEvents(t *testing.T) {
	n := newTestNormalizer(nil)
	var ds []Diff
	msgs := []string{
		"Event: Newchannel\r\n",
		"Event: Newchannel\r\nUniqueid: \r\nTimestamp: nope\r\n",
		"Event: Hangup\r\nUniqueid: 1.1\r\nCause: x\r\n",
		"Event: QueueCallerJoin\r\nQueue: \r\nUniqueid: 9.9\r\n",
		"Event: QueueMemberStatus\r\nQueue: q\r\n",
		"Event: ParkedCall\r\nParkeeUniqueid: 5.5\r\n",
		"Event: BridgeEnter\r\nUniqueid: 7.7\r\nBridgeUniqueid: b\r\n",
		"Event: BridgeMerge\r\nFromBridgeUniqueid: b\r\n",
		"Event: DeviceStateChange\r\n",
		"Event: ContactStatus\r\nEndpointName: \r\n",
		"Event: Newchannel\r\nUniqueid: 2.2\r\nChannel: -;\r\nTimestamp: 1e300\r\n",
		"Event: QueueCallerLeave\r\nQueue: q\r\nUniqueid: 2.2\r\nPosition: -5\r\n",
		"Event: AgentComplete\r\nQueue: q\r\nTalkTime: -1\r\nHoldTime: 99999999999999999999\r\n",
	}
	for _, s := range msgs {
		var m ami.Message
		for _, line := range strings.Split(strings.TrimSpace(s), "\r\n") {
			k, v, _ := strings.Cut(line, ": ")
			m.Add(k, v)
		}
		ds = n.HandleAMI(ds, &m)
	}
	for _, raw := range []string{
		`{"type":"ChannelCreated","channel":{"id":""}}`,
		`{"type":"ChannelEnteredBridge","bridge":{"id":"b"}}`,
		`{"type":"Dial","peer":{"id":"nope"}}`,
		`{"type":"ChannelDestroyed","channel":{"id":"2.2"}}`,
	} {
		ev, err := ari.DecodeEvent([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		ds = n.HandleARI(ds, ev)
	}
	ds = n.HandleARI(ds, nil)
	for _, d := range ds {
		if d.Element == ElemChannel && (d.Key == "pbx1:" || d.Data.(*Channel).UUID == "pbx1:") {
			t.Errorf("channel without id: %+v", d)
		}
	}
	if len(n.Channels()) != 0 {
		t.Errorf("channels left: %+v", n.Channels())
	}
}

// A directory change re-assigns terminals and channels and adds and
// removes users.
func TestRefreshDirectory(t *testing.T) {
	dir := newTestDir()
	n := NewNormalizer(NormalizerConfig{PBXID: "pbx1", Directory: dir, Now: fixedNow})
	cut := time.Date(2026, 11, 23, 14, 7, 39, 0, time.UTC)
	var evs []fixtureEvent
	for _, e := range loadScenario(t, "queue") {
		if e.ts.Before(cut) {
			evs = append(evs, e)
		}
	}
	replay(n, evs)
	users := dir.Users()
	users = slices.DeleteFunc(users, func(u UserInfo) bool { return u.ID == "u1003" })
	users = append(users, UserInfo{ID: "u9", Name: "New", Terminals: []string{"Local/1003@agents"}})
	dir.set(users)
	ds := n.RefreshDirectory(nil)
	var removedUser, addedUser, agentLeg bool
	for _, d := range ds {
		switch {
		case d.Element == ElemUser && d.Op == OpRemoved && d.Key == "u1003":
			removedUser = true
		case d.Element == ElemUser && d.Op == OpAdded && d.Key == "u9":
			addedUser = d.Data.(*User).Presence == PresenceBusy
		case d.Element == ElemChannel && d.Key == "pbx1:1795442854.2":
			agentLeg = chanData(d).UserID == "u9" && slices.Contains(d.Audience, "u9")
		}
	}
	if !removedUser || !addedUser || !agentLeg {
		t.Errorf("refresh: user removed %v, new user added busy %v, agent leg moved %v: %+v", removedUser, addedUser, agentLeg, ds)
	}
	for _, m := range n.GroupMembers() {
		if m.Interface == "Local/1003@agents/n" && m.UserID != "u9" {
			t.Errorf("member not re-assigned: %+v", m)
		}
	}
	if again := n.RefreshDirectory(nil); len(again) != 0 {
		t.Errorf("unchanged directory emitted %+v", again)
	}
}

// A user whose terminals this PBX never mentions belongs to another PBX of
// the tenant: this normalizer publishes neither the user nor its terminal.
func TestUsersOfOtherPBXesStayOut(t *testing.T) {
	dir := newTestDir()
	dir.set(append(dir.Users(), UserInfo{ID: "u77", Name: "Elsewhere", Terminals: []string{"PJSIP/7777"}}))
	n := NewNormalizer(NormalizerConfig{PBXID: "pbx1", Directory: dir, Now: fixedNow})
	ds := n.Resync(nil, loadSnapshot(t, "during-queue-call", time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)))
	ds = append(ds, replay(n, loadScenario(t, "queue"))...)
	for _, d := range ds {
		if d.Key == "u77" || d.Key == "pbx1:PJSIP/7777" {
			t.Errorf("published %s %s of another PBX", d.Element, d.Key)
		}
	}
	if countDiffs(ds, ElemUser, OpAdded) != 6 {
		t.Errorf("%d users added, want the 6 with endpoints here", countDiffs(ds, ElemUser, OpAdded))
	}
}
