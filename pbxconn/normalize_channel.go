package pbxconn

import (
	"strings"
	"time"
)

// chanInfo is what an ARI channel object or the channel header of an AMI
// event says about a channel. Empty fields are unknown.
type chanInfo struct {
	id, name, state                          string
	callerNum, callerName, connNum, connName string
	context, exten                           string
	app, appData                             string
	linkedid                                 string
	created                                  time.Time
}

// chanRec is everything the normalizer knows of one live channel.
type chanRec struct {
	id, key      string // uniqueid and element key
	name         string
	term, user   string // the device ("PJSIP/1001") and its user, if assigned
	local        byte   // '1' or '2' for the halves of a Local channel
	createdState string // Asterisk state when first seen at creation ("" when learned from a snapshot)
	created      int64
	astState     string
	answered     int64

	callerNum, callerName, connNum, connName string
	context, exten, firstExten               string
	app, appData                             string
	linkedid                                 string

	bridge     string // current bridge id
	dialedBy   string // uniqueid of the channel that dialed this one
	dialing    string // uniqueid of the channel this one dials
	dialString string
	queue      string // queue it waits in
	group      string // queue that owns the call (caller or agent leg)
	conf       string // ConfBridge conference name
	target     Target
	hold       bool // the channel's own hold indication (SIP re-INVITE, ChannelHold)
	moh        bool // Asterisk plays music on hold to the channel, started while it was bridged to a peer
	muted      bool
	recording  bool
	hangupReq  bool
	hangup     int64
	cause      int
	gone       bool // destroyed: removed at the next flush
	seen       bool // listed by the snapshot being applied

	st ChannelState // last projected state; TS kept while name and data stay
}

// resetForSnapshot clears what a snapshot states afresh (bridge, queue,
// dialplan position); facts no snapshot carries (direction, dial links,
// targets, answer time, hold, state timestamp) are kept.
func (c *chanRec) resetForSnapshot() {
	c.bridge, c.queue = "", ""
	c.seen = false
}

type bridgeRec struct {
	id, tech, class string
	name            string   // e.g. the ConfBridge conference
	members         []string // uniqueids, in join order
}

// chanUnknown reports a channel-bearing event for an id the normalizer will
// not track: tombstoned (already destroyed) or empty.
func (n *Normalizer) chanUnknown(id string) bool { return id == "" || n.tomb.has(id) }

// upsertChan creates or updates the record of a channel from what an event
// says about it. creating is true for creation events (ChannelCreated,
// Newchannel), whose state is the channel's initial state. It returns nil
// for destroyed channels.
func (n *Normalizer) upsertChan(ci *chanInfo, creating bool) *chanRec {
	if n.chanUnknown(ci.id) {
		return nil
	}
	c, ok := n.chans[ci.id]
	if !ok {
		// Only creation events and snapshots create channels: a late event
		// for a channel that ended before a resync must not resurrect it.
		if !creating && !n.resyncing {
			return nil
		}
		if old, ok := n.prev[ci.id]; ok && n.resyncing {
			c = old
			c.resetForSnapshot()
		} else {
			c = &chanRec{id: ci.id, key: n.key(ci.id), created: micros(n.ts)}
			if !ci.created.IsZero() {
				c.created = micros(ci.created)
			}
			if creating {
				c.createdState = ci.state
			}
		}
		n.chans[ci.id] = c
		n.setChanName(c, ci.name)
		n.touchChan(c)
		n.callOf(c)
	} else if creating && c.createdState == "" {
		c.createdState = ci.state
	}
	if ci.name != "" && ci.name != c.name {
		n.setChanName(c, ci.name)
		n.touchChan(c)
	}
	if n.resyncing {
		c.seen = true
	}
	if ci.state != "" && c.astState != ci.state {
		// Up is final until hangup: a stale pre-answer state from the
		// other protocol's stream never moves a channel back.
		if c.astState != "Up" {
			c.astState = ci.state
			if ci.state == "Up" && c.answered == 0 {
				c.answered = micros(n.ts)
			}
			n.touchChan(c)
		}
	}
	set := func(dst *string, v string) {
		if v == "<unknown>" {
			v = ""
		}
		if v != "" && *dst != v {
			*dst = v
			n.outChan.mark(c.id)
		}
	}
	set(&c.callerNum, ci.callerNum)
	set(&c.callerName, ci.callerName)
	set(&c.connNum, ci.connNum)
	set(&c.connName, ci.connName)
	set(&c.context, ci.context)
	if ci.exten != "" {
		set(&c.exten, ci.exten)
		if c.firstExten == "" && ci.exten != "s" {
			c.firstExten = ci.exten
			n.outChan.mark(c.id)
		}
	}
	if ci.app != "" {
		set(&c.app, ci.app)
		c.appData = ci.appData
	}
	if ci.linkedid != "" && ci.linkedid != c.linkedid {
		n.setLinkedID(c, ci.linkedid)
	}
	return c
}

