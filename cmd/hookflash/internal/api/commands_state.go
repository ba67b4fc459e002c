package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/tenant"
)

// liveState is the part of a tenant's live model call control reads,
// decoded from the broker's snapshot. It holds only that tenant's
// elements, so a uuid of another tenant is simply not found.
type liveState struct {
	channels  map[string]*liveChannel // by key
	queued    map[string]*liveQueued  // by channel key
	parked    []*liveParked
	groups    map[string]bool
	members   []pbxconn.GroupMember
	terminals []pbxconn.Terminal
	pbxes     []string
}

type liveChannel struct {
	pbxconn.Channel
	local    string // the Asterisk uniqueid
	audience []string
}

type liveQueued struct {
	pbxconn.QueuedChannel
	audience []string
}

type liveParked struct {
	pbxconn.ParkedChannel
	pbx      string
	audience []string
}

// view reads tenant t's live state.
func (k *Calls) view(ctx context.Context, t tenant.ID) (*liveState, error) {
	snap, err := k.cfg.Broker.Snapshot(ctx, hub.Tenant(t))
	if err != nil {
		return nil, err
	}
	v := &liveState{channels: map[string]*liveChannel{}, queued: map[string]*liveQueued{}, groups: map[string]bool{}}
	for i := range snap.Elements {
		e := &snap.Elements[i]
		pbx, local, _ := pbxconn.SplitKey(e.Key)
		switch e.Element {
		case string(pbxconn.ElemChannel):
			c := &liveChannel{local: local, audience: e.Audience}
			if json.Unmarshal(e.Data, &c.Channel) == nil {
				if c.PBXID == "" {
					c.PBXID = pbx
				}
				v.channels[e.Key] = c
			}
		case string(pbxconn.ElemQueuedChannel):
			q := &liveQueued{audience: e.Audience}
			if json.Unmarshal(e.Data, &q.QueuedChannel) == nil {
				v.queued[e.Key] = q
			}
		case string(pbxconn.ElemParkedChannel):
			pk := &liveParked{pbx: pbx, audience: e.Audience}
			if json.Unmarshal(e.Data, &pk.ParkedChannel) == nil {
				v.parked = append(v.parked, pk)
			}
		case string(pbxconn.ElemGroup):
			v.groups[e.Key] = true
		case string(pbxconn.ElemGroupMember):
			var m pbxconn.GroupMember
			if json.Unmarshal(e.Data, &m) == nil {
				v.members = append(v.members, m)
			}
		case string(pbxconn.ElemTerminal):
			var tm pbxconn.Terminal
			if json.Unmarshal(e.Data, &tm) == nil {
				v.terminals = append(v.terminals, tm)
			}
		case string(pbxconn.ElemPBX):
			v.pbxes = append(v.pbxes, e.Key)
		}
	}
	return v, nil
}

// parkedBySlot finds the call parked in slot ("701", or "pbx:701").
func (v *liveState) parkedBySlot(slot string) *liveParked {
	pbx, s, ok := pbxconn.SplitKey(slot)
	if !ok {
		pbx, s = "", slot
	}
	for _, pk := range v.parked {
		if pk.Slot == s && (pbx == "" || pk.pbx == pbx) {
			return pk
		}
	}
	return nil
}

// terminalOf finds a live terminal element for device, on pbx when given.
func (v *liveState) terminalOf(device, pbx string) *pbxconn.Terminal {
	var found *pbxconn.Terminal
	for i := range v.terminals {
		tm := &v.terminals[i]
		if !strings.EqualFold(tm.Device, device) || pbx != "" && tm.PBXID != pbx {
			continue
		}
		if found == nil || tm.Registered && !found.Registered {
			found = tm
		}
	}
	return found
}

// onePBX returns pbx, or the tenant's only PBX.
func (v *liveState) onePBX(pbx string) (string, error) {
	if pbx != "" {
		return pbx, nil
	}
	if len(v.pbxes) == 1 {
		return v.pbxes[0], nil
	}
	if len(v.pbxes) == 0 {
		return "", pbxconn.ErrPBXUnavailable
	}
	return "", Errorf(http.StatusBadRequest, "invalid", "the tenant has several PBXes and the terminal is on none of them now; pass from_terminal of a live terminal")
}

