package pbxconn

import (
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
	"github.com/hookflash/hookflash/pbxconn/ari"
)

// Snapshot is a fresh view of a PBX read at (re)connect: ARI REST lists and
// the list items of AMI actions. HasARI / HasAMI say which protocol was
// read; the parts of the model only one protocol knows (queues and parking:
// AMI) are left as they are when that protocol was not read.
type Snapshot struct {
	TS time.Time // when it was read; zero means now

	HasARI       bool
	Channels     []ari.Channel     // GET /channels
	Bridges      []ari.Bridge      // GET /bridges
	Endpoints    []ari.Endpoint    // GET /endpoints
	DeviceStates []ari.DeviceState // GET /deviceStates

	HasAMI           bool
	CoreShowChannels []*ami.Message // CoreShowChannel items
	QueueStatus      []*ami.Message // QueueParams, QueueMember, QueueEntry items
	QueueSummary     []*ami.Message // QueueSummary items
	ParkedCalls      []*ami.Message // ParkedCall items
	DeviceStateList  []*ami.Message // DeviceStateChange items of DeviceStateList
	PJSIPEndpoints   []*ami.Message // EndpointList items of PJSIPShowEndpoints
}

// Resync replaces what the normalizer knows with the snapshot and appends
// the exact diff against what it had emitted: removed for elements that no
// longer exist (ghost channels among them; their calls complete), updated
// for changed ones, added for new ones, nothing for unchanged ones. Facts no
// snapshot carries (a channel's direction, dial links, targets, answer and
// state times, hold) are kept for channels that still exist.
func (n *Normalizer) Resync(dst []Diff, s *Snapshot) []Diff {
	n.ts = s.TS
	if n.ts.IsZero() {
		n.ts = n.now()
	}
	if !s.HasARI && !s.HasAMI {
		return dst
	}
	// Users and assignments may have changed while disconnected.
	n.loadDirectory()
	n.resyncing = true
	n.prev = n.chans
	n.chans = make(map[string]*chanRec, len(n.prev))
	clear(n.byName)
	clear(n.bridges)

	prevParked := n.parked
	prevCallers := make(map[string]*queueCaller)
	if s.HasAMI {
		n.parked = make(map[string]*parkRec)
		for name, q := range n.queues {
			for id, qc := range q.callers {
				prevCallers[id] = qc
			}
			q.callers = make(map[string]*queueCaller)
			for iface := range q.members {
				n.outMember.mark(memberID(name, iface))
			}
			clear(q.members)
			q.hasSummary = false
		}
	}
	oldDev := make(map[string]string, len(n.terms))
	for dev, t := range n.terms {
		oldDev[dev] = t.devState
		t.endpoint, t.peerKnown, t.peerUp, t.contacts, t.devState = false, false, false, nil, ""
		n.outTerm.mark(dev)
	}

	for i := range s.Channels {
		n.ariUpsert(&s.Channels[i], false)
	}
	for i := range s.Bridges {
		b := &s.Bridges[i]
		n.bridge(b.ID, b.Technology, b.BridgeClass, b.Name)
		for _, id := range b.Channels {
			if c, ok := n.chans[id]; ok {
				n.enterBridge(c, b.ID, b.Technology, b.BridgeClass, b.Name)
			}
		}
	}
	for _, m := range s.CoreShowChannels {
		n.coreShowChannel(m)
	}
	seenQueue := make(map[string]bool)
	for _, m := range s.QueueStatus {
		ev := m.Event()
		switch ev {
		case "QueueParams":
			seenQueue[m.Get("Queue")] = true
			n.queueParams(m)
		case "QueueMember":
			n.upsertMember(m)
		case "QueueEntry":
			n.applyAMI(ev, m)
			if qc, ok := prevCallers[m.Get("Uniqueid")]; ok {
				if q, ok := n.queues[m.Get("Queue")]; ok {
					if cur, ok := q.callers[m.Get("Uniqueid")]; ok {
						cur.joined = qc.joined
					}
				}
			}
		}
	}
	if s.HasAMI {
		for name := range n.queues {
			if !seenQueue[name] {
				delete(n.queues, name)
				n.outGroup.mark(name)
			}
		}
	}
	for _, m := range s.QueueSummary {
		if seenQueue[m.Get("Queue")] || len(s.QueueStatus) == 0 {
			n.queueSummary(m)
		}
	}
	for _, m := range s.ParkedCalls {
		id := m.Get("ParkeeUniqueid")
		if old, ok := prevParked[id]; ok {
			n.parked[id] = old // lets parkedCall keep its times when unchanged
		}
		n.parkedCall(m)
	}
	for _, m := range s.PJSIPEndpoints {
		n.endpointListed(m)
	}
	for i := range s.Endpoints {
		n.ariEndpoint(&s.Endpoints[i])
	}
	for _, m := range s.DeviceStateList {
		n.setDeviceState(m.Get("Device"), m.Get("State"))
	}
	for _, d := range s.DeviceStates {
		n.setDeviceState(d.Name, d.State)
	}
	for dev, t := range n.terms {
		if t.devState == "" {
			t.devState = n.derivedDevState(dev, oldDev[dev])
		}
	}

	// Ghosts: channels the PBX no longer has end now.
	for id, c := range n.prev {
		if _, ok := n.chans[id]; ok {
			continue
		}
		c.bridge, c.queue = "", ""
		n.chans[id] = c
		if c.name != "" {
			if _, taken := n.byName[c.name]; !taken {
				n.byName[c.name] = id
			}
		}
		n.destroyChan(c, 0)
	}
	for _, c := range n.chans {
		if _, ok := n.chans[c.dialing]; !ok {
			c.dialing = ""
		}
		if _, ok := n.chans[c.dialedBy]; !ok {
			c.dialedBy = ""
		}
	}
	n.resyncing = false
	n.prev = nil
	n.markAll()
	return n.flush(dst)
}

