package pbxsim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// Events the engine builds itself (state-driven, not a recorded flow), with
// the field order of the recordings.

// emitAMI builds, folds and publishes one AMI event. Caller holds p.mu.
func (p *PBX) emitAMI(event, privilege string, fields ...ami.Field) {
	buf := make([]byte, 0, 512)
	buf = append(buf, "Event: "...)
	buf = append(buf, event...)
	buf = append(buf, "\r\nPrivilege: "...)
	buf = append(buf, privilege...)
	buf = append(buf, "\r\nTimestamp: "...)
	buf = appendEpoch(buf, p.now())
	buf = append(buf, "\r\n"...)
	for _, f := range fields {
		buf = append(buf, f.Key...)
		buf = append(buf, ": "...)
		buf = append(buf, f.Value...)
		buf = append(buf, "\r\n"...)
	}
	buf = append(buf, "\r\n"...)
	p.foldAMI(buf)
	p.publishAMI(buf)
}

// emitARI builds, folds and publishes one ARI event; body is the JSON
// members between "timestamp" and "asterisk_id" (without braces).
func (p *PBX) emitARI(typ, body string) {
	ts := p.now().UTC().Format(isoLayout)
	mk := func(app string) []byte {
		var b strings.Builder
		b.WriteString(`{"type":"`)
		b.WriteString(typ)
		b.WriteString(`","timestamp":"`)
		b.WriteString(ts)
		b.WriteString(`",`)
		if body != "" {
			b.WriteString(body)
			b.WriteByte(',')
		}
		b.WriteString(`"asterisk_id":"`)
		b.WriteString(p.cfg.EntityID)
		b.WriteString(`","application":"`)
		b.WriteString(app)
		b.WriteString(`"}`)
		return []byte(b.String())
	}
	b := mk(p.cfg.App)
	p.foldARI(typ, b)
	p.publishARI(func(app string) []byte {
		if app == p.cfg.App {
			return b
		}
		return mk(app)
	})
}

// emitDevice changes a device state on both interfaces.
func (p *PBX) emitDevice(name, state string) {
	p.emitAMI("DeviceStateChange", "call,all", ami.Field{Key: "Device", Value: name}, ami.Field{Key: "State", Value: state})
	ts := p.now().UTC().Format(isoLayout)
	ds, _ := json.Marshal(ariDevState{name, state})
	mk := func(app string) []byte {
		return []byte(`{"type":"DeviceStateChanged","application":"` + app + `","timestamp":"` + ts +
			`","device_state":` + string(ds) + `,"asterisk_id":"` + p.cfg.EntityID + `"}`)
	}
	b := mk(p.cfg.App)
	p.publishARI(func(app string) []byte {
		if app == p.cfg.App {
			return b
		}
		return mk(app)
	})
}

func memberFields(q *queue, m *queueMember) []ami.Field {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	ms := "static"
	if m.dynamic {
		ms = "dynamic"
	}
	return []ami.Field{
		{Key: "Queue", Value: q.name}, {Key: "MemberName", Value: m.name}, {Key: "Interface", Value: m.iface},
		{Key: "StateInterface", Value: m.stateIface}, {Key: "Membership", Value: ms},
		{Key: "Penalty", Value: strconv.Itoa(m.penalty)}, {Key: "CallsTaken", Value: strconv.Itoa(m.callsTaken)},
		{Key: "LastCall", Value: strconv.FormatInt(m.lastCall, 10)}, {Key: "LastPause", Value: strconv.FormatInt(m.lastPause, 10)},
		{Key: "LoginTime", Value: strconv.FormatInt(m.loginTime, 10)}, {Key: "InCall", Value: b(m.inCall)},
		{Key: "Status", Value: strconv.Itoa(m.status)}, {Key: "Paused", Value: b(m.paused)},
		{Key: "PausedReason", Value: m.reason}, {Key: "Ringinuse", Value: "0"}, {Key: "Wrapuptime", Value: "0"},
	}
}

