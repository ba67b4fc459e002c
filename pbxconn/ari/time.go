package ari

import (
	"bytes"
	"fmt"
	"time"
)

// TimeLayout is the layout of every ARI Date ("2026-11-23T14:07:34.258+0000").
const TimeLayout = "2006-01-02T15:04:05.000-0700"

// Time is an ARI Date. It decodes ARI's own layout (TimeLayout, with any
// number of fractional digits), RFC 3339, "" and null (the last two as the
// zero time), and encodes in TimeLayout, keeping the offset it was decoded
// with; the zero Time encodes as "".
type Time struct {
	time.Time
}

// MarshalJSON encodes t in TimeLayout, or "" when t is zero.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`""`), nil
	}
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON decodes an ARI Date; see Time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("ari: time %.40q: not a JSON string", b)
	}
	s := string(b[1 : len(b)-1])
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// ParseTime parses an ARI Date in ARI's layout or RFC 3339.
func ParseTime(s string) (time.Time, error) {
	// "Z0700" accepts both "+0000" and "Z"; fractional seconds after the
	// seconds field are accepted by Parse even though the layout has none.
	if v, err := time.Parse("2006-01-02T15:04:05Z0700", s); err == nil {
		return v, nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("ari: time %.40q: want %s or RFC 3339", s, TimeLayout)
	}
	return v, nil
}
