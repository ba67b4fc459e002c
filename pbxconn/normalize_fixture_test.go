package pbxconn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
	"github.com/hookflash/hookflash/pbxconn/ari"
)

// fixtureDir is the recorded Asterisk 22 traffic next to the repository.
func fixtureDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared", "fixtures", "asterisk-22"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("recorded fixtures not found at %s: %v", dir, err)
	}
	return dir
}

// scenarios are the recorded fixture scenarios.
var scenarios = []string{
	"queue", "queue-abandon", "park", "park-xfer", "transfer-blind", "transfer-redirect",
	"transfer-attended", "hold-sip", "hold-ari", "hangup", "register", "confbridge", "devicestate",
}

// fixtureEvent is one event of a scenario, from either protocol.
type fixtureEvent struct {
	ts  time.Time
	ari ari.Event
	ami *ami.Message
}

// loadScenario reads a scenario's ARI and AMI streams and merges them by
// timestamp (AMI events without one, e.g. FullyBooted, come first); at equal
// times ARI comes first, as its millisecond stamps are truncated.
func loadScenario(t testing.TB, name string) []fixtureEvent {
	t.Helper()
	dir := fixtureDir(t)
	var out []fixtureEvent
	if data, err := os.ReadFile(filepath.Join(dir, "ari-events-"+name+".jsonl")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			ev, err := ari.DecodeEvent(line)
			if err != nil {
				t.Fatalf("%s: ari event: %v", name, err)
			}
			out = append(out, fixtureEvent{ts: ev.GetTimestamp(), ari: ev})
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	msgs := readAMIFile(t, filepath.Join(dir, "ami-"+name+".txt"))
	for _, m := range msgs {
		if m.Event() == "" {
			continue
		}
		var ts time.Time
		if m.Has("Timestamp") {
			ts = amiTime(m, time.Now)
		}
		out = append(out, fixtureEvent{ts: ts, ami: m})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.ts.Equal(b.ts) {
			return a.ts.Before(b.ts)
		}
		return a.ari != nil && b.ari == nil
	})
	return out
}

// readAMIFile parses an AMI stream capture with the ami package's reader.
func readAMIFile(t testing.TB, path string) []*ami.Message {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := ami.NewReader(f, ami.ReaderConfig{})
	if _, err := r.ReadBanner(); err != nil {
		t.Fatalf("%s: banner: %v", path, err)
	}
	var out []*ami.Message
	for {
		m, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
}

// readAMIActions parses an ami-actions-<moment>.txt file into the list items
// of each action ("=== Name" sections).
func readAMIActions(t testing.TB, moment string) map[string][]*ami.Message {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir(t), "ami-actions-"+moment+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]*ami.Message)
	for _, sec := range strings.Split("\n"+string(data), "\n=== ")[1:] {
		name, body, _ := strings.Cut(sec, "\n")
		name = strings.TrimSpace(name)
		body = strings.TrimRight(body, "\r\n") + "\r\n\r\n"
		r := ami.NewReader(strings.NewReader(body), ami.ReaderConfig{})
		for {
			m, err := r.ReadMessage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s %s: %v", moment, name, err)
			}
			if m.Event() != "" && !strings.HasSuffix(m.Event(), "Complete") {
				out[name] = append(out[name], m)
			}
		}
	}
	return out
}

// loadSnapshot builds a Snapshot from the rest-<moment>-*.json and
// ami-actions-<moment>.txt fixtures.
func loadSnapshot(t testing.TB, moment string, ts time.Time) *Snapshot {
	t.Helper()
	dir := fixtureDir(t)
	s := &Snapshot{TS: ts, HasARI: true, HasAMI: true}
	read := func(res string, v any) {
		data, err := os.ReadFile(filepath.Join(dir, "rest-"+moment+"-"+res+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s %s: %v", moment, res, err)
		}
	}
	read("channels", &s.Channels)
	read("bridges", &s.Bridges)
	read("endpoints", &s.Endpoints)
	read("deviceStates", &s.DeviceStates)
	acts := readAMIActions(t, moment)
	s.CoreShowChannels = acts["CoreShowChannels"]
	s.QueueStatus = acts["QueueStatus"]
	s.QueueSummary = acts["QueueSummary"]
	s.ParkedCalls = acts["ParkedCalls"]
	s.DeviceStateList = acts["DeviceStateList"]
	s.PJSIPEndpoints = acts["PJSIPShowEndpoints"]
	return s
}

// testDir is the tenant directory of the fixtures: users 1001-1006 own
// PJSIP/<ext> and the simulated agent phone Local/<ext>@agents; 1001 also
// owns the custom device Stasis:agent-1001.
type testDir struct {
	mu    sync.Mutex // guards users
	users []UserInfo
}

func newTestDir() *testDir {
	d := &testDir{}
	for i := 1001; i <= 1006; i++ {
		ext := fmt.Sprint(i)
		u := UserInfo{ID: "u" + ext, Name: "Agent " + ext, MainExtension: ext, Email: ext + "@example.test", Role: "agent",
			Terminals: []string{"PJSIP/" + ext, "Local/" + ext + "@agents"}}
		if i == 1001 {
			u.Terminals = append(u.Terminals, "Stasis:agent-1001")
		}
		d.users = append(d.users, u)
	}
	return d
}

func (d *testDir) UserByTerminal(term string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if slices.Contains(u.Terminals, term) {
			return u.ID, true
		}
	}
	return "", false
}

func (d *testDir) Users() []UserInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.users)
}

// set replaces the directory's users.
func (d *testDir) set(users []UserInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users = users
}

// replay feeds events through n and returns every diff.
func replay(n *Normalizer, evs []fixtureEvent) []Diff {
	var out []Diff
	for _, e := range evs {
		if e.ari != nil {
			out = n.HandleARI(out, e.ari)
		} else {
			out = n.HandleAMI(out, e.ami)
		}
	}
	return out
}

// goldenWriter renders diffs as golden lines: an added element in full, an
// update as only the fields that changed since the key's previous line, a
// removal with its final state.
type goldenWriter struct {
	last map[string]map[string]json.RawMessage
}

func (g *goldenWriter) line(d Diff) string {
	if g.last == nil {
		g.last = make(map[string]map[string]json.RawMessage)
	}
	data, err := json.Marshal(d.Data)
	if err != nil {
		data = []byte(fmt.Sprintf("%q", err.Error()))
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(data, &fields)
	id := string(d.Element) + " " + d.Key
	body := string(data)
	switch d.Op {
	case OpUpdated:
		prev := g.last[id]
		var keys []string
		for k, v := range fields {
			if string(prev[k]) != string(v) {
				keys = append(keys, k)
			}
		}
		for k := range prev {
			if _, ok := fields[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		var b strings.Builder
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			v := fields[k]
			if v == nil {
				v = json.RawMessage("null")
			}
			fmt.Fprintf(&b, "%q:%s", k, v)
		}
		b.WriteString("}")
		body = b.String()
		g.last[id] = fields
	case OpAdded:
		g.last[id] = fields
	case OpRemoved:
		delete(g.last, id)
		if st, ok := fields["state"]; ok {
			body = `{"state":` + string(st) + `}`
		} else {
			body = ""
		}
	}
	ts := "--:--:--.------"
	if !d.TS.IsZero() {
		ts = d.TS.UTC().Format("15:04:05.000000")
	}
	aud := ""
	if len(d.Audience) > 0 {
		aud = " [" + strings.Join(d.Audience, ",") + "]"
	}
	return fmt.Sprintf("%s %-7s %-14s %s%s %s", ts, d.Op, d.Element, d.Key, aud, body)
}