func (n *Normalizer) setChanName(c *chanRec, name string) {
	if c.name != "" && n.byName[c.name] == c.id {
		delete(n.byName, c.name)
	}
	c.name = name
	if name == "" {
		return
	}
	n.byName[name] = c.id
	c.term, c.local = terminalOf(name)
	c.user = ""
	if n.dir != nil && c.term != "" {
		if u, ok := n.dir.UserByTerminal(c.term); ok {
			c.user = u
		}
	}
}

// terminalOf maps a channel name to its device: "PJSIP/1001-0000001a" →
// "PJSIP/1001", "Local/1003@agents-00000001;2" → "Local/1003@agents" (half
// '2'). Names without a sequence suffix are returned whole.
func terminalOf(name string) (term string, half byte) {
	base := name
	if i := strings.LastIndexByte(base, ';'); i >= 0 && i == len(base)-2 {
		half = base[i+1]
		base = base[:i]
	}
	if i := strings.LastIndexByte(base, '-'); i > strings.IndexByte(base, '/') && i > 0 {
		base = base[:i]
	}
	if !strings.HasPrefix(name, "Local/") {
		half = 0
	}
	return base, half
}

// touchChan marks a channel and every element whose value depends on it.
func (n *Normalizer) touchChan(c *chanRec) {
	n.outChan.mark(c.id)
	if b, ok := n.bridges[c.bridge]; ok {
		for _, m := range b.members {
			n.outChan.mark(m)
		}
	}
	if c.dialing != "" {
		n.outChan.mark(c.dialing)
	}
	if c.dialedBy != "" {
		n.outChan.mark(c.dialedBy)
	}
	if p := n.localPartner(c); p != nil {
		n.outChan.mark(p.id)
	}
	if c.user != "" {
		n.outUser.mark(c.user)
	}
	if c.term != "" {
		if _, ok := n.terms[c.term]; ok {
			n.outTerm.mark(c.term)
		}
	}
	if _, ok := n.parked[c.id]; ok {
		n.outParked.mark(c.id)
	}
	if c.queue != "" {
		n.outQueued.mark(c.id)
	}
}

func (n *Normalizer) chanByName(name string) *chanRec {
	if id, ok := n.byName[name]; ok {
		return n.chans[id]
	}
	return nil
}

// localPartner returns the other half of a Local channel.
func (n *Normalizer) localPartner(c *chanRec) *chanRec {
	if c.local == 0 || len(c.name) < 2 {
		return nil
	}
	other := byte('1')
	if c.local == '1' {
		other = '2'
	}
	return n.chanByName(c.name[:len(c.name)-1] + string(other))
}

// enterBridge moves a channel into a bridge (idempotent).
func (n *Normalizer) enterBridge(c *chanRec, bridgeID, tech, class, name string) {
	b := n.bridge(bridgeID, tech, class, name)
	if c.bridge == bridgeID {
		return
	}
	n.leaveBridge(c, c.bridge)
	n.touchChan(c)
	c.bridge = bridgeID
	b.members = append(b.members, c.id)
	n.touchChan(c)
}

func (n *Normalizer) bridge(id, tech, class, name string) *bridgeRec {
	b, ok := n.bridges[id]
	if !ok {
		b = &bridgeRec{id: id}
		n.bridges[id] = b
	}
	if tech != "" {
		b.tech = tech
	}
	if class != "" {
		b.class = class
	}
	if name != "" {
		b.name = name
	}
	return b
}

// leaveBridge takes a channel out of a bridge (idempotent).
func (n *Normalizer) leaveBridge(c *chanRec, bridgeID string) {
	if bridgeID == "" || c.bridge != bridgeID {
		return
	}
	n.touchChan(c)
	c.bridge = ""
	if b, ok := n.bridges[bridgeID]; ok {
		for i, m := range b.members {
			if m == c.id {
				b.members = append(b.members[:i], b.members[i+1:]...)
				break
			}
		}
	}
}

