package ari

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. REST failures are *Error values that match the status
// sentinels with errors.Is.
var (
	// ErrBadRequest matches a 400 response (invalid parameters or body).
	ErrBadRequest = errors.New("ari: bad request")
	// ErrUnauthorized matches a 401 response (wrong username or password).
	ErrUnauthorized = errors.New("ari: unauthorized")
	// ErrForbidden matches a 403 response.
	ErrForbidden = errors.New("ari: forbidden")
	// ErrNotFound matches a 404 response (no such channel, bridge, …).
	ErrNotFound = errors.New("ari: not found")
	// ErrConflict matches a 409 response (e.g. channel not in a Stasis
	// application, ID already in use).
	ErrConflict = errors.New("ari: conflict")
	// ErrPreconditionFailed matches a 412 response (e.g. channel in an
	// invalid state for the operation).
	ErrPreconditionFailed = errors.New("ari: precondition failed")
	// ErrUnprocessable matches a 422 response (e.g. endpoint not found when
	// originating).
	ErrUnprocessable = errors.New("ari: unprocessable")
	// ErrServer matches any 5xx response.
	ErrServer = errors.New("ari: server error")

	// ErrMalformedEvent is wrapped by DecodeEvent when a message is not a
	// JSON object with a string "type", or does not fit its kind's type.
	ErrMalformedEvent = errors.New("ari: malformed event")
	// ErrSlowConsumer ends an EventStream whose consumer fell behind by
	// more than the configured buffer.
	ErrSlowConsumer = errors.New("ari: slow event consumer")
	// ErrStreamClosed is returned by EventStream.Err after Close was called.
	ErrStreamClosed = errors.New("ari: event stream closed")
	// ErrDeadPeer ends an EventStream whose peer answered no ping in time.
	ErrDeadPeer = errors.New("ari: event stream peer unresponsive")
)

// Error is a non-2xx response from ARI.
type Error struct {
	// Op names the call, e.g. "channels.hangup".
	Op string
	// Status is the HTTP status code.
	Status int
	// Message is ARI's {"message": …} text, or a prefix of the body when
	// the body is not that JSON shape.
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("ari %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("ari %s: %d %s: %s", e.Op, e.Status, http.StatusText(e.Status), e.Message)
}

// Is reports whether target is the sentinel for e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrPreconditionFailed:
		return e.Status == http.StatusPreconditionFailed
	case ErrUnprocessable:
		return e.Status == http.StatusUnprocessableEntity
	case ErrServer:
		return e.Status >= 500 && e.Status <= 599
	}
	return false
}
