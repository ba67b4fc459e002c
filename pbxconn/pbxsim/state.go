package pbxsim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// The engine's truth is the fold of the events it emitted: ARI events keep
// the channel and bridge objects REST returns, AMI events keep what the AMI
// list actions return. Both are written under PBX.mu only.

type ariChan struct {
	id      string
	name    string
	obj     json.RawMessage // the latest channel object seen, as sent
	created time.Time
	seq     uint64
}

type ariBridge struct {
	id  string
	obj json.RawMessage
	seq uint64
}

// amiChan is the AMI view of a channel.
type amiChan struct {
	uid      string
	base     []ami.Field // Channel .. Linkedid, as in every channel event
	app      string
	appData  string
	bridgeID string
	created  time.Time
	seq      uint64
}

type queueMember struct {
	name, iface, stateIface string
	dynamic                 bool
	penalty                 int
	callsTaken              int
	lastCall, lastPause     int64
	loginTime               int64
	inCall                  bool
	status                  int
	paused                  bool
	reason                  string
}

type queueCaller struct {
	uid     string
	base    []ami.Field
	joined  time.Time
	channel string
}

type queue struct {
	name, strategy, ext string
	members             []*queueMember
	callers             []*queueCaller
	completed           int
	abandoned           int
	holdtime, talktime  int
}

type parkedCall struct {
	timer  *time.Timer // fires ParkedCallTimeOut; stopped when the call leaves
	fields []ami.Field // ParkedCall event fields after Timestamp
	uid    string
	space  string
	lot    string
	since  time.Time
	ch     string
	num    string
	tmo    int
}

type confMember struct {
	conf   string
	uid    string
	base   []ami.Field
	joined time.Time
	muted  bool
}

type endpoint struct {
	resource string
	online   bool
	contact  string
}

// foldARI applies one emitted ARI event of kind typ to the state. It reads
// the top-level "channel" and "bridge" objects with a scanner rather than a
// JSON decoder: the engine wrote them and this is its hottest path.
func (p *PBX) foldARI(typ string, b []byte) {
	if typ == "ChannelVarset" {
		return // carries the channel unchanged
	}
	p.stateSeq++
	if obj := objectAfter(b, keyChannel); obj != nil {
		if id := stringField(obj, keyID); id != "" {
			p.foldChannel(typ, id, obj)
		}
	}
	if obj := objectAfter(b, keyBridge); obj != nil {
		if id := stringField(obj, keyID); id != "" {
			switch {
			case typ == "BridgeDestroyed":
				delete(p.ariBridges, id)
				if id == p.parkingBridge {
					p.parkingExists = false
				}
			case p.ariBridges[id] != nil:
				p.ariBridges[id].obj = append(p.ariBridges[id].obj[:0], obj...)
			default:
				p.ariBridges[id] = &ariBridge{id: id, obj: append(json.RawMessage(nil), obj...), seq: p.stateSeq}
				if id == p.parkingBridge {
					p.parkingExists = true
				}
			}
		}
	}
}

func (p *PBX) foldChannel(typ, id string, obj []byte) {
	if cp := p.capture; cp != nil {
		if cp.id == "" && typ == "ChannelCreated" {
			cp.id = id
		}
		// the answer shows the channel as it is when the originate
		// returns: still Down, caller ids and dialplan app set.
		if cp.id == id && (cp.obj == nil || bytes.Contains(obj, []byte(`"state":"Down"`))) {
			cp.obj = append(cp.obj[:0], obj...)
		}
	}
	switch typ {
	case "StasisStart":
		p.stasis[id] = true
	case "StasisEnd":
		delete(p.stasis, id)
	case "ChannelDestroyed":
		delete(p.ariChans, id)
		delete(p.stasis, id)
		p.channelGone(id)
		return
	}
	if cur := p.ariChans[id]; cur != nil {
		cur.obj = append(cur.obj[:0], obj...)
		return
	}
	t, _ := time.Parse(isoLayout, stringField(obj, keyCreation))
	p.ariChans[id] = &ariChan{id: id, name: stringField(obj, keyName), obj: append(json.RawMessage(nil), obj...), created: t, seq: p.stateSeq}
}

