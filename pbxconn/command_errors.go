package pbxconn

import "errors"

// Errors of call-control commands (command.go, command_router.go). The API
// layer maps each to one HTTP status and code (see docs/protocol.md,
// "Commands").
var (
	// ErrCommandInvalid: the command lacks a required field or has a bad
	// value (400 invalid).
	ErrCommandInvalid = errors.New("invalid command")
	// ErrChannelGone: the PBX no longer has the channel the command names
	// (404 not_found).
	ErrChannelGone = errors.New("no such channel on the pbx")
	// ErrPBXUnavailable: no live connector session can run the command —
	// the PBX is down, reconnecting, or no replica holds its lease
	// (503 pbx_unavailable).
	ErrPBXUnavailable = errors.New("pbx unavailable")
	// ErrCommandTimeout: the command got no answer within the command
	// timeout (504 timeout). It may still have taken effect; retrying with
	// the same request id is safe.
	ErrCommandTimeout = errors.New("command timed out")
	// ErrRejectedByPBX: the PBX refused the action; the error text carries
	// the PBX's message (422 rejected_by_pbx).
	ErrRejectedByPBX = errors.New("rejected by pbx")
	// ErrUnsupported: Asterisk offers no way to do this for this channel,
	// e.g. hold or answer of a channel outside a Stasis application
	// (422 unsupported).
	ErrUnsupported = errors.New("unsupported for this channel")
)