func (n *Normalizer) destroyBridge(id string) {
	b, ok := n.bridges[id]
	if !ok {
		return
	}
	for _, m := range b.members {
		if c, ok := n.chans[m]; ok && c.bridge == id {
			c.bridge = ""
			n.touchChan(c)
		}
	}
	delete(n.bridges, id)
}

// destroyChan marks a channel hung up and gone; the next flush emits its
// removal and drops it.
func (n *Normalizer) destroyChan(c *chanRec, cause int) {
	if c.gone {
		return
	}
	if c.hangup == 0 {
		c.hangup = micros(n.ts)
	}
	if cause != 0 {
		c.cause = cause
	}
	c.hangupReq = true
	c.gone = true
	n.touchChan(c)
	n.tomb.add(c.id)
}

// dropChannel forgets a destroyed channel after its removal was emitted,
// marking everything whose value named it for the next flush pass.
func (n *Normalizer) dropChannel(c *chanRec) {
	n.touchChan(c)
	n.leaveBridge(c, c.bridge)
	if _, ok := n.parked[c.id]; ok {
		delete(n.parked, c.id)
		n.outParked.mark(c.id)
	}
	if c.queue != "" {
		// Gone while waiting in a queue: the caller abandoned (the AMI
		// QueueCallerAbandon may arrive after the ARI ChannelDestroyed).
		n.callOf(c).abandoned = true
		n.leaveQueue(c.id, c.queue, 0)
	}
	for _, o := range []string{c.dialing, c.dialedBy} {
		if oc, ok := n.chans[o]; ok && o != "" {
			if oc.dialing == c.id {
				oc.dialing = ""
			}
			if oc.dialedBy == c.id {
				oc.dialedBy = ""
			}
		}
	}
	if n.byName[c.name] == c.id {
		delete(n.byName, c.name)
	}
	delete(n.chans, c.id)
	n.callChannelGone(c)
}

// direction is inbound for channels offered to the PBX and outbound for
// channels the PBX created (dialed, originated, queue agent legs).
func (c *chanRec) direction() string {
	switch c.createdState {
	case "Ring":
		return "inbound"
	case "":
	default:
		return "outbound"
	}
	switch {
	case c.local == '2':
		return "inbound"
	case c.local == '1', c.dialedBy != "":
		return "outbound"
	case c.app == "AppDial" || c.app == "AppDial2" || c.app == "AppQueue" || c.appData == "(Outgoing Line)":
		return "outbound"
	}
	return "inbound"
}

// parties returns who calls and what is called, from the channel's point of
// view: an inbound channel's caller id and dialled extension; for an
// outbound channel Asterisk keeps the called party in the caller id and
// the calling party in the connected line.
func (c *chanRec) parties() (callingName, callingNum, called string) {
	if c.direction() == "inbound" {
		return c.callerName, c.callerNum, c.firstExten
	}
	called = c.callerNum
	if called == "" {
		called = c.firstExten
	}
	return c.connName, c.connNum, called
}

// otherOf returns the channel a channel is talking to or was created with:
// its bridge peer, the channel it dials, the channel that dialed it, or the
// other half of a Local channel.
func (n *Normalizer) otherOf(c *chanRec) *chanRec {
	if o := n.peerOf(c); o != nil {
		return o
	}
	return n.localPartner(c)
}

// farUser is the user behind a channel: its own, or, through a chain of
// Local channels without users, the user at the far end of the chain.
func (n *Normalizer) farUser(o *chanRec) string {
	for hops := 0; o != nil && hops < 4; hops++ {
		if o.user != "" || o.local == 0 {
			return o.user
		}
		p := n.localPartner(o)
		if p == nil {
			return ""
		}
		if p.user != "" {
			return p.user
		}
		o = n.peerOf(p)
	}
	return ""
}

// peerOf is a channel's bridge peer or dial partner, not its Local half.
func (n *Normalizer) peerOf(c *chanRec) *chanRec {
	if b, ok := n.bridges[c.bridge]; ok {
		for _, m := range b.members {
			if m != c.id {
				if o, ok := n.chans[m]; ok {
					return o
				}
			}
		}
	}
	if o, ok := n.chans[c.dialing]; ok && c.dialing != "" {
		return o
	}
	if o, ok := n.chans[c.dialedBy]; ok && c.dialedBy != "" {
		return o
	}
	return nil
}

