package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/hookflash/hookflash/pbxconn"
)

// channelActions are the POST /calls/{uuid}/{action} routes.
var channelActions = []struct{ action, summary string }{
	{"answer", "answer a ringing channel (Stasis channels only; others: 422 unsupported)"},
	{"hangup", "hang up the channel (AMI Hangup)"},
	{"hold", "hold the channel (Stasis channels only; others: 422 unsupported)"},
	{"unhold", "take the channel off hold (Stasis channels only)"},
	{"mute", "mute the audio the channel sends (AMI MuteAudio)"},
	{"unmute", "unmute the channel (AMI MuteAudio)"},
	{"dtmf", "play DTMF digits on the channel (AMI PlayDTMF); body {digits}"},
	{"park", "park the call: a user's leg parks its peer (AMI Park)"},
	{"record", "start or stop recording (AMI MixMonitor/StopMixMonitor); body {action: start|stop}"},
	{"transfer", "blind transfer: a user's leg sends its peer to target (AMI BlindTransfer), any other channel is redirected (AMI Redirect); body {target}"},
	{"atxfer", "attended transfer; body {action: start (with target)|complete|cancel}"},
	{"spy", "listen to the call from the caller's terminal (AMI Originate of ChanSpy); body {mode: spy|whisper|barge}"},
	{"pickup", "take a queued call to the caller's (or user's) main extension (AMI Redirect)"},
}

// callBody is the JSON body of the call-control routes (all fields optional).
type callBody struct {
	ID           string            `json:"id,omitempty"` // de-duplication key (or header Idempotency-Key)
	FromUser     string            `json:"from_user,omitempty"`
	FromTerminal string            `json:"from_terminal,omitempty"`
	To           string            `json:"to,omitempty"`
	Context      string            `json:"context,omitempty"`
	Variables    map[string]string `json:"variables,omitempty"`
	Digits       string            `json:"digits,omitempty"`
	Target       string            `json:"target,omitempty"`
	Action       string            `json:"action,omitempty"`
	Mode         string            `json:"mode,omitempty"`
	User         string            `json:"user,omitempty"`
	Reason       string            `json:"reason,omitempty"`
	DND          *bool             `json:"dnd,omitempty"`
	Presence     string            `json:"presence,omitempty"`
}

// Mount adds the call-control routes to s (call after New). It documents
// them in the OpenAPI table.
func (k *Calls) Mount(s *Server) {
	v := s.v1
	v.Post("/calls", s.authenticated, k.handle(s, "originate", ""))
	for _, a := range channelActions {
		v.Post("/calls/:uuid/"+a.action, s.authenticated, k.handle(s, a.action, "uuid"))
	}
	for _, act := range []string{"login", "logout", "pause", "unpause"} {
		v.Post("/groups/:id/members/:user/"+act, s.authenticated, k.handle(s, "queue_"+act, "group"))
	}
	v.Post("/parked/:slot/pickup", s.authenticated, k.handle(s, "pickup", "slot"))
	v.Post("/users/:id/dnd", s.authenticated, k.handle(s, "set_dnd", "user"))
}

// handle returns the handler of one command route.
func (k *Calls) handle(s *Server, name, from string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sc, err := s.scopeOf(c)
		if err != nil {
			return err
		}
		var b callBody
		if len(c.Body()) > 0 {
			if err := json.Unmarshal(c.Body(), &b); err != nil {
				return Errorf(http.StatusBadRequest, "invalid", "malformed JSON body: %v", err)
			}
		}
		r := callRequest{ID: b.ID, Name: name, FromUser: b.FromUser, FromTerminal: b.FromTerminal, To: b.To,
			Context: b.Context, Variables: b.Variables, Digits: b.Digits, Target: b.Target, Action: b.Action,
			Mode: b.Mode, User: b.User, Reason: b.Reason, DND: b.DND, Presence: b.Presence}
		if key := c.Get("Idempotency-Key"); key != "" {
			if len(key) > 128 {
				return Errorf(http.StatusBadRequest, "invalid", "Idempotency-Key is longer than 128 bytes")
			}
			r.ID = key
		}
		switch from {
		case "uuid":
			r.Channel = c.Params("uuid")
		case "group":
			r.Group, r.User = c.Params("id"), c.Params("user")
		case "slot":
			r.Slot = c.Params("slot")
		case "user":
			r.User = c.Params("id")
		}
		if name == "spy" && b.Mode != "" {
			r.Mode = b.Mode
		}
		if name == "pickup" && from == "uuid" {
			// POST /calls/{uuid}/pickup: a queued call.
			r.Slot = ""
		}
		res, err := k.run(c.UserContext(), principal(c), sc, &r)
		if err != nil {
			if errors.Is(err, pbxconn.ErrPBXUnavailable) {
				c.Set(fiber.HeaderRetryAfter, "2") // a reconnect or lease move takes seconds
			}
			return err
		}
		return c.JSON(res)
	}
}

func init() {
	ops := []operation{{Method: "POST", Path: "/api/v1/calls", Summary: "originate: call `to` from a user's terminal (from_user, from_terminal, or the caller's own); returns the new channel's uuid and linkedid. Idempotency-Key (or body id) makes retries safe",
		Tag: "calls", Auth: "tenant", Request: callBody{}, Response: callResult{}}}
	for _, a := range channelActions {
		ops = append(ops, operation{Method: "POST", Path: "/api/v1/calls/:uuid/" + a.action, Summary: a.summary, Tag: "calls", Auth: "tenant", Request: callBody{}, Response: callResult{}})
	}
	for _, act := range []string{"login", "logout", "pause", "unpause"} {
		ops = append(ops, operation{Method: "POST", Path: "/api/v1/groups/:id/members/:user/" + act,
			Summary: "queue member " + act + " (AMI QueueAdd/QueueRemove/QueuePause); own membership with the own right, others' with queue/manage; pause takes {reason}",
			Tag:     "groups", Auth: "tenant", Request: callBody{}, Response: callResult{}})
	}
	ops = append(ops,
		operation{Method: "POST", Path: "/api/v1/parked/:slot/pickup", Summary: "pick up the call parked in slot (e.g. 701, or pbx:701) on the caller's (or from_user's) terminal",
			Tag: "parking", Auth: "tenant", Request: callBody{}, Response: callResult{}},
		operation{Method: "POST", Path: "/api/v1/users/:id/dnd", Summary: "set a user's DND ({dnd: true|false}); kept on each PBX as device state Stasis:hookflash-dnd-<user id>",
			Tag: "users", Auth: "tenant", Request: callBody{}, Response: callResult{}},
	)
	documentOps(ops...)
}
