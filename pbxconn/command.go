package pbxconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
	"github.com/hookflash/hookflash/pbxconn/ari"
)

// Command operations: what a Command asks the PBX to do. Each names exactly
// one PBX-side action (the API layer decides, from the live model, which
// channel a user's request acts on).
const (
	OpOriginate   = "originate"    // ARI POST /channels: Endpoint dials, then Exten@Context
	OpAnswer      = "answer"       // ARI answer (Stasis channels only)
	OpHangup      = "hangup"       // AMI Hangup
	OpHold        = "hold"         // ARI hold (Stasis channels only)
	OpUnhold      = "unhold"       // ARI unhold (Stasis channels only)
	OpMute        = "mute"         // AMI MuteAudio Direction=in State=on
	OpUnmute      = "unmute"       // AMI MuteAudio Direction=in State=off
	OpDTMF        = "dtmf"         // AMI PlayDTMF, one action per digit
	OpPark        = "park"         // AMI Park of Channel
	OpBlindXfer   = "transfer"     // AMI BlindTransfer: Channel's peer goes to Exten@Context
	OpRedirect    = "redirect"     // AMI Redirect: Channel itself goes to Exten@Context
	OpAtxfer      = "atxfer"       // AMI Atxfer: Channel consults Exten@Context
	OpRecordStart = "record_start" // AMI MixMonitor
	OpRecordStop  = "record_stop"  // AMI StopMixMonitor
	OpSpy         = "spy"          // AMI Originate Endpoint → ChanSpy(Channel, q + Mode option)
	OpQueueAdd    = "queue_add"    // AMI QueueAdd
	OpQueueRemove = "queue_remove" // AMI QueueRemove
	OpQueuePause  = "queue_pause"  // AMI QueuePause Paused=true Reason
	OpQueueResume = "queue_resume" // AMI QueuePause Paused=false
	OpDeviceState = "device_state" // ARI PUT /deviceStates/Stasis:… (presence, DND)
)

// Spy modes of OpSpy and the ChanSpy option each adds to "q" (quiet).
const (
	SpyListen  = "spy"     // listen only
	SpyWhisper = "whisper" // w: talk to the spied channel only
	SpyBarge   = "barge"   // B: talk to both parties
)

// Command is one call-control request for one PBX, in the form routed
// between replicas (JSON). Only the fields its Op needs are set.
type Command struct {
	// ID de-duplicates retries (see CommandRouter.Do); empty: never
	// de-duplicated. The router scopes it by Tenant and Principal.
	ID        string `json:"id,omitempty"`
	Principal string `json:"principal,omitempty"` // who asked (for de-duplication scope and logs)
	Tenant    string `json:"tenant"`
	PBX       string `json:"pbx"`
	Op        string `json:"op"`

	Channel  string `json:"channel,omitempty"`  // Asterisk channel name acted on
	UniqueID string `json:"uniqueid,omitempty"` // its uniqueid (ARI channel id)
	LinkedID string `json:"linkedid,omitempty"` // its linkedid, echoed in the result

	Endpoint  string            `json:"endpoint,omitempty"` // originate/spy: the dial string of the user's terminal
	Exten     string            `json:"exten,omitempty"`
	Context   string            `json:"context,omitempty"`
	CallerID  string            `json:"caller_id,omitempty"`
	Variables map[string]string `json:"variables,omitempty"`
	Digits    string            `json:"digits,omitempty"`
	Mode      string            `json:"mode,omitempty"` // spy: SpyListen/SpyWhisper/SpyBarge

	Queue     string `json:"queue,omitempty"`     // Asterisk queue name
	Interface string `json:"interface,omitempty"` // queue member interface
	Member    string `json:"member,omitempty"`    // member name for QueueAdd
	Reason    string `json:"reason,omitempty"`    // pause reason

	Device string `json:"device,omitempty"` // device_state: the Stasis: device name
	State  string `json:"state,omitempty"`  // device_state: the new state
}