func inuse(b bool) string {
	if b {
		return "INUSE"
	}
	return "NOT_INUSE"
}

// QueuePause pauses or unpauses iface in queue (every queue when queue is
// ""), with an optional reason, as AMI QueuePause does.
func (p *PBX) QueuePause(queueName, iface string, paused bool, reason string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	found := false
	for _, qn := range p.queueOrder {
		q := p.queues[qn]
		if queueName != "" && q.name != queueName {
			continue
		}
		m := q.member(iface)
		if m == nil {
			continue
		}
		found = true
		before := q.available()
		m.paused = paused
		if paused {
			m.reason = reason
		} else {
			m.reason = ""
		}
		m.lastPause = p.now().Unix()
		p.emitDevice("Queue:"+q.name+"_pause_"+m.iface, inuse(paused))
		if after := q.available(); after != before {
			p.emitDevice("Queue:"+q.name+"_avail", inuse(!after))
		}
		p.emitAMI("QueueMemberPause", "agent,all", memberFields(q, m)...)
	}
	if !found {
		return fmt.Errorf("%w: interface %s", ErrNotFound, iface)
	}
	return nil
}

// QueueAdd adds a dynamic member to a queue (AMI QueueAdd).
func (p *PBX) QueueAdd(queueName, iface, name string, penalty int, paused bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queues[queueName]
	if q == nil {
		return fmt.Errorf("%w: queue %s", ErrNotFound, queueName)
	}
	if q.member(iface) != nil {
		return fmt.Errorf("%w: %s is already a member", ErrBadRequest, iface)
	}
	if name == "" {
		name = iface
	}
	now := p.now().Unix()
	m := &queueMember{name: name, iface: iface, stateIface: iface, dynamic: true, penalty: penalty, loginTime: now, status: 1, paused: paused}
	q.members = append(q.members, m)
	p.emitDevice("Queue:"+q.name+"_pause_"+iface, inuse(paused))
	p.emitAMI("QueueMemberAdded", "agent,all", memberFields(q, m)...)
	return nil
}

// QueueRemove removes a dynamic member (AMI QueueRemove).
func (p *PBX) QueueRemove(queueName, iface string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queues[queueName]
	if q == nil {
		return fmt.Errorf("%w: queue %s", ErrNotFound, queueName)
	}
	for i, m := range q.members {
		if strings.EqualFold(m.iface, iface) {
			if !m.dynamic {
				return fmt.Errorf("%w: %s is a static member", ErrBadRequest, iface)
			}
			q.members = append(q.members[:i], q.members[i+1:]...)
			p.emitAMI("QueueMemberRemoved", "agent,all", memberFields(q, m)...)
			return nil
		}
	}
	return fmt.Errorf("%w: member %s", ErrNotFound, iface)
}

func (p *PBX) endpointEvent(e *endpoint) string {
	b, _ := json.Marshal(p.endpointJSON(e))
	return string(b)
}

// Register makes PJSIP endpoint res reachable at contact (a SIP REGISTER;
// default contact sip:<res>@127.0.0.1:5073). Registering the same contact
// again is a refresh and raises no event.
func (p *PBX) Register(res, contact string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.endpoint(res)
	if e == nil {
		return fmt.Errorf("%w: endpoint %s", ErrNotFound, res)
	}
	if contact == "" {
		contact = "sip:" + res + "@127.0.0.1:5073"
	}
	if e.online && e.contact == contact {
		return nil // a refresh: Asterisk raises nothing
	}
	e.online, e.contact = true, contact
	p.emitAMI("PeerStatus", "system,all", ami.Field{Key: "ChannelType", Value: "PJSIP"},
		ami.Field{Key: "Peer", Value: "PJSIP/" + res}, ami.Field{Key: "PeerStatus", Value: "Reachable"})
	p.emitDevice("PJSIP/"+res, "NOT_INUSE")
	p.memberStatus("PJSIP/"+res, 1)
	p.emitARI("PeerStatusChange", `"endpoint":`+p.endpointEvent(e)+`,"peer":{"peer_status":"Reachable"}`)
	p.contactEvents(e, "NonQualified")
	return nil
}

