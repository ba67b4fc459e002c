package ami

import (
	"fmt"
	"io"
	"strings"
)

// AppendMessage appends the wire form of m to dst: one "Key: Value\r\n" line
// per field in order, then "\r\n". A frame whose first field is
// "Response: Follows" is written in the legacy command-output form Reader
// parses: its non-Output fields as lines, then each Output field's value as a
// raw line, then "--END COMMAND--\r\n" and the blank line.
//
// It returns ErrInvalidField (wrapped, naming the field) if a key is empty or
// holds ':', or if a key or value holds CR or LF: such a field would let a
// value inject lines into the frame. dst is returned unchanged on error.
func AppendMessage(dst []byte, m *Message) ([]byte, error) {
	start := len(dst)
	for i := range m.Fields {
		if err := checkField(&m.Fields[i]); err != nil {
			return dst[:start], err
		}
	}
	if isFollowsMessage(m) {
		return appendFollows(dst, m), nil
	}
	for i := range m.Fields {
		f := &m.Fields[i]
		dst = append(dst, f.Key...)
		dst = append(dst, ':', ' ')
		dst = append(dst, f.Value...)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, '\r', '\n'), nil
}

// WriteMessage writes the wire form of m to w (see AppendMessage).
func WriteMessage(w io.Writer, m *Message) error {
	b, err := AppendMessage(make([]byte, 0, m.wireSize()), m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func checkField(f *Field) error {
	switch {
	case f.Key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidField)
	case strings.IndexByte(f.Key, ':') >= 0 || hasLineBreak(f.Key):
		return fmt.Errorf("%w: key %q", ErrInvalidField, f.Key)
	case hasLineBreak(f.Value):
		return fmt.Errorf("%w: value of %s holds a line break", ErrInvalidField, f.Key)
	}
	return nil
}

func hasLineBreak(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0
}

func isFollowsMessage(m *Message) bool {
	return len(m.Fields) > 0 && strings.EqualFold(m.Fields[0].Key, "Response") &&
		strings.EqualFold(m.Fields[0].Value, "Follows")
}

func appendFollows(dst []byte, m *Message) []byte {
	for i := range m.Fields {
		f := &m.Fields[i]
		if strings.EqualFold(f.Key, "Output") {
			continue
		}
		dst = append(dst, f.Key...)
		dst = append(dst, ':', ' ')
		dst = append(dst, f.Value...)
		dst = append(dst, '\r', '\n')
	}
	for i := range m.Fields {
		f := &m.Fields[i]
		if strings.EqualFold(f.Key, "Output") {
			dst = append(dst, f.Value...)
			dst = append(dst, '\r', '\n')
		}
	}
	dst = append(dst, endCommand...)
	return append(dst, '\r', '\n', '\r', '\n')
}

// wireSize is the length of m's usual wire form: a capacity hint, and the
// size the client charges an event against its queue bound.
func (m *Message) wireSize() int {
	n := 2
	for i := range m.Fields {
		n += len(m.Fields[i].Key) + len(m.Fields[i].Value) + 4
	}
	return n
}
