package ari

//go:generate go run ./internal/gen -docs internal/gen/apidocs -out .

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is one message of the ARI events WebSocket. Its dynamic type is a
// pointer to one of the generated kinds (*ChannelCreated, *StasisStart, …,
// see EventKinds()) or *UnknownEvent; switch on the type to read its fields.
type Event interface {
	// GetType returns the message's "type" (its kind).
	GetType() string
	// GetTimestamp returns when Asterisk raised the event (zero if absent).
	GetTimestamp() time.Time
	// GetApplication returns the Stasis application the event was sent to.
	GetApplication() string
	// GetAsteriskID returns the Asterisk entity id (e.g. "02:fc:00:00:00:01").
	GetAsteriskID() string
}

// MessageBase holds the fields of the Swagger model Message, the base of
// every message on the events socket.
type MessageBase struct {
	// Type indicates the type of this message.
	Type string `json:"type"`
	// AsteriskID is the unique ID for the Asterisk instance that raised this
	// event. It is optional; an empty value is not encoded.
	AsteriskID string `json:"asterisk_id,omitempty"`
}

// GetType implements Event.
func (m *MessageBase) GetType() string { return m.Type }

// GetAsteriskID implements Event.
func (m *MessageBase) GetAsteriskID() string { return m.AsteriskID }

// EventBase holds the fields of the Swagger model Event, embedded in every
// event kind.
type EventBase struct {
	MessageBase
	// Application is the name of the application receiving the event.
	Application string `json:"application"`
	// Timestamp is the time at which the event was created.
	Timestamp Time `json:"timestamp"`
}

// GetApplication implements Event.
func (e *EventBase) GetApplication() string { return e.Application }

// GetTimestamp implements Event.
func (e *EventBase) GetTimestamp() time.Time { return e.Timestamp.Time }

// UnknownEvent is a message whose kind this package has no type for (a
// newer Asterisk), or, when Err is set, one the EventStream could not decode.
// Raw is the message exactly as received; it is also what UnknownEvent
// encodes to. The other fields are read from Raw on a best-effort basis.
type UnknownEvent struct {
	Type        string
	AsteriskID  string
	Application string
	Timestamp   time.Time
	// Raw is the undecoded message.
	Raw json.RawMessage
	// Err is nil for a well-formed message of an unknown kind; the
	// EventStream sets it (wrapping ErrMalformedEvent) for a frame that
	// DecodeEvent rejected, so no frame is ever dropped silently.
	Err error
}

// GetType implements Event.
func (u *UnknownEvent) GetType() string { return u.Type }

// GetTimestamp implements Event.
func (u *UnknownEvent) GetTimestamp() time.Time { return u.Timestamp }

// GetApplication implements Event.
func (u *UnknownEvent) GetApplication() string { return u.Application }

// GetAsteriskID implements Event.
func (u *UnknownEvent) GetAsteriskID() string { return u.AsteriskID }

// MarshalJSON returns the raw message.
func (u *UnknownEvent) MarshalJSON() ([]byte, error) {
	if len(u.Raw) == 0 {
		return []byte("null"), nil
	}
	return u.Raw, nil
}

var _ Event = (*UnknownEvent)(nil)

// DecodeEvent decodes one events-socket message. A known kind yields its
// generated type; an unknown kind yields *UnknownEvent and no error. The
// error (wrapping ErrMalformedEvent) is returned only when data is not a JSON
// object with a string "type", or does not fit its kind's type (e.g. a
// "channel" that is not an object). DecodeEvent does not retain data and is
// safe for concurrent use.
func DecodeEvent(data []byte) (Event, error) {
	return decodeEvent(data, true)
}

// fastDecodable is implemented by every generated type (fastdecode_*_gen.go).
type fastDecodable interface {
	fastDecode(d *fastDecoder) bool
}

// decodeEvent is DecodeEvent; fast=false skips the fast decoder (tests
// compare the two paths).
func decodeEvent(data []byte, fast bool) (Event, error) {
	kind, err := scanType(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	ev := newEvent(kind)
	if ev == nil {
		return decodeUnknown(kind, data)
	}
	if fd, ok := ev.(fastDecodable); ok && fast {
		d := fastDecoder{data: data}
		if fd.fastDecode(&d) && d.end() && ev.GetType() == kind {
			return ev, nil
		}
		ev = newEvent(kind) // discard what the fast path filled in
	}
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformedEvent, kind, err)
	}
	if ev.GetType() != kind {
		// json.Unmarshal keeps the last of duplicate keys, scanType the first.
		return nil, fmt.Errorf("%w: conflicting \"type\" keys %q and %q", ErrMalformedEvent, kind, ev.GetType())
	}
	return ev, nil
}

func decodeUnknown(kind string, data []byte) (Event, error) {
	var base struct {
		AsteriskID  string `json:"asterisk_id"`
		Application string `json:"application"`
		Timestamp   Time   `json:"timestamp"`
	}
	u := &UnknownEvent{Type: kind, Raw: append(json.RawMessage(nil), data...)}
	if err := json.Unmarshal(data, &base); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformedEvent, kind, err)
		}
		// A field of an unexpected type in an unknown kind is not an error:
		// keep what decoded and the raw message.
	}
	u.AsteriskID, u.Application, u.Timestamp = base.AsteriskID, base.Application, base.Timestamp.Time
	return u, nil
}

// scanType returns the value of the top-level "type" member of the JSON
// object in data without decoding the rest. It validates only as much as it
// reads; json.Unmarshal validates the whole message afterwards.
func scanType(data []byte) (string, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return "", errors.New("not a JSON object")
	}
	i++
	for {
		i = skipSpace(data, i)
		if i < len(data) && data[i] == '}' {
			return "", errors.New("no \"type\" member")
		}
		key, next, err := readString(data, i)
		if err != nil {
			return "", err
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return "", errors.New("expected ':' after object key")
		}
		i = skipSpace(data, i+1)
		if key == "type" {
			if i >= len(data) || data[i] != '"' {
				return "", errors.New("\"type\" is not a string")
			}
			v, _, err := readString(data, i)
			return v, err
		}
		if i, err = skipValue(data, i); err != nil {
			return "", err
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return "", errors.New("unexpected end of object")
		}
		switch data[i] {
		case ',':
			i++
		case '}':
			return "", errors.New("no \"type\" member")
		default:
			return "", fmt.Errorf("unexpected %q after object member", data[i])
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// readString reads the JSON string starting at data[i] (a '"') and returns
// its value and the index after the closing quote.
func readString(data []byte, i int) (string, int, error) {
	if i >= len(data) || data[i] != '"' {
		return "", i, errors.New("expected string")
	}
	escaped := false
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			escaped = true
			j++ // skip the escaped byte; \uXXXX digits are plain bytes
		case '"':
			if !escaped {
				return string(data[i+1 : j]), j + 1, nil
			}
			var s string
			if err := json.Unmarshal(data[i:j+1], &s); err != nil {
				return "", j + 1, err
			}
			return s, j + 1, nil
		}
	}
	return "", len(data), errors.New("unterminated string")
}

// skipValue returns the index after the JSON value starting at data[i].
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return i, errors.New("missing value")
	}
	switch data[i] {
	case '"':
		_, next, err := readString(data, i)
		return next, err
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				_, next, err := readString(data, j)
				if err != nil {
					return next, err
				}
				j = next - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return len(data), errors.New("unterminated object or array")
	default:
		j := i
		for j < len(data) {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return j, fmt.Errorf("unexpected %q", data[j])
				}
				return j, nil
			}
			j++
		}
		return j, nil
	}
}
