package pbxconn

import (
	"testing"
	"time"
)

var snapshotMoments = []string{
	"idle", "during-queue-call", "during-queue-wait", "during-park", "after-blind-transfer",
	"during-attended-transfer", "during-stasis-bridge", "during-pjsip-call",
}

func countDiffs(ds []Diff, elem Element, op Op) int {
	n := 0
	for _, d := range ds {
		if d.Element == elem && (op == "" || d.Op == op) {
			n++
		}
	}
	return n
}

// A resync against an unchanged PBX emits nothing, for every recorded moment.
func TestResyncUnchangedEmitsNothing(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	for _, m := range snapshotMoments {
		t.Run(m, func(t *testing.T) {
			n := newTestNormalizer(nil)
			first := n.Resync(nil, loadSnapshot(t, m, t0))
			if countDiffs(first, ElemTerminal, OpAdded) == 0 {
				t.Error("first resync added no terminals")
			}
			again := n.Resync(nil, loadSnapshot(t, m, t0.Add(3*time.Second)))
			for _, d := range again {
				t.Errorf("second resync of an unchanged PBX: %s %s %s", d.Op, d.Element, d.Key)
			}
		})
	}
}

// Replaying the queue call up to the moment its snapshot was taken, then
// resyncing from that snapshot, changes no channel; resyncing from the idle
// snapshot afterwards removes exactly the call's channels and completes it.
func TestResyncAfterReplayRemovesOnlyGhosts(t *testing.T) {
	var calls []Call
	n := newTestNormalizer(&calls)
	cut := time.Date(2026, 11, 23, 14, 7, 39, 298000000, time.UTC) // actions-queue.log: snapshot
	var evs []fixtureEvent
	for _, e := range loadScenario(t, "queue") {
		if e.ts.Before(cut) {
			evs = append(evs, e)
		}
	}
	replay(n, evs)
	if len(n.Channels()) != 4 {
		t.Fatalf("channels before the snapshot: %d, want 4", len(n.Channels()))
	}
	ds := n.Resync(nil, loadSnapshot(t, "during-queue-call", cut))
	for _, d := range ds {
		if d.Element == ElemChannel || d.Element == ElemQueuedChannel || d.Element == ElemParkedChannel {
			t.Errorf("resync at the snapshot moment changed %s %s: %+v", d.Element, d.Key, d.Data)
		}
	}
	if ds := n.Resync(nil, loadSnapshot(t, "during-queue-call", cut.Add(5*time.Second))); len(ds) != 0 {
		t.Errorf("second resync emitted %d diffs, first %s %s", len(ds), ds[0].Element, ds[0].Key)
	}
	if len(calls) != 0 {
		t.Fatalf("calls completed before the hangup: %+v", calls)
	}

	ds = n.Resync(nil, loadSnapshot(t, "idle", cut.Add(10*time.Second)))
	if got := countDiffs(ds, ElemChannel, OpRemoved); got != 4 || countDiffs(ds, ElemChannel, "") != 4 {
		t.Errorf("idle resync: %d channel removals of %d channel diffs, want 4 and 4", got, countDiffs(ds, ElemChannel, ""))
	}
	for _, d := range ds {
		if d.Element == ElemChannel && d.Data.(*Channel).State.Name != StateHangup {
			t.Errorf("ghost %s removed in state %s", d.Key, d.Data.(*Channel).State.Name)
		}
		if d.Element == ElemTerminal && d.Key == "pbx1:PJSIP/1006" {
			t.Errorf("unchanged terminal re-emitted: %+v", d.Data)
		}
	}
	if len(n.Channels()) != 0 {
		t.Errorf("channels after the idle resync: %+v", n.Channels())
	}
	if len(calls) != 1 || calls[0].LinkedID != "1795442854.0" || !calls[0].Answered {
		t.Errorf("calls after the idle resync: %+v", calls)
	}
}

