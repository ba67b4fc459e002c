package pbxconn

import (
	"io"
	"log/slog"
	"slices"
	"time"
)

// Directory is the tenant's user directory as one PBX's normalizer sees it:
// which user a terminal (device) belongs to, and the users to publish as
// `user` elements. Implementations must be safe for concurrent use; the
// normalizer reads it when a channel or terminal first appears, at every
// Resync and on RefreshDirectory.
type Directory interface {
	// UserByTerminal returns the id of the user a device ("PJSIP/1001",
	// "Local/1001@agents", ...) is assigned to.
	UserByTerminal(term string) (userID string, ok bool)
	// Users returns the tenant's users; the normalizer publishes those that
	// have a terminal on this PBX.
	Users() []UserInfo
}

// UserInfo is what the directory knows of a user.
type UserInfo struct {
	ID            string
	Name          string
	MainExtension string
	Email         string
	Avatar        string
	Role          string
	DND           bool
	Fwd           string
	Terminals     []string // devices, e.g. "PJSIP/1001"
}

// NormalizerConfig configures a Normalizer.
type NormalizerConfig struct {
	// PBXID prefixes every PBX-scoped key. Required; must not contain KeySep.
	PBXID string
	// Directory maps terminals to users. Nil means no users.
	Directory Directory
	// OnCallCompleted, if set, is called once per completed call (all
	// channels of a linkedid gone), synchronously from the Handle or Resync
	// call that completed it.
	OnCallCompleted func(Call)
	// Now is the clock for events without a timestamp. Default time.Now.
	Now func() time.Time
	// Log receives rare diagnostics. Default: discard.
	Log *slog.Logger
}

// Normalizer turns ARI and AMI events into element diffs. It keeps the raw
// PBX state it has learned and the last value it emitted for every element,
// and emits a diff only when an element's value really changes.
//
// A Normalizer is not safe for concurrent use: one goroutine (the
// Connector's) owns it. Every Handle*/Resync method appends the diffs it
// produces to dst and returns the extended slice, in a deterministic order.
type Normalizer struct {
	pbx    string
	dir    Directory
	onCall func(Call)
	now    func() time.Time
	log    *slog.Logger

	ts time.Time // timestamp of the event being handled

	resyncing bool                // a snapshot is being applied
	prev      map[string]*chanRec // during a resync: the channels known before it

	chans   map[string]*chanRec   // by Asterisk uniqueid
	byName  map[string]string     // channel name → uniqueid
	bridges map[string]*bridgeRec // by bridge id
	tomb    tombstones
	queues  map[string]*queueRec // by queue name
	parked  map[string]*parkRec  // by parkee uniqueid
	terms   map[string]*termRec  // by device
	users   map[string]*UserInfo // by user id
	calls   map[string]*callRec  // by linkedid

	outChan   table[Channel]
	outQueued table[QueuedChannel]
	outParked table[ParkedChannel]
	outUser   table[User]
	outGroup  table[Group]
	outMember table[GroupMember]
	outTerm   table[Terminal]

	// scratch holds projected values while they are compared with the last
	// emitted ones; put copies a value out only when it is emitted.
	scratch struct {
		channel Channel
		term    Terminal
		user    User
		group   Group
		member  GroupMember
	}
}

