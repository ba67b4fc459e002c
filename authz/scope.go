package authz

import "strings"

// Principal is who asks: a user session or an API token of one tenant.
type Principal struct {
	Tenant string // casbin domain (tenant.ID as string)
	// Subject is UserSubject(id) for a user session or TokenSubject(id) for
	// an API token; it picks up grants and role assignments made to that
	// principal in casbin (AssignRole). May be empty when only Role applies.
	Subject string
	// Role is the principal's stored role (tenant.User.Role or
	// tenant.Token.Role). The principal holds the union of what Subject and
	// Role are granted.
	Role string
	// UserID is the id matched against an event's audience for own-channel
	// visibility. Empty for API tokens (they see only what channels/all or
	// full_events grant).
	UserID string
}

// Scope is what one principal may see and do, compiled from casbin when a
// connection opens or the tenant's policy changes. It is an immutable value:
// safe for concurrent use, evaluated per event without calling casbin. A
// policy change produces a new Scope; holders swap it in.
type Scope struct {
	tenant string
	userID string
	// kinds has bit i set when elementKinds[i] may be seen.
	kinds uint16
	// allChannels: channel-like events are visible regardless of audience.
	allChannels bool
	fullEvents  bool // FullEventsAllowed
	clear       bool // privacy/bypass
	// cmdOwn and cmdAny have bit i set when commands[i] is allowed on own
	// calls / on any call. cmdAny implies cmdOwn.
	cmdOwn, cmdAny uint32
}

// kindBit returns the bit of an element kind, or 0 when unknown.
func kindBit(element string) uint16 {
	switch element {
	case "channel":
		return 1 << 0
	case "queued_channel":
		return 1 << 1
	case "parked_channel":
		return 1 << 2
	case "user":
		return 1 << 3
	case "group":
		return 1 << 4
	case "group_member":
		return 1 << 5
	case "terminal":
		return 1 << 6
	case "pbx":
		return 1 << 7
	}
	return 0
}

// Visible reports whether an event of element kind element with the given
// audience (user ids) may be delivered. Unknown kinds are never visible.
// Channel-like kinds (channel, queued_channel, parked_channel) need the
// scope's user in the audience unless the scope sees all channels; an empty
// audience is then visible only to all-channel scopes. It allocates
// nothing and is safe for concurrent use. It satisfies the hub's filter.
func (s *Scope) Visible(element string, audience []string) bool {
	b := kindBit(element)
	if s.kinds&b == 0 {
		return false
	}
	if b&channelLike == 0 || s.allChannels {
		return true
	}
	if s.userID == "" {
		return false
	}
	for _, a := range audience {
		if a == s.userID {
			return true
		}
	}
	return false
}

// Masked reports whether this principal must get masked phone numbers (it
// lacks privacy/bypass). Whether the tenant masks at all, and how, is the
// tenant's privacy rule: with masking disabled the masked variant equals
// the clear one.
func (s *Scope) Masked() bool { return !s.clear }

// MayCommand reports whether the principal may run cmd (a canonical name
// or alias such as "unhold") on its own call (own=true) or on someone
// else's (own=false). Unknown commands are refused.
func (s *Scope) MayCommand(cmd string, own bool) bool {
	i := commandIndex(cmd)
	if i < 0 {
		return false
	}
	if own {
		return s.cmdOwn&(1<<i) != 0
	}
	return s.cmdAny&(1<<i) != 0
}

// Tenant returns the tenant the scope belongs to.
func (s *Scope) Tenant() string { return s.tenant }

// UserID returns the user id matched against audiences ("" for tokens).
func (s *Scope) UserID() string { return s.userID }

// ChannelsAll reports whether every channel of the tenant is visible.
func (s *Scope) ChannelsAll() bool { return s.allChannels }

// FullEventsAllowed reports whether the policy grants full_events.
func (s *Scope) FullEventsAllowed() bool { return s.fullEvents }

// ClearNumbers reports whether the principal has privacy/bypass.
func (s *Scope) ClearNumbers() bool { return s.clear }

