package ami

import (
	"errors"
	"fmt"
)

// Parser errors. A *ParseError wrapping ErrLineTooLong, ErrFrameTooLarge or
// ErrMalformedLine is recoverable: the offending frame is discarded and the
// next ReadMessage resumes at the following frame. Any other read error is
// fatal for the stream.
var (
	// ErrLineTooLong: a line exceeded ReaderConfig.MaxLineBytes.
	ErrLineTooLong = errors.New("ami: line too long")
	// ErrFrameTooLarge: a frame exceeded ReaderConfig.MaxFrameBytes or MaxFields.
	ErrFrameTooLarge = errors.New("ami: frame too large")
	// ErrMalformedLine: a line inside a frame has no "Key:" part.
	ErrMalformedLine = errors.New("ami: malformed line")
	// ErrBadBanner: the first line of the stream is not "Asterisk Call Manager/x.y.z".
	ErrBadBanner = errors.New("ami: not an Asterisk Call Manager banner")
	// ErrInvalidField: a message to encode has an empty key, a key containing
	// ':' or a key or value containing CR or LF (which would inject lines).
	ErrInvalidField = errors.New("ami: invalid field")
)

// Client errors.
var (
	// ErrClosed: the client was closed with Close or Logoff.
	ErrClosed = errors.New("ami: client closed")
	// ErrSlowConsumer: events were not taken from Events fast enough and the
	// queue passed Config.EventBuffer or Config.EventBufferBytes; the client
	// closed rather than stall the socket or drop events.
	ErrSlowConsumer = errors.New("ami: slow event consumer")
	// ErrPingTimeout: the keepalive Ping was not answered within
	// Config.PingTimeout; the peer is presumed dead.
	ErrPingTimeout = errors.New("ami: ping timeout")
	// ErrAuth: the PBX rejected the login.
	ErrAuth = errors.New("ami: authentication failed")
	// ErrNoAction: the message given to Do has no Action field.
	ErrNoAction = errors.New("ami: message has no Action field")
	// ErrListTooLarge: an EventList result passed Config.MaxListBytes.
	ErrListTooLarge = errors.New("ami: event list too large")
)

// ParseError is a frame that could not be parsed; Line is the 1-based line
// number in the stream where the problem was found.
type ParseError struct {
	Line int64
	Err  error // ErrLineTooLong, ErrFrameTooLarge or ErrMalformedLine
}

func (e *ParseError) Error() string { return fmt.Sprintf("%v at line %d", e.Err, e.Line) }

func (e *ParseError) Unwrap() error { return e.Err }

// Recoverable reports whether err is a parse error after which the stream can
// still be read (the offending frame is skipped).
func Recoverable(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe)
}

// Error is a "Response: Error" from the PBX.
type Error struct {
	Action  string // the action that failed, e.g. "QueuePause"
	Message string // the PBX's Message field, e.g. "Interface not found"
}

func (e *Error) Error() string {
	return fmt.Sprintf("ami %s: %s", e.Action, e.Message)
}
