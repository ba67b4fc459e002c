package pbxconn

import (
	"strings"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// termRec is one device: a PBX endpoint, or a device assigned to a user.
type termRec struct {
	dev       string
	user      string
	endpoint  bool            // the PBX lists it as an endpoint
	assigned  bool            // the directory assigns it to a user
	peerUp    bool            // PeerStatus / endpoint state says reachable
	peerKnown bool            // peerUp was reported
	contacts  map[string]bool // contact URI → reachable
	ua        string
	devState  string // lower-case Asterisk device state, "" when unknown
}

func (n *Normalizer) term(dev string) *termRec {
	t, ok := n.terms[dev]
	if !ok {
		t = &termRec{dev: dev}
		if n.dir != nil {
			if u, ok := n.dir.UserByTerminal(dev); ok {
				t.user, t.assigned = u, true
			}
		}
		n.terms[dev] = t
	}
	n.outTerm.mark(dev)
	if t.user != "" {
		n.outUser.mark(t.user)
	}
	return t
}

// termVisible: a terminal is a device this PBX has: an endpoint it lists,
// or a device assigned to a user whose state it has reported. A device the
// directory assigns but this PBX never mentioned may live on another PBX of
// the tenant, whose connector publishes it.
func (n *Normalizer) termVisible(t *termRec) bool {
	return t.endpoint || (t.assigned && t.devState != "")
}

// userHere reports whether this PBX has one of the user's terminals; only
// then does its connector publish the user (with the presence it sees).
func (n *Normalizer) userHere(u *UserInfo) bool {
	for _, dev := range u.Terminals {
		if t, ok := n.terms[dev]; ok && n.termVisible(t) {
			return true
		}
	}
	for _, c := range n.chans {
		if c.user == u.ID {
			return true
		}
	}
	return false
}

// loadDirectory (re)reads the users and their terminal assignments.
func (n *Normalizer) loadDirectory() {
	for id := range n.users {
		n.outUser.mark(id)
	}
	clear(n.users)
	for _, t := range n.terms {
		t.user, t.assigned = "", false
		n.outTerm.mark(t.dev)
	}
	if n.dir == nil {
		return
	}
	for _, u := range n.dir.Users() {
		u := u
		u.Terminals = append([]string(nil), u.Terminals...)
		n.users[u.ID] = &u
		n.outUser.mark(u.ID)
		for _, dev := range u.Terminals {
			n.term(dev)
		}
	}
	for _, t := range n.terms {
		if u, ok := n.dir.UserByTerminal(t.dev); ok {
			t.user, t.assigned = u, true
		}
	}
	for _, c := range n.chans {
		old := c.user
		n.setChanName(c, c.name)
		if c.user != old {
			n.touchChan(c)
		}
	}
	for _, q := range n.queues {
		for _, m := range q.members {
			if u := n.memberUser(m); u != m.user {
				m.user = u
				n.outMember.mark(memberID(m.queue, m.iface))
			}
		}
	}
}

// RefreshDirectory re-reads the directory (users, terminal assignments) and
// appends the diffs that follow from the change.
func (n *Normalizer) RefreshDirectory(dst []Diff) []Diff {
	n.ts = n.now()
	n.loadDirectory()
	return n.flush(dst)
}

func (n *Normalizer) setDeviceState(dev, state string) {
	if dev == "" {
		return
	}
	t, ok := n.terms[dev]
	if !ok {
		// Only devices of interest are tracked: endpoints and assigned ones.
		if n.dir == nil {
			return
		}
		if _, ok := n.dir.UserByTerminal(dev); !ok {
			return
		}
		t = n.term(dev)
	}
	s := strings.ToLower(state)
	if t.devState != s {
		t.devState = s
		n.outTerm.mark(dev)
		if t.user != "" {
			n.outUser.mark(t.user)
		}
	}
}

// peerStatus applies AMI PeerStatus / ARI PeerStatusChange.
func (n *Normalizer) peerStatus(peer, status string) {
	if peer == "" {
		return
	}
	t := n.term(peer)
	t.endpoint = true
	switch strings.ToLower(status) {
	case "reachable", "registered", "lagged":
		t.peerUp, t.peerKnown = true, true
	case "unreachable", "unregistered", "rejected":
		t.peerUp, t.peerKnown = false, true
	}
}

// contactStatus applies AMI ContactStatus / ARI ContactStatusChange for a
// PJSIP endpoint.
func (n *Normalizer) contactStatus(endpoint, uri, status, ua string) {
	if endpoint == "" {
		return
	}
	t := n.term("PJSIP/" + endpoint)
	t.endpoint = true
	if t.contacts == nil {
		t.contacts = make(map[string]bool)
	}
	switch strings.ToLower(status) {
	case "removed":
		delete(t.contacts, uri)
	case "unreachable", "unavailable":
		t.contacts[uri] = false
	default: // Created, Reachable, NonQualified, Updated, Unknown
		t.contacts[uri] = true
	}
	if ua != "" {
		t.ua = ua
	}
}

// endpointListed applies a PJSIPShowEndpoints item (resync).
func (n *Normalizer) endpointListed(m *ami.Message) {
	name := m.Get("ObjectName")
	if name == "" {
		return
	}
	t := n.term("PJSIP/" + name)
	t.endpoint = true
	ds := strings.ToLower(strings.ReplaceAll(m.Get("DeviceState"), " ", "_"))
	t.peerKnown = true
	t.peerUp = m.Get("Contacts") != "" || (ds != "" && ds != "unavailable" && ds != "invalid")
	if t.devState == "" && ds != "" {
		t.devState = ds
	}
}

func (t *termRec) registered() bool {
	for _, ok := range t.contacts {
		if ok {
			return true
		}
	}
	if t.peerKnown {
		return t.peerUp
	}
	if !t.endpoint {
		// A device that never registers (Local, custom) counts as
		// registered while Asterisk reports it usable.
		switch t.devState {
		case "", "unknown", "unavailable", "invalid":
			return false
		}
		return true
	}
	return false
}

func (n *Normalizer) projectTerminal(t *termRec) Terminal {
	v := Terminal{
		ID:          n.key(t.dev),
		PBXID:       n.pbx,
		Device:      t.dev,
		AssocUserID: t.user,
		Type:        TerminalTrunk,
		UserAgent:   t.ua,
		Registered:  t.registered(),
		DeviceState: t.devState,
	}
	if v.DeviceState == "" {
		v.DeviceState = "unknown"
	}
	if t.user != "" {
		v.Type = TerminalPhone
		ua := strings.ToLower(t.ua)
		if strings.Contains(ua, "webrtc") || strings.Contains(ua, "sip.js") || strings.Contains(ua, "jssip") {
			v.Type = TerminalWebRTC
		}
	}
	return v
}

// projectUser derives a user's presence: dnd, then ringing, busy, online
// from its terminals' device states, falling back to its channels when no
// terminal state is known; offline otherwise.
func (n *Normalizer) projectUser(u *UserInfo) User {
	v := User{
		ID:            u.ID,
		Name:          u.Name,
		MainExtension: u.MainExtension,
		DND:           u.DND,
		Fwd:           u.Fwd,
		Avatar:        u.Avatar,
		Email:         u.Email,
		Role:          u.Role,
		Presence:      PresenceOffline,
	}
	rank := 0 // 0 offline, 1 online, 2 busy, 3 ringing
	known := false
	for _, dev := range u.Terminals {
		t, ok := n.terms[dev]
		if !ok {
			continue
		}
		switch t.devState {
		case "ringing", "ringinuse":
			rank, known = max(rank, 3), true
		case "inuse", "busy", "onhold":
			rank, known = max(rank, 2), true
		case "not_inuse":
			rank, known = max(rank, 1), true
		}
		if t.registered() {
			rank = max(rank, 1)
		}
	}
	if !known {
		for _, c := range n.chans {
			if c.user != u.ID || c.gone {
				continue
			}
			if c.astState == "Up" {
				rank = max(rank, 2)
			} else if c.direction() == "outbound" {
				rank = max(rank, 3)
			} else {
				rank = max(rank, 2)
			}
		}
	}
	v.Presence = [...]string{PresenceOffline, PresenceOnline, PresenceBusy, PresenceRinging}[rank]
	if u.DND {
		v.Presence = PresenceDND
	}
	return v
}
