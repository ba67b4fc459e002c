package pbxsim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

//go:generate go run ./internal/scriptgen -fixtures ../../../shared/fixtures/asterisk-22 -out scripts/scripts.json

//go:embed scripts/scripts.json
var scriptsJSON []byte

// Trigger kinds: what starts a phase of a call flow.
const (
	trigOriginate = "originate"
	trigHangup    = "hangup"    // ARI DELETE /channels/{id}
	trigAMIHangup = "amihangup" // AMI Hangup
	trigPark      = "park"
	trigBlindXfer = "blindxfer"
	trigAtxfer    = "atxfer"
	trigRedirect  = "redirect"
	trigConfMute  = "confmute"
	trigConfUnmut = "confunmute"
	trigSIPCall   = "sipcall"
	trigHold      = "hold"
	trigUnhold    = "unhold"
	trigBridgeNew = "bridgecreate"
	trigAddChan   = "addchannel"
	trigBridgeMOH = "bridgemoh"
	trigBridgeOff = "bridgeunmoh"
	trigContinue  = "continue"
	trigBridgeDel = "bridgedelete"
)

// segment kinds of a compiled template.
const (
	segLit = iota
	segUID
	segCtr
	segBridge
	segISO
	segEpoch
	segApp
	segEID
	segBind
)

type segment struct {
	kind int
	lit  string
	a, b int64
}

type step struct {
	size int   // rendered size estimate, to allocate once
	at   int64 // µs after phase start, non-decreasing within a phase
	ari  bool
	tpl  []segment
	// parkingCreate marks the BridgeCreated/BridgeCreate of the parking
	// lot's holding bridge: skipped when that bridge already exists.
	parkingCreate bool
	kind          string // event name, for diagnostics
}

type phase struct {
	shift   int64 // µs removed from the recorded offsets (see parseScripts)
	trigger string
	target  int
	ext     string
	steps   []step
}

type script struct {
	name    string
	slots   int
	binds   []string
	phases  []phase
	parking map[int]bool // bridge slots that are the parking lot's bridge
}

var (
	scriptsOnce sync.Once
	scriptsByID map[string]*script
	scriptsErr  error
)

// loadScripts parses the embedded scripts once.
func loadScripts() (map[string]*script, error) {
	scriptsOnce.Do(func() {
		scriptsByID, scriptsErr = parseScripts(scriptsJSON)
	})
	return scriptsByID, scriptsErr
}

var (
	phRe        = regexp.MustCompile(`\{\{([a-z]+)(?::(-?\d+))?(?::(-?\d+))?\}\}`)
	parkAriRe   = regexp.MustCompile(`"bridge":\{"id":"\{\{b:(\d+)\}\}","technology":"holding_bridge","bridge_type":"holding","bridge_class":"parking"`)
	parkAmiRe   = regexp.MustCompile(`BridgeUniqueid: \{\{b:(\d+)\}\}\r\nBridgeType: parking`)
	eventNameRe = regexp.MustCompile(`^(?:\{"type":"([A-Za-z]+)"|Event: ([A-Za-z]+))`)
)

func parseScripts(b []byte) (map[string]*script, error) {
	var raw []struct {
		Name   string   `json:"name"`
		Binds  []string `json:"binds"`
		Slots  int      `json:"slots"`
		Phases []struct {
			Trigger string `json:"trigger"`
			Target  int    `json:"target"`
			Ext     string `json:"ext"`
			Steps   []struct {
				At  int64  `json:"at"`
				ARI string `json:"ari"`
				AMI string `json:"ami"`
			} `json:"steps"`
		} `json:"phases"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("pbxsim scripts: %w", err)
	}
	out := make(map[string]*script, len(raw))
	for _, r := range raw {
		s := &script{name: r.Name, slots: r.Slots, binds: r.Binds, parking: map[int]bool{}}
		for _, p := range r.Phases {
			for _, st := range p.Steps {
				for _, m := range parkAriRe.FindAllStringSubmatch(st.ARI, -1) {
					n, _ := strconv.Atoi(m[1])
					s.parking[n] = true
				}
				for _, m := range parkAmiRe.FindAllStringSubmatch(st.AMI, -1) {
					n, _ := strconv.Atoi(m[1])
					s.parking[n] = true
				}
			}
		}
		for _, p := range r.Phases {
			ph := phase{trigger: p.Trigger, target: p.Target, ext: p.Ext}
			// a phase starts with its first event: Asterisk's latency between
			// the action and its first event is not replayed, so an
			// originate can answer with the channel it created.
			var first int64
			if len(p.Steps) > 0 {
				first = p.Steps[0].At
			}
			ph.shift = first
			var last int64
			for _, st := range p.Steps {
				st.At -= first
				text, isARI := st.AMI, false
				if st.ARI != "" {
					text, isARI = st.ARI, true
				}
				if !isARI {
					text += "\r\n" // the blank line that ends the frame
				}
				tpl, err := compile(text)
				if err != nil {
					return nil, fmt.Errorf("pbxsim script %s: %w", r.Name, err)
				}
				at := st.At
				if at < last {
					at = last
				}
				last = at
				sp := step{at: at, ari: isARI, tpl: tpl, size: renderSize(tpl)}
				if m := eventNameRe.FindStringSubmatch(text); m != nil {
					sp.kind = m[1] + m[2]
				}
				if sp.kind == "BridgeCreated" || sp.kind == "BridgeCreate" {
					if m := parkAriRe.FindStringSubmatch(text); m != nil {
						sp.parkingCreate = true
					}
					if m := parkAmiRe.FindStringSubmatch(text); m != nil {
						sp.parkingCreate = true
					}
				}
				ph.steps = append(ph.steps, sp)
			}
			s.phases = append(s.phases, ph)
		}
		out[s.name] = s
	}
	return out, nil
}

func compile(text string) ([]segment, error) {
	var segs []segment
	pos := 0
	for _, m := range phRe.FindAllStringSubmatchIndex(text, -1) {
		if m[0] > pos {
			segs = append(segs, segment{kind: segLit, lit: text[pos:m[0]]})
		}
		name := text[m[2]:m[3]]
		var a, b int64
		if m[4] >= 0 {
			a, _ = strconv.ParseInt(text[m[4]:m[5]], 10, 64)
		}
		if m[6] >= 0 {
			b, _ = strconv.ParseInt(text[m[6]:m[7]], 10, 64)
		}
		sg := segment{a: a, b: b}
		switch name {
		case "u":
			sg.kind = segUID
		case "l":
			sg.kind = segCtr
		case "b":
			sg.kind = segBridge
		case "t":
			sg.kind = segISO
		case "e":
			sg.kind = segEpoch
		case "app":
			sg.kind = segApp
		case "eid":
			sg.kind = segEID
		case "cust", "custname", "agent", "xfer", "picker", "space":
			sg.kind, sg.lit = segBind, name
		default:
			return nil, fmt.Errorf("unknown placeholder %q", name)
		}
		segs = append(segs, sg)
		pos = m[1]
	}
	if pos < len(text) {
		segs = append(segs, segment{kind: segLit, lit: text[pos:]})
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("empty template")
	}
	if strings.Contains(text, "{{") && len(segs) == 1 && segs[0].kind == segLit {
		return nil, fmt.Errorf("unparsed placeholder in %.40q", text)
	}
	return segs, nil
}

// renderSize estimates a template's rendered length generously.
func renderSize(tpl []segment) int {
	n := 0
	for _, sg := range tpl {
		if sg.kind == segLit {
			n += len(sg.lit)
		} else {
			n += 40
		}
	}
	return n
}
