package pbxconn

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// queueRec is one Asterisk queue: its statistics, as Asterisk computes them,
// its waiting callers and its members.
type queueRec struct {
	name, key     string // queue name and group key
	strategy      string
	slSecs        int // service level threshold (QueueParams ServiceLevel)
	completed     int // Asterisk callscompleted
	abandoned     int
	completedInSL int
	holdtime      int // exponential average, seconds
	talktime      int
	summaryLogged int // QueueSummary values, used only when no member is known
	summaryAvail  int
	hasSummary    bool
	callers       map[string]*queueCaller // by uniqueid
	members       map[string]*memberRec   // by interface
}

type queueCaller struct {
	pos      int
	joined   time.Time
	num, nam string
}

type memberRec struct {
	queue, iface, stateIface, name, membership string
	user                                       string
	status                                     int // Asterisk device state number
	inCall, paused                             bool
	reason                                     string
	calls                                      int
	lastCall                                   int64 // epoch seconds
	penalty                                    int
}

func (n *Normalizer) queue(name string) *queueRec {
	q, ok := n.queues[name]
	if !ok {
		q = &queueRec{name: name, key: n.key(name), callers: make(map[string]*queueCaller), members: make(map[string]*memberRec)}
		n.queues[name] = q
	}
	n.outGroup.mark(name)
	return q
}

// joinQueue records a caller waiting in a queue.
// groupKey is the element key of a queue.
func (n *Normalizer) groupKey(name string) string {
	if q, ok := n.queues[name]; ok {
		return q.key
	}
	return n.key(name)
}

func (n *Normalizer) joinQueue(c *chanRec, name string, pos int, joined time.Time) {
	if name == "" {
		return
	}
	q := n.queue(name)
	if _, ok := q.callers[c.id]; !ok || c.queue != name {
		q.callers[c.id] = &queueCaller{pos: pos, joined: joined, num: c.callerNum, nam: c.callerName}
	} else {
		q.callers[c.id].pos = pos
	}
	c.queue, c.group = name, name
	c.target = Target{Type: "group", ID: n.key(name), Name: name}
	n.outQueued.mark(c.id)
	n.touchChan(c)
}

// leaveQueue removes a caller from a queue; the callers behind it move up.
func (n *Normalizer) leaveQueue(id, name string, pos int) {
	q, ok := n.queues[name]
	if !ok {
		return
	}
	if qc, ok := q.callers[id]; ok {
		if pos == 0 {
			pos = qc.pos
		}
		delete(q.callers, id)
		for cid, other := range q.callers {
			if other.pos > pos {
				other.pos--
				n.outQueued.mark(cid)
			}
		}
	}
	n.outGroup.mark(name)
	n.outQueued.mark(id)
	if c, ok := n.chans[id]; ok && c.queue == name {
		c.queue = ""
		n.touchChan(c)
	}
}

func (n *Normalizer) queueAbandon(name string) {
	if name == "" {
		return
	}
	q := n.queue(name)
	q.abandoned++
}

// agentCalled links a queue caller and the agent leg ringing for it.
func (n *Normalizer) agentCalled(caller, agent *chanRec, name string) {
	if agent == nil {
		return
	}
	if name != "" && agent.group != name {
		agent.group = name
		n.touchChan(agent)
	}
	if caller != nil && agent.dialedBy != caller.id {
		agent.dialedBy = caller.id
		n.touchChan(agent)
	}
}

// agentConnect applies an answered queue call: Asterisk's hold time average.
func (n *Normalizer) agentConnect(caller, agent *chanRec, name string, hold int) {
	n.agentCalled(caller, agent, name)
	if name == "" {
		return
	}
	q := n.queue(name)
	if q.completed+q.abandoned == 0 {
		q.holdtime = hold
	} else {
		q.holdtime = (q.holdtime*3 + hold) / 4
	}
}

// agentComplete applies a completed queue call: Asterisk's completed count,
// service level and talk time average.
func (n *Normalizer) agentComplete(name string, hold, talk int) {
	if name == "" {
		return
	}
	q := n.queue(name)
	q.completed++
	if q.slSecs > 0 && hold <= q.slSecs {
		q.completedInSL++
	}
	if q.completed == 1 {
		q.talktime = talk
	} else {
		q.talktime = (q.talktime*3 + talk) / 4
	}
}

func memberIface(m *ami.Message) string {
	if v := m.Get("Interface"); v != "" {
		return v
	}
	return m.Get("Location") // QueueMember list items
}