func isVoicemailApp(app string) bool {
	return strings.EqualFold(app, "VoiceMail") || strings.EqualFold(app, "VoiceMailMain")
}

// deriveState computes a channel's state name and data from its facts, in
// priority order: hangup, park, queue, hold, conference, bridged, voicemail,
// ringing/calling before answer, calling while dialing out, ivr.
func (n *Normalizer) deriveState(c *chanRec) (string, StateData) {
	if c.hangupReq || c.gone {
		return StateHangup, StateData{Cause: c.cause}
	}
	if p, ok := n.parked[c.id]; ok {
		return StatePark, StateData{Slot: p.slot, Lot: p.lot}
	}
	if c.queue != "" {
		return StateQueue, StateData{GroupID: n.groupKey(c.queue)}
	}
	b := n.bridges[c.bridge]
	if n.onHold(c) {
		return StateHold, StateData{}
	}
	if c.conf != "" {
		return StateConference, StateData{Room: c.conf}
	}
	if b != nil && (b.tech == "softmix" || len(b.members) > 2) {
		room := b.name
		if room == "" {
			room = b.id
		}
		return StateConference, StateData{Room: room}
	}
	if b != nil && len(b.members) > 1 {
		return StateBridged, StateData{}
	}
	// Alone in a bridge counts as not bridged: the peer is about to join
	// or has just left.
	if isVoicemailApp(c.app) {
		return StateVoicemail, StateData{App: c.app}
	}
	calling := func() (string, StateData) {
		d := StateData{TargetType: c.target.Type, TargetID: c.target.ID, Address: c.dialString}
		return StateCalling, d
	}
	if c.astState != "Up" {
		if c.direction() == "outbound" {
			return StateRinging, StateData{}
		}
		return calling()
	}
	if d, ok := n.chans[c.dialing]; ok && c.dialing != "" {
		if d.astState != "Up" {
			return calling()
		}
		// The dialed leg answered: connected, about to be bridged.
		return StateBridged, StateData{}
	}
	if _, ok := n.chans[c.dialedBy]; ok && c.dialedBy != "" {
		// An answered outbound leg is connected to the channel that dialed it.
		return StateBridged, StateData{}
	}
	if c.local == '2' && n.localPartner(c) != nil {
		// The far half of a Local channel talks to its first half.
		return StateBridged, StateData{}
	}
	// Running dialplan applications (or alone in a bridge). The application
	// itself is not state data: it changes at every dialplan step.
	return StateIVR, StateData{}
}

// onHold: the channel put the call on hold, or it hears music on hold that
// started while it was bridged to someone (the far side of a hold, or an
// ARI hold of a Local channel, which Asterisk implements with music on hold
// and no hold event); it stays on hold until the music stops, even if its
// peer leaves the bridge meanwhile (an attended transfer's consultation).
func (n *Normalizer) onHold(c *chanRec) bool { return c.hold || c.moh }

// projectChannel computes a channel's element value. It updates the
// record's state timestamp when the state changed.
func (n *Normalizer) projectChannel(c *chanRec) Channel {
	name, data := n.deriveState(c)
	if c.st.Name != name || c.st.Data != data {
		c.st = ChannelState{Name: name, TS: micros(n.ts), Data: data}
	}
	v := Channel{
		UUID:            c.key,
		PBXID:           n.pbx,
		Name:            c.name,
		Terminal:        c.term,
		Direction:       c.direction(),
		PeerLocation:    "external",
		OfferTimestamp:  c.created,
		AnswerTimestamp: c.answered,
		HangupTimestamp: c.hangup,
		UserID:          c.user,
		State:           c.st,
		Hold:            n.onHold(c),
		Muted:           c.muted,
		Recording:       c.recording,
		LinkedID:        c.linkedid,
	}
	if c.user != "" {
		v.PeerLocation = "internal"
	}
	if c.group != "" {
		v.GroupID = n.groupKey(c.group)
	}
	v.Target = c.target
	v.CallingName, v.CallingNumber, v.CalledNumber = c.parties()
	if o := n.otherOf(c); o != nil {
		v.OtherUUID = o.key
	}
	return v
}
