// Command scriptgen compiles the recorded Asterisk 22 traffic
// (../shared/fixtures/asterisk-22) into the call-flow scripts the simulator
// embeds (pbxconn/pbxsim/scripts/scripts.json).
//
// A script is one recorded call flow cut into phases at the moments an action
// was taken (the "###" lines of actions-*.log). Each phase lists the ARI
// events and AMI frames that followed the action, merged by time, with every
// run-specific value replaced by a placeholder the engine fills in when it
// plays the phase:
//
//	{{u:N}}    the Nth uniqueid of the flow       {{l:N}}  the Nth channel counter (8 hex digits)
//	{{b:N}}    the Nth bridge id (UUID)           {{t:P:MS}} ISO time, phase P start + MS ms
//	{{e:P:US}} AMI epoch time, phase P + US µs    {{app}} {{eid}} ARI application, entity id
//	{{cust}} {{agent}} {{xfer}} {{picker}} {{space}} values bound from the actions (numbers, parking space)
//	{{custname}} the customer's caller name ("Customer 9001", or with a latency stamp)
//
// Phases that are driven by state rather than by a flow (queue pause, member
// add/remove, registration, device states) are produced natively by the
// engine and are not part of any script. Security events (SuccessfulAuth,
// ChallengeSent) of the recorder's helper sessions are dropped: the simulator
// raises SuccessfulAuth for its own AMI logins.
//
// Run with `go generate ./pbxconn/pbxsim`.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// phaseSpec describes one action of a recorded scenario.
type phaseSpec struct {
	At      string            // HH:MM:SS.mmm from the actions log
	Trigger string            // action kind, see the engine's trigger constants
	Target  string            // uniqueid the action was aimed at, if any
	Ext     string            // extension argument, if any
	Native  bool              // events of this phase are produced by engine code
	Bind    map[string]string // literal -> placeholder name, applied to the whole flow
}

type scenarioSpec struct {
	Name   string
	File   string // fixture base name (ari-events-<File>.jsonl, ami-<File>.txt)
	Until  string // end of this flow within the file ("" = end of file)
	Phases []phaseSpec
}