var (
	keyChannel  = []byte(`"channel":{`)
	keyBridge   = []byte(`"bridge":{`)
	keyID       = []byte(`"id":"`)
	keyName     = []byte(`"name":"`)
	keyCreation = []byte(`"creationtime":"`)
)

// objectAfter returns the object that follows the first occurrence of key
// (`"name":{`) in b, or nil. Strings are skipped with their escapes, so
// braces inside values do not count.
func objectAfter(b, key []byte) []byte {
	i := bytes.Index(b, key)
	if i < 0 {
		return nil
	}
	start := i + len(key) - 1
	depth, inStr := 0, false
	for j := start; j < len(b); j++ {
		c := b[j]
		if inStr {
			switch c {
			case '\\':
				j++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return b[start : j+1]
			}
		}
	}
	return nil
}

// stringField returns the first string value of key (`"name":"`) in obj,
// decoded; "" if absent or malformed. The fields read here (id, name,
// creationtime) come before any nested object of the same key.
func stringField(obj, key []byte) string {
	i := bytes.Index(obj, key)
	if i < 0 {
		return ""
	}
	start := i + len(key) - 1 // the opening quote
	escaped := false
	for j := start + 1; j < len(obj); j++ {
		switch c := obj[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			if !escaped {
				return string(obj[start+1 : j])
			}
			var s string
			if json.Unmarshal(obj[start:j+1], &s) != nil {
				return ""
			}
			return s
		}
	}
	return ""
}

// parseFrame splits a rendered AMI frame into fields. The values share one
// string conversion of the frame; fields is reused scratch space, so the
// result is valid until the next call and must be copied to be kept.
func parseFrame(b []byte, fields []ami.Field) ami.Message {
	s := string(bytes.TrimRight(b, "\r\n"))
	fields = fields[:0]
	for len(s) > 0 {
		line := s
		if i := strings.Index(s, "\r\n"); i >= 0 {
			line, s = s[:i], s[i+2:]
		} else {
			s = ""
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			k, _, _ = strings.Cut(line, ":")
		}
		fields = append(fields, ami.Field{Key: k, Value: v})
	}
	return ami.Message{Fields: fields}
}

// baseBlock returns the unprefixed Channel..Linkedid fields of an event.
func baseBlock(m *ami.Message) []ami.Field {
	start := -1
	for i, f := range m.Fields {
		if f.Key == "Channel" && start < 0 {
			start = i
		}
		if f.Key == "Linkedid" && start >= 0 {
			return append([]ami.Field(nil), m.Fields[start:i+1]...)
		}
	}
	return nil
}