// fromTerminal picks the terminal a call starts from: from_terminal, or a
// terminal of from_user, or of the caller; on pbx when given. own tells
// whether it is the caller's.
func (a *attempt) fromTerminal(ctx context.Context, pbx string) (pbxconn.Terminal, bool, error) {
	self := a.scope.UserID()
	if dev := a.r.FromTerminal; dev != "" {
		if len(dev) > 128 || strings.ContainsAny(dev, "\r\n,&") {
			return pbxconn.Terminal{}, false, Errorf(http.StatusBadRequest, "invalid", "from_terminal %q is not a device such as PJSIP/1001", dev)
		}
		if tm := a.v.terminalOf(dev, pbx); tm != nil {
			return *tm, self != "" && tm.AssocUserID == self, nil
		}
		p, err := a.v.onePBX(pbx)
		if err != nil {
			return pbxconn.Terminal{}, false, err
		}
		own := false
		if self != "" {
			if u, err := a.k.cfg.Store.GetUser(ctx, a.p.Tenant, self); err == nil {
				for _, t := range u.Terminals {
					own = own || strings.EqualFold(t, dev)
				}
			}
		}
		return pbxconn.Terminal{PBXID: p, Device: dev, AssocUserID: self}, own, nil
	}
	id := a.r.FromUser
	if id == "" {
		id = self
	}
	if id == "" {
		return pbxconn.Terminal{}, false, Errorf(http.StatusBadRequest, "invalid", "an API token must say from_user or from_terminal")
	}
	u, err := a.k.cfg.Store.GetUser(ctx, a.p.Tenant, id)
	if err != nil {
		if errors.Is(err, tenant.ErrNotFound) {
			return pbxconn.Terminal{}, false, Errorf(http.StatusNotFound, "not_found", "no user %q", id)
		}
		return pbxconn.Terminal{}, false, err
	}
	own := self != "" && u.ID == self
	if len(u.Terminals) == 0 {
		return pbxconn.Terminal{}, own, Errorf(http.StatusBadRequest, "invalid", "user %s has no terminal to call from", u.ID)
	}
	var best *pbxconn.Terminal
	for _, dev := range u.Terminals {
		if tm := a.v.terminalOf(dev, pbx); tm != nil && (best == nil || tm.Registered && !best.Registered) {
			best = tm
		}
	}
	if best != nil {
		return *best, own, nil
	}
	p, err := a.v.onePBX(pbx)
	if err != nil {
		return pbxconn.Terminal{}, own, err
	}
	return pbxconn.Terminal{PBXID: p, Device: u.Terminals[0], AssocUserID: u.ID}, own, nil
}

// callerTerminal is the terminal the caller listens on (spy), on pbx.
func (a *attempt) callerTerminal(ctx context.Context, pbx string) (pbxconn.Terminal, error) {
	tm, _, err := a.fromTerminal(ctx, pbx)
	if err == nil && tm.PBXID != pbx {
		return tm, Errorf(http.StatusBadRequest, "invalid", "terminal %s is not on pbx %s", tm.Device, pbx)
	}
	return tm, err
}

// targetUser is the request's user, or the caller.
func (a *attempt) targetUser(ctx context.Context) (*tenant.User, error) {
	id := a.r.User
	if id == "" {
		id = a.scope.UserID()
	}
	if id == "" {
		return nil, Errorf(http.StatusBadRequest, "invalid", "an API token must say which user")
	}
	u, err := a.k.cfg.Store.GetUser(ctx, a.p.Tenant, id)
	if errors.Is(err, tenant.ErrNotFound) {
		return nil, Errorf(http.StatusNotFound, "not_found", "no user %q", id)
	}
	return u, err
}

