package pbxsim

import (
	"bufio"
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"encoding/json"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// Each scenario drives the simulator through the actions of the recorded
// actions-<scenario>.log, over the real ARI REST API, real helper AMI
// sessions and the library (for SIP-side actions), captures the ARI events
// WebSocket and an AMI session with Events on, and compares both streams
// structurally with ari-events-<scenario>.jsonl and ami-<scenario>.txt.
var scenarios = []struct {
	name  string
	file  string
	drive func(h *simHarness)
}{
	{"queue", "queue", func(h *simHarness) {
		cust := h.originate("Local/9001@customers", "8000")
		h.hangup(cust, "")
	}},
	{"queue-abandon", "queue-abandon", func(h *simHarness) {
		for _, a := range []string{"1001", "1002", "1003"} {
			checkAnswer(h.t, h.amiDo("QueuePause", "Queue", "support", "Interface", "Local/"+a+"@agents/n", "Paused", "true", "Reason", "lunch"),
				fixture(h.t, "actions-queue-abandon.log"), "QueuePause all")
		}
		h.originate("Local/9802@customers", "8000")
		for _, a := range []string{"1001", "1002", "1003"} {
			checkAnswer(h.t, h.amiDo("QueuePause", "Queue", "support", "Interface", "Local/"+a+"@agents/n", "Paused", "false"),
				fixture(h.t, "actions-queue-abandon.log"), "QueuePause unpause")
		}
		checkAnswer(h.t, h.amiDo("QueueAdd", "Queue", "support", "Interface", "Local/1010@agents/n", "MemberName", "Agent 1010", "Penalty", "1"),
			fixture(h.t, "actions-queue-abandon.log"), "QueueAdd")
		h.amiDo("QueueRemove", "Queue", "support", "Interface", "Local/1010@agents/n")
	}},
	{"park", "park", func(h *simHarness) {
		h.pin("park")
		h.originate("Local/9002@customers", "1001")
		log := fixture(h.t, "actions-park.log")
		checkAnswer(h.t, h.amiDo("Park", "Channel", h.channel("Local/9002@customers-", ";1").Name, "Parkinglot", "default"), log, "Park ")
		checkAnswer(h.t, h.amiDo("ParkedCalls"), log, "ParkedCalls")
		h.originate("Local/1003@agents", "701")
		h.hangup(h.channel("Local/1003@agents-", ";1").ID, "")
	}},
	{"park-xfer", "park-xfer", func(h *simHarness) {
		h.pin("park-xfer")
		cust := h.originate("Local/9011@customers", "1001")
		h.amiDo("BlindTransfer", "Channel", h.channel("Local/1001@agents-", ";1").Name, "Exten", "700", "Context", "default")
		h.amiDo("ParkedCalls")
		h.originate("Local/1002@agents", "701")
		h.hangup(cust, "")
	}},
	{"transfer-blind", "transfer-blind", func(h *simHarness) {
		h.pin("transfer-blind")
		cust := h.originate("Local/9003@customers", "1001")
		checkAnswer(h.t, h.amiDo("BlindTransfer", "Channel", h.channel("Local/1001@agents-", ";1").Name, "Exten", "1002", "Context", "default"),
			fixture(h.t, "actions-transfer-blind.log"), "BlindTransfer")
		h.hangup(cust, "")
	}},
	{"transfer-redirect", "transfer-redirect", func(h *simHarness) {
		h.pin("transfer-redirect")
		cust := h.originate("Local/9006@customers", "1001")
		checkAnswer(h.t, h.amiDo("Redirect", "Channel", h.channel("Local/9006@customers-", ";1").Name, "Exten", "8000", "Context", "default", "Priority", "1"),
			fixture(h.t, "actions-transfer-redirect.log"), "Redirect")
		h.hangup(cust, "")
	}},
	{"transfer-attended", "transfer-attended", func(h *simHarness) {
		h.pin("transfer-attended")
		cust := h.originate("Local/9007@customers", "1001")
		agent := h.channel("Local/1001@agents-", ";1")
		checkAnswer(h.t, h.amiDo("Atxfer", "Channel", agent.Name, "Exten", "1002", "Context", "default"),
			fixture(h.t, "actions-transfer-attended.log"), "Atxfer")
		h.hangup(agent.ID, "")
		h.hangup(cust, "")
	}},
	{"hangup", "hangup", func(h *simHarness) {
		h.originate("Local/9801@customers", "1001")
		h.pin("hangup-busy")
		h.originate("Local/9008@customers", "1002")
		h.hangup(h.channel("Local/1002@agents-", ";1").ID, "busy")
		h.originate("Local/9009@customers", "1099")
		checkAnswer(h.t, h.amiDo("Hangup", "Channel", h.channel("Local/9009@customers-", ";1").Name, "Cause", "16"),
			fixture(h.t, "actions-hangup.log"), "Hangup Channel")
	}},
	{"register", "register", func(h *simHarness) {
		if err := h.pbx.Register("1002", "sip:1002@127.0.0.1:5073"); err != nil {
			h.t.Fatal(err)
		}
		cust := h.originate("Local/9010@customers", "1002")
		h.hangup(cust, "")
		if err := h.pbx.Unregister("1002"); err != nil {
			h.t.Fatal(err)
		}
	}},
	{"confbridge", "confbridge", func(h *simHarness) {
		cust := h.originate("Local/9012@customers", "7000")
		agent := h.originate("Local/1004@agents", "7000")
		h.amiDo("ConfbridgeList", "Conference", "7000")
		log := fixture(h.t, "actions-confbridge.log")
		checkAnswer(h.t, h.amiDo("ConfbridgeMute", "Conference", "7000", "Channel", "all"), log, "ConfbridgeMute")
		checkAnswer(h.t, h.amiDo("ConfbridgeUnmute", "Conference", "7000", "Channel", "all"), log, "ConfbridgeUnmute")
		h.hangup(cust, "")
		h.hangup(agent, "")
	}},
	{"devicestate", "devicestate", func(h *simHarness) {
		for _, st := range []string{"NOT_INUSE", "INUSE"} {
			if code, b := h.rest("PUT", "/deviceStates/Stasis:agent-1001", url.Values{"deviceState": {st}}); code != 204 {
				h.t.Fatalf("PUT deviceState: %d %s", code, b)
			}
		}
		h.rest("GET", "/deviceStates", nil)
		h.amiDo("DeviceStateList") // its items depend on every device seen since boot: see TestSnapshots
		checkAnswer(h.t, h.amiDo("ExtensionStateList"), fixture(h.t, "actions-devicestate.log"), "ExtensionStateList")
		if code, b := h.rest("DELETE", "/deviceStates/Stasis:agent-1001", nil); code != 204 {
			h.t.Fatalf("DELETE deviceState: %d %s", code, b)
		}
	}},
	{"hold-ari", "hold-ari", func(h *simHarness) {
		stasis := func(ep string) string {
			st, b := h.rest("POST", "/channels", url.Values{"endpoint": {ep}, "app": {"cti"}})
			if st != 200 {
				h.t.Fatalf("originate %s into Stasis: %d %s", ep, st, b)
			}
			return jsonIDT(h.t, b)
		}
		cust := stasis("Local/9004@customers")
		agent := stasis("Local/1004@agents")
		st, b := h.rest("POST", "/bridges", url.Values{"type": {"mixing"}, "name": {"cti-hold-test"}})
		if st != 200 {
			h.t.Fatalf("POST /bridges: %d %s", st, b)
		}
		br := jsonIDT(h.t, b)
		ok := func(method, path string, q url.Values) {
			if st, b := h.rest(method, path, q); st != 204 {
				h.t.Fatalf("%s %s: %d %s", method, path, st, b)
			}
		}
		ok("POST", "/bridges/"+br+"/addChannel", url.Values{"channel": {cust + "," + agent}})
		ok("POST", "/channels/"+cust+"/hold", nil)
		ok("DELETE", "/channels/"+cust+"/hold", nil)
		ok("POST", "/bridges/"+br+"/moh", url.Values{"mohClass": {"default"}})
		ok("DELETE", "/bridges/"+br+"/moh", nil)
		ok("DELETE", "/channels/"+agent, url.Values{"reason": {"normal"}})
		ok("POST", "/channels/"+cust+"/continue", url.Values{"context": {"default"}, "extension": {"8000"}, "priority": {"1"}})
		ok("DELETE", "/bridges/"+br, nil)
		ok("DELETE", "/channels/"+cust, nil)
	}},
	{"hold-sip", "hold-sip", func(h *simHarness) {
		if err := h.pbx.SIPCallWithHold(); err != nil {
			h.t.Fatal(err)
		}
	}},
}

func TestConformance(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			recARI := recordedARI(t, "ari-events-"+sc.file+".jsonl")
			recAMI := normAMI(parseAMIStream(t, fixture(t, "ami-"+sc.file+".txt")))
			h := startSim(t, Config{})
			h.listen()
			sc.drive(h)
			want := len(recARI)
			waitFor(t, "events", func() bool {
				a, m := h.streams()
				return len(a) >= want && len(normAMI(m)) >= len(recAMI)
			})
			time.Sleep(50 * time.Millisecond) // anything extra would show up now
			a, m := h.streams()
			checkRendered(t, a, m)
			compareStreams(t, "ari", normARI(t, recARI), normARI(t, a))
			compareStreams(t, "ami", recAMI, normAMI(m))
		})
	}
}