var specs = []scenarioSpec{
	{Name: "queue", File: "queue", Phases: []phaseSpec{
		{At: "14:07:34.127", Trigger: "originate", Ext: "queue", Bind: map[string]string{"Customer 9001": "custname", "9001": "cust"}},
		{At: "14:07:40.531", Trigger: "hangup", Target: "1795442854.0"},
	}},
	{Name: "queue-abandon", File: "queue-abandon", Phases: []phaseSpec{
		{At: "14:10:57.137", Trigger: "queuepause", Native: true},
		{At: "14:10:57.162", Trigger: "originate", Ext: "queue-paused", Bind: map[string]string{"Customer 9802": "custname", "9802": "cust"}},
		{At: "14:11:08.520", Trigger: "queuepause", Native: true},
	}},
	{Name: "park", File: "park", Phases: []phaseSpec{
		{At: "14:07:53.599", Trigger: "originate", Ext: "agent", Bind: map[string]string{"Customer 9002": "custname", "9002": "cust", "1001": "agent", "1003": "picker", "701": "space"}},
		{At: "14:07:57.767", Trigger: "park", Target: "1795442873.8"},
		{At: "14:08:01.084", Trigger: "originate", Ext: "pickup"},
		{At: "14:08:06.215", Trigger: "hangup", Target: "1795442881.12"},
	}},
	{Name: "park-xfer", File: "park-xfer", Phases: []phaseSpec{
		{At: "14:12:30.747", Trigger: "originate", Ext: "agent", Bind: map[string]string{"Customer 9011": "custname", "9011": "cust", "1001": "agent", "1002": "picker", "701": "space"}},
		{At: "14:12:34.957", Trigger: "blindxfer", Target: "1795443150.76", Ext: "park"},
		{At: "14:12:37.985", Trigger: "originate", Ext: "pickup"},
		{At: "14:12:43.095", Trigger: "hangup", Target: "1795443150.74"},
	}},
	{Name: "transfer-blind", File: "transfer-blind", Phases: []phaseSpec{
		{At: "14:08:21.024", Trigger: "originate", Ext: "agent", Bind: map[string]string{"Customer 9003": "custname", "9003": "cust", "1001": "agent", "1002": "xfer"}},
		{At: "14:08:25.367", Trigger: "blindxfer", Target: "1795442901.16", Ext: "ext"},
		{At: "14:08:30.979", Trigger: "hangup", Target: "1795442901.14"},
	}},
	{Name: "transfer-redirect", File: "transfer-redirect", Phases: []phaseSpec{
		{At: "14:08:36.756", Trigger: "originate", Ext: "agent", Bind: map[string]string{"Customer 9006": "custname", "9006": "cust", "1001": "agent"}},
		{At: "14:08:40.976", Trigger: "redirect", Target: "1795442916.20", Ext: "queue"},
		{At: "14:08:45.993", Trigger: "hangup", Target: "1795442916.20"},
	}},
	{Name: "transfer-attended", File: "transfer-attended", Phases: []phaseSpec{
		{At: "14:09:35.823", Trigger: "originate", Ext: "agent", Bind: map[string]string{"Customer 9007": "custname", "9007": "cust", "1001": "agent", "1002": "xfer"}},
		{At: "14:09:40.058", Trigger: "atxfer", Target: "1795442975.36", Ext: "ext"},
		{At: "14:09:45.323", Trigger: "hangup", Target: "1795442975.36"},
		{At: "14:09:49.342", Trigger: "hangup", Target: "1795442975.34"},
	}},
	{Name: "hangup-self", File: "hangup", Until: "14:10:42.089", Phases: []phaseSpec{
		{At: "14:10:29.924", Trigger: "originate", Ext: "agent-selfhangup", Bind: map[string]string{"Customer 9801": "custname", "9801": "cust", "1001": "agent"}},
	}},
	{Name: "hangup-busy", File: "hangup", Until: "14:10:48.279", Phases: []phaseSpec{
		{At: "14:10:42.089", Trigger: "originate", Ext: "agent", Bind: map[string]string{"Customer 9008": "custname", "9008": "cust", "1002": "agent"}},
		{At: "14:10:46.261", Trigger: "hangup", Target: "1795443042.60"},
	}},
	{Name: "hangup-ringing", File: "hangup", Phases: []phaseSpec{
		{At: "14:10:48.279", Trigger: "originate", Ext: "noanswer", Bind: map[string]string{"Customer 9009": "custname", "9009": "cust"}},
		{At: "14:10:51.402", Trigger: "amihangup", Target: "1795443048.62"},
	}},
	{Name: "register", File: "register", Phases: []phaseSpec{
		{At: "14:12:01.826", Trigger: "register", Native: true},
		{At: "14:12:04.958", Trigger: "originate", Ext: "sip", Bind: map[string]string{"Customer 9010": "custname", "9010": "cust", "1002": "agent"}},
		{At: "14:12:09.329", Trigger: "hangup", Target: "1795443125.71"},
		{At: "14:12:11.352", Trigger: "unregister", Native: true},
	}},
	{Name: "confbridge", File: "confbridge", Phases: []phaseSpec{
		{At: "14:12:48.835", Trigger: "originate", Ext: "conf", Bind: map[string]string{"Customer 9012": "custname", "9012": "cust", "1004": "agent"}},
		{At: "14:12:50.990", Trigger: "originate", Ext: "conf"},
		{At: "14:12:54.034", Trigger: "confmute"},
		{At: "14:12:55.048", Trigger: "confunmute"},
		{At: "14:12:56.065", Trigger: "hangup", Target: "1795443168.80"},
		{At: "14:12:57.092", Trigger: "hangup", Target: "1795443171.84"},
	}},
	{Name: "hold-sip", File: "hold-sip", Phases: []phaseSpec{
		{At: "14:11:41.009", Trigger: "sipcall", Ext: "hold"},
	}},
	{Name: "hold-ari", File: "hold-ari", Phases: []phaseSpec{
		{At: "14:09:59.443", Trigger: "originate", Ext: "stasis", Bind: map[string]string{"Customer 9004": "custname", "9004": "cust", "1004": "agent"}},
		{At: "14:09:59.560", Trigger: "originate", Ext: "stasis"},
		{At: "14:10:02.678", Trigger: "bridgecreate"},
		{At: "14:10:02.773", Trigger: "addchannel"},
		{At: "14:10:05.256", Trigger: "hold", Target: "1795442999.42"},
		{At: "14:10:08.270", Trigger: "unhold", Target: "1795442999.42"},
		{At: "14:10:10.285", Trigger: "bridgemoh"},
		{At: "14:10:12.304", Trigger: "bridgeunmoh"},
		{At: "14:10:13.335", Trigger: "hangup", Target: "1795442999.44"},
		{At: "14:10:14.359", Trigger: "continue", Target: "1795442999.42", Ext: "queue"},
		{At: "14:10:18.383", Trigger: "bridgedelete"},
		{At: "14:10:18.414", Trigger: "hangup", Target: "1795442999.42"},
	}},
}

