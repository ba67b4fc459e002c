package hub

import "errors"

var (
	// ErrStaleFence: the publisher's lease epoch is older than the newest
	// issued for its PBX. The publisher must stop: another connector owns
	// the PBX.
	ErrStaleFence = errors.New("hub: stale fencing epoch")
	// ErrGap is passed to a subscription handler when it missed events that
	// history can no longer supply (or the tenant's epoch changed). The
	// broker has already reloaded its state; the subscriber must resync from
	// a fresh Snapshot.
	ErrGap = errors.New("hub: events missed beyond history")
	// ErrBrokerDown is passed to a subscription handler when delivery was
	// interrupted (for example Redis went away). Events published meanwhile
	// are recovered from history once the broker is back, followed by a
	// handler call with a nil event and nil error; or ErrGap when they
	// cannot be.
	ErrBrokerDown = errors.New("hub: broker unavailable")
	// ErrInvalidEvent: Publish was given an event without element, key, a
	// known op or valid JSON data.
	ErrInvalidEvent = errors.New("hub: invalid event")
	// ErrClosed: the broker, registry or hub was closed.
	ErrClosed = errors.New("hub: closed")
	// ErrConnLimit: the principal already holds its maximum number of
	// connections and the new one did not ask to replace the oldest.
	ErrConnLimit = errors.New("hub: connection limit reached")
	// ErrUnknownRequest is returned by a RequestHandler for a request name
	// it does not know; the client gets an error response saying so.
	ErrUnknownRequest = errors.New("unknown request")
	// ErrBadOptions: Serve was called with unusable SessionOptions.
	ErrBadOptions = errors.New("hub: bad session options")
)