// Fingerprint is a digest of everything the command does (not its ID), so
// that a reused request id with a different command is not mistaken for a
// retry.
func (c Command) Fingerprint() string {
	c.ID = ""
	b, _ := json.Marshal(c)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:12])
}

// Result is what a command affected.
type Result struct {
	Op       string `json:"op"`
	UniqueID string `json:"uniqueid,omitempty"` // the channel acted on or created
	LinkedID string `json:"linkedid,omitempty"` // its call's linked id
	Channel  string `json:"channel,omitempty"`  // its Asterisk name
	Message  string `json:"message,omitempty"`  // the PBX's answer, e.g. "Park successful"
}

// maxDigits bounds a DTMF string (one AMI action per digit).
const maxDigits = 64

// validate checks the fields op needs and that none can inject AMI lines.
func (c *Command) validate() error {
	need := func(name, v string) error {
		if v == "" {
			return fmt.Errorf("%w: %s requires %s", ErrCommandInvalid, c.Op, name)
		}
		return nil
	}
	for _, v := range []string{c.Channel, c.UniqueID, c.Endpoint, c.Exten, c.Context, c.CallerID, c.Digits, c.Mode,
		c.Queue, c.Interface, c.Member, c.Reason, c.Device, c.State} {
		if strings.ContainsAny(v, "\r\n") || len(v) > 256 {
			return fmt.Errorf("%w: a field holds a line break or is longer than 256 bytes", ErrCommandInvalid)
		}
	}
	for k, v := range c.Variables {
		if k == "" || strings.ContainsAny(k, "\r\n=") || strings.ContainsAny(v, "\r\n") || len(k)+len(v) > 1024 {
			return fmt.Errorf("%w: variable %q: names must be non-empty without '=' or line breaks", ErrCommandInvalid, k)
		}
	}
	var err error
	switch c.Op {
	case OpOriginate, OpSpy:
		err = errors.Join(need("endpoint", c.Endpoint))
		if c.Op == OpOriginate {
			err = errors.Join(err, need("exten", c.Exten), need("context", c.Context))
		} else {
			err = errors.Join(err, need("channel", c.Channel))
			switch c.Mode {
			case SpyListen, SpyWhisper, SpyBarge:
			default:
				err = errors.Join(err, fmt.Errorf("%w: spy mode must be spy, whisper or barge", ErrCommandInvalid))
			}
		}
	case OpAnswer, OpHold, OpUnhold:
		err = need("uniqueid", c.UniqueID)
	case OpHangup, OpMute, OpUnmute, OpPark, OpRecordStart, OpRecordStop:
		err = need("channel", c.Channel)
	case OpDTMF:
		err = errors.Join(need("channel", c.Channel), need("digits", c.Digits))
		if len(c.Digits) > maxDigits || strings.Trim(c.Digits, "0123456789*#ABCDabcd") != "" {
			err = errors.Join(err, fmt.Errorf("%w: digits must be 1 to %d of 0-9 * # A-D", ErrCommandInvalid, maxDigits))
		}
	case OpBlindXfer, OpRedirect, OpAtxfer:
		err = errors.Join(need("channel", c.Channel), need("exten", c.Exten), need("context", c.Context))
	case OpQueueAdd, OpQueueRemove, OpQueuePause, OpQueueResume:
		err = errors.Join(need("queue", c.Queue), need("interface", c.Interface))
	case OpDeviceState:
		err = errors.Join(need("device", c.Device), need("state", c.State))
		if !strings.HasPrefix(c.Device, "Stasis:") {
			err = errors.Join(err, fmt.Errorf("%w: device must be a Stasis: device", ErrCommandInvalid))
		}
	default:
		return fmt.Errorf("%w: unknown operation %q", ErrCommandInvalid, c.Op)
	}
	return err
}

