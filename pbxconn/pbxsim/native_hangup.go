package pbxsim

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

var causeText = map[int]string{
	1: "Unallocated (unassigned) number", 16: "Normal Clearing", 17: "User busy", 19: "No user responding",
	21: "Call Rejected", 26: "Answered elsewhere", 34: "Circuit/channel congestion", 38: "Network out of order",
}

// bridgeObj is the ARI bridge model, members in Asterisk's order.
type bridgeObj struct {
	ID           string   `json:"id"`
	Technology   string   `json:"technology"`
	BridgeType   string   `json:"bridge_type"`
	BridgeClass  string   `json:"bridge_class"`
	Creator      string   `json:"creator"`
	Name         string   `json:"name"`
	Channels     []string `json:"channels"`
	Creationtime string   `json:"creationtime"`
	VideoMode    string   `json:"video_mode"`
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func (b *bridgeObj) amiFields() []ami.Field {
	return []ami.Field{
		{Key: "BridgeUniqueid", Value: b.ID}, {Key: "BridgeType", Value: b.BridgeClass},
		{Key: "BridgeTechnology", Value: b.Technology}, {Key: "BridgeCreator", Value: orUnknown(b.Creator)},
		{Key: "BridgeName", Value: orUnknown(b.Name)}, {Key: "BridgeNumChannels", Value: strconv.Itoa(len(b.Channels))},
		{Key: "BridgeVideoSourceMode", Value: b.VideoMode},
	}
}

// hangupNative hangs up the call channel id belongs to: every live channel
// of its flow (or the channel alone), leaving bridges, queues and parking
// lots as Asterisk would. Caller holds p.mu.
func (p *PBX) hangupNative(id string, cause int) {
	ids := []string{id}
	if in := p.byUID[id]; in != nil {
		p.flush(in)
		// drop the flow's remaining phases: the call is over.
		in.next = len(in.sc.phases)
		ids = ids[:0]
		for u := range in.live {
			if p.exists(u) {
				ids = append(ids, u)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return p.chanSeq(ids[i]) < p.chanSeq(ids[j]) })
	}
	txt := causeText[cause]
	for _, u := range ids {
		p.hangupOne(u, cause, txt)
	}
}

func (p *PBX) chanSeq(id string) uint64 {
	if c := p.ariChans[id]; c != nil {
		return c.seq
	}
	if c := p.amiChans[id]; c != nil {
		return c.seq
	}
	return 0
}

func (p *PBX) hangupOne(id string, cause int, txt string) {
	ac := p.amiChans[id]
	var base []ami.Field
	bridgeID := ""
	if ac != nil {
		base = ac.base
		bridgeID = ac.bridgeID
	}
	obj := json.RawMessage(`{}`)
	if c := p.ariChans[id]; c != nil {
		obj = append(json.RawMessage(nil), c.obj...)
	}
	cs := strconv.Itoa(cause)
	p.emitARI("ChannelHangupRequest", `"channel":`+string(obj))
	p.emitAMI("SoftHangupRequest", "call,all", append(append([]ami.Field(nil), base...), ami.Field{Key: "Cause", Value: cs})...)
	if bridgeID == "" {
		for bid, b := range p.ariBridges {
			var bo bridgeObj
			if json.Unmarshal(b.obj, &bo) == nil {
				for _, c := range bo.Channels {
					if c == id {
						bridgeID = bid
					}
				}
			}
		}
	}
	if b := p.ariBridges[bridgeID]; b != nil {
		var bo bridgeObj
		if json.Unmarshal(b.obj, &bo) == nil {
			keep := bo.Channels[:0]
			for _, c := range bo.Channels {
				if c != id {
					keep = append(keep, c)
				}
			}
			bo.Channels = keep
			bj, _ := json.Marshal(bo)
			p.emitARI("ChannelLeftBridge", `"bridge":`+string(bj)+`,"channel":`+string(obj))
			p.emitAMI("BridgeLeave", "call,all", append(bo.amiFields(), base...)...)
			if len(bo.Channels) == 0 && bo.BridgeClass != "parking" && bo.BridgeClass != "stasis" {
				p.emitARI("BridgeDestroyed", `"bridge":`+string(bj))
				p.emitAMI("BridgeDestroy", "call,all", bo.amiFields()...)
			}
		}
	}
	if p.stasis[id] {
		p.emitARI("StasisEnd", `"channel":`+string(obj))
	}
	for _, qn := range p.queueOrder {
		q := p.queues[qn]
		for i, c := range q.callers {
			if c.uid == id {
				p.emitAMI("QueueCallerAbandon", "agent,all", append(append([]ami.Field(nil), base...),
					ami.Field{Key: "Queue", Value: q.name}, ami.Field{Key: "Position", Value: strconv.Itoa(i + 1)},
					ami.Field{Key: "OriginalPosition", Value: strconv.Itoa(i + 1)},
					ami.Field{Key: "HoldTime", Value: strconv.Itoa(int(p.now().Sub(c.joined).Seconds()))})...)
				p.emitAMI("QueueCallerLeave", "agent,all", append(append([]ami.Field(nil), base...),
					ami.Field{Key: "Queue", Value: q.name}, ami.Field{Key: "Count", Value: strconv.Itoa(len(q.callers) - 1)},
					ami.Field{Key: "Position", Value: strconv.Itoa(i + 1)})...)
				break
			}
		}
	}
	for _, pc := range p.parked {
		if pc.uid == id {
			p.emitAMI("ParkedCallGiveUp", "call,all", pc.fields...)
			break
		}
	}
	p.emitARI("ChannelDestroyed", `"cause":`+cs+`,"cause_txt":`+strconv.Quote(txt)+`,"channel":`+string(obj))
	p.emitAMI("Hangup", "call,all", append(append([]ami.Field(nil), base...),
		ami.Field{Key: "Cause", Value: cs}, ami.Field{Key: "Cause-txt", Value: txt})...)
	// state cleanup when the channel never had an AMI/ARI view
	delete(p.ariChans, id)
	delete(p.amiChans, id)
	p.channelGone(id)
}

// confNative mutes or unmutes every member of conference conf.
func (p *PBX) confNative(conf string, mute bool) error {
	ev := "ConfbridgeUnmute"
	if mute {
		ev = "ConfbridgeMute"
	}
	n := 0
	for _, c := range p.confs {
		if c.conf != conf {
			continue
		}
		n++
		f := []ami.Field{{Key: "Conference", Value: conf}}
		f = append(f, c.base...)
		f = append(f, ami.Field{Key: "Admin", Value: "No"})
		p.emitAMI(ev, "call,all", f...)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// armParkTimeout schedules the parking lot's timeout for pc: Config.
// ParkingTimeout if set, else the lot's (the event's ParkingTimeout, 120 s
// as recorded) divided by a finite Speed. Caller holds p.mu.
func (p *PBX) armParkTimeout(pc *parkedCall) {
	d := p.cfg.ParkingTimeout
	if d <= 0 {
		d = time.Duration(pc.tmo) * time.Second
		if !math.IsInf(p.speed, 1) {
			d = time.Duration(float64(d) / p.speed)
		}
	}
	pc.timer = time.AfterFunc(d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		for _, cur := range p.parked {
			if cur == pc {
				p.parkTimeout(pc)
				return
			}
		}
	})
}

// parkTimeout raises ParkedCallTimeOut and, the simulated dialplan having
// no comeback target, hangs the parked call up. Caller holds p.mu.
func (p *PBX) parkTimeout(pc *parkedCall) {
	el := int(p.now().Sub(pc.since).Seconds())
	f := make([]ami.Field, 0, len(pc.fields))
	for _, x := range pc.fields {
		switch x.Key {
		case "ParkingTimeout":
			x.Value = "0"
		case "ParkingDuration":
			x.Value = strconv.Itoa(el)
		}
		f = append(f, x)
	}
	p.emitAMI("ParkedCallTimeOut", "call,all", f...)
	p.dropParked(pc.uid)
	if p.exists(pc.uid) {
		p.hangupNative(pc.uid, 16)
	}
}
