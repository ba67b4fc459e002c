package pbxsim

import "errors"

var (
	// ErrNoFlow means no recorded call flow fits the requested action
	// (an originate to an extension the simulated dialplan does not have, a
	// transfer of a channel whose flow has no such continuation).
	ErrNoFlow = errors.New("pbxsim: no call flow for this action")
	// ErrNoChannel means the named channel does not exist.
	ErrNoChannel = errors.New("pbxsim: channel not found")
	// ErrNotFound means a named queue, member, endpoint or device does not exist.
	ErrNotFound = errors.New("pbxsim: not found")
	// ErrClosed is returned by a PBX or Cluster that was closed.
	ErrClosed = errors.New("pbxsim: closed")
	// ErrBadRequest means an argument is missing or malformed.
	ErrBadRequest = errors.New("pbxsim: bad request")
)