// Execute runs cmd on this connector's live PBX session and returns what
// it affected. Errors wrap ErrCommandInvalid, ErrChannelGone,
// ErrPBXUnavailable, ErrCommandTimeout, ErrRejectedByPBX (with the PBX's
// message) or ErrUnsupported. Safe for concurrent use; ctx bounds it.
func (c *Connector) Execute(ctx context.Context, cmd Command) (Result, error) {
	if err := cmd.validate(); err != nil {
		return Result{}, err
	}
	if cmd.PBX != "" && cmd.PBX != c.cfg.PBX.ID {
		return Result{}, fmt.Errorf("%w: command for pbx %s sent to %s", ErrCommandInvalid, cmd.PBX, c.cfg.PBX.ID)
	}
	res := Result{Op: cmd.Op, UniqueID: cmd.UniqueID, LinkedID: cmd.LinkedID, Channel: cmd.Channel}
	err := c.Exec(ctx, func(ctx context.Context, s Session) error {
		var err error
		res, err = runCommand(ctx, s, cmd, res)
		return err
	})
	if err != nil {
		err = classify(ctx, cmd.Op, err)
		c.log.Info("command failed", "op", cmd.Op, "err", err)
		return Result{}, err
	}
	return res, nil
}

// amiDo sends one action and returns the PBX's message.
func amiDo(ctx context.Context, cli *ami.Client, action string, fields ...string) (string, error) {
	var m ami.Message
	m.Add("Action", action)
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] != "" {
			m.Add(fields[i], fields[i+1])
		}
	}
	r, err := cli.Do(ctx, m)
	if err != nil {
		return "", err
	}
	return r.Get("Message"), nil
}

func runCommand(ctx context.Context, s Session, cmd Command, res Result) (Result, error) {
	var err error
	switch cmd.Op {
	case OpOriginate:
		var ch *ari.Channel
		ch, err = s.ARI.Channels().Originate(ctx, ari.OriginateRequest{
			Endpoint: cmd.Endpoint, Extension: cmd.Exten, Context: cmd.Context, Priority: 1,
			CallerID: cmd.CallerID, Variables: cmd.Variables,
		})
		if err == nil {
			res.UniqueID, res.Channel, res.LinkedID = ch.ID, ch.Name, ch.ID
			res.Message = "originated"
		}
	case OpAnswer:
		err = stasisOnly(s.ARI.Channels().Answer(ctx, cmd.UniqueID), "answer")
	case OpHold:
		err = stasisOnly(s.ARI.Channels().Hold(ctx, cmd.UniqueID), "hold")
	case OpUnhold:
		err = stasisOnly(s.ARI.Channels().Unhold(ctx, cmd.UniqueID), "unhold")
	case OpHangup:
		res.Message, err = amiDo(ctx, s.AMI, "Hangup", "Channel", cmd.Channel, "Cause", "16")
	case OpMute, OpUnmute:
		state := "on"
		if cmd.Op == OpUnmute {
			state = "off"
		}
		res.Message, err = amiDo(ctx, s.AMI, "MuteAudio", "Channel", cmd.Channel, "Direction", "in", "State", state)
	case OpDTMF:
		for _, d := range cmd.Digits {
			if res.Message, err = amiDo(ctx, s.AMI, "PlayDTMF", "Channel", cmd.Channel, "Digit", string(d), "Duration", "100"); err != nil {
				break
			}
		}
	case OpPark:
		res.Message, err = amiDo(ctx, s.AMI, "Park", "Channel", cmd.Channel)
	case OpBlindXfer:
		res.Message, err = amiDo(ctx, s.AMI, "BlindTransfer", "Channel", cmd.Channel, "Exten", cmd.Exten, "Context", cmd.Context)
	case OpRedirect:
		res.Message, err = amiDo(ctx, s.AMI, "Redirect", "Channel", cmd.Channel, "Exten", cmd.Exten, "Context", cmd.Context, "Priority", "1")
	case OpAtxfer:
		res.Message, err = amiDo(ctx, s.AMI, "Atxfer", "Channel", cmd.Channel, "Exten", cmd.Exten, "Context", cmd.Context)
	case OpRecordStart:
		file := "hookflash-" + fileSafe(cmd.UniqueID) + "-" + strconv.FormatInt(time.Now().Unix(), 10) + ".wav"
		res.Message, err = amiDo(ctx, s.AMI, "MixMonitor", "Channel", cmd.Channel, "File", file, "Options", "b")
		if err == nil && res.Message == "" {
			res.Message = "recording to " + file
		}
	case OpRecordStop:
		res.Message, err = amiDo(ctx, s.AMI, "StopMixMonitor", "Channel", cmd.Channel)
	case OpSpy:
		opt := "qE"
		switch cmd.Mode {
		case SpyWhisper:
			opt += "w"
		case SpyBarge:
			opt += "B"
		}
		// ChannelId makes the spy channel's uniqueid known now; Async
		// returns once the PBX queued the call.
		id := "hfspy-" + fileSafe(cmd.UniqueID) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		res.Message, err = amiDo(ctx, s.AMI, "Originate", "Channel", cmd.Endpoint, "Application", "ChanSpy",
			"Data", cmd.Channel+","+opt, "CallerID", cmd.CallerID, "Async", "true", "ChannelId", id)
		if err == nil {
			res.UniqueID, res.Channel = id, ""
		}
	case OpQueueAdd:
		res.Message, err = amiDo(ctx, s.AMI, "QueueAdd", "Queue", cmd.Queue, "Interface", cmd.Interface, "MemberName", cmd.Member)
	case OpQueueRemove:
		res.Message, err = amiDo(ctx, s.AMI, "QueueRemove", "Queue", cmd.Queue, "Interface", cmd.Interface)
	case OpQueuePause, OpQueueResume:
		paused := strconv.FormatBool(cmd.Op == OpQueuePause)
		res.Message, err = amiDo(ctx, s.AMI, "QueuePause", "Queue", cmd.Queue, "Interface", cmd.Interface, "Paused", paused, "Reason", cmd.Reason)
	case OpDeviceState:
		err = s.ARI.DeviceStates().Update(ctx, cmd.Device, cmd.State)
	}
	return res, err
}

