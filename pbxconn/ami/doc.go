// Package ami is a client for the Asterisk Manager Interface over TCP or TLS.
// It imports nothing of Hookflash's.
//
// # Wire format
//
// Reader parses frames ("Key: Value" lines ended by a blank line, CRLF or bare
// LF, the "Asterisk Call Manager/x.y.z" banner, legacy "Response: Follows"
// command output) within hard limits on line size, frame size and field
// count; AppendMessage and WriteMessage encode a Message with CRLF and refuse
// fields that would inject lines. Every recorded Asterisk 22 stream parses
// and re-encodes to the same bytes (TestRoundTripFixtures).
//
// # Client
//
// Dial connects, reads the banner, logs in (plain or MD5 challenge), adds
// event filters and returns a Client with three goroutines:
//
//   - the reader parses frames and never waits on anyone: a response settles
//     the Do or DoList call holding its ActionID; an event carrying the
//     ActionID of a pending DoList joins that list; every other event is
//     appended to a queue bounded in events and bytes. Asterisk drops a
//     manager session whose reader falls 100 ms behind, so a full queue
//     fails the client with ErrSlowConsumer rather than stall the socket
//     or drop events;
//   - the writer sends encoded actions, coalescing what is queued into one
//     write, each write under a deadline, and sends the keepalive Ping; an
//     unanswered Ping fails the client with ErrPingTimeout;
//   - the pump hands queued events to the Events channel one by one.
//
// Any failure closes the socket once, completes every call in flight with
// the cause, closes Done and is reported by Err. Close stops all three
// goroutines and waits for them.
//
// # Locking
//
// Client.mu guards the pending-call map, the event queue and the failure
// cause; it is the only lock and is never held across I/O or a blocking
// channel operation.
// Per-call result fields are written under Client.mu and read by the caller
// only after the call's done channel is closed.
package ami
