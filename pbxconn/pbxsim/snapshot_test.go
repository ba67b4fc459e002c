package pbxsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// What a resync sees: ARI REST resources and AMI list actions at the moments
// the recordings captured them, compared by shape (and by item count where
// the moment fixes it).
var moments = []struct {
	name  string
	speed float64 // 0: instant
	setup func(h *simHarness)
	// counted lists must hold as many items as recorded
	counted []string
}{
	{"idle", 0, func(h *simHarness) {}, []string{"CoreShowChannels", "Status", "ParkedCalls", "QueueSummary", "PJSIPShowEndpoints"}},
	{"during-queue-call", 0, func(h *simHarness) {
		h.originate("Local/9001@customers", "8000")
	}, []string{"CoreShowChannels", "Status", "ParkedCalls", "BridgeList", "QueueStatus", "QueueSummary", "PJSIPShowEndpoints"}},
	{"during-queue-wait", 1, func(h *simHarness) {
		for _, a := range []string{"1001", "1002", "1003"} {
			h.amiDo("QueuePause", "Queue", "support", "Interface", "Local/"+a+"@agents/n", "Paused", "true", "Reason", "lunch")
		}
		h.originate("Local/9802@customers", "8000")
		waitFor(h.t, "caller in queue", func() bool { return len(h.pbx.QueueCallers()) == 1 })
	}, []string{"ParkedCalls", "QueueStatus", "QueueSummary", "PJSIPShowEndpoints"}},
	{"during-park", 0, func(h *simHarness) {
		h.pbx.PinFlow("park")
		h.originate("Local/9002@customers", "1001")
		h.amiDo("Park", "Channel", h.channel("Local/9002@customers-", ";1").Name)
	}, []string{"CoreShowChannels", "Status", "ParkedCalls", "BridgeList", "QueueSummary", "PJSIPShowEndpoints"}},
	{"after-blind-transfer", 0, func(h *simHarness) {
		h.pbx.PinFlow("transfer-blind")
		h.originate("Local/9003@customers", "1001")
		h.amiDo("BlindTransfer", "Channel", h.channel("Local/1001@agents-", ";1").Name, "Exten", "1002", "Context", "default")
	}, []string{"CoreShowChannels", "Status", "ParkedCalls", "QueueSummary", "PJSIPShowEndpoints"}},
	{"during-attended-transfer", 0, func(h *simHarness) {
		h.pbx.PinFlow("transfer-attended")
		h.originate("Local/9007@customers", "1001")
		h.amiDo("Atxfer", "Channel", h.channel("Local/1001@agents-", ";1").Name, "Exten", "1002", "Context", "default")
	}, []string{"CoreShowChannels", "Status", "ParkedCalls", "QueueSummary", "PJSIPShowEndpoints"}},
	{"during-stasis-bridge", 0, func(h *simHarness) {
		var ids []string
		for _, ep := range []string{"Local/9004@customers", "Local/1004@agents"} {
			st, b := h.rest("POST", "/channels", url.Values{"endpoint": {ep}, "app": {"cti"}})
			if st != 200 {
				h.t.Fatalf("originate %s: %d %s", ep, st, b)
			}
			ids = append(ids, jsonIDT(h.t, b))
		}
		st, b := h.rest("POST", "/bridges", url.Values{"type": {"mixing"}, "name": {"cti-hold-test"}})
		if st != 200 {
			h.t.Fatalf("bridge: %d %s", st, b)
		}
		if st, b := h.rest("POST", "/bridges/"+jsonIDT(h.t, b)+"/addChannel", url.Values{"channel": {strings.Join(ids, ",")}}); st != 204 {
			h.t.Fatalf("addChannel: %d %s", st, b)
		}
	}, []string{"CoreShowChannels", "Status", "ParkedCalls", "QueueSummary", "PJSIPShowEndpoints"}},
	{"during-pjsip-call", 0, func(h *simHarness) {
		if err := h.pbx.Register("1002", ""); err != nil {
			h.t.Fatal(err)
		}
		h.originate("Local/9010@customers", "1002")
	}, []string{"CoreShowChannels", "Status", "ParkedCalls", "QueueSummary", "PJSIPShowEndpoints"}},
}

// shapeSet returns the distinct shapes of a JSON array's elements, or of
// the document itself when it is an object.
func shapeSet(t *testing.T, b []byte) (kind string, shapes []string, n int) {
	t.Helper()
	shape, _, err := jsonShape(b)
	if err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, b)
	}
	if !strings.HasPrefix(shape, "[") {
		return "object", []string{shape}, 1
	}
	var arr []jsonRaw
	if err := jsonUnmarshal(b, &arr); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, el := range arr {
		s, _, _ := jsonShape(el)
		if !seen[s] {
			seen[s] = true
			shapes = append(shapes, s)
		}
	}
	sort.Strings(shapes)
	return "array", shapes, len(arr)
}