// upsertMember applies any event carrying a full queue member description.
func (n *Normalizer) upsertMember(m *ami.Message) {
	name, iface := m.Get("Queue"), memberIface(m)
	if name == "" || iface == "" {
		return
	}
	q := n.queue(name)
	mr, ok := q.members[iface]
	if !ok {
		mr = &memberRec{queue: name, iface: iface}
		q.members[iface] = mr
	}
	mr.stateIface = m.Get("StateInterface")
	if v := m.Get("MemberName"); v != "" {
		mr.name = v
	} else if v := m.Get("Name"); v != "" {
		mr.name = v
	}
	mr.membership = m.Get("Membership")
	mr.status = atoi(m.Get("Status"))
	mr.inCall = m.Get("InCall") == "1"
	mr.paused = m.Get("Paused") == "1"
	mr.reason = m.Get("PausedReason")
	if mr.reason == "" {
		mr.reason = m.Get("Reason")
	}
	if !mr.paused {
		mr.reason = ""
	}
	mr.calls = atoi(m.Get("CallsTaken"))
	mr.lastCall, _ = strconv.ParseInt(m.Get("LastCall"), 10, 64)
	mr.penalty = atoi(m.Get("Penalty"))
	mr.user = n.memberUser(mr)
	n.outMember.mark(memberID(name, iface))
}

// memberUser resolves a member's user through its state interface or
// interface, without a Local channel's "/n" option suffix.
func (n *Normalizer) memberUser(mr *memberRec) string {
	if n.dir == nil {
		return ""
	}
	for _, dev := range []string{mr.stateIface, mr.iface} {
		dev = strings.TrimSuffix(dev, "/n")
		if dev == "" {
			continue
		}
		if u, ok := n.dir.UserByTerminal(dev); ok {
			return u
		}
	}
	return ""
}

func (n *Normalizer) removeMember(name, iface string) {
	q, ok := n.queues[name]
	if !ok {
		return
	}
	delete(q.members, iface)
	n.outGroup.mark(name)
	n.outMember.mark(memberID(name, iface))
}

// memberID is the PBX-local id of a member: queue, "/", interface.
func memberID(queue, iface string) string { return queue + "/" + iface }

func (n *Normalizer) memberByID(id string) *memberRec {
	name, iface, ok := strings.Cut(id, "/")
	if !ok {
		return nil
	}
	if q, ok := n.queues[name]; ok {
		return q.members[iface]
	}
	return nil
}

// queueParams applies a QueueParams item (QueueStatus): Asterisk's counters.
func (n *Normalizer) queueParams(m *ami.Message) {
	name := m.Get("Queue")
	if name == "" {
		return
	}
	q := n.queue(name)
	q.strategy = m.Get("Strategy")
	q.slSecs = atoi(m.Get("ServiceLevel"))
	q.completed = atoi(m.Get("Completed"))
	q.abandoned = atoi(m.Get("Abandoned"))
	q.holdtime = atoi(m.Get("Holdtime"))
	q.talktime = atoi(m.Get("TalkTime"))
	perf, _ := strconv.ParseFloat(m.Get("ServicelevelPerf"), 64)
	q.completedInSL = int(math.Round(perf * float64(q.completed) / 100))
}

func (n *Normalizer) queueSummary(m *ami.Message) {
	name := m.Get("Queue")
	if name == "" {
		return
	}
	q := n.queue(name)
	q.summaryLogged, q.summaryAvail, q.hasSummary = atoi(m.Get("LoggedIn")), atoi(m.Get("Available")), true
}

// Asterisk device states as numbers in queue member events.
const (
	devUnknown     = 0
	devNotInUse    = 1
	devInUse       = 2
	devBusy        = 3
	devInvalid     = 4
	devUnavailable = 5
	devRinging     = 6
	devRingInUse   = 7
	devOnHold      = 8
)

var devNames = [...]string{"unknown", "not_inuse", "inuse", "busy", "invalid", "unavailable", "ringing", "ringinuse", "onhold"}

func devName(s int) string {
	if s >= 0 && s < len(devNames) {
		return devNames[s]
	}
	return "unknown"
}