// checkRendered fails on any unfilled placeholder and on times that are not
// the simulation's own (the recordings are from another day).
func checkRendered(t *testing.T, ari [][]byte, amiMsgs []ami.Message) {
	t.Helper()
	now := time.Now()
	for _, b := range ari {
		if bytes.Contains(b, []byte("{{")) {
			t.Fatalf("unfilled placeholder in %.300s", b)
		}
		var ev struct{ Timestamp string }
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(isoLayout, ev.Timestamp)
		if err != nil || now.Sub(ts).Abs() > time.Minute {
			t.Fatalf("ARI timestamp %q not now (%v)", ev.Timestamp, err)
		}
	}
	for _, m := range amiMsgs {
		for _, f := range m.Fields {
			if strings.Contains(f.Value, "{{") {
				t.Fatalf("unfilled placeholder in %v", m)
			}
		}
		if v := m.Get("Timestamp"); v != "" {
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil || now.Sub(time.Unix(int64(sec), 0)).Abs() > time.Minute {
				t.Fatalf("AMI Timestamp %q not now (%v)", v, err)
			}
		}
	}
}

// checkAnswer compares the frames answering an AMI action with those
// recorded under the actions-log line that starts "AMI <prefix>": same
// frames with the same keys in the same order. A list must match whole; a
// plain response is compared with the first recorded one (some log entries
// hold the answers of several identical actions).
func checkAnswer(t *testing.T, got []ami.Message, log []byte, prefix string) {
	t.Helper()
	i := bytes.Index(log, []byte(" AMI "+prefix))
	if i < 0 {
		t.Fatalf("no AMI %s in the actions log", prefix)
	}
	body := log[i:]
	body = body[bytes.IndexByte(body, '\n')+1:]
	if j := bytes.Index(body, []byte("\n###")); j >= 0 {
		body = body[:j]
	}
	r := bufio.NewReader(bytes.NewReader(append(body, "\n\n"...)))
	var rec []ami.Message
	for {
		m, err := readFrame(r)
		if err != nil {
			break
		}
		rec = append(rec, m)
	}
	if len(got) == 0 || len(rec) < len(got) || (got[len(got)-1].Get("EventList") == "Complete" && len(rec) != len(got)) {
		t.Fatalf("AMI %s: recorded %d frames, simulated %d", prefix, len(rec), len(got))
	}
	for k := range got {
		if frameLabel(rec[k]) != frameLabel(got[k]) {
			t.Fatalf("AMI %s frame %d: recorded %s, simulated %s", prefix, k, frameLabel(rec[k]), frameLabel(got[k]))
		}
		if v := rec[k].Get("Message"); v != got[k].Get("Message") {
			t.Fatalf("AMI %s frame %d: message %q, recorded %q", prefix, k, got[k].Get("Message"), v)
		}
	}
}