// recordedActions splits ami-actions-<moment>.txt into its "=== Action" sections.
func recordedActions(t *testing.T, b []byte) map[string][]ami.Message {
	t.Helper()
	out := map[string][]ami.Message{}
	for _, sec := range bytes.Split(b, []byte("=== "))[1:] {
		name, body, _ := bytes.Cut(sec, []byte("\n"))
		r := bufio.NewReader(bytes.NewReader(body))
		var msgs []ami.Message
		for {
			m, err := readFrame(r)
			if err != nil {
				break
			}
			msgs = append(msgs, m)
		}
		out[strings.TrimSpace(string(name))] = msgs
	}
	return out
}

func frameLabel(m ami.Message) string {
	keys := make([]string, 0, len(m.Fields))
	for _, f := range m.Fields {
		keys = append(keys, f.Key)
	}
	return strings.Join(keys, ",")
}

func TestSnapshots(t *testing.T) {
	for _, mo := range moments {
		t.Run(mo.name, func(t *testing.T) {
			h := startSim(t, Config{Speed: mo.speed})
			h.listen()
			mo.setup(h)
			for _, res := range []string{"channels", "bridges", "endpoints", "deviceStates", "asterisk-info", "applications"} {
				rec := fixture(t, "rest-"+mo.name+"-"+res+".json")
				st, got := h.rest("GET", "/"+strings.Replace(res, "-", "/", 1), nil)
				if st != 200 {
					t.Fatalf("GET %s: %d %s", res, st, got)
				}
				rk, rs, rn := shapeSet(t, rec)
				gk, gs, gn := shapeSet(t, got)
				if rk != gk {
					t.Errorf("%s: recorded %s, simulated %s", res, rk, gk)
					continue
				}
				// every simulated shape must be a recorded one (the recordings
				// also hold the parking lot's bridge, which exists only once
				// a call was parked since boot)
				known := map[string]bool{}
				for _, s := range rs {
					known[s] = true
				}
				for _, s := range gs {
					if len(rs) > 0 && !known[s] {
						t.Errorf("%s: simulated shape not recorded\n recorded:  %v\n simulated: %s", res, rs, s)
					}
				}
				if res == "channels" && rn != gn {
					t.Errorf("%s: recorded %d, simulated %d", res, rn, gn)
				}
			}
			recAct := recordedActions(t, fixture(t, "ami-actions-"+mo.name+".txt"))
			for action, rec := range recAct {
				got := h.amiDo(action)
				if frameLabel(rec[0]) != frameLabel(got[0]) {
					t.Errorf("%s response: recorded %s, simulated %s", action, frameLabel(rec[0]), frameLabel(got[0]))
				}
				if len(rec) == 1 {
					continue
				}
				if frameLabel(rec[len(rec)-1]) != frameLabel(got[len(got)-1]) {
					t.Errorf("%s complete: recorded %s, simulated %s", action, frameLabel(rec[len(rec)-1]), frameLabel(got[len(got)-1]))
				}
				set := func(ms []ami.Message) map[string]bool {
					s := map[string]bool{}
					for _, m := range ms[1 : len(ms)-1] {
						s[frameLabel(m)] = true
					}
					return s
				}
				rs, gs := set(rec), set(got)
				for l := range gs {
					if !rs[l] && len(rs) > 0 {
						t.Errorf("%s: simulated item not in the recording: %s", action, l)
					}
				}
				for _, c := range mo.counted {
					if c == action && len(rec) != len(got) {
						t.Errorf("%s: recorded %d items, simulated %d", action, len(rec)-2, len(got)-2)
					}
				}
			}
			if t.Failed() {
				return
			}
			if mo.name == "during-queue-call" {
				if n := len(h.pbx.Channels()); n != 4 {
					t.Errorf("Channels() = %d, want 4", n)
				}
			}
		})
	}
}

func TestQueueWaitTruth(t *testing.T) {
	h := startSim(t, Config{Speed: 1})
	for _, a := range []string{"1001", "1002", "1003"} {
		if err := h.pbx.QueuePause("support", "Local/"+a+"@agents/n", true, "lunch"); err != nil {
			t.Fatal(err)
		}
	}
	h.originate("Local/9802@customers", "8000")
	waitFor(t, "caller in queue", func() bool { return len(h.pbx.QueueCallers()) == 1 })
	qc := h.pbx.QueueCallers()[0]
	if qc.Queue != "support" || qc.Position != 1 || qc.CallerNumber != "+15550009802" {
		t.Errorf("queue caller = %+v", qc)
	}
	for _, m := range h.pbx.QueueMembers() {
		if m.Queue == "support" && (!m.Paused || m.PausedReason != "lunch") {
			t.Errorf("member %+v not paused for lunch", m)
		}
	}
	_ = url.Values{}
}

type jsonRaw = json.RawMessage

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