func (n *Normalizer) projectGroup(q *queueRec) Group {
	g := Group{
		ID:        q.key,
		PBXID:     n.pbx,
		Name:      q.name,
		Strategy:  q.strategy,
		Waiting:   len(q.callers),
		Answered:  q.completed,
		Abandoned: q.abandoned,
		AvgHoldS:  q.holdtime,
		AvgTalkS:  q.talktime,

		ServiceLevelS: q.slSecs,
	}
	if q.completed > 0 {
		g.ServiceLevelPct = math.Round(float64(q.completedInSL)*1000/float64(q.completed)) / 10
	}
	var oldest time.Time
	for _, c := range q.callers {
		if oldest.IsZero() || c.joined.Before(oldest) {
			oldest = c.joined
		}
	}
	if !oldest.IsZero() {
		g.OldestJoinedTS = micros(oldest)
		g.LongestWaitS = int64(n.ts.Sub(oldest) / time.Second)
	}
	if len(q.members) == 0 && q.hasSummary {
		g.LoggedIn, g.Available = q.summaryLogged, q.summaryAvail
	}
	for _, m := range q.members {
		if m.status == devUnavailable || m.status == devInvalid {
			continue
		}
		g.LoggedIn++
		if !m.paused && !m.inCall && (m.status == devNotInUse || m.status == devUnknown) {
			g.Available++
		}
	}
	return g
}

func (n *Normalizer) projectMember(m *memberRec) GroupMember {
	v := GroupMember{
		ID:          n.key(memberID(m.queue, m.iface)),
		GroupID:     n.key(m.queue),
		UserID:      m.user,
		Interface:   m.iface,
		Name:        m.name,
		Membership:  m.membership,
		LoginStatus: "logged_in",
		Status:      devName(m.status),
		InCall:      m.inCall,
		Paused:      m.paused,
		PauseReason: m.reason,
		CallsTaken:  m.calls,
		Penalty:     m.penalty,
	}
	if m.lastCall > 0 {
		v.LastCallTS = m.lastCall * 1e6
	}
	return v
}

// projectQueued computes the queued_channel of a channel id, if it waits.
func (n *Normalizer) projectQueued(id string) (QueuedChannel, bool) {
	c, ok := n.chans[id]
	if !ok || c.queue == "" || c.gone {
		return QueuedChannel{}, false
	}
	q, ok := n.queues[c.queue]
	if !ok {
		return QueuedChannel{}, false
	}
	qc, ok := q.callers[id]
	if !ok {
		return QueuedChannel{}, false
	}
	return QueuedChannel{
		UUID:       c.key,
		GroupID:    q.key,
		Position:   qc.pos,
		PeerNumber: c.callerNum,
		PeerName:   c.callerName,
		JoinedTS:   micros(qc.joined),
		State:      ChannelState{Name: StateQueue, TS: micros(qc.joined), Data: StateData{GroupID: q.key}},
	}, true
}

// parkRec is a parked channel.
type parkRec struct {
	id, slot, lot, parkerDial, parkerUser string
	since, timeout                        time.Time
}

func (n *Normalizer) parkedCall(m *ami.Message) {
	ci := amiChan(m, "Parkee")
	c := n.upsertChan(&ci, false)
	if c == nil {
		return
	}
	p := &parkRec{
		id:         c.id,
		slot:       m.Get("ParkingSpace"),
		lot:        m.Get("Parkinglot"),
		parkerDial: m.Get("ParkerDialString"),
		since:      n.ts.Add(-time.Duration(atoi(m.Get("ParkingDuration"))) * time.Second),
	}
	if t := atoi(m.Get("ParkingTimeout")); t > 0 {
		p.timeout = n.ts.Add(time.Duration(t) * time.Second)
	}
	if old, ok := n.parked[c.id]; ok && old.slot == p.slot && old.lot == p.lot {
		p.since, p.timeout = old.since, old.timeout
	}
	if n.dir != nil && p.parkerDial != "" {
		if u, ok := n.dir.UserByTerminal(p.parkerDial); ok {
			p.parkerUser = u
		}
	}
	if p.parkerUser == "" {
		// The parker is the channel it was talking to before parking.
		if o := n.otherOf(c); o != nil {
			p.parkerUser = o.user
		}
	}
	n.parked[c.id] = p
	n.outParked.mark(c.id)
	n.touchChan(c)
}

func (n *Normalizer) unpark(id string) {
	if _, ok := n.parked[id]; !ok {
		return
	}
	delete(n.parked, id)
	n.outParked.mark(id)
	if c, ok := n.chans[id]; ok {
		n.touchChan(c)
	}
}

func (n *Normalizer) projectParked(p *parkRec) ParkedChannel {
	v := ParkedChannel{
		UUID:         n.key(p.id),
		Slot:         p.slot,
		Lot:          p.lot,
		ParkerUserID: p.parkerUser,
		ParkerDial:   p.parkerDial,
		TimeoutTS:    micros(p.timeout),
		State:        ChannelState{Name: StatePark, TS: micros(p.since), Data: StateData{Slot: p.slot, Lot: p.lot}},
	}
	if c, ok := n.chans[p.id]; ok {
		v.PeerNumber, v.PeerName = c.callerNum, c.callerName
	}
	return v
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