// derivedDevState is the device state of a device no snapshot list
// reports (Local channels): from its channels, else the last known idle
// state.
func (n *Normalizer) derivedDevState(dev, old string) string {
	state := ""
	for _, c := range n.chans {
		if c.term != dev || c.gone {
			continue
		}
		if c.astState != "Up" && c.direction() == "outbound" {
			return "ringing"
		}
		state = "inuse"
	}
	if state != "" {
		return state
	}
	switch old {
	case "", "unknown", "not_inuse", "unavailable", "invalid":
		return old
	}
	return "not_inuse"
}

// markAll marks every element known or emitted for recomputation.
func (n *Normalizer) markAll() {
	for id := range n.chans {
		n.outChan.mark(id)
		n.outQueued.mark(id)
	}
	for id := range n.parked {
		n.outParked.mark(id)
	}
	for name, q := range n.queues {
		n.outGroup.mark(name)
		for iface := range q.members {
			n.outMember.mark(memberID(name, iface))
		}
	}
	for dev := range n.terms {
		n.outTerm.mark(dev)
	}
	for id := range n.users {
		n.outUser.mark(id)
	}
	markEmitted(&n.outChan, true)
	markEmitted(&n.outQueued, true)
	markEmitted(&n.outParked, true)
	markEmitted(&n.outGroup, true)
	markEmitted(&n.outMember, true)
	markEmitted(&n.outTerm, true)
	markEmitted(&n.outUser, false)
}

func markEmitted[T any](t *table[T], prefixed bool) {
	for k := range t.last {
		if prefixed {
			if _, local, ok := SplitKey(k); ok {
				t.mark(local)
			}
			continue
		}
		t.mark(k)
	}
	for k := range t.stale {
		if prefixed {
			if _, local, ok := SplitKey(k); ok {
				t.mark(local)
			}
			continue
		}
		t.mark(k)
	}
}