// queueMember logs a user in or out of a queue, or (un)pauses them. A user
// may do it for themselves with the own right; for others it needs
// queue/manage (compiled into the any right of queue_member).
func (a *attempt) queueMember(ctx context.Context, act string) error {
	if a.r.Group == "" {
		return Errorf(http.StatusBadRequest, "invalid", "%s needs group (the group id)", a.r.Name)
	}
	u, err := a.targetUser(ctx)
	if err != nil {
		return err
	}
	if err := a.authorize("queue_"+act, u.ID == a.scope.UserID()); err != nil {
		return err
	}
	pbx, queue, ok := pbxconn.SplitKey(a.r.Group)
	if !ok || !a.v.groups[a.r.Group] {
		return Errorf(http.StatusNotFound, "not_found", "no group %q", a.r.Group)
	}
	a.cmd.PBX, a.cmd.Queue = pbx, queue
	if act == "login" {
		a.r.FromUser, a.r.FromTerminal = u.ID, ""
		tm, _, err := a.fromTerminal(ctx, pbx)
		if err != nil {
			return err
		}
		a.cmd.Op, a.cmd.Interface, a.cmd.Member = pbxconn.OpQueueAdd, tm.Device, u.Name
		if a.cmd.Member == "" {
			a.cmd.Member = u.Username
		}
		return a.exec(ctx, nil)
	}
	iface := ""
	for _, m := range a.v.members {
		if m.GroupID == a.r.Group && m.UserID == u.ID {
			iface = m.Interface
			break
		}
	}
	if iface == "" {
		return Errorf(http.StatusNotFound, "not_found", "user %s is not a member of group %s", u.ID, a.r.Group)
	}
	a.cmd.Interface = iface
	switch act {
	case "logout":
		a.cmd.Op = pbxconn.OpQueueRemove
	case "pause":
		a.cmd.Op, a.cmd.Reason = pbxconn.OpQueuePause, a.r.Reason
	case "unpause":
		a.cmd.Op = pbxconn.OpQueueResume
	}
	return a.exec(ctx, nil)
}

// DNDDevice is the custom device state that carries a user's DND on each
// PBX they have a terminal on: BUSY when DND is on, NOT_INUSE when off. A
// dialplan honours it with DEVICE_STATE(Stasis:hookflash-dnd-<user id>) or
// a hint.
func DNDDevice(userID string) string {
	return "Stasis:hookflash-dnd-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, userID)
}

// presence sets a user's DND (dnd: true|false, or presence: dnd|available).
func (a *attempt) presence(ctx context.Context) error {
	var on bool
	switch {
	case a.r.DND != nil:
		on = *a.r.DND
	case a.r.Presence == "dnd":
		on = true
	case a.r.Presence == "available" || a.r.Presence == "online":
	default:
		return Errorf(http.StatusBadRequest, "invalid", "send dnd (true or false) or presence (dnd or available)")
	}
	u, err := a.targetUser(ctx)
	if err != nil {
		return err
	}
	if err := a.authorize("set_dnd", u.ID == a.scope.UserID()); err != nil {
		return err
	}
	var pbxes []string
	for _, dev := range u.Terminals {
		for _, tm := range a.v.terminals {
			if strings.EqualFold(tm.Device, dev) && !contains(pbxes, tm.PBXID) {
				pbxes = append(pbxes, tm.PBXID)
			}
		}
	}
	if len(pbxes) == 0 {
		p, err := a.v.onePBX("")
		if err != nil {
			return err
		}
		pbxes = []string{p}
	}
	state := "NOT_INUSE"
	if on {
		state = "BUSY"
	}
	a.cmd.Op, a.cmd.Device, a.cmd.State = pbxconn.OpDeviceState, DNDDevice(u.ID), state
	for _, p := range pbxes {
		a.cmd.PBX = p
		if err := a.exec(ctx, nil); err != nil {
			return err
		}
	}
	a.result.Message = "dnd " + map[bool]string{true: "on", false: "off"}[on] + " (" + a.cmd.Device + "=" + state + ")"
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
