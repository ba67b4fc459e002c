package pbxconn

import (
	"slices"
	"time"
)

// Call is one completed call for the call history: every channel sharing
// an Asterisk linkedid, reported once when the last of them is gone.
type Call struct {
	LinkedID    string    // the Asterisk linkedid (the originating channel's uniqueid)
	PBXID       string    //
	Direction   string    // inbound (from an external party), outbound (a user calls out), internal (user to user)
	From        string    // calling number of the originating channel
	FromName    string    //
	To          string    // number the originating channel called
	Users       []string  // every user with a channel in the call, sorted
	Queue       string    // group key of the queue the call went through, if any
	Answered    bool      // two parties were bridged at some point
	Abandoned   bool      // the caller hung up while waiting in a queue
	Start       time.Time // first channel offered
	Answer      time.Time // first bridged (zero if never)
	End         time.Time // last channel gone
	Duration    time.Duration
	TalkTime    time.Duration // End - Answer
	Disposition string        // answered, abandoned, busy, no_answer, failed
	HangupCause int           // cause of the originating channel
}

// callRec accumulates a call's facts while its channels live.
type callRec struct {
	linkedid  string
	live      map[string]struct{}
	users     []string
	queue     string
	answered  int64
	abandoned bool
	start     int64
	origin    *chanRec // the originating channel (kept after it is dropped)
	cause     int
	busy      bool
}

func (c *chanRec) callKey() string {
	if c.linkedid != "" {
		return c.linkedid
	}
	return c.id
}

func (n *Normalizer) callOf(c *chanRec) *callRec {
	k := c.callKey()
	r, ok := n.calls[k]
	if !ok {
		r = &callRec{linkedid: k, live: make(map[string]struct{})}
		n.calls[k] = r
	}
	r.live[c.id] = struct{}{}
	return r
}

// setLinkedID moves a channel to the call of its (new) linkedid; Asterisk
// propagates the oldest linkedid across bridges.
func (n *Normalizer) setLinkedID(c *chanRec, lid string) {
	oldKey := c.callKey()
	old, hadOld := n.calls[oldKey]
	c.linkedid = lid
	n.outChan.mark(c.id)
	if !hadOld || oldKey == lid {
		return
	}
	delete(old.live, c.id)
	nr := n.callOf(c)
	nr.merge(old)
	if len(old.live) == 0 {
		delete(n.calls, oldKey)
	}
}

func (r *callRec) merge(o *callRec) {
	for _, u := range o.users {
		r.addUser(u)
	}
	if r.queue == "" {
		r.queue = o.queue
	}
	if o.answered != 0 && (r.answered == 0 || o.answered < r.answered) {
		r.answered = o.answered
	}
	r.abandoned = r.abandoned || o.abandoned
	r.busy = r.busy || o.busy
	if o.start != 0 && (r.start == 0 || o.start < r.start) {
		r.start = o.start
	}
	if r.origin == nil {
		r.origin = o.origin
	}
}

func (r *callRec) addUser(u string) {
	if u == "" || slices.Contains(r.users, u) {
		return
	}
	r.users = append(r.users, u)
}

// noteCall records what a channel's new value says about its call.
func (n *Normalizer) noteCall(c *chanRec) {
	r := n.callOf(c)
	r.addUser(c.user)
	if c.group != "" && r.queue == "" {
		r.queue = n.key(c.group)
	}
	if r.start == 0 || (c.created != 0 && c.created < r.start) {
		r.start = c.created
	}
	// Answered means two channels really shared a bridge (a Local
	// channel's halves talking to each other do not count).
	if b, ok := n.bridges[c.bridge]; ok && len(b.members) > 1 && r.answered == 0 {
		r.answered = micros(n.ts)
	}
	if c.id == r.linkedid || r.origin == nil {
		r.origin = c
	}
	if c.id == r.linkedid && c.cause != 0 {
		r.cause = c.cause
	}
	if c.cause == 17 {
		r.busy = true
	}
}

// noteAbandon marks the call of a channel as abandoned in a queue.
func (n *Normalizer) noteAbandon(id string) {
	if c, ok := n.chans[id]; ok {
		n.callOf(c).abandoned = true
	}
}

// callChannelGone completes the call when its last channel is gone.
func (n *Normalizer) callChannelGone(c *chanRec) {
	k := c.callKey()
	r, ok := n.calls[k]
	if !ok {
		return
	}
	delete(r.live, c.id)
	if len(r.live) > 0 {
		return
	}
	delete(n.calls, k)
	if n.onCall == nil {
		return
	}
	n.onCall(n.completeCall(r))
}

func (n *Normalizer) completeCall(r *callRec) Call {
	call := Call{
		LinkedID:    r.linkedid,
		PBXID:       n.pbx,
		Queue:       r.queue,
		Users:       slices.Clone(r.users),
		Answered:    r.answered != 0,
		Abandoned:   r.abandoned && r.answered == 0,
		End:         n.ts,
		HangupCause: r.cause,
	}
	slices.Sort(call.Users)
	if r.start != 0 {
		call.Start = time.UnixMicro(r.start)
		call.Duration = call.End.Sub(call.Start)
	}
	if r.answered != 0 {
		call.Answer = time.UnixMicro(r.answered)
		call.TalkTime = call.End.Sub(call.Answer)
	}
	if o := r.origin; o != nil {
		call.FromName, call.From, call.To = o.parties()
		if o.direction() == "outbound" && o.exten != "" {
			// An originated channel: the PBX called a party, then sent it
			// to this extension.
			call.To = o.exten
		}
		switch {
		case o.user == "":
			call.Direction = "inbound"
		case len(call.Users) > 1 || o.target.Type == "user":
			call.Direction = "internal"
		default:
			call.Direction = "outbound"
		}
	}
	switch {
	case call.Answered:
		call.Disposition = "answered"
	case call.Abandoned:
		call.Disposition = "abandoned"
	case r.busy:
		call.Disposition = "busy"
	default:
		call.Disposition = "no_answer"
	}
	return call
}
