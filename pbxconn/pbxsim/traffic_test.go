package pbxsim

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Generated traffic over several PBXes must leave every PBX consistent:
// every channel the ARI stream announced is destroyed on the stream once
// the calls end, and the engine's truth is empty again.
func TestTrafficKeepsStreamAndTruthInStep(t *testing.T) {
	ctx := context.Background()
	cl, err := NewCluster(ctx, ClusterConfig{Count: 3, Base: Config{Speed: 40}, DistinctCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	var hs []*simHarness
	for _, p := range cl.PBXes() {
		h := &simHarness{t: t, pbx: p}
		t.Cleanup(h.wg.Wait) // after listen's cleanups closed the sockets
		h.listen()
		hs = append(hs, h)
	}
	tctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	var stats TrafficStats
	if err := RunTraffic(tctx, cl.PBXes(), TrafficConfig{CallsPerSecond: 40, TalkTime: 40 * time.Millisecond, Seed: 7}, &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed, last: %v", stats.Failed.Load(), stats.Started.Load(), stats.LastError())
	}
	if stats.Completed.Load() < 10 {
		t.Fatalf("only %d calls completed", stats.Completed.Load())
	}
	// end whatever the cancellation left up, then everything must be gone.
	for _, h := range hs {
		waitFor(t, "flows to finish", func() bool {
			for _, c := range h.pbx.Channels() {
				_ = h.pbx.Hangup(c.ID, "")
			}
			s := h.pbx.Stats()
			return s.Channels == 0 && s.Pending == 0
		})
		if n := len(h.pbx.Parked()) + len(h.pbx.QueueCallers()); n != 0 {
			t.Errorf("%s: %d parked/queued calls left", h.pbx.Name(), n)
		}
		waitFor(t, "stream to drain", func() bool {
			a, _ := h.streams()
			live := map[string]bool{}
			for _, b := range a {
				var ev struct {
					Type    string
					Channel struct{ ID string }
				}
				if json.Unmarshal(b, &ev) != nil {
					return false
				}
				switch ev.Type {
				case "ChannelCreated":
					live[ev.Channel.ID] = true
				case "ChannelDestroyed":
					delete(live, ev.Channel.ID)
				}
			}
			return len(live) == 0
		})
	}
}

func TestParkSpacesAreAllocated(t *testing.T) {
	h := startSim(t, Config{})
	var ids []string
	for _, c := range []string{"9101", "9102"} {
		id := h.originate("Local/"+c+"@customers", "1001")
		ids = append(ids, id)
		var name string
		for _, l := range h.pbx.Legs(id) {
			if l.ID == id {
				name = l.Name
			}
		}
		if err := h.pbx.Park(name); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	for _, pc := range h.pbx.Parked() {
		got[pc.UniqueID] = pc.Space
	}
	if got[ids[0]] != "701" || got[ids[1]] != "702" {
		t.Fatalf("spaces = %v, want 701 then 702", got)
	}
	h.originate("Local/1003@agents", "702")
	left := h.pbx.Parked()
	if len(left) != 1 || left[0].UniqueID != ids[0] {
		t.Fatalf("after picking up 702, parked = %+v", left)
	}
	if st, _ := h.rest("POST", "/channels", map[string][]string{"endpoint": {"Local/1003@agents"}, "extension": {"705"}}); st != 400 {
		t.Fatalf("pickup of an empty space: status %d, want 400", st)
	}
}

func TestParkTimeout(t *testing.T) {
	h := startSim(t, Config{ParkingTimeout: 50 * time.Millisecond})
	h.listen()
	id := h.originate("Local/9103@customers", "1001")
	h.amiDo("Park", "Channel", h.channel("Local/9103@customers-", ";1").Name)
	waitFor(t, "timeout", func() bool { return len(h.pbx.Parked()) == 0 && len(h.pbx.Legs(id)) == 0 })
	kinds := func() string {
		_, m := h.streams()
		var k []string
		for _, f := range m {
			if e := f.Get("Event"); e == "ParkedCall" || e == "ParkedCallTimeOut" || (e == "Hangup" && f.Get("Uniqueid") == id) {
				k = append(k, e)
			}
		}
		return strings.Join(k, ",")
	}
	waitFor(t, "timeout events", func() bool { return kinds() == "ParkedCall,ParkedCallTimeOut,Hangup" })
}

func TestTrafficStamp(t *testing.T) {
	h := startSim(t, Config{Speed: 100})
	h.listen()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	before := time.Now()
	if err := RunTraffic(ctx, []*PBX{h.pbx}, TrafficConfig{CallsPerSecond: 20, TalkTime: time.Second, QueueShare: 1, StampCallerName: true}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stamped events", func() bool {
		a, _ := h.streams()
		for _, b := range a {
			var ev struct {
				Channel struct{ Caller struct{ Name string } }
			}
			if json.Unmarshal(b, &ev) == nil {
				if ts, ok := ParseStamp(ev.Channel.Caller.Name); ok && !ts.Before(before.Truncate(time.Microsecond)) && ts.Before(time.Now()) {
					return true
				}
			}
		}
		return false
	})
	if _, ok := ParseStamp("Customer 9001"); ok {
		t.Fatal("unstamped name parsed as stamped")
	}
}
