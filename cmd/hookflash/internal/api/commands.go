package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/tenant"
)

func init() {
	RegisterError(pbxconn.ErrCommandInvalid, http.StatusBadRequest, "invalid")
	RegisterError(pbxconn.ErrChannelGone, http.StatusNotFound, "not_found")
	RegisterError(pbxconn.ErrPBXUnavailable, http.StatusServiceUnavailable, "pbx_unavailable")
	RegisterError(pbxconn.ErrCommandTimeout, http.StatusGatewayTimeout, "timeout")
	RegisterError(pbxconn.ErrRejectedByPBX, http.StatusUnprocessableEntity, "rejected_by_pbx")
	RegisterError(pbxconn.ErrUnsupported, http.StatusUnprocessableEntity, "unsupported")
}

// CommandRunner runs one PBX command on the replica that owns the PBX
// (pbxconn.CommandRouter).
type CommandRunner interface {
	Do(ctx context.Context, cmd pbxconn.Command) (pbxconn.Result, error)
}

// CallsConfig configures Calls.
type CallsConfig struct {
	Runner CommandRunner // required
	Broker hub.Broker    // the tenant's live state, where channels are looked up; required
	Store  tenant.Store  // users and their terminals; required
	// Context is the dialplan context originates, pickups, transfers and
	// queue pickups dial into. Default "default".
	Context string
}

// Calls is call control (DESIGN §5) over REST and the socket: it finds the
// channel a request names in the tenant's live state, authorizes it (own
// call vs any call), turns it into a pbxconn.Command and runs it through
// the Runner. It implements CommandHandler.
type Calls struct {
	cfg CallsConfig // read-only after NewCalls
}

var _ CommandHandler = (*Calls)(nil)

// NewCalls returns call control with cfg's defaults filled.
func NewCalls(cfg CallsConfig) *Calls {
	if cfg.Context == "" {
		cfg.Context = "default"
	}
	return &Calls{cfg: cfg}
}

// callRequest is one command as the socket or REST carries it. Field names
// are the socket's JSON keys; REST takes the same keys in its body (and
// the channel, group, user and slot from the path).
type callRequest struct {
	ID      string `json:"-"`       // de-duplication key: socket id or Idempotency-Key
	Name    string `json:"request"` // command name (authz names and aliases)
	Channel string `json:"channel"` // channel uuid (the element key)

	FromUser     string            `json:"from_user"`
	FromTerminal string            `json:"from_terminal"`
	To           string            `json:"to"`
	Context      string            `json:"context"`
	Variables    map[string]string `json:"variables"`

	Digits string `json:"digits"`
	Target string `json:"target"` // transfer/atxfer: the extension
	Action string `json:"action"` // atxfer: start|complete|cancel; record: start|stop
	Mode   string `json:"mode"`   // spy: spy|whisper|barge

	Group  string `json:"group"`  // queue ops: group id
	User   string `json:"user"`   // queue ops, presence: the user (default: the caller)
	Reason string `json:"reason"` // queue pause reason
	Slot   string `json:"slot"`   // pickup of a parked call: the parking space

	DND      *bool  `json:"dnd"`
	Presence string `json:"presence"` // set_presence: available|dnd
}

// callResult is what every command returns.
type callResult struct {
	UUID     string `json:"uuid,omitempty"`     // the affected channel's key (pbx:uniqueid)
	LinkedID string `json:"linkedid,omitempty"` // its call's linked id
	PBXID    string `json:"pbx_id,omitempty"`
	Channel  string `json:"channel,omitempty"` // its Asterisk name
	Message  string `json:"message,omitempty"` // the PBX's answer
}

// SocketRequest implements CommandHandler: the commands of DESIGN §5 on the
// socket, e.g. {"id":"15","request":"hangup","channel":"<uuid>"}.
func (k *Calls) SocketRequest(ctx context.Context, p *Principal, scope *authz.Scope, req hub.Request) (any, error) {
	var r callRequest
	if err := json.Unmarshal(req.Raw, &r); err != nil {
		return nil, Errorf(http.StatusBadRequest, "invalid", "malformed %s request: %v", req.Name, err)
	}
	r.ID, r.Name = req.ID, req.Name
	res, err := k.run(ctx, p, scope, &r)
	if errors.Is(err, hub.ErrUnknownRequest) {
		return nil, err // the hub words it
	}
	if err != nil {
		return nil, toError(err)
	}
	return res, nil
}