// Kinds returns the visible element kinds in catalog order.
func (s *Scope) Kinds() []string {
	var out []string
	for i, k := range elementKinds {
		if s.kinds&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	return out
}

// Empty reports whether the scope lets the principal see nothing at all: a
// connection holding it has lost access and should be closed.
func (s *Scope) Empty() bool { return s.kinds == 0 }

// Equal reports whether two scopes grant exactly the same.
func (s *Scope) Equal(o *Scope) bool { return *s == *o }

// String describes the scope for logs (no numbers, no secrets).
func (s *Scope) String() string {
	var b strings.Builder
	b.WriteString("kinds=")
	b.WriteString(strings.Join(s.Kinds(), "|"))
	if s.allChannels {
		b.WriteString(" channels=all")
	} else {
		b.WriteString(" channels=own")
	}
	if s.fullEvents {
		b.WriteString(" full_events")
	}
	if s.clear {
		b.WriteString(" clear_numbers")
	}
	var own, anyc []string
	for i, c := range commands {
		switch {
		case s.cmdAny&(1<<i) != 0:
			anyc = append(anyc, c)
		case s.cmdOwn&(1<<i) != 0:
			own = append(own, c)
		}
	}
	if len(anyc) > 0 {
		b.WriteString(" any=" + strings.Join(anyc, ","))
	}
	if len(own) > 0 {
		b.WriteString(" own=" + strings.Join(own, ","))
	}
	return b.String()
}

// grants is what casbin allows one (subject, role) pair in a tenant,
// independent of the connection's request; cached per tenant enforcer.
type grants struct {
	kinds          uint16
	channelsAll    bool
	fullEvents     bool
	clear          bool
	cmdOwn, cmdAny uint32
}

// union is what a principal holding both a and b is granted. Every field
// is a per-entry OR of casbin answers, so compiling a subject and a role
// separately and uniting them equals asking casbin for either.
func (a grants) union(b grants) grants {
	return grants{
		kinds:       a.kinds | b.kinds,
		channelsAll: a.channelsAll || b.channelsAll,
		fullEvents:  a.fullEvents || b.fullEvents,
		clear:       a.clear || b.clear,
		cmdOwn:      a.cmdOwn | b.cmdOwn,
		cmdAny:      a.cmdAny | b.cmdAny,
	}
}

// compileGrants asks allow for every catalog entry.
func compileGrants(allow func(obj, act string) (bool, error)) (grants, error) {
	var g grants
	var err error
	ask := func(obj, act string) bool {
		if err != nil {
			return false
		}
		ok, e := allow(obj, act)
		if e != nil {
			err = e
		}
		return ok
	}
	for i, k := range elementKinds {
		if ask(ElementObject(k), ActRead) {
			g.kinds |= 1 << i
		}
	}
	g.channelsAll = ask(ObjChannelsAll, ActRead)
	g.fullEvents = ask(ObjFullEvents, ActUse)
	g.clear = ask(ObjPrivacyBypass, ActUse)
	queueAny := ask(ObjQueueManage, ActWrite)
	for i, c := range commands {
		anyOK := ask(CommandObject(c), ActAny) || c == CmdQueueMember && queueAny
		if anyOK {
			g.cmdAny |= 1 << i
			g.cmdOwn |= 1 << i
		} else if ask(CommandObject(c), ActOwn) {
			g.cmdOwn |= 1 << i
		}
	}
	return g, err
}

// scope combines grants with a connection's full_events request.
func (g grants) scope(p Principal, fullEvents bool) (*Scope, error) {
	if fullEvents && !g.fullEvents {
		return nil, ErrFullEventsForbidden
	}
	return &Scope{
		tenant:      p.Tenant,
		userID:      p.UserID,
		kinds:       g.kinds,
		allChannels: g.channelsAll || fullEvents,
		fullEvents:  g.fullEvents,
		clear:       g.clear,
		cmdOwn:      g.cmdOwn,
		cmdAny:      g.cmdAny,
	}, nil
}