// Output types, mirrored by the engine's loader.
type outStep struct {
	At  int64  `json:"at"`            // µs after the phase started
	ARI string `json:"ari,omitempty"` // ARI event template
	AMI string `json:"ami,omitempty"` // AMI frame template (CRLF lines, no blank line)
}

type outPhase struct {
	Trigger string    `json:"trigger"`
	Target  int       `json:"target"` // uniqueid slot, -1 for none
	Ext     string    `json:"ext,omitempty"`
	Steps   []outStep `json:"steps"`
}

type outScript struct {
	Name   string     `json:"name"`
	Binds  []string   `json:"binds"` // placeholder names bound by this flow
	Slots  int        `json:"slots"` // number of uniqueid slots
	Phases []outPhase `json:"phases"`
}

type event struct {
	at  time.Time
	ari bool
	raw string
}

var (
	isoRe         = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000`)
	epochRe       = regexp.MustCompile(`(?m)^(Timestamp|EventTV): (\S+)\r$`)
	uidRe         = regexp.MustCompile(`\b\d{10}\.\d{1,5}\b`)
	uuidRe        = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	ctrRe         = regexp.MustCompile(`((?:Local/[0-9A-Za-z_]+@[0-9A-Za-z_]+)|(?:PJSIP/[0-9A-Za-z_]+))-([0-9a-f]{8})`)
	placeholderRe = regexp.MustCompile(`\{\{[a-z]+(?::-?\d+)*\}\}`)
	uidKey        = regexp.MustCompile(`(?m)^[A-Za-z]*(Uniqueid|Linkedid): (\S+)\r$`)
)

func main() {
	fixtures := flag.String("fixtures", "../../../shared/fixtures/asterisk-22", "fixture directory")
	out := flag.String("out", "scripts/scripts.json", "output file")
	flag.Parse()
	var all []outScript
	for _, sp := range specs {
		s, err := build(*fixtures, sp)
		if err != nil {
			fmt.Fprintf(os.Stderr, "scriptgen %s: %v\n", sp.Name, err)
			os.Exit(1)
		}
		all = append(all, s)
	}
	b, err := json.MarshalIndent(all, "", " ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func day(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, "rest-idle-asterisk-info.json"))
	if err != nil {
		return time.Time{}, err
	}
	m := isoRe.Find(b)
	t, err := time.Parse("2006-01-02T15:04:05.000-0700", string(m))
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}

func clock(d time.Time, hms string) time.Time {
	t, err := time.Parse("15:04:05.000", hms)
	if err != nil {
		panic(err) // specs are constants of this program
	}
	return d.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()))
}

func load(dir, file string) ([]event, []event, error) {
	var ari, ami []event
	f, err := os.Open(filepath.Join(dir, "ari-events-"+file+".jsonl"))
	if err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var h struct {
				Timestamp string `json:"timestamp"`
			}
			if err := json.Unmarshal([]byte(line), &h); err != nil {
				f.Close()
				return nil, nil, err
			}
			t, err := time.Parse("2006-01-02T15:04:05.000-0700", h.Timestamp)
			if err != nil {
				f.Close()
				return nil, nil, err
			}
			ari = append(ari, event{at: t.UTC(), ari: true, raw: line})
		}
		f.Close()
	}
	b, err := os.ReadFile(filepath.Join(dir, "ami-"+file+".txt"))
	if err != nil {
		return nil, nil, err
	}
	for _, fr := range strings.Split(string(b), "\r\n\r\n") {
		if !strings.HasPrefix(fr, "Event: ") {
			continue
		}
		name := strings.TrimSuffix(strings.SplitN(fr[len("Event: "):], "\r\n", 2)[0], "\r")
		switch name {
		case "SuccessfulAuth", "ChallengeSent", "FullyBooted":
			continue
		}
		m := regexp.MustCompile(`(?m)^Timestamp: (\d+)\.(\d{6})`).FindStringSubmatch(fr)
		if m == nil {
			return nil, nil, fmt.Errorf("ami frame without Timestamp: %.60q", fr)
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		us, _ := strconv.ParseInt(m[2], 10, 64)
		ami = append(ami, event{at: time.Unix(sec, us*1000).UTC(), raw: fr + "\r\n"})
	}
	return ari, ami, nil
}

func build(dir string, sp scenarioSpec) (outScript, error) {
	d, err := day(dir)
	if err != nil {
		return outScript{}, err
	}
	ari, ami, err := load(dir, sp.File)
	if err != nil {
		return outScript{}, err
	}
	starts := make([]time.Time, len(sp.Phases))
	for i, p := range sp.Phases {
		starts[i] = clock(d, p.At)
	}
	end := time.Unix(math.MaxInt32, 0)
	if sp.Until != "" {
		end = clock(d, sp.Until)
	}
	// assign each event of the window to a phase, monotonically per stream.
	type placed struct {
		event
		phase int
	}
	assign := func(evs []event) []placed {
		var out []placed
		cur := -1
		for _, e := range evs {
			if e.at.Before(starts[0].Add(-time.Millisecond)) || !e.at.Before(end) {
				continue
			}
			p := 0
			for i := range starts {
				if !e.at.Before(starts[i]) {
					p = i
				}
			}
			if p < cur {
				p = cur
			}
			cur = p
			out = append(out, placed{e, p})
		}
		return out
	}
	pa, pm := assign(ari), assign(ami)
	// merge, keeping each stream's order.
	var merged []placed
	i, j := 0, 0
	for i < len(pa) || j < len(pm) {
		if j >= len(pm) || (i < len(pa) && (pa[i].phase < pm[j].phase || (pa[i].phase == pm[j].phase && !pm[j].at.Before(pa[i].at)))) {
			merged = append(merged, pa[i])
			i++
		} else {
			merged = append(merged, pm[j])
			j++
		}
	}
	// known uniqueids: ARI channel ids and AMI *Uniqueid/*Linkedid values.
	uids := map[string]bool{}
	for _, e := range merged {
		if e.ari {
			var h struct {
				Channel *struct {
					ID string `json:"id"`
				} `json:"channel"`
			}
			_ = json.Unmarshal([]byte(e.raw), &h)
			if h.Channel != nil {
				uids[h.Channel.ID] = true
			}
		} else {
			for _, m := range uidKey.FindAllStringSubmatch(e.raw, -1) {
				uids[m[2]] = true
			}
		}
	}
	slot := map[string]int{}
	ctr := map[string]int{}
	br := map[string]int{}
	binds := map[string]string{}
	for _, p := range sp.Phases {
		for k, v := range p.Bind {
			binds[k] = v
		}
	}
	bindKeys := make([]string, 0, len(binds))
	for k := range binds {
		bindKeys = append(bindKeys, k)
	}
	// longest first, so "Customer 9001" is bound before "9001"
	sort.Slice(bindKeys, func(i, j int) bool {
		if len(bindKeys[i]) != len(bindKeys[j]) {
			return len(bindKeys[i]) > len(bindKeys[j])
		}
		return bindKeys[i] < bindKeys[j]
	})
	// phaseOf places a time relative to the latest scripted (non-native)
	// phase that started before it, numbered as in the output.
	phaseOf := func(t time.Time) (int, time.Duration) {
		p := -1
		for i := range starts {
			if !sp.Phases[i].Native && !t.Before(starts[i]) {
				p = i
			}
		}
		if p < 0 {
			return 0, 0
		}
		n := 0
		for i := 0; i < p; i++ {
			if !sp.Phases[i].Native {
				n++
			}
		}
		return n, t.Sub(starts[p])
	}
	subst := func(raw string) string {
		raw = epochRe.ReplaceAllStringFunc(raw, func(s string) string {
			m := epochRe.FindStringSubmatch(s)
			if m[1] == "EventTV" {
				return s // ISO, handled below
			}
			parts := strings.SplitN(m[2], ".", 2)
			sec, _ := strconv.ParseInt(parts[0], 10, 64)
			us, _ := strconv.ParseInt(parts[1], 10, 64)
			p, off := phaseOf(time.Unix(sec, us*1000).UTC())
			return fmt.Sprintf("Timestamp: {{e:%d:%d}}\r", p, off.Microseconds())
		})
		raw = isoRe.ReplaceAllStringFunc(raw, func(s string) string {
			t, _ := time.Parse("2006-01-02T15:04:05.000-0700", s)
			p, off := phaseOf(t.UTC())
			return fmt.Sprintf("{{t:%d:%d}}", p, off.Milliseconds())
		})
		raw = uuidRe.ReplaceAllStringFunc(raw, func(s string) string {
			n, ok := br[s]
			if !ok {
				n = len(br)
				br[s] = n
			}
			return fmt.Sprintf("{{b:%d}}", n)
		})
		raw = ctrRe.ReplaceAllStringFunc(raw, func(s string) string {
			m := ctrRe.FindStringSubmatch(s)
			n, ok := ctr[m[2]]
			if !ok {
				n = len(ctr)
				ctr[m[2]] = n
			}
			return fmt.Sprintf("%s-{{l:%d}}", m[1], n)
		})
		raw = uidRe.ReplaceAllStringFunc(raw, func(s string) string {
			if !uids[s] {
				return s
			}
			n, ok := slot[s]
			if !ok {
				n = len(slot)
				slot[s] = n
			}
			return fmt.Sprintf("{{u:%d}}", n)
		})
		raw = strings.ReplaceAll(raw, `"application":"cti"`, `"application":"{{app}}"`)
		raw = strings.ReplaceAll(raw, `02:fc:00:00:00:01`, `{{eid}}`)
		// bound numbers are replaced in the literal text only, never inside
		// a placeholder inserted above.
		var out strings.Builder
		pos := 0
		lit := func(s string) {
			for _, k := range bindKeys {
				s = strings.ReplaceAll(s, k, "{{"+binds[k]+"}}")
			}
			out.WriteString(s)
		}
		for _, m := range placeholderRe.FindAllStringIndex(raw, -1) {
			lit(raw[pos:m[0]])
			out.WriteString(raw[m[0]:m[1]])
			pos = m[1]
		}
		lit(raw[pos:])
		return out.String()
	}
	// Slots of targets must be stable: number uniqueids in order of first
	// appearance over the whole flow.
	out := outScript{Name: sp.Name}
	phases := make([]outPhase, len(sp.Phases))
	for i, p := range sp.Phases {
		phases[i] = outPhase{Trigger: p.Trigger, Ext: p.Ext, Target: -1}
	}
	for _, e := range merged {
		if sp.Phases[e.phase].Native {
			continue
		}
		st := outStep{At: e.at.Sub(starts[e.phase]).Microseconds()}
		if st.At < 0 {
			st.At = 0
		}
		if e.ari {
			var buf bytes.Buffer
			if err := json.Compact(&buf, []byte(e.raw)); err != nil {
				return outScript{}, err
			}
			st.ARI = subst(e.raw)
		} else {
			st.AMI = subst(e.raw)
		}
		phases[e.phase].Steps = append(phases[e.phase].Steps, st)
	}
	for i, p := range sp.Phases {
		if p.Target != "" {
			n, ok := slot[p.Target]
			if !ok {
				return outScript{}, fmt.Errorf("phase %d target %s never seen", i, p.Target)
			}
			phases[i].Target = n
		}
	}
	for i, p := range sp.Phases {
		if !p.Native {
			out.Phases = append(out.Phases, phases[i])
		}
	}
	seen := map[string]bool{}
	for _, k := range bindKeys {
		if !seen[binds[k]] {
			seen[binds[k]] = true
			out.Binds = append(out.Binds, binds[k])
		}
	}
	out.Slots = len(slot)
	return out, nil
}