// run executes one request for principal p with scope.
func (k *Calls) run(ctx context.Context, p *Principal, scope *authz.Scope, r *callRequest) (*callResult, error) {
	if p == nil || p.Kind == KindPlatform || scope == nil {
		return nil, Errorf(http.StatusForbidden, "forbidden", "the platform admin has no calls; use a tenant token")
	}
	v, err := k.view(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	a := &attempt{k: k, p: p, scope: scope, v: v, r: r, cmd: pbxconn.Command{ID: r.ID, Principal: p.Key(), Tenant: string(p.Tenant)}}
	switch r.Name {
	case "originate", "call", "dial":
		err = a.originate(ctx)
	case "answer", "hangup", "hold", "unhold", "mute", "unmute", "dtmf", "park":
		err = a.channelOp(ctx, r.Name)
	case "transfer", "blind_transfer":
		err = a.transfer(ctx)
	case "atxfer", "atxfer_start", "atxfer_complete", "atxfer_cancel":
		if act, ok := strings.CutPrefix(r.Name, "atxfer_"); ok {
			r.Action = act
		}
		err = a.atxfer(ctx)
	case "record", "record_start", "record_stop":
		if act, ok := strings.CutPrefix(r.Name, "record_"); ok {
			r.Action = act
		}
		err = a.record(ctx)
	case "spy", "whisper", "barge":
		if r.Name != "spy" {
			r.Mode = r.Name
		}
		err = a.spy(ctx)
	case "pickup":
		err = a.pickup(ctx)
	case "queue_login", "queue_logout", "queue_pause", "queue_unpause", "login", "logout", "pause", "unpause":
		err = a.queueMember(ctx, strings.TrimPrefix(r.Name, "queue_"))
	case "dnd", "set_dnd", "set_presence", "presence":
		err = a.presence(ctx)
	default:
		return nil, fmt.Errorf("%w: %q", hub.ErrUnknownRequest, r.Name)
	}
	if err != nil {
		return nil, err
	}
	return a.result, nil
}

// attempt is one request being resolved and run.
type attempt struct {
	k      *Calls
	p      *Principal
	scope  *authz.Scope
	v      *liveState
	r      *callRequest
	cmd    pbxconn.Command
	result *callResult
}

// authorize checks the command right for own or any.
func (a *attempt) authorize(cmd string, own bool) error {
	if a.scope.MayCommand(cmd, own) {
		return nil
	}
	if own {
		return Errorf(http.StatusForbidden, "forbidden", "you may not %s", cmd)
	}
	if a.scope.MayCommand(cmd, true) {
		return Errorf(http.StatusForbidden, "forbidden", "you may %s only your own calls", cmd)
	}
	return Errorf(http.StatusForbidden, "forbidden", "you may not %s", cmd)
}

// mine reports whether the caller is in an element's audience.
func (a *attempt) mine(audience []string) bool {
	u := a.scope.UserID()
	return u != "" && slices.Contains(audience, u)
}

// channel looks up the request's channel and authorizes cmd on it.
func (a *attempt) channel(cmd string) (*liveChannel, error) {
	if a.r.Channel == "" {
		return nil, Errorf(http.StatusBadRequest, "invalid", "%s needs the channel uuid", a.r.Name)
	}
	ch := a.v.channels[a.r.Channel]
	if ch == nil {
		return nil, Errorf(http.StatusNotFound, "not_found", "no live channel %q", a.r.Channel)
	}
	if err := a.authorize(cmd, a.mine(ch.audience)); err != nil {
		return nil, err
	}
	return ch, nil
}

// exec runs the command and fills the result for channel ch (may be nil).
func (a *attempt) exec(ctx context.Context, ch *liveChannel) error {
	if ch != nil {
		a.cmd.PBX, a.cmd.Channel, a.cmd.UniqueID, a.cmd.LinkedID = ch.PBXID, ch.Name, ch.local, ch.LinkedID
	}
	res, err := a.k.cfg.Runner.Do(ctx, a.cmd)
	if err != nil {
		return err
	}
	out := &callResult{PBXID: a.cmd.PBX, Channel: res.Channel, LinkedID: res.LinkedID, Message: res.Message}
	if res.UniqueID != "" {
		out.UUID = pbxconn.Key(a.cmd.PBX, res.UniqueID)
	}
	a.result = out
	return nil
}

func (a *attempt) channelOp(ctx context.Context, name string) error {
	cmd := name
	ch, err := a.channel(cmd)
	if err != nil {
		return err
	}
	a.cmd.Op = map[string]string{
		"answer": pbxconn.OpAnswer, "hangup": pbxconn.OpHangup, "hold": pbxconn.OpHold, "unhold": pbxconn.OpUnhold,
		"mute": pbxconn.OpMute, "unmute": pbxconn.OpUnmute, "dtmf": pbxconn.OpDTMF, "park": pbxconn.OpPark,
	}[name]
	a.cmd.Digits = a.r.Digits
	if name == "park" {
		// Park the party the user talks to: a user's leg parks its peer.
		if peer := a.v.channels[ch.OtherUUID]; ch.UserID != "" && peer != nil {
			ch = peer
		}
	}
	return a.exec(ctx, ch)
}

// transfer: a user's leg blind-transfers its peer (AMI BlindTransfer); any
// other channel is itself redirected (AMI Redirect).
func (a *attempt) transfer(ctx context.Context) error {
	ch, err := a.channel(authz.CmdTransfer)
	if err != nil {
		return err
	}
	if err := a.dialTarget(a.r.Target); err != nil {
		return err
	}
	a.cmd.Op = pbxconn.OpRedirect
	if ch.UserID != "" && ch.OtherUUID != "" {
		a.cmd.Op = pbxconn.OpBlindXfer
	}
	return a.exec(ctx, ch)
}

// atxfer start consults the target from the user's leg (AMI Atxfer);
// complete hangs up the transferer's leg so the parties are joined; cancel
// hangs up the consultation leg (the transferer's current peer) so the
// transferer returns to the original party.
func (a *attempt) atxfer(ctx context.Context) error {
	ch, err := a.channel(authz.CmdAtxfer)
	if err != nil {
		return err
	}
	switch a.r.Action {
	case "", "start":
		if err := a.dialTarget(a.r.Target); err != nil {
			return err
		}
		a.cmd.Op = pbxconn.OpAtxfer
	case "complete":
		a.cmd.Op = pbxconn.OpHangup
	case "cancel":
		consult := a.v.channels[ch.OtherUUID]
		if consult == nil {
			return Errorf(http.StatusNotFound, "not_found", "channel %q has no consultation leg to cancel", a.r.Channel)
		}
		a.cmd.Op = pbxconn.OpHangup
		ch = consult
	default:
		return Errorf(http.StatusBadRequest, "invalid", "atxfer action must be start, complete or cancel")
	}
	return a.exec(ctx, ch)
}

func (a *attempt) record(ctx context.Context) error {
	ch, err := a.channel(authz.CmdRecord)
	if err != nil {
		return err
	}
	switch a.r.Action {
	case "", "start":
		a.cmd.Op = pbxconn.OpRecordStart
	case "stop":
		a.cmd.Op = pbxconn.OpRecordStop
	default:
		return Errorf(http.StatusBadRequest, "invalid", "record action must be start or stop")
	}
	return a.exec(ctx, ch)
}

// spy originates the caller's terminal into ChanSpy of the channel.
func (a *attempt) spy(ctx context.Context) error {
	mode := a.r.Mode
	if mode == "" {
		mode = pbxconn.SpyListen
	}
	cmd := map[string]string{pbxconn.SpyListen: authz.CmdSpy, pbxconn.SpyWhisper: authz.CmdWhisper, pbxconn.SpyBarge: authz.CmdBarge}[mode]
	if cmd == "" {
		return Errorf(http.StatusBadRequest, "invalid", "spy mode must be spy, whisper or barge")
	}
	ch, err := a.channel(cmd)
	if err != nil {
		return err
	}
	term, err := a.callerTerminal(ctx, ch.PBXID)
	if err != nil {
		return err
	}
	a.cmd.Op, a.cmd.Mode, a.cmd.Endpoint = pbxconn.OpSpy, mode, term.Device
	return a.exec(ctx, ch)
}

// originate calls `to` from a user's terminal (from_user, from_terminal, or
// the caller's own).
func (a *attempt) originate(ctx context.Context) error {
	if a.r.To == "" {
		return Errorf(http.StatusBadRequest, "invalid", "originate needs to (the number to call)")
	}
	term, own, err := a.fromTerminal(ctx, "")
	if err != nil {
		return err
	}
	if err := a.authorize(authz.CmdOriginate, own); err != nil {
		return err
	}
	if err := a.dialTarget(a.r.To); err != nil {
		return err
	}
	if len(a.r.Variables) > 0 && !a.scope.MayCommand(authz.CmdOriginate, false) {
		// Channel variables reach dialplan functions (CALLERID(num), …).
		return Errorf(http.StatusForbidden, "forbidden", "setting channel variables needs the right to originate for anyone")
	}
	a.cmd.Op, a.cmd.PBX, a.cmd.Endpoint, a.cmd.Variables = pbxconn.OpOriginate, term.PBXID, term.Device, a.r.Variables
	return a.exec(ctx, nil)
}

// dialTarget checks an extension or number to dial and sets the dialplan
// context (a caller-chosen context needs the right to act on any call).
func (a *attempt) dialTarget(to string) error {
	if to == "" {
		return Errorf(http.StatusBadRequest, "invalid", "%s needs target (the extension to dial)", a.r.Name)
	}
	if len(to) > 64 || strings.Trim(to, "0123456789*#+") != "" {
		return Errorf(http.StatusBadRequest, "invalid", "%q is not a number or extension (digits, *, #, +)", to)
	}
	a.cmd.Exten, a.cmd.Context = to, a.k.cfg.Context
	if a.r.Context != "" {
		if !a.scope.MayCommand(authz.CmdOriginate, false) {
			return Errorf(http.StatusForbidden, "forbidden", "choosing a dialplan context needs the right to originate for anyone")
		}
		a.cmd.Context = a.r.Context
	}
	return nil
}

// pickup takes a parked call (slot) or a queued call (channel) to the
// caller's terminal.
func (a *attempt) pickup(ctx context.Context) error {
	if a.r.Slot != "" {
		pk := a.v.parkedBySlot(a.r.Slot)
		if pk == nil {
			return Errorf(http.StatusNotFound, "not_found", "no call is parked in slot %q", a.r.Slot)
		}
		own := a.mine(pk.audience) || pk.ParkerUserID != "" && pk.ParkerUserID == a.scope.UserID()
		if err := a.authorize(authz.CmdPickup, own); err != nil {
			return err
		}
		term, _, err := a.fromTerminal(ctx, pk.pbx)
		if err != nil {
			return err
		}
		a.cmd.Op, a.cmd.PBX, a.cmd.Endpoint = pbxconn.OpOriginate, pk.pbx, term.Device
		a.cmd.Exten, a.cmd.Context = pk.Slot, a.k.cfg.Context
		return a.exec(ctx, nil)
	}
	if a.r.Channel == "" {
		return Errorf(http.StatusBadRequest, "invalid", "pickup needs slot (a parked call) or channel (a queued call)")
	}
	q := a.v.queued[a.r.Channel]
	if q == nil {
		return Errorf(http.StatusNotFound, "not_found", "no queued call %q", a.r.Channel)
	}
	if err := a.authorize(authz.CmdPickup, a.mine(q.audience)); err != nil {
		return err
	}
	u, err := a.targetUser(ctx)
	if err != nil {
		return err
	}
	if u.MainExtension == "" {
		return Errorf(http.StatusBadRequest, "invalid", "user %s has no main extension to send the queued call to", u.ID)
	}
	a.cmd.Op, a.cmd.Exten, a.cmd.Context = pbxconn.OpRedirect, u.MainExtension, a.k.cfg.Context
	ch := a.v.channels[a.r.Channel]
	if ch == nil {
		return Errorf(http.StatusNotFound, "not_found", "queued call %q has no live channel", a.r.Channel)
	}
	return a.exec(ctx, ch)
}
