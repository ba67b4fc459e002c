package pbxconn

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// HandleAMI applies one AMI event and appends the resulting diffs to dst.
// Frames that are not events, events it does not use and malformed fields
// are ignored; it never fails.
func (n *Normalizer) HandleAMI(dst []Diff, m *ami.Message) []Diff {
	ev := m.Event()
	if ev == "" {
		return dst
	}
	n.ts = amiTime(m, n.now)
	n.applyAMI(ev, m)
	return n.flush(dst)
}

// amiTime is the event's Timestamp (epoch seconds with µs), or now.
func amiTime(m *ami.Message, now func() time.Time) time.Time {
	s := m.Get("Timestamp")
	if s == "" {
		return now()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 1e11 {
		return now()
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3)
}

// amiChan reads the channel header of an AMI event in one pass over its
// fields; prefix selects a second channel in the same event ("Dest",
// "Parkee", ...). Asterisk spells these keys in one canonical case.
func amiChan(m *ami.Message, prefix string) chanInfo {
	var ci chanInfo
	for i := range m.Fields {
		k, v := m.Fields[i].Key, m.Fields[i].Value
		if prefix != "" {
			if len(k) <= len(prefix) || k[:len(prefix)] != prefix {
				continue
			}
			k = k[len(prefix):]
		}
		switch k {
		case "Uniqueid":
			ci.id = v
		case "Channel":
			ci.name = v
		case "ChannelStateDesc":
			ci.state = v
		case "CallerIDNum":
			ci.callerNum = v
		case "CallerIDName":
			ci.callerName = v
		case "ConnectedLineNum":
			ci.connNum = v
		case "ConnectedLineName":
			ci.connName = v
		case "Context":
			ci.context = v
		case "Exten":
			ci.exten = v
		case "Linkedid":
			ci.linkedid = v
		}
	}
	if ci.state == "Rsrvd" {
		ci.state = "Down"
	}
	return ci
}

func atoi(s string) int {
	v, _ := strconv.Atoi(strings.TrimSpace(s))
	return v
}

func (n *Normalizer) applyAMI(ev string, m *ami.Message) {
	switch ev {
	case "Newchannel":
		ci := amiChan(m, "")
		n.upsertChan(&ci, true)
	case "Newstate", "NewCallerid", "NewConnectedLine", "Newexten", "NewAccountCode":
		ci := amiChan(m, "")
		if ev == "Newexten" {
			ci.app, ci.appData = m.Get("Application"), m.Get("AppData")
		}
		n.upsertChan(&ci, false)
	case "HangupRequest", "SoftHangupRequest":
		ci := amiChan(m, "")
		if c := n.upsertChan(&ci, false); c != nil && !c.hangupReq {
			c.hangupReq = true
			c.cause = atoi(m.Get("Cause"))
			n.touchChan(c)
		}
	case "Hangup":
		if c := n.chans[m.Get("Uniqueid")]; c != nil {
			n.destroyChan(c, atoi(m.Get("Cause")))
		} else {
			n.tomb.add(m.Get("Uniqueid"))
		}
	case "DialBegin":
		src, dst := amiChan(m, ""), amiChan(m, "Dest")
		n.dialBegin(n.upsertChan(&src, false), n.upsertChan(&dst, false), m.Get("DialString"))
	case "DialEnd":
		src, dst := amiChan(m, ""), amiChan(m, "Dest")
		n.dialEnd(n.chans[src.id], n.chans[dst.id], m.Get("DialStatus"))
	case "BridgeCreate":
		n.bridge(m.Get("BridgeUniqueid"), m.Get("BridgeTechnology"), m.Get("BridgeType"), m.Get("BridgeName"))
	case "BridgeEnter":
		ci := amiChan(m, "")
		if c := n.upsertChan(&ci, false); c != nil {
			n.enterBridge(c, m.Get("BridgeUniqueid"), m.Get("BridgeTechnology"), m.Get("BridgeType"), m.Get("BridgeName"))
		}
	case "BridgeLeave":
		ci := amiChan(m, "")
		if c := n.upsertChan(&ci, false); c != nil {
			n.leaveBridge(c, m.Get("BridgeUniqueid"))
		}
	case "BridgeDestroy":
		n.destroyBridge(m.Get("BridgeUniqueid"))
	case "BridgeMerge":
		n.mergeBridge(m.Get("FromBridgeUniqueid"), m.Get("ToBridgeUniqueid"))
	case "Hold", "Unhold":
		ci := amiChan(m, "")
		if c := n.upsertChan(&ci, false); c != nil {
			n.setHold(c, ev == "Hold")
		}
	case "MusicOnHoldStart", "MusicOnHoldStop":
		ci := amiChan(m, "")
		if c := n.upsertChan(&ci, false); c != nil {
			// Music that starts while the channel talks to someone is a
			// hold; music in a queue, a parking lot or an empty conference
			// is not, even if the stop arrives after the channel is bridged.
			on := false
			if ev == "MusicOnHoldStart" {
				b := n.bridges[c.bridge]
				on = b != nil && len(b.members) > 1
			}
			if c.moh != on {
				c.moh = on
				n.touchChan(c)
			}
		}
	case "MixMonitorStart", "MixMonitorStop":
		ci := amiChan(m, "")
		if c := n.upsertChan(&ci, false); c != nil && c.recording != (ev == "MixMonitorStart") {
			c.recording = ev == "MixMonitorStart"
			n.touchChan(c)
		}
	case "BlindTransfer":
		n.blindTransfer(m.Get("TransfereeUniqueid"), m.Get("Extension"))
	case "AttendedTransfer":
		if strings.EqualFold(m.Get("Result"), "Success") {
			n.attendedTransfer(m.Get("TransfereeUniqueid"), m.Get("TransferTargetUniqueid"))
		}
	case "ConfbridgeJoin", "ConfbridgeLeave":
		ci := amiChan(m, "")
		if c := n.upsertChan(&ci, false); c != nil {
			conf := ""
			if ev == "ConfbridgeJoin" {
				conf = m.Get("Conference")
			}
			if c.conf != conf {
				c.conf = conf
				n.touchChan(c)
			}
			if ev == "ConfbridgeJoin" {
				n.setMuted(c, strings.EqualFold(m.Get("Muted"), "yes"))
			}
		}
	case "ConfbridgeMute", "ConfbridgeUnmute":
		ci := amiChan(m, "")
		if c := n.upsertChan(&ci, false); c != nil {
			n.setMuted(c, ev == "ConfbridgeMute")
		}
	case "QueueCallerJoin", "QueueEntry":
		ci := amiChan(m, "")
		if ev == "QueueEntry" {
			// QueueEntry (a QueueStatus list item) has no channel state.
			ci.callerNum, ci.callerName = m.Get("CallerIDNum"), m.Get("CallerIDName")
		}
		joined := n.ts
		if w := m.Get("Wait"); w != "" {
			joined = n.ts.Add(-time.Duration(atoi(w)) * time.Second)
		}
		if c := n.upsertChan(&ci, false); c != nil {
			n.joinQueue(c, m.Get("Queue"), atoi(m.Get("Position")), joined)
		}
	case "QueueCallerLeave":
		n.leaveQueue(m.Get("Uniqueid"), m.Get("Queue"), atoi(m.Get("Position")))
	case "QueueCallerAbandon":
		n.queueAbandon(m.Get("Queue"))
		n.noteAbandon(m.Get("Uniqueid"))
	case "AgentCalled":
		src, dst := amiChan(m, ""), amiChan(m, "Dest")
		caller, agent := n.upsertChan(&src, false), n.upsertChan(&dst, false)
		n.agentCalled(caller, agent, m.Get("Queue"))
	case "AgentConnect":
		src, dst := amiChan(m, ""), amiChan(m, "Dest")
		caller, agent := n.upsertChan(&src, false), n.upsertChan(&dst, false)
		n.agentConnect(caller, agent, m.Get("Queue"), atoi(m.Get("HoldTime")))
	case "AgentComplete":
		n.agentComplete(m.Get("Queue"), atoi(m.Get("HoldTime")), atoi(m.Get("TalkTime")))
	case "QueueMemberStatus", "QueueMemberPause", "QueueMemberPaused", "QueueMemberPenalty",
		"QueueMemberRinginuse", "QueueMemberAdded", "QueueMember":
		n.upsertMember(m)
	case "QueueMemberRemoved":
		n.removeMember(m.Get("Queue"), memberIface(m))
	case "QueueParams":
		n.queueParams(m)
	case "QueueSummary":
		n.queueSummary(m)
	case "ParkedCall":
		n.parkedCall(m)
	case "UnParkedCall", "ParkedCallGiveUp", "ParkedCallTimeOut":
		n.unpark(m.Get("ParkeeUniqueid"))
	case "ParkedCallSwap":
		n.unpark(m.Get("ParkeeUniqueid"))
		n.parkedCall(m)
	case "DeviceStateChange":
		n.setDeviceState(m.Get("Device"), m.Get("State"))
	case "PeerStatus":
		n.peerStatus(m.Get("Peer"), m.Get("PeerStatus"))
	case "ContactStatus", "ContactStatusDetail":
		n.contactStatus(m.Get("EndpointName"), m.Get("URI"), m.Get("ContactStatus")+m.Get("Status"), m.Get("UserAgent"))
	case "EndpointList":
		n.endpointListed(m)
	case "CoreShowChannel":
		n.coreShowChannel(m)
	}
}

func (n *Normalizer) setHold(c *chanRec, on bool) {
	if c.hold != on {
		c.hold = on
		n.touchChan(c)
	}
}

func (n *Normalizer) setMuted(c *chanRec, on bool) {
	if c.muted != on {
		c.muted = on
		n.touchChan(c)
	}
}

// dialBegin links a dialing channel and its new outbound leg.
func (n *Normalizer) dialBegin(src, dst *chanRec, dialString string) {
	if dst == nil {
		return
	}
	if src == nil {
		// Originated calls have no caller: the new leg stands alone.
		return
	}
	if strings.EqualFold(src.app, "Queue") {
		// A queue rings its members: the members' legs belong to the
		// queue; the caller keeps the queue as its target.
		if q, _, _ := strings.Cut(src.appData, ","); q != "" && dst.group == "" {
			dst.group = q
		}
		dst.dialedBy = src.id
		n.touchChan(dst)
		return
	}
	n.touchChan(src)
	if src.dialing != dst.id {
		src.dialing = dst.id
	}
	if dialString != "" {
		src.dialString = dialString
	}
	dst.dialedBy = src.id
	if dst.user != "" && src.target.Type != "group" {
		src.target = n.userTarget(dst.user, dialString)
	}
	n.touchChan(src)
	n.touchChan(dst)
}

// dialEnd unlinks a dial attempt that did not end in an answer.
func (n *Normalizer) dialEnd(src, dst *chanRec, status string) {
	if src == nil || dst == nil {
		return
	}
	switch strings.ToUpper(status) {
	case "ANSWER", "RINGING", "PROGRESS", "PROCEEDING", "":
		// Answered, or not final yet.
		return
	}
	if src.dialing == dst.id {
		src.dialing = ""
		n.touchChan(src)
	}
}

func (n *Normalizer) userTarget(userID, address string) Target {
	t := Target{Type: "user", ID: userID, Address: address}
	if u, ok := n.users[userID]; ok {
		t.Name = u.Name
	}
	return t
}

// mergeBridge moves every member of one bridge into another.
func (n *Normalizer) mergeBridge(from, to string) {
	b, ok := n.bridges[from]
	if !ok || to == "" {
		return
	}
	for _, id := range append([]string(nil), b.members...) {
		if c, ok := n.chans[id]; ok {
			n.enterBridge(c, to, "", "", "")
		}
	}
}

// blindTransfer points the transferee at the user owning the extension it
// was sent to, when the directory knows one.
func (n *Normalizer) blindTransfer(transferee, exten string) {
	c, ok := n.chans[transferee]
	if !ok || exten == "" {
		return
	}
	for _, u := range n.users {
		if u.MainExtension == exten {
			c.target = n.userTarget(u.ID, exten)
			n.touchChan(c)
			return
		}
	}
}

// attendedTransfer points the transferee at the user behind the transfer
// target (through Local channel chains).
func (n *Normalizer) attendedTransfer(transferee, target string) {
	c, ok := n.chans[transferee]
	tc, ok2 := n.chans[target]
	if !ok || !ok2 {
		return
	}
	if u := n.farUser(tc); u != "" && (c.target.Type != "user" || c.target.ID != u) {
		c.target = n.userTarget(u, "")
		n.touchChan(c)
	}
}

// coreShowChannel applies one CoreShowChannels list item (resync).
func (n *Normalizer) coreShowChannel(m *ami.Message) {
	ci := amiChan(m, "")
	ci.app, ci.appData = m.Get("Application"), m.Get("ApplicationData")
	if d := m.Get("Duration"); d != "" {
		if secs, ok := parseHMS(d); ok {
			ci.created = n.ts.Add(-time.Duration(secs) * time.Second)
		}
	}
	c := n.upsertChan(&ci, false)
	if c == nil {
		return
	}
	if b := m.Get("BridgeId"); b != "" {
		n.enterBridge(c, b, "", "", "")
	}
}

// parseHMS parses "HH:MM:SS".
func parseHMS(s string) (int, bool) {
	p := strings.Split(s, ":")
	if len(p) != 3 {
		return 0, false
	}
	h, err1 := strconv.Atoi(p[0])
	mi, err2 := strconv.Atoi(p[1])
	se, err3 := strconv.Atoi(p[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	return h*3600 + mi*60 + se, true
}