// stasisOnly turns ARI's 409 "Channel not in Stasis application" into
// ErrUnsupported with the reason.
func stasisOnly(err error, what string) error {
	if errors.Is(err, ari.ErrConflict) {
		return fmt.Errorf("%w: %s needs the channel in a Stasis application and Asterisk offers no AMI %s for other channels; "+
			"use the phone (or park the call instead of holding it)", ErrUnsupported, what, what)
	}
	return err
}

// classify maps a client error onto the command errors.
func classify(ctx context.Context, op string, err error) error {
	var ae *ami.Error
	var re *ari.Error
	switch {
	case errors.Is(err, ErrPBXUnavailable), errors.Is(err, ErrUnsupported), errors.Is(err, ErrCommandInvalid):
		return err
	case errors.As(err, &ae):
		msg := strings.ToLower(ae.Message)
		if strings.Contains(msg, "no such channel") || strings.Contains(msg, "channel not found") || strings.Contains(msg, "not found") && strings.Contains(msg, "channel") {
			return fmt.Errorf("%w: %s: %s", ErrChannelGone, op, ae.Message)
		}
		return fmt.Errorf("%w: %s: %s", ErrRejectedByPBX, ae.Action, ae.Message)
	case errors.As(err, &re):
		if errors.Is(err, ari.ErrNotFound) {
			return fmt.Errorf("%w: %s: %s", ErrChannelGone, op, re.Message)
		}
		if errors.Is(err, ari.ErrServer) || errors.Is(err, ari.ErrUnauthorized) || errors.Is(err, ari.ErrForbidden) {
			return fmt.Errorf("%w: %s: %v", ErrPBXUnavailable, op, err)
		}
		return fmt.Errorf("%w: %s: %s", ErrRejectedByPBX, re.Op, re.Message)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return fmt.Errorf("%w: %s: %v", ErrCommandTimeout, op, err)
	}
	// Transport failures (closed client, refused or reset connection):
	// the session is going down.
	return fmt.Errorf("%w: %s: %v", ErrPBXUnavailable, op, err)
}

// fileSafe keeps letters, digits, '.', '-' and '_' of s.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}