// foldAMI applies one emitted AMI frame to the state.
func (p *PBX) foldAMI(b []byte) {
	if bytes.HasPrefix(b, []byte("Event: VarSet\r\n")) {
		return // carries the channel unchanged
	}
	m := parseFrame(b, p.scratch)
	p.scratch = m.Fields
	p.stateSeq++
	ev := m.Get("Event")
	uid := m.Get("Uniqueid")
	if uid != "" && m.Has("ChannelState") {
		if ev == "Hangup" {
			delete(p.amiChans, uid)
			p.dropParked(uid)
			p.dropConf(uid)
		} else {
			c := p.amiChans[uid]
			if c == nil {
				c = &amiChan{uid: uid, created: p.now(), seq: p.stateSeq}
				p.amiChans[uid] = c
			}
			if bb := baseBlock(&m); bb != nil {
				c.base = bb
			}
			switch ev {
			case "Newexten":
				c.app, c.appData = m.Get("Application"), m.Get("AppData")
			case "BridgeEnter":
				c.bridgeID = m.Get("BridgeUniqueid")
			case "BridgeLeave":
				c.bridgeID = ""
			}
		}
	}
	switch ev {
	case "DeviceStateChange":
		p.setDevice(m.Get("Device"), m.Get("State"))
	case "QueueCallerJoin":
		if q := p.queues[m.Get("Queue")]; q != nil {
			q.callers = append(q.callers, &queueCaller{uid: uid, base: baseBlock(&m), joined: p.now(), channel: m.Get("Channel")})
		}
	case "QueueCallerLeave":
		if q := p.queues[m.Get("Queue")]; q != nil {
			for i, c := range q.callers {
				if c.uid == uid {
					q.callers = append(q.callers[:i], q.callers[i+1:]...)
					break
				}
			}
		}
	case "QueueCallerAbandon":
		if q := p.queues[m.Get("Queue")]; q != nil {
			q.abandoned++
		}
	case "AgentComplete":
		if q := p.queues[m.Get("Queue")]; q != nil {
			q.completed++
			q.holdtime, _ = strconv.Atoi(m.Get("HoldTime"))
			q.talktime, _ = strconv.Atoi(m.Get("TalkTime"))
		}
	case "QueueMemberStatus", "QueueMemberPause":
		if q := p.queues[m.Get("Queue")]; q != nil {
			if mb := q.member(m.Get("Interface")); mb != nil {
				mb.callsTaken, _ = strconv.Atoi(m.Get("CallsTaken"))
				mb.lastCall, _ = strconv.ParseInt(m.Get("LastCall"), 10, 64)
				mb.lastPause, _ = strconv.ParseInt(m.Get("LastPause"), 10, 64)
				mb.inCall = m.Get("InCall") == "1"
				mb.status, _ = strconv.Atoi(m.Get("Status"))
				mb.paused = m.Get("Paused") == "1"
				mb.reason = m.Get("PausedReason")
			}
		}
	case "ParkedCall":
		var fields []ami.Field
		for _, f := range m.Fields {
			switch f.Key {
			case "Event", "Privilege", "Timestamp":
			default:
				fields = append(fields, f)
			}
		}
		tmo, _ := strconv.Atoi(m.Get("ParkingTimeout"))
		pc := &parkedCall{fields: fields, uid: m.Get("ParkeeUniqueid"), space: m.Get("ParkingSpace"),
			lot: m.Get("Parkinglot"), since: p.now(), ch: m.Get("ParkeeChannel"), num: m.Get("ParkeeCallerIDNum"), tmo: tmo}
		p.dropParked(pc.uid)
		p.parked = append(p.parked, pc)
		p.armParkTimeout(pc)
	case "UnParkedCall", "ParkedCallTimeOut", "ParkedCallGiveUp":
		p.dropParked(m.Get("ParkeeUniqueid"))
	case "ConfbridgeJoin":
		p.confs = append(p.confs, &confMember{conf: m.Get("Conference"), uid: uid, base: baseBlock(&m), joined: p.now(), muted: m.Get("Muted") == "Yes"})
	case "ConfbridgeLeave":
		p.dropConf(uid)
	case "ConfbridgeMute", "ConfbridgeUnmute":
		for _, c := range p.confs {
			if c.uid == uid {
				c.muted = ev == "ConfbridgeMute"
			}
		}
	}
}

func (p *PBX) dropParked(uid string) {
	for i, pc := range p.parked {
		if pc.uid == uid {
			if pc.timer != nil {
				pc.timer.Stop()
			}
			p.parked = append(p.parked[:i], p.parked[i+1:]...)
			return
		}
	}
}

func (p *PBX) dropConf(uid string) {
	for i, c := range p.confs {
		if c.uid == uid {
			p.confs = append(p.confs[:i], p.confs[i+1:]...)
			return
		}
	}
}

func (p *PBX) setDevice(name, state string) {
	if _, ok := p.devices[name]; !ok {
		p.deviceOrder = append(p.deviceOrder, name)
	}
	p.devices[name] = state
}

func (q *queue) member(iface string) *queueMember {
	for _, m := range q.members {
		if strings.EqualFold(m.iface, iface) {
			return m
		}
	}
	return nil
}

// available reports whether some member could take a call.
func (q *queue) available() bool {
	for _, m := range q.members {
		if !m.paused && m.status != 5 {
			return true
		}
	}
	return false
}