func TestResyncQueueWaitAndPark(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	n := newTestNormalizer(nil)
	n.Resync(nil, loadSnapshot(t, "during-queue-wait", t0))
	q := n.QueuedChannels()
	if len(q) != 1 || q[0].Position != 1 || q[0].GroupID != "pbx1:support" || q[0].JoinedTS != t0.Add(-4*time.Second).UnixMicro() {
		t.Errorf("queued: %+v", q)
	}
	var sup Group
	for _, g := range n.Groups() {
		if g.Name == "support" {
			sup = g
		}
	}
	if sup.Waiting != 1 || sup.LongestWaitS != 4 || sup.Answered != 3 || sup.AvgHoldS != 1 || sup.AvgTalkS != 4 || sup.Strategy != "ringall" {
		t.Errorf("support: %+v", sup)
	}
	paused := 0
	for _, m := range n.GroupMembers() {
		if m.GroupID == "pbx1:support" && m.Paused && m.PauseReason == "lunch" {
			paused++
		}
	}
	if paused != 3 {
		t.Errorf("%d support members paused for lunch, want 3", paused)
	}

	ds := n.Resync(nil, loadSnapshot(t, "during-park", t0.Add(time.Minute)))
	if countDiffs(ds, ElemQueuedChannel, OpRemoved) != 1 || countDiffs(ds, ElemParkedChannel, OpAdded) != 1 {
		t.Errorf("queue-wait → park: %d queued removed, %d parked added", countDiffs(ds, ElemQueuedChannel, OpRemoved), countDiffs(ds, ElemParkedChannel, OpAdded))
	}
	p := n.ParkedChannels()
	if len(p) != 1 || p[0].Slot != "701" || p[0].UUID != "pbx1:1795442873.8" {
		t.Fatalf("parked: %+v", p)
	}
	for _, c := range n.Channels() {
		if c.UUID == p[0].UUID && c.State.Name != StatePark {
			t.Errorf("parked channel in state %s", c.State.Name)
		}
	}
	ds = n.Resync(nil, loadSnapshot(t, "idle", t0.Add(2*time.Minute)))
	if countDiffs(ds, ElemParkedChannel, OpRemoved) != 1 || len(n.ParkedChannels()) != 0 {
		t.Errorf("parked channel not removed by the idle resync")
	}
}

// A diff whose publish failed is re-emitted by the next resync even though
// nothing changed.
func TestResyncReemitsForgotten(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	n := newTestNormalizer(nil)
	ds := n.Resync(nil, loadSnapshot(t, "during-park", t0))
	var lost Diff
	for _, d := range ds {
		if d.Element == ElemParkedChannel {
			lost = d
		}
	}
	if lost.Key == "" {
		t.Fatal("no parked channel")
	}
	n.Forget(lost)
	again := n.Resync(nil, loadSnapshot(t, "during-park", t0))
	if len(again) != 1 || again[0].Key != lost.Key || again[0].Op != OpAdded {
		t.Errorf("after forgetting an addition: %+v", again)
	}
	if again := n.Resync(nil, loadSnapshot(t, "during-park", t0)); len(again) != 0 {
		t.Errorf("re-emitted twice: %+v", again)
	}

	// A lost update is re-sent as an update.
	n.Forget(Diff{Element: ElemParkedChannel, Op: OpUpdated, Key: lost.Key, Data: lost.Data})
	if again := n.Resync(nil, loadSnapshot(t, "during-park", t0)); len(again) != 1 || again[0].Op != OpUpdated {
		t.Errorf("after forgetting an update: %+v", again)
	}

	// A lost removal is removed again although the normalizer had dropped it.
	ds = n.Resync(nil, loadSnapshot(t, "idle", t0.Add(time.Minute)))
	var rm Diff
	for _, d := range ds {
		if d.Element == ElemParkedChannel && d.Op == OpRemoved {
			rm = d
		}
	}
	if rm.Key != lost.Key {
		t.Fatalf("idle resync did not remove the parked channel: %+v", ds)
	}
	n.Forget(rm)
	again = n.Resync(nil, loadSnapshot(t, "idle", t0.Add(2*time.Minute)))
	if len(again) != 1 || again[0].Key != lost.Key || again[0].Op != OpRemoved {
		t.Errorf("after forgetting a removal: %+v", again)
	}
}
