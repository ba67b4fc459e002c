package ari

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Channels is the /channels resource. Operations other than List, Get,
// Originate and Hangup generally need the channel to be in a Stasis
// application (ARI answers 409 ErrConflict otherwise).
type Channels struct{ c *Client }

// Channels returns the /channels resource.
func (c *Client) Channels() Channels { return Channels{c} }

// List returns every active channel (GET /channels).
func (r Channels) List(ctx context.Context) ([]Channel, error) {
	var out []Channel
	err := r.c.do(ctx, request{op: "channels.list", method: http.MethodGet, path: []string{"channels"}}, &out)
	return out, err
}

// Get returns one channel; ErrNotFound if it does not exist.
func (r Channels) Get(ctx context.Context, id string) (*Channel, error) {
	var out Channel
	if err := r.c.do(ctx, request{op: "channels.get", method: http.MethodGet, path: []string{"channels", id}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OriginateRequest is the parameters of Originate. Endpoint is required;
// then either Extension (with Context, Priority or Label) for the dialplan,
// or App (with AppArgs) for a Stasis application.
type OriginateRequest struct {
	Endpoint  string // e.g. "PJSIP/1001" or "Local/9001@customers"
	Extension string
	Context   string
	Priority  int64 // 0: not sent
	Label     string
	App       string
	AppArgs   string
	CallerID  string
	Timeout   int // seconds to wait for answer; 0: Asterisk's default (30)
	// ChannelID and OtherChannelID set the new channel's unique ids
	// (OtherChannelID: the ;2 half of a Local channel). With
	// OriginateWithID, ChannelID is ignored in favour of the path id.
	ChannelID      string
	OtherChannelID string
	Originator     string // id of the channel that is originating
	Formats        string // e.g. "ulaw,alaw"
	Variables      map[string]string
}

func (o OriginateRequest) query(withID bool) url.Values {
	q := url.Values{}
	q.Set("endpoint", o.Endpoint)
	setIf(q, "extension", o.Extension)
	setIf(q, "context", o.Context)
	if o.Priority != 0 {
		q.Set("priority", strconv.FormatInt(o.Priority, 10))
	}
	setIf(q, "label", o.Label)
	setIf(q, "app", o.App)
	setIf(q, "appArgs", o.AppArgs)
	setIf(q, "callerId", o.CallerID)
	if o.Timeout != 0 {
		q.Set("timeout", strconv.Itoa(o.Timeout))
	}
	if !withID {
		setIf(q, "channelId", o.ChannelID)
	}
	setIf(q, "otherChannelId", o.OtherChannelID)
	setIf(q, "originator", o.Originator)
	setIf(q, "formats", o.Formats)
	return q
}

// Originate creates a channel and dials it (POST /channels) and returns the
// new channel. ErrBadRequest for invalid parameters.
func (r Channels) Originate(ctx context.Context, req OriginateRequest) (*Channel, error) {
	var out Channel
	err := r.c.do(ctx, request{op: "channels.originate", method: http.MethodPost, path: []string{"channels"},
		query: req.query(false), body: variablesBody(req.Variables)}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// OriginateWithID is Originate with the new channel's id chosen by the
// caller (POST /channels/{id}), so events for it can be matched before the
// call returns.
func (r Channels) OriginateWithID(ctx context.Context, id string, req OriginateRequest) (*Channel, error) {
	var out Channel
	err := r.c.do(ctx, request{op: "channels.originateWithId", method: http.MethodPost, path: []string{"channels", id},
		query: req.query(true), body: variablesBody(req.Variables)}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Hangup reasons accepted by Hangup (ARI's "reason" parameter).
const (
	HangupNormal            = "normal"
	HangupBusy              = "busy"
	HangupCongestion        = "congestion"
	HangupNoAnswer          = "no_answer"
	HangupTimeout           = "timeout"
	HangupRejected          = "rejected"
	HangupUnallocated       = "unallocated"
	HangupNormalUnspecified = "normal_unspecified"
	HangupNumberIncomplete  = "number_incomplete"
	HangupCodecMismatch     = "codec_mismatch"
	HangupInterworking      = "interworking"
	HangupFailure           = "failure"
	HangupAnsweredElsewhere = "answered_elsewhere"
)

// Hangup hangs up a channel (DELETE /channels/{id}); it works on any
// channel, in Stasis or not. reason is one of the Hangup* constants, or ""
// for Asterisk's default (normal).
func (r Channels) Hangup(ctx context.Context, id, reason string) error {
	q := url.Values{}
	setIf(q, "reason", reason)
	return r.c.do(ctx, request{op: "channels.hangup", method: http.MethodDelete, path: []string{"channels", id}, query: q}, nil)
}

// HangupWithCode hangs up a channel with a numeric Q.850 cause (reason_code).
func (r Channels) HangupWithCode(ctx context.Context, id string, cause int) error {
	q := url.Values{"reason_code": {strconv.Itoa(cause)}}
	return r.c.do(ctx, request{op: "channels.hangup", method: http.MethodDelete, path: []string{"channels", id}, query: q}, nil)
}

func (r Channels) simple(ctx context.Context, op, method, id, sub string, q url.Values) error {
	return r.c.do(ctx, request{op: op, method: method, path: []string{"channels", id, sub}, query: q}, nil)
}

// Answer answers a channel (POST /channels/{id}/answer).
func (r Channels) Answer(ctx context.Context, id string) error {
	return r.simple(ctx, "channels.answer", http.MethodPost, id, "answer", nil)
}

// Ring indicates ringing to a channel (POST /channels/{id}/ring).
func (r Channels) Ring(ctx context.Context, id string) error {
	return r.simple(ctx, "channels.ring", http.MethodPost, id, "ring", nil)
}

// StopRing stops ringing indication (DELETE /channels/{id}/ring).
func (r Channels) StopRing(ctx context.Context, id string) error {
	return r.simple(ctx, "channels.ringStop", http.MethodDelete, id, "ring", nil)
}

// Hold puts a channel on hold (POST /channels/{id}/hold). Note: on Local
// channels Asterisk raises no ChannelHold event for this.
func (r Channels) Hold(ctx context.Context, id string) error {
	return r.simple(ctx, "channels.hold", http.MethodPost, id, "hold", nil)
}

// Unhold takes a channel off hold (DELETE /channels/{id}/hold).
func (r Channels) Unhold(ctx context.Context, id string) error {
	return r.simple(ctx, "channels.unhold", http.MethodDelete, id, "hold", nil)
}

// Direction is the audio direction of Mute, Unmute and Snoop.
type Direction string

// Directions.
const (
	DirectionNone Direction = "none"
	DirectionIn   Direction = "in"
	DirectionOut  Direction = "out"
	DirectionBoth Direction = "both"
)

// Mute mutes a channel in dir ("" means both) (POST /channels/{id}/mute).
func (r Channels) Mute(ctx context.Context, id string, dir Direction) error {
	q := url.Values{}
	setIf(q, "direction", string(dir))
	return r.simple(ctx, "channels.mute", http.MethodPost, id, "mute", q)
}

// Unmute unmutes a channel in dir ("" means both) (DELETE /channels/{id}/mute).
func (r Channels) Unmute(ctx context.Context, id string, dir Direction) error {
	q := url.Values{}
	setIf(q, "direction", string(dir))
	return r.simple(ctx, "channels.unmute", http.MethodDelete, id, "mute", q)
}

// StartMOH plays music on hold of class ("" = default) to a channel.
func (r Channels) StartMOH(ctx context.Context, id, class string) error {
	q := url.Values{}
	setIf(q, "mohClass", class)
	return r.simple(ctx, "channels.startMoh", http.MethodPost, id, "moh", q)
}

// StopMOH stops music on hold on a channel.
func (r Channels) StopMOH(ctx context.Context, id string) error {
	return r.simple(ctx, "channels.stopMoh", http.MethodDelete, id, "moh", nil)
}

// DTMFOptions are the optional timings of SendDTMF, in milliseconds (0:
// Asterisk's default).
type DTMFOptions struct {
	Before, Between, Duration, After int
}

// SendDTMF sends dtmf (digits 0-9*#A-D, ',' for a pause) to a channel
// (POST /channels/{id}/dtmf).
func (r Channels) SendDTMF(ctx context.Context, id, dtmf string, opt DTMFOptions) error {
	q := url.Values{"dtmf": {dtmf}}
	for k, v := range map[string]int{"before": opt.Before, "between": opt.Between, "duration": opt.Duration, "after": opt.After} {
		if v != 0 {
			q.Set(k, strconv.Itoa(v))
		}
	}
	return r.simple(ctx, "channels.sendDTMF", http.MethodPost, id, "dtmf", q)
}

// Redirect redirects a channel to endpoint (e.g. "PJSIP/1002"), the
// technology-level transfer (POST /channels/{id}/redirect).
func (r Channels) Redirect(ctx context.Context, id, endpoint string) error {
	return r.simple(ctx, "channels.redirect", http.MethodPost, id, "redirect", url.Values{"endpoint": {endpoint}})
}

// ContinueRequest is where Continue sends a channel; zero fields keep the
// channel's current location.
type ContinueRequest struct {
	Context   string
	Extension string
	Priority  int
	Label     string
}

// Continue leaves Stasis and continues in the dialplan
// (POST /channels/{id}/continue).
func (r Channels) Continue(ctx context.Context, id string, req ContinueRequest) error {
	q := url.Values{}
	setIf(q, "context", req.Context)
	setIf(q, "extension", req.Extension)
	if req.Priority != 0 {
		q.Set("priority", strconv.Itoa(req.Priority))
	}
	setIf(q, "label", req.Label)
	return r.simple(ctx, "channels.continue", http.MethodPost, id, "continue", q)
}

// Move moves a channel from one Stasis application to app.
func (r Channels) Move(ctx context.Context, id, app, appArgs string) error {
	q := url.Values{"app": {app}}
	setIf(q, "appArgs", appArgs)
	return r.simple(ctx, "channels.move", http.MethodPost, id, "move", q)
}

// SnoopRequest is the parameters of Snoop. App is required.
type SnoopRequest struct {
	Spy     Direction // audio heard by the snoop channel; default none
	Whisper Direction // audio injected by the snoop channel; default none
	App     string
	AppArgs string
}

func (s SnoopRequest) query() url.Values {
	q := url.Values{"app": {s.App}}
	setIf(q, "spy", string(s.Spy))
	setIf(q, "whisper", string(s.Whisper))
	setIf(q, "appArgs", s.AppArgs)
	return q
}

// Snoop creates a snoop channel on a channel (spy/whisper), placed in
// req.App, and returns it (POST /channels/{id}/snoop).
func (r Channels) Snoop(ctx context.Context, id string, req SnoopRequest) (*Channel, error) {
	var out Channel
	if err := r.c.do(ctx, request{op: "channels.snoop", method: http.MethodPost, path: []string{"channels", id, "snoop"}, query: req.query()}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SnoopWithID is Snoop with the snoop channel's id chosen by the caller.
func (r Channels) SnoopWithID(ctx context.Context, id, snoopID string, req SnoopRequest) (*Channel, error) {
	var out Channel
	if err := r.c.do(ctx, request{op: "channels.snoopWithId", method: http.MethodPost, path: []string{"channels", id, "snoop", snoopID}, query: req.query()}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Dial dials a channel created with Create (POST /channels/{id}/dial);
// caller is the optional id of the calling channel, timeout in seconds.
func (r Channels) Dial(ctx context.Context, id, caller string, timeout int) error {
	q := url.Values{}
	setIf(q, "caller", caller)
	if timeout != 0 {
		q.Set("timeout", strconv.Itoa(timeout))
	}
	return r.simple(ctx, "channels.dial", http.MethodPost, id, "dial", q)
}

// GetVariable returns a channel variable or function value, e.g.
// "CALLERID(num)" (GET /channels/{id}/variable). ErrNotFound if unset.
func (r Channels) GetVariable(ctx context.Context, id, name string) (string, error) {
	var out Variable
	err := r.c.do(ctx, request{op: "channels.getChannelVar", method: http.MethodGet, path: []string{"channels", id, "variable"},
		query: url.Values{"variable": {name}}}, &out)
	return out.Value, err
}

// SetVariable sets a channel variable (POST /channels/{id}/variable).
func (r Channels) SetVariable(ctx context.Context, id, name, value string) error {
	return r.simple(ctx, "channels.setChannelVar", http.MethodPost, id, "variable", url.Values{"variable": {name}, "value": {value}})
}