// NewNormalizer returns an empty normalizer for one PBX.
func NewNormalizer(cfg NormalizerConfig) *Normalizer {
	n := &Normalizer{
		pbx:     cfg.PBXID,
		dir:     cfg.Directory,
		onCall:  cfg.OnCallCompleted,
		now:     cfg.Now,
		log:     cfg.Log,
		chans:   make(map[string]*chanRec),
		byName:  make(map[string]string),
		bridges: make(map[string]*bridgeRec),
		tomb:    newTombstones(512),
		queues:  make(map[string]*queueRec),
		parked:  make(map[string]*parkRec),
		terms:   make(map[string]*termRec),
		users:   make(map[string]*UserInfo),
		calls:   make(map[string]*callRec),
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n.outChan = newTable(ElemChannel, (*Channel).equal)
	n.outQueued = newTable(ElemQueuedChannel, func(a, b *QueuedChannel) bool { return *a == *b })
	n.outParked = newTable(ElemParkedChannel, func(a, b *ParkedChannel) bool { return *a == *b })
	n.outUser = newTable(ElemUser, func(a, b *User) bool { return *a == *b })
	n.outGroup = newTable(ElemGroup, (*Group).equal)
	n.outMember = newTable(ElemGroupMember, func(a, b *GroupMember) bool { return *a == *b })
	n.outTerm = newTable(ElemTerminal, func(a, b *Terminal) bool { return *a == *b })
	n.loadDirectory()
	return n
}

// PBXID returns the PBX id the normalizer keys its elements with.
func (n *Normalizer) PBXID() string { return n.pbx }

func (n *Normalizer) key(local string) string { return Key(n.pbx, local) }

// table remembers the last emitted value of every element of one kind and
// which of them must be recomputed at the next flush.
type table[T any] struct {
	elem  Element
	eq    func(a, b *T) bool
	last  map[string]*T       // by diff key
	dirty map[string]struct{} // local ids to recompute
	stale map[string]struct{} // keys whose last emission may not have reached clients
	ids   []string            // scratch for dirtyIDs; valid until the next call
}

func newTable[T any](e Element, eq func(a, b *T) bool) table[T] {
	return table[T]{elem: e, eq: eq, last: make(map[string]*T), dirty: make(map[string]struct{}), stale: make(map[string]struct{})}
}

func (t *table[T]) mark(id string) { t.dirty[id] = struct{}{} }

// reset forgets everything emitted and pending.
func (t *table[T]) reset() {
	clear(t.last)
	clear(t.dirty)
	clear(t.stale)
}

// unchanged reports whether cur equals what was last emitted under key (and
// that emission is not in doubt).
func (t *table[T]) unchanged(key string, cur *T) bool {
	last, ok := t.last[key]
	if !ok {
		return false
	}
	if _, stale := t.stale[key]; stale {
		return false
	}
	return t.eq(last, cur)
}

// dirtyIDs returns the dirty ids sorted, and clears the dirty set.
func (t *table[T]) dirtyIDs() []string {
	if len(t.dirty) == 0 {
		return nil
	}
	ids := t.ids[:0]
	for id := range t.dirty {
		ids = append(ids, id)
	}
	clear(t.dirty)
	slices.Sort(ids)
	t.ids = ids
	return ids
}

// put compares cur (nil: the element no longer exists) with the last value
// emitted under key and appends the resulting diff, if any. When the element
// is gone, final (if not nil) is the value to report in the removal.
func (t *table[T]) put(dst []Diff, key string, cur *T, final *T, aud []string, ts time.Time) []Diff {
	last, had := t.last[key]
	_, stale := t.stale[key]
	if stale {
		delete(t.stale, key)
	}
	switch {
	case cur == nil && !had:
		return dst
	case cur == nil:
		delete(t.last, key)
		data := last
		if final != nil {
			data = final
		}
		return append(dst, Diff{Element: t.elem, Op: OpRemoved, Key: key, Data: data, Audience: aud, TS: ts})
	case !had:
		v := new(T)
		*v = *cur
		t.last[key] = v
		return append(dst, Diff{Element: t.elem, Op: OpAdded, Key: key, Data: v, Audience: aud, TS: ts})
	case !stale && t.eq(last, cur):
		return dst
	default:
		v := new(T)
		*v = *cur
		t.last[key] = v
		return append(dst, Diff{Element: t.elem, Op: OpUpdated, Key: key, Data: v, Audience: aud, TS: ts})
	}
}

// Forget records that d may not have reached clients (its publish failed).
// The next Resync brings clients back in line even if nothing changed since:
// a lost addition is added again, a lost update re-sent, a lost removal
// removed again.
func (n *Normalizer) Forget(d Diff) {
	switch d.Element {
	case ElemChannel:
		forget(&n.outChan, d)
	case ElemQueuedChannel:
		forget(&n.outQueued, d)
	case ElemParkedChannel:
		forget(&n.outParked, d)
	case ElemUser:
		forget(&n.outUser, d)
	case ElemGroup:
		forget(&n.outGroup, d)
	case ElemGroupMember:
		forget(&n.outMember, d)
	case ElemTerminal:
		forget(&n.outTerm, d)
	}
}

func forget[T any](t *table[T], d Diff) {
	switch d.Op {
	case OpAdded:
		// Clients never heard of it: the next emission is an addition.
		delete(t.last, d.Key)
		delete(t.stale, d.Key)
	case OpRemoved:
		// Clients may still hold it: remember it so it is removed again.
		if v, ok := d.Data.(*T); ok {
			if _, exists := t.last[d.Key]; !exists {
				t.last[d.Key] = v
			}
		}
		t.stale[d.Key] = struct{}{}
	default:
		t.stale[d.Key] = struct{}{}
	}
}

// flush recomputes every dirty element and appends the real changes, in a
// fixed order of kinds: terminals, users, groups, members, channels, queued
// and parked channels. Records marked gone are dropped afterwards.
func (n *Normalizer) flush(dst []Diff) []Diff {
	// Dropping a destroyed channel changes the values of the channels that
	// named it; a second pass emits those.
	for pass := 0; pass < 4 && n.anyDirty(); pass++ {
		dst = n.flushOnce(dst)
	}
	return dst
}

func (n *Normalizer) anyDirty() bool {
	return len(n.outTerm.dirty)+len(n.outUser.dirty)+len(n.outGroup.dirty)+len(n.outMember.dirty)+
		len(n.outChan.dirty)+len(n.outQueued.dirty)+len(n.outParked.dirty) > 0
}

func (n *Normalizer) flushOnce(dst []Diff) []Diff {
	for _, id := range n.outTerm.dirtyIDs() {
		var cur *Terminal
		if t, ok := n.terms[id]; ok && n.termVisible(t) {
			n.scratch.term = n.projectTerminal(t)
			cur = &n.scratch.term
		}
		dst = n.outTerm.put(dst, n.key(id), cur, nil, nil, n.ts)
	}
	for _, id := range n.outUser.dirtyIDs() {
		var cur *User
		if u, ok := n.users[id]; ok && n.userHere(u) {
			n.scratch.user = n.projectUser(u)
			cur = &n.scratch.user
		}
		dst = n.outUser.put(dst, id, cur, nil, nil, n.ts)
	}
	for _, id := range n.outGroup.dirtyIDs() {
		var cur *Group
		if q, ok := n.queues[id]; ok {
			n.scratch.group = n.projectGroup(q)
			cur = &n.scratch.group
		}
		key := n.key(id)
		if q, ok := n.queues[id]; ok {
			key = q.key
		}
		dst = n.outGroup.put(dst, key, cur, nil, nil, n.ts)
	}
	for _, id := range n.outMember.dirtyIDs() {
		var cur *GroupMember
		if m := n.memberByID(id); m != nil {
			n.scratch.member = n.projectMember(m)
			cur = &n.scratch.member
		}
		dst = n.outMember.put(dst, n.key(id), cur, nil, nil, n.ts)
	}
	var gone []*chanRec
	for _, id := range n.outChan.dirtyIDs() {
		c, ok := n.chans[id]
		if !ok {
			dst = n.outChan.put(dst, n.key(id), nil, nil, n.lastAudience(n.key(id)), n.ts)
			continue
		}
		key := c.key
		v := &n.scratch.channel
		*v = n.projectChannel(c)
		n.noteCall(c)
		if c.gone {
			gone = append(gone, c)
			final := new(Channel)
			*final = *v
			dst = n.outChan.put(dst, key, nil, final, n.audience(v), n.ts)
			continue
		}
		if n.outChan.unchanged(key, v) {
			continue
		}
		if c.hangupReq {
			// Between a hangup request and the channel's end only the
			// removal is news.
			if last, ok := n.outChan.last[key]; ok && last.State.Name == StateHangup {
				if _, stale := n.outChan.stale[key]; !stale {
					continue
				}
			}
		}
		dst = n.outChan.put(dst, key, v, nil, n.audience(v), n.ts)
	}
	for _, id := range n.outQueued.dirtyIDs() {
		var cur *QueuedChannel
		if v, ok := n.projectQueued(id); ok {
			cur = &v
		}
		dst = n.outQueued.put(dst, n.key(id), cur, nil, nil, n.ts)
	}
	for _, id := range n.outParked.dirtyIDs() {
		var cur *ParkedChannel
		var aud []string
		if p, ok := n.parked[id]; ok {
			v := n.projectParked(p)
			cur = &v
			if v.ParkerUserID != "" {
				aud = []string{v.ParkerUserID}
			}
		}
		dst = n.outParked.put(dst, n.key(id), cur, nil, aud, n.ts)
	}
	for _, c := range gone {
		n.dropChannel(c)
	}
	return dst
}

// lastAudience is the audience of the last emitted value of a channel.
func (n *Normalizer) lastAudience(key string) []string {
	if v, ok := n.outChan.last[key]; ok {
		return n.audience(v)
	}
	return nil
}

// audience lists the users a channel value concerns: its own user, the
// other leg's user and the target user, sorted and de-duplicated.
func (n *Normalizer) audience(c *Channel) []string {
	var a [3]string
	k := 0
	if c.UserID != "" {
		a[k] = c.UserID
		k++
	}
	if c.OtherUUID != "" {
		if _, local, ok := SplitKey(c.OtherUUID); ok {
			if o, ok := n.chans[local]; ok {
				if u := n.farUser(o); u != "" {
					a[k] = u
					k++
				}
			} else if ov, ok := n.outChan.last[c.OtherUUID]; ok && ov.UserID != "" {
				a[k] = ov.UserID
				k++
			}
		}
	}
	if c.Target.Type == "user" && c.Target.ID != "" {
		a[k] = c.Target.ID
		k++
	}
	if k == 0 {
		return nil
	}
	out := slices.Clone(a[:k])
	slices.Sort(out)
	return slices.Compact(out)
}

// Snapshot-style accessors for tests and initial state.

// Channels returns the channel values last emitted, sorted by key.
func (n *Normalizer) Channels() []Channel { return values(&n.outChan) }

// QueuedChannels returns the queued_channel values last emitted.
func (n *Normalizer) QueuedChannels() []QueuedChannel { return values(&n.outQueued) }

// ParkedChannels returns the parked_channel values last emitted.
func (n *Normalizer) ParkedChannels() []ParkedChannel { return values(&n.outParked) }

// Users returns the user values last emitted.
func (n *Normalizer) Users() []User { return values(&n.outUser) }

// Groups returns the group values last emitted.
func (n *Normalizer) Groups() []Group { return values(&n.outGroup) }

// GroupMembers returns the group_member values last emitted.
func (n *Normalizer) GroupMembers() []GroupMember { return values(&n.outMember) }

// Terminals returns the terminal values last emitted.
func (n *Normalizer) Terminals() []Terminal { return values(&n.outTerm) }

// RemoveAll forgets the whole PBX and appends a removal for every element
// last emitted (users included): what clients must be told when the PBX is
// deleted or disabled. The normalizer is empty afterwards; no call
// completion is reported for the calls it drops.
func (n *Normalizer) RemoveAll(dst []Diff) []Diff {
	n.ts = n.now()
	start := len(dst)
	dst = stateOf(dst, &n.outTerm, nil)
	dst = stateOf(dst, &n.outUser, nil)
	dst = stateOf(dst, &n.outGroup, nil)
	dst = stateOf(dst, &n.outMember, nil)
	dst = stateOf(dst, &n.outChan, func(v *Channel) []string { return n.audience(v) })
	dst = stateOf(dst, &n.outQueued, nil)
	dst = stateOf(dst, &n.outParked, nil)
	for i := start; i < len(dst); i++ {
		dst[i].Op, dst[i].TS = OpRemoved, n.ts
	}
	for _, t := range []interface{ reset() }{&n.outTerm, &n.outUser, &n.outGroup, &n.outMember, &n.outChan, &n.outQueued, &n.outParked} {
		t.reset()
	}
	clear(n.chans)
	clear(n.byName)
	clear(n.bridges)
	clear(n.queues)
	clear(n.parked)
	clear(n.terms)
	clear(n.calls)
	n.tomb.reset()
	n.loadDirectory() // users and assigned terminals come back at the next flush
	for _, t := range []interface{ reset() }{&n.outTerm, &n.outUser} {
		t.reset()
	}
	return dst
}

// State returns every element last emitted, as diffs with OpAdded, kinds in
// the order of Elements (pbx excluded) and keys sorted: what a client that
// connects now must be told.
func (n *Normalizer) State() []Diff {
	var out []Diff
	out = stateOf(out, &n.outTerm, nil)
	out = stateOf(out, &n.outUser, nil)
	out = stateOf(out, &n.outGroup, nil)
	out = stateOf(out, &n.outMember, nil)
	out = stateOf(out, &n.outChan, func(v *Channel) []string { return n.audience(v) })
	out = stateOf(out, &n.outQueued, nil)
	out = stateOf(out, &n.outParked, nil)
	return out
}

func stateOf[T any](dst []Diff, t *table[T], aud func(*T) []string) []Diff {
	keys := make([]string, 0, len(t.last))
	for k := range t.last {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := t.last[k]
		var a []string
		if aud != nil {
			a = aud(v)
		}
		dst = append(dst, Diff{Element: t.elem, Op: OpAdded, Key: k, Data: v, Audience: a})
	}
	return dst
}

func values[T any](t *table[T]) []T {
	keys := make([]string, 0, len(t.last))
	for k := range t.last {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, *t.last[k])
	}
	return out
}

// tombstones remembers the most recently destroyed channel ids, so that a
// late event from the other protocol never resurrects a channel. Asterisk
// uniqueids are never reused within a boot.
type tombstones struct {
	ring []string // grows up to max, then overwritten oldest first
	next int
	max  int
	set  map[string]struct{}
}

func newTombstones(size int) tombstones {
	return tombstones{max: size, set: make(map[string]struct{})}
}

func (t *tombstones) add(id string) {
	if _, ok := t.set[id]; ok {
		return
	}
	if len(t.ring) < t.max {
		t.ring = append(t.ring, id)
	} else {
		delete(t.set, t.ring[t.next])
		t.ring[t.next] = id
		t.next = (t.next + 1) % t.max
	}
	t.set[id] = struct{}{}
}

func (t *tombstones) has(id string) bool { _, ok := t.set[id]; return ok }

func (t *tombstones) reset() {
	clear(t.set)
	t.ring = t.ring[:0]
	t.next = 0
}
