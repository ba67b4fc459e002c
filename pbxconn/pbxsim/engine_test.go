package pbxsim

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// Flows of one family may switch into one another after phase 0, so their
// phase 0 must create the same channels in the same uniqueid slots.
func TestFamiliesShareSlots(t *testing.T) {
	var raw []struct {
		Name   string
		Phases []struct {
			Steps []struct{ ARI string }
		}
	}
	if err := json.Unmarshal(scriptsJSON, &raw); err != nil {
		t.Fatal(err)
	}
	created := regexp.MustCompile(`^\{"type":"ChannelCreated".*?"channel":\{"id":"(\{\{u:\d+\}\})","name":"([^"]+)"`)
	slots := map[string]string{}
	for _, s := range raw {
		var b strings.Builder
		for _, st := range s.Phases[0].Steps {
			if m := created.FindStringSubmatch(st.ARI); m != nil {
				b.WriteString(m[1] + "=" + m[2] + " ")
			}
		}
		slots[s.Name] = b.String()
	}
	for fam, names := range families {
		for _, n := range names[1:] {
			if slots[n] != slots[names[0]] {
				t.Errorf("family %s: %s creates %q, %s creates %q", fam, n, slots[n], names[0], slots[names[0]])
			}
		}
	}
}

// Without a pinned flow, a call that began as one recorded flow continues
// as whichever flow has the action asked for.
func TestFlowSwitch(t *testing.T) {
	h := startSim(t, Config{})
	h.listen()
	cust := h.originate("Local/9003@customers", "1001") // round robin starts with "park"
	agent := h.channel("Local/1001@agents-", ";1")
	if err := h.pbx.BlindTransfer(agent.Name, "1002"); err != nil {
		t.Fatal(err)
	}
	h.hangup(cust, "")
	waitFor(t, "call to end", func() bool { return h.pbx.Stats().Channels == 0 && h.pbx.Stats().Flows == 0 })
	waitFor(t, "transfer event", func() bool {
		a, _ := h.streams()
		for _, b := range a {
			if eventType(b) == "BridgeBlindTransfer" {
				return true
			}
		}
		return false
	})
	// after phase 0 has been left, the flow no longer switches
	h.originate("Local/9004@customers", "1001")
	agent = h.channel("Local/1001@agents-", ";1")
	if err := h.pbx.Atxfer(agent.Name, "1002"); err != nil {
		t.Fatal(err)
	}
	if err := h.pbx.Park(h.channel("Local/9004@customers-", ";1").Name); err == nil {
		t.Fatal("a park in the middle of an attended transfer was accepted")
	}
}

func TestScanners(t *testing.T) {
	ev := []byte(`{"type":"X","value":"a \"channel\":{ b","channel":{"id":"1.2","name":"Local/a\"b;1","caller":{"name":"n"},"creationtime":"t"},"bridge":{"id":"u","channels":["1.2"]}}`)
	ch := objectAfter(ev, keyChannel)
	if string(ch) != `{"id":"1.2","name":"Local/a\"b;1","caller":{"name":"n"},"creationtime":"t"}` {
		t.Fatalf("channel object %s", ch)
	}
	if id, name := stringField(ch, keyID), stringField(ch, keyName); id != "1.2" || name != `Local/a"b;1` {
		t.Fatalf("id %q name %q", id, name)
	}
	if br := objectAfter(ev, keyBridge); string(br) != `{"id":"u","channels":["1.2"]}` {
		t.Fatalf("bridge %s", br)
	}
	for _, bad := range []string{`{"channel":{"id":"x"`, `{"channel":{"id":"x\`, `{"channel":`} {
		if o := objectAfter([]byte(bad), keyChannel); o != nil {
			if stringField(o, keyID) == "" {
				continue
			}
			t.Fatalf("%s: got %s", bad, o)
		}
	}
}
