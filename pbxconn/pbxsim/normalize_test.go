package pbxsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// The structural normaliser: an event becomes its kind plus the ordered
// names and JSON types of its fields (recursively); values are dropped,
// except that run-specific identifiers (uniqueids, bridge UUIDs, channel
// name counters) are checked to map one-to-one between the recording and
// the simulation, so "the same channel" stays the same channel.

var (
	uidValRe  = regexp.MustCompile(`^\d{9,11}\.\d{1,5}$`)
	uuidValRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	ctrValRe  = regexp.MustCompile(`-([0-9a-f]{8});[12]$`)
)

type leaf struct{ path, val string }

// jsonShape returns the ordered shape of a JSON document and its string leaves.
func jsonShape(b []byte) (string, []leaf, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var sb strings.Builder
	var leaves []leaf
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' {
				sb.WriteByte('{')
				first := true
				for dec.More() {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					if !first {
						sb.WriteByte(',')
					}
					first = false
					sb.WriteString(fmt.Sprint(k) + ":")
					if err := walk(path + "." + fmt.Sprint(k)); err != nil {
						return err
					}
				}
				_, err := dec.Token()
				sb.WriteByte('}')
				return err
			}
			sb.WriteByte('[')
			i := 0
			for dec.More() {
				if i > 0 {
					sb.WriteByte(',')
				}
				if err := walk(fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
				i++
			}
			_, err := dec.Token()
			sb.WriteByte(']')
			return err
		case string:
			sb.WriteByte('s')
			leaves = append(leaves, leaf{path, v})
		case json.Number:
			sb.WriteByte('n')
		case bool:
			sb.WriteByte('b')
		case nil:
			sb.WriteString("null")
		}
		return nil
	}
	if err := walk(""); err != nil {
		return "", nil, err
	}
	return sb.String(), leaves, nil
}

// idMap checks that identifiers correspond one-to-one.
type idMap struct {
	fwd, back map[string]string
	errs      []string
}

func newIDMap() *idMap { return &idMap{fwd: map[string]string{}, back: map[string]string{}} }

func (m *idMap) pair(where, rec, sim string) {
	norm := func(v string) (string, bool) {
		switch {
		case uidValRe.MatchString(v), uuidValRe.MatchString(v):
			return v, true
		}
		if s := ctrValRe.FindStringSubmatch(v); s != nil {
			return "ctr:" + s[1], true
		}
		return "", false
	}
	r, ok1 := norm(rec)
	s, ok2 := norm(sim)
	if !ok1 && !ok2 {
		return
	}
	if ok1 != ok2 {
		m.errs = append(m.errs, fmt.Sprintf("%s: recorded %q vs simulated %q", where, rec, sim))
		return
	}
	if prev, ok := m.fwd[r]; ok && prev != s {
		m.errs = append(m.errs, fmt.Sprintf("%s: recorded id %s maps to %s and %s", where, r, prev, s))
	}
	if prev, ok := m.back[s]; ok && prev != r {
		m.errs = append(m.errs, fmt.Sprintf("%s: simulated id %s maps to %s and %s", where, s, prev, r))
	}
	m.fwd[r], m.back[s] = s, r
}

type normEvent struct {
	label  string // kind + shape
	leaves []leaf
}

func normARI(t *testing.T, msgs [][]byte) []normEvent {
	t.Helper()
	out := make([]normEvent, 0, len(msgs))
	for _, b := range msgs {
		shape, leaves, err := jsonShape(b)
		if err != nil {
			t.Fatalf("ari event is not JSON: %v: %.200s", err, b)
		}
		out = append(out, normEvent{label: eventType(b) + " " + shape, leaves: leaves})
	}
	return out
}

// skipAMI are events left out of the comparison: the security events
// raised by the recorder's (and the test's) short helper AMI logins, whose
// number depends on how many helper sessions drove the scenario, and the
// per-session FullyBooted.
var skipAMI = map[string]bool{"SuccessfulAuth": true, "ChallengeSent": true, "FullyBooted": true}

func normAMI(msgs []ami.Message) []normEvent {
	var out []normEvent
	for _, m := range msgs {
		ev := m.Get("Event")
		if ev == "" || skipAMI[ev] {
			continue
		}
		var keys []string
		var leaves []leaf
		for _, f := range m.Fields {
			keys = append(keys, f.Key)
			leaves = append(leaves, leaf{f.Key, f.Value})
		}
		out = append(out, normEvent{label: strings.Join(keys, ","), leaves: leaves})
	}
	return out
}

// parseAMIStream splits a recorded AMI capture into frames.
func parseAMIStream(t *testing.T, b []byte) []ami.Message {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(b))
	if _, err := r.ReadString('\n'); err != nil { // banner
		t.Fatal(err)
	}
	var out []ami.Message
	for {
		m, err := readFrame(r)
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}

func recordedARI(t *testing.T, name string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, line := range bytes.Split(fixture(t, name), []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, line)
		}
	}
	return out
}

// compareStreams fails the test at the first structural difference.
func compareStreams(t *testing.T, what string, rec, sim []normEvent) {
	t.Helper()
	ids := newIDMap()
	n := min(len(rec), len(sim))
	for i := 0; i < n; i++ {
		if rec[i].label != sim[i].label {
			t.Errorf("%s: event %d differs\n recorded:  %.300s\n simulated: %.300s", what, i, rec[i].label, sim[i].label)
			return
		}
		for j := range rec[i].leaves {
			if j < len(sim[i].leaves) {
				ids.pair(fmt.Sprintf("%s event %d %s", what, i, rec[i].leaves[j].path), rec[i].leaves[j].val, sim[i].leaves[j].val)
			}
		}
	}
	if len(rec) != len(sim) {
		extra := rec
		if len(sim) > len(rec) {
			extra = sim
		}
		t.Errorf("%s: recorded %d events, simulated %d; first unmatched: %.300s", what, len(rec), len(sim), extra[n].label)
	}
	for i, e := range ids.errs {
		if i == 5 {
			break
		}
		t.Errorf("%s: identifiers: %s", what, e)
	}
}
