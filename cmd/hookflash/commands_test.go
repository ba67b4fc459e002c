package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// TestCallControl runs every command of DESIGN §5 through REST and the
// socket against the simulator, checking the PBX-side effect in the
// simulator's truth and the feed events, on each backend.
func TestCallControl(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newCCEnv(t, startReplica(t, b, "--command-timeout", "2s"))
			aliceFeed := recordFeed(t, wsURL(e.base(), e.tokens["alice"], ""))
			integFeed := recordFeed(t, wsURL(e.base(), e.tokens["integrator"], ""))

			t.Run("hangup own, not another's, not another tenant's", func(t *testing.T) {
				leg := e.customerCall(t, "park", "9001", "alice", "1001")
				key := leg["uuid"].(string)
				if r := e.post(t, "bob", "/calls/"+key+"/hangup", nil); r.status != 403 || r.str("error", "code") != "forbidden" {
					t.Fatalf("bob hangs up alice's call: %d %s", r.status, r.raw)
				}
				other := newTenant(t, e.reps[0])
				if r := call(t, "POST", e.base()+"/api/v1/calls/"+key+"/hangup", other.adminToken, nil); r.status != 404 || r.str("error", "code") != "not_found" {
					t.Fatalf("another tenant's admin: %d %s", r.status, r.raw)
				}
				if !simHas(e.sim, localID(key)) {
					t.Fatal("refused hangups hung up the channel")
				}
				r := e.post(t, "alice", "/calls/"+key+"/hangup", nil)
				mustStatus(t, r, 200, "alice hangs up her call")
				if r.str("uuid") != key {
					t.Fatalf("result uuid %q, want %q", r.str("uuid"), key)
				}
				e.eventually(t, 5e9, "channel gone from the PBX", func() bool { return !simHas(e.sim, localID(key)) })
				aliceFeed.wait(t, "alice's channel removed", func(m ccMsg) bool {
					return m.Type == "info_event" && m.Element == "channel" && m.Event == "removed" && strings.Contains(string(m.Data), key)
				})
				if r := e.post(t, "alice", "/calls/"+key+"/hangup", nil); r.status != 404 {
					t.Fatalf("hangup of a gone channel: %d %s", r.status, r.raw)
				}
			})

			t.Run("socket hangup", func(t *testing.T) {
				leg := e.customerCall(t, "park", "9002", "alice", "1001")
				key := leg["uuid"].(string)
				bad := aliceFeed.request(t, "s1", map[string]any{"request": "hangup", "channel": e.pbxID + ":nope"})
				if bad.Result != "error" || !strings.Contains(bad.Error, "not_found") {
					t.Fatalf("unknown channel: %+v", bad)
				}
				if u := aliceFeed.request(t, "s0", map[string]any{"request": "explode", "channel": key}); u.Result != "error" || !strings.Contains(u.Error, `unknown request "explode"`) {
					t.Fatalf("unknown request: %+v", u)
				}
				if m := aliceFeed.request(t, "s3", map[string]any{"request": "hangup", "channel": 42}); m.Result != "error" || !strings.Contains(m.Error, "invalid") {
					t.Fatalf("malformed request: %+v", m)
				}
				ok := aliceFeed.request(t, "s2", map[string]any{"request": "hangup", "channel": key})
				if ok.Result != "success" || !strings.Contains(string(ok.Data), key) {
					t.Fatalf("socket hangup: %+v %s", ok, ok.Data)
				}
				e.eventually(t, 5e9, "channel gone", func() bool { return !simHas(e.sim, localID(key)) })
			})

			t.Run("blind transfer", func(t *testing.T) {
				leg := e.customerCall(t, "transfer-blind", "9003", "alice", "1001")
				key, cust := leg["uuid"].(string), leg["other_uuid"].(string)
				if r := e.post(t, "alice", "/calls/"+key+"/transfer", map[string]any{"target": "12ab"}); r.status != 400 {
					t.Fatalf("bad target: %d %s", r.status, r.raw)
				}
				r := e.post(t, "alice", "/calls/"+key+"/transfer", map[string]any{"target": "1002"})
				mustStatus(t, r, 200, "transfer")
				// PBX: the customer is now bridged with agent 1002.
				e.eventually(t, 5e9, "customer bridged with 1002", func() bool {
					var custBridge, agentBridge string
					for _, c := range e.sim.Channels() {
						if c.ID == localID(cust) {
							custBridge = c.BridgeID
						}
						if strings.HasPrefix(c.Name, "Local/1002@agents") && strings.HasSuffix(c.Name, ";1") {
							agentBridge = c.BridgeID
						}
					}
					return custBridge != "" && custBridge == agentBridge
				})
				// Feed: bob's leg shows up bridged with the customer.
				integFeed.wait(t, "bob's leg bridged", func(m ccMsg) bool {
					var d map[string]any
					if m.Type != "info_event" || m.Element != "channel" || json.Unmarshal(m.Data, &d) != nil {
						return false
					}
					st, _ := d["state"].(map[string]any)
					return d["user_id"] == e.users["bob"] && st["name"] == "bridged" && d["other_uuid"] == cust
				})
				hangupAll(t, e)
			})

			t.Run("attended transfer start and complete", func(t *testing.T) {
				leg := e.customerCall(t, "transfer-attended", "9004", "alice", "1001")
				key, cust := leg["uuid"].(string), leg["other_uuid"].(string)
				r := e.post(t, "alice", "/calls/"+key+"/atxfer", map[string]any{"action": "start", "target": "1002"})
				mustStatus(t, r, 200, "atxfer start")
				e.eventually(t, 5e9, "consultation leg to 1002", func() bool { return simChannel(e.sim, "Local/1002@agents", ";1") != nil })
				mustStatus(t, e.post(t, "alice", "/calls/"+key+"/atxfer", map[string]any{"action": "complete"}), 200, "atxfer complete")
				e.eventually(t, 5e9, "transferer gone, customer and 1002 bridged", func() bool {
					b := simChannel(e.sim, "Local/1002@agents", ";1")
					var cb string
					for _, c := range e.sim.Channels() {
						if c.ID == localID(cust) {
							cb = c.BridgeID
						}
					}
					return !simHas(e.sim, localID(key)) && b != nil && b.BridgeID != "" && cb != ""
				}, func() string { return fmt.Sprintf("%+v", e.sim.Channels()) })
				integFeed.wait(t, "transferer's leg ended", channelEvent(key, func(d map[string]any) bool { return d["hangup_timestamp"] != nil }))
				integFeed.wait(t, "bob's leg bridged", channelEventOf(e.users["bob"], func(d map[string]any) bool {
					st, _ := d["state"].(map[string]any)
					return st["name"] == "bridged"
				}))
				hangupAll(t, e)
			})

			t.Run("attended transfer cancel", func(t *testing.T) {
				leg := e.customerCall(t, "transfer-attended", "9005", "alice", "1001")
				key := leg["uuid"].(string)
				mustStatus(t, e.post(t, "alice", "/calls/"+key+"/atxfer", map[string]any{"target": "1002"}), 200, "atxfer start")
				e.eventually(t, 5e9, "consultation leg", func() bool { return simChannel(e.sim, "Local/1002@agents", ";1") != nil })
				// the transferer's leg now talks to the consultation leg
				e.eventually(t, 5e9, "feed: transferer bridged with the consultation", func() bool {
					for _, c := range e.live(t, "channel") {
						if c["uuid"] == key && c["other_uuid"] != nil && localID(c["other_uuid"].(string)) != localID(leg["other_uuid"].(string)) {
							return true
						}
					}
					return false
				})
				r := e.post(t, "alice", "/calls/"+key+"/atxfer", map[string]any{"action": "cancel"})
				mustStatus(t, r, 200, "atxfer cancel")
				if r.str("uuid") == key || r.str("uuid") == "" {
					t.Fatalf("cancel acted on %q, want the consultation leg", r.str("uuid"))
				}
				e.eventually(t, 5e9, "consultation leg hung up", func() bool { return !simHas(e.sim, localID(r.str("uuid"))) })
				// Asterisk then returns the transferer to the customer; the
				// simulator has no recording of that and ends the whole call.
				hangupAll(t, e)
			})

			t.Run("park and pickup", func(t *testing.T) {
				leg := e.customerCall(t, "park", "9006", "alice", "1001")
				key, cust := leg["uuid"].(string), leg["other_uuid"].(string)
				r := e.post(t, "alice", "/calls/"+key+"/park", nil)
				mustStatus(t, r, 200, "park")
				if r.str("uuid") != cust {
					t.Fatalf("park acted on %q, want the customer %q", r.str("uuid"), cust)
				}
				var slot string
				e.eventually(t, 5e9, "customer parked", func() bool {
					for _, p := range e.sim.Parked() {
						if p.UniqueID == localID(cust) {
							slot = p.Space
							return true
						}
					}
					return false
				})
				integFeed.wait(t, "parked_channel", func(m ccMsg) bool {
					return m.Type == "info_event" && m.Element == "parked_channel" && m.Event == "added" && strings.Contains(string(m.Data), `"slot":"`+slot+`"`)
				})
				// bob (an agent) may not pick up alice's parked call; the
				// supervisor may, for bob.
				if r := e.post(t, "bob", "/parked/"+slot+"/pickup", nil); r.status != 403 {
					t.Fatalf("bob picks up alice's parked call: %d %s", r.status, r.raw)
				}
				r = e.post(t, "carol", "/parked/"+slot+"/pickup", map[string]any{"from_user": e.users["bob"]})
				mustStatus(t, r, 200, "pickup for bob")
				e.eventually(t, 5e9, "parking slot empty", func() bool { return len(e.sim.Parked()) == 0 })
				integFeed.wait(t, "bob bridged with the customer", channelEventOf(e.users["bob"], func(d map[string]any) bool {
					st, _ := d["state"].(map[string]any)
					return st["name"] == "bridged"
				}))
				if r := e.post(t, "carol", "/parked/799/pickup", nil); r.status != 404 {
					t.Fatalf("pickup of an empty slot: %d %s", r.status, r.raw)
				}
				if r := e.post(t, "carol", "/calls/"+key+"/pickup", nil); r.status != 404 || !strings.Contains(r.str("error", "message"), "queued") {
					t.Fatalf("queued pickup of a channel that is not queued: %d %s", r.status, r.raw)
				}
				hangupAll(t, e)
			})

			t.Run("dtmf, mute, record", func(t *testing.T) {
				leg := e.customerCall(t, "park", "9007", "alice", "1001")
				key, name := leg["uuid"].(string), leg["name"].(string)
				mustStatus(t, e.post(t, "alice", "/calls/"+key+"/dtmf", map[string]any{"digits": "12#"}), 200, "dtmf")
				if got := e.sim.DTMFPlayed(name); got != "12#" {
					t.Fatalf("pbx played %q", got)
				}
				if r := e.post(t, "alice", "/calls/"+key+"/dtmf", map[string]any{"digits": "1;Action: Hangup"}); r.status != 400 {
					t.Fatalf("hostile digits: %d %s", r.status, r.raw)
				}
				mustStatus(t, e.post(t, "alice", "/calls/"+key+"/mute", nil), 200, "mute")
				if !e.sim.Muted(name) {
					t.Fatal("pbx: not muted")
				}
				mustStatus(t, e.post(t, "alice", "/calls/"+key+"/unmute", nil), 200, "unmute")
				if e.sim.Muted(name) {
					t.Fatal("pbx: still muted")
				}
				res := aliceFeed.request(t, "r1", map[string]any{"request": "record_start", "channel": key})
				if res.Result != "success" {
					t.Fatalf("record_start: %+v", res)
				}
				if !e.sim.Recording(name) {
					t.Fatal("pbx: not recording")
				}
				aliceFeed.wait(t, "recording on", channelEvent(key, func(d map[string]any) bool { return d["recording"] == true }))
				mustStatus(t, e.post(t, "alice", "/calls/"+key+"/record", map[string]any{"action": "stop"}), 200, "record stop")
				if e.sim.Recording(name) {
					t.Fatal("pbx: still recording")
				}
				if r := e.post(t, "alice", "/calls/"+key+"/record", map[string]any{"action": "stop"}); r.status != 422 || r.str("error", "code") != "rejected_by_pbx" {
					t.Fatalf("stop without recording: %d %s", r.status, r.raw)
				}
				hangupAll(t, e)
			})

			t.Run("hold and answer", func(t *testing.T) {
				leg := e.customerCall(t, "park", "9008", "alice", "1001")
				key := leg["uuid"].(string)
				for _, op := range []string{"hold", "answer"} {
					r := e.post(t, "alice", "/calls/"+key+"/"+op, nil)
					if r.status != 422 || r.str("error", "code") != "unsupported" || !strings.Contains(r.str("error", "message"), "Stasis") {
						t.Fatalf("%s outside Stasis: %d %s", op, r.status, r.raw)
					}
				}
				hangupAll(t, e)
				// A channel in the Stasis application can be held.
				obj, err := e.sim.Originate(pbxsim.OriginateRequest{Endpoint: "Local/9009@customers", App: "cti"})
				if err != nil {
					t.Fatal(err)
				}
				var ch struct{ ID string }
				_ = json.Unmarshal(obj, &ch)
				key = e.pbxID + ":" + ch.ID
				e.eventually(t, 5e9, "stasis channel live", func() bool {
					for _, c := range e.live(t, "channel") {
						if c["uuid"] == key {
							return true
						}
					}
					return false
				})
				mustStatus(t, e.post(t, "integrator", "/calls/"+key+"/answer", nil), 200, "answer in stasis")
				mustStatus(t, e.post(t, "integrator", "/calls/"+key+"/hold", nil), 200, "hold in stasis")
				mustStatus(t, e.post(t, "integrator", "/calls/"+key+"/unhold", nil), 200, "unhold in stasis")
				hangupAll(t, e)
			})

			t.Run("spy whisper barge", func(t *testing.T) {
				leg := e.customerCall(t, "park", "9010", "alice", "1001")
				key, name := leg["uuid"].(string), leg["name"].(string)
				if r := e.post(t, "bob", "/calls/"+key+"/spy", nil); r.status != 403 {
					t.Fatalf("agent spies on another's call: %d %s", r.status, r.raw)
				}
				r := e.post(t, "carol", "/calls/"+key+"/spy", map[string]any{"mode": "whisper"})
				mustStatus(t, r, 200, "supervisor whispers")
				// the default agent role has every command on its own calls
				if res := aliceFeed.request(t, "b1", map[string]any{"request": "barge", "channel": key}); res.Result != "success" {
					t.Fatalf("barge into own call: %+v", res)
				}
				spies := e.sim.Spies()
				if len(spies) != 2 {
					t.Fatalf("pbx got %d ChanSpy originates, want 2: %+v", len(spies), spies)
				}
				if s := spies[0]; s.Endpoint != "Local/1005@agents" || s.Target != name || s.Options != "qEw" {
					t.Fatalf("ChanSpy originate %+v, want Local/1005@agents whispering to %s (qEw)", s, name)
				}
				if s := spies[1]; s.Endpoint != "Local/1001@agents" || s.Target != name || s.Options != "qEB" {
					t.Fatalf("ChanSpy originate %+v, want Local/1001@agents barging into %s (qEB)", s, name)
				}
				hangupAll(t, e)
			})

			t.Run("originate with idempotency", func(t *testing.T) {
				if r := e.post(t, "alice", "/calls", map[string]any{"from_user": e.users["bob"], "to": "1003"}); r.status != 403 {
					t.Fatalf("agent originates for another user: %d %s", r.status, r.raw)
				}
				if r := e.post(t, "alice", "/calls", map[string]any{"to": "7000", "variables": map[string]string{"CALLERID(num)": "911"}}); r.status != 403 {
					t.Fatalf("agent sets channel variables: %d %s", r.status, r.raw)
				}
				if r := e.post(t, "alice", "/calls", map[string]any{"to": "7000", "context": "from-trunk"}); r.status != 403 {
					t.Fatalf("agent picks a dialplan context: %d %s", r.status, r.raw)
				}
				if r := e.post(t, "integrator", "/calls", map[string]any{"to": "7000"}); r.status != 400 {
					t.Fatalf("token originate without from_user: %d %s", r.status, r.raw)
				}
				body := map[string]any{"from_user": e.users["alice"], "to": "7000"}
				hdr := "orig-" + e.tf.domain
				r1 := callWithKey(t, e.base()+"/api/v1/calls", e.tokens["integrator"], hdr, body)
				mustStatus(t, r1, 200, "originate")
				uuid := r1.str("uuid")
				if uuid == "" || r1.str("linkedid") == "" || !simHas(e.sim, localID(uuid)) {
					t.Fatalf("originate result %s not a live PBX channel", r1.raw)
				}
				n := len(e.sim.Channels())
				r2 := callWithKey(t, e.base()+"/api/v1/calls", e.tokens["integrator"], hdr, body)
				mustStatus(t, r2, 200, "retried originate")
				if r2.str("uuid") != uuid || len(e.sim.Channels()) != n {
					t.Fatalf("retry dialled again: %s (channels %d → %d)", r2.raw, n, len(e.sim.Channels()))
				}
				integFeed.wait(t, "originated channel", channelEvent(uuid, func(map[string]any) bool { return true }))
				// alice originates from her own terminal over the socket.
				res := aliceFeed.request(t, "o1", map[string]any{"request": "originate", "to": "7000"})
				if res.Result != "success" {
					t.Fatalf("socket originate: %+v", res)
				}
				n = len(e.sim.Channels())
				again := aliceFeed.request(t, "o1", map[string]any{"request": "originate", "to": "7000"})
				if again.Result != "success" || string(again.Data) != string(res.Data) || len(e.sim.Channels()) != n {
					t.Fatalf("socket retry of id o1 dialled again or answered differently: %s vs %s", again.Data, res.Data)
				}
				hangupAll(t, e)
			})

			t.Run("queue member login pause unpause logout", func(t *testing.T) {
				group := e.pbxID + ":support"
				base := "/groups/" + group + "/members/" + e.users["dave"]
				if r := e.post(t, "bob", base+"/login", nil); r.status != 403 {
					t.Fatalf("agent logs in another: %d %s", r.status, r.raw)
				}
				mustStatus(t, e.post(t, "dave", base+"/login", nil), 200, "dave logs in")
				if m := simMember(e.sim, "support", "Local/1010@agents"); m == nil || !m.Dynamic {
					t.Fatalf("pbx: dave not a dynamic member: %+v", e.sim.QueueMembers())
				}
				integFeed.wait(t, "dave's group_member", func(m ccMsg) bool {
					return m.Type == "info_event" && m.Element == "group_member" && strings.Contains(string(m.Data), `"user_id":"`+e.users["dave"]+`"`)
				})
				e.eventually(t, 5e9, "member in live state", func() bool {
					for _, m := range e.live(t, "group_member") {
						if m["user_id"] == e.users["dave"] {
							return true
						}
					}
					return false
				})
				mustStatus(t, e.post(t, "carol", base+"/pause", map[string]any{"reason": "lunch"}), 200, "supervisor pauses dave")
				if m := simMember(e.sim, "support", "Local/1010@agents"); m == nil || !m.Paused || m.PausedReason != "lunch" {
					t.Fatalf("pbx: dave not paused for lunch: %+v", m)
				}
				integFeed.wait(t, "dave paused", func(m ccMsg) bool {
					return m.Type == "info_event" && m.Element == "group_member" && strings.Contains(string(m.Data), `"pause_reason":"lunch"`)
				})
				res := recordFeed(t, wsURL(e.base(), e.tokens["dave"], "")).request(t, "q1", map[string]any{"request": "queue_unpause", "group": group})
				if res.Result != "success" {
					t.Fatalf("socket unpause: %+v", res)
				}
				if m := simMember(e.sim, "support", "Local/1010@agents"); m == nil || m.Paused {
					t.Fatalf("pbx: dave still paused: %+v", m)
				}
				mustStatus(t, e.post(t, "dave", base+"/logout", nil), 200, "dave logs out")
				if m := simMember(e.sim, "support", "Local/1010@agents"); m != nil {
					t.Fatalf("pbx: dave still a member: %+v", m)
				}
				if r := e.post(t, "dave", "/groups/"+e.pbxID+":nosuch/members/"+e.users["dave"]+"/login", nil); r.status != 404 {
					t.Fatalf("unknown group: %d %s", r.status, r.raw)
				}
			})

			t.Run("dnd", func(t *testing.T) {
				if r := e.post(t, "bob", "/users/"+e.users["alice"]+"/dnd", map[string]any{"dnd": true}); r.status != 403 {
					t.Fatalf("agent sets another's dnd: %d %s", r.status, r.raw)
				}
				mustStatus(t, e.post(t, "alice", "/users/"+e.users["alice"]+"/dnd", map[string]any{"dnd": true}), 200, "alice dnd on")
				if st := simDeviceState(t, e.sim, "Stasis:hookflash-dnd-"+e.users["alice"]); st != "BUSY" {
					t.Fatalf("pbx device state %q, want BUSY", st)
				}
				res := aliceFeed.request(t, "d1", map[string]any{"request": "dnd", "dnd": false})
				if res.Result != "success" {
					t.Fatalf("socket dnd off: %+v", res)
				}
				if st := simDeviceState(t, e.sim, "Stasis:hookflash-dnd-"+e.users["alice"]); st != "NOT_INUSE" {
					t.Fatalf("pbx device state %q, want NOT_INUSE", st)
				}
			})

			t.Run("timeout and pbx unavailable", func(t *testing.T) {
				leg := e.customerCall(t, "park", "9011", "alice", "1001")
				key := leg["uuid"].(string)
				// The PBX stops answering for longer than the command timeout.
				e.sim.StallWrites(3 * time.Second)
				start := time.Now()
				r := e.post(t, "alice", "/calls/"+key+"/dtmf", map[string]any{"digits": "5"})
				if r.status != 504 || r.str("error", "code") != "timeout" {
					t.Fatalf("stalled pbx: %d %s", r.status, r.raw)
				}
				if d := time.Since(start); d > 6*time.Second {
					t.Fatalf("timeout answered after %s, want about 2s", d)
				}
				e.sim.Close()
				e.eventually(t, 10*time.Second, "pbx_unavailable", func() bool {
					r := e.post(t, "integrator", "/calls", map[string]any{"from_user": e.users["alice"], "to": "7000"})
					return r.status == 503 && r.str("error", "code") == "pbx_unavailable"
				})
				req, _ := http.NewRequest("POST", e.base()+"/api/v1/calls/"+key+"/hangup", nil)
				req.Header.Set("Authorization", "Bearer "+e.tokens["alice"])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("hangup while the pbx is down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			})
		})
	}
}

// hangupAll ends every call on the simulator and waits for the feed state
// to be empty of channels.
func hangupAll(t *testing.T, e *ccEnv) {
	t.Helper()
	for _, c := range e.sim.Channels() {
		_ = e.sim.Hangup(c.ID, "normal")
	}
	e.eventually(t, 10e9, "no live channels", func() bool { return len(e.live(t, "channel")) == 0 })
}
