package pbxsim

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Without PinFlow the engine opens every "customer calls agent" call with
// whichever recorded beginning comes next (round robin) and continues with
// the flow the action asks for. Asterisk itself interleaves its threads
// differently on every run, so the check here is the one that holds for
// real Asterisk too: the same events (kinds, fields, types) and, for every
// channel, bridge and device, the same sequence of its own events (Dial
// events, raised by the caller's thread, form their own sequence per peer).
// The six recordings of the "customer calls agent" beginning all agree with
// each other under this check, and differ under a strict one.
func TestConformanceUnpinned(t *testing.T) {
	fam := families["originate/agent"]
	for _, sc := range scenarios {
		switch sc.name {
		case "park", "park-xfer", "transfer-blind", "transfer-redirect", "transfer-attended", "hangup":
		default:
			continue
		}
		for offset := range fam {
			t.Run(sc.name+"/opened-as-"+fam[offset], func(t *testing.T) {
				raw := recordedARI(t, "ari-events-"+sc.file+".jsonl")
				h := startSim(t, Config{})
				h.noPin = true
				h.pbx.mu.Lock()
				h.pbx.rr = offset
				h.pbx.mu.Unlock()
				h.listen()
				sc.drive(h)
				recAMI := normAMI(parseAMIStream(t, fixture(t, "ami-"+sc.file+".txt")))
				waitFor(t, "events", func() bool {
					a, m := h.streams()
					return len(a) >= len(raw) && len(normAMI(m)) >= len(recAMI)
				})
				time.Sleep(50 * time.Millisecond)
				a, m := h.streams()
				if got, want := amiMultiset(normAMI(m)), amiMultiset(recAMI); got != want {
					t.Fatalf("AMI event multisets differ:\n%s", diffLines(want, got))
				}
				if got, want := multiset(t, a), multiset(t, raw); got != want {
					t.Fatalf("event multisets differ:\n%s", diffLines(want, got))
				}
				if got, want := perEntity(t, a), perEntity(t, raw); got != want {
					t.Fatalf("per-entity sequences differ:\n%s", diffLines(want, got))
				}
			})
		}
	}
}

func multiset(t *testing.T, msgs [][]byte) string {
	var ls []string
	for _, e := range normARI(t, msgs) {
		ls = append(ls, e.label)
	}
	sort.Strings(ls)
	return strings.Join(ls, "\n")
}

func amiMultiset(evs []normEvent) string {
	ls := make([]string, 0, len(evs))
	for _, e := range evs {
		ls = append(ls, e.label)
	}
	sort.Strings(ls)
	return strings.Join(ls, "\n")
}

var counterRe = regexp.MustCompile(`-[0-9a-f]{8};`)

// perEntity groups event labels by the channel, bridge or device they are
// about, with run-specific ids replaced by their order of appearance.
func perEntity(t *testing.T, msgs [][]byte) string {
	norm := map[string]string{}
	id := func(kind, v string) string {
		k := kind + v
		if n, ok := norm[k]; ok {
			return n
		}
		n := kind + "#" + string(rune('A'+len(norm)%26)) + strings.Repeat("'", len(norm)/26)
		norm[k] = n
		return n
	}
	groups := map[string][]string{}
	labels := normARI(t, msgs)
	for i, b := range msgs {
		var ev struct {
			Channel     *struct{ Name string }
			Peer        *struct{ Name string }
			Bridge      *struct{ ID string }
			DeviceState *struct{ Name string } `json:"device_state"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		key := "other"
		switch {
		case ev.Channel != nil:
			key = id("chan", counterRe.ReplaceAllString(ev.Channel.Name, "-;"))
		case ev.Peer != nil: // Dial: its own sequence per peer (raised by the caller's thread)
			key = "dial " + id("chan", counterRe.ReplaceAllString(ev.Peer.Name, "-;"))
		case ev.Bridge != nil:
			key = id("bridge", ev.Bridge.ID)
		case ev.DeviceState != nil:
			key = "device " + ev.DeviceState.Name
		}
		groups[key] = append(groups[key], labels[i].label)
	}
	var out []string
	for k, v := range groups {
		out = append(out, k+": "+strings.Join(v, " | "))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "recorded:  " + trunc(a) + "\nsimulated: " + trunc(b)
		}
	}
	return "(equal)"
}

func trunc(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}