// Unregister removes endpoint res's contact (REGISTER with Expires: 0).
func (p *PBX) Unregister(res string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.endpoint(res)
	if e == nil {
		return fmt.Errorf("%w: endpoint %s", ErrNotFound, res)
	}
	if !e.online {
		return fmt.Errorf("%w: endpoint %s is not registered", ErrBadRequest, res)
	}
	e.online = false
	p.emitAMI("PeerStatus", "system,all", ami.Field{Key: "ChannelType", Value: "PJSIP"},
		ami.Field{Key: "Peer", Value: "PJSIP/" + res}, ami.Field{Key: "PeerStatus", Value: "Unreachable"})
	p.emitARI("PeerStatusChange", `"endpoint":`+p.endpointEvent(e)+`,"peer":{"peer_status":"Unreachable"}`)
	p.contactEvents(e, "Removed")
	p.memberStatus("PJSIP/"+res, 5)
	p.emitDevice("PJSIP/"+res, "UNAVAILABLE")
	return nil
}

func (p *PBX) contactEvents(e *endpoint, status string) {
	p.emitAMI("ContactStatus", "system,all", ami.Field{Key: "URI", Value: e.contact}, ami.Field{Key: "ContactStatus", Value: status},
		ami.Field{Key: "AOR", Value: e.resource}, ami.Field{Key: "EndpointName", Value: e.resource}, ami.Field{Key: "RoundtripUsec", Value: "0"})
	// Asterisk's member order
	ci := (`{"uri":` + strconv.Quote(e.contact) + `,"contact_status":"` + status + `","aor":` + strconv.Quote(e.resource) + `,"roundtrip_usec":"0"}`)
	p.emitARI("ContactStatusChange", `"endpoint":`+p.endpointEvent(e)+`,"contact_info":`+string(ci))
}

func (p *PBX) memberStatus(iface string, status int) {
	for _, qn := range p.queueOrder {
		q := p.queues[qn]
		if m := q.member(iface); m != nil {
			m.status = status
			p.emitAMI("QueueMemberStatus", "agent,all", memberFields(q, m)...)
		}
	}
}

// SetDeviceState sets a custom device state (ARI PUT /deviceStates/{name});
// only Stasis: devices may be set.
func (p *PBX) SetDeviceState(name, state string) error {
	if !strings.HasPrefix(name, "Stasis:") || len(name) == len("Stasis:") {
		return fmt.Errorf("%w: device name must start with Stasis:", ErrBadRequest)
	}
	switch state {
	case "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD":
	default:
		return fmt.Errorf("%w: invalid device state %q", ErrBadRequest, state)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.stasisDevs[name]; !ok {
		p.stasisOrder = append(p.stasisOrder, name)
	}
	p.stasisDevs[name] = state
	p.emitDevice(name, state)
	return nil
}

// DeleteDeviceState removes a custom device state; like Asterisk it raises
// no event.
func (p *PBX) DeleteDeviceState(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.stasisDevs[name]; !ok {
		return fmt.Errorf("%w: device %s", ErrNotFound, name)
	}
	delete(p.stasisDevs, name)
	for i, n := range p.stasisOrder {
		if n == name {
			p.stasisOrder = append(p.stasisOrder[:i], p.stasisOrder[i+1:]...)
			break
		}
	}
	delete(p.devices, name)
	for i, n := range p.deviceOrder {
		if n == name {
			p.deviceOrder = append(p.deviceOrder[:i], p.deviceOrder[i+1:]...)
			break
		}
	}
	return nil
}
