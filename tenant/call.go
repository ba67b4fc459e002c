package tenant

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// Call is one completed call of the history, keyed by (tenant, PBX, linked id).
// Recording the same call twice is a no-op (idempotent): the first write wins.
type Call struct {
	Tenant      ID         `json:"tenant"`
	PBX         string     `json:"pbx_id"`
	LinkedID    string     `json:"linked_id"`
	Direction   string     `json:"direction"` // inbound|outbound|internal
	From        string     `json:"from"`
	FromName    string     `json:"from_name,omitempty"`
	To          string     `json:"to"`
	Users       []string   `json:"users"` // user ids involved; reads return a non-nil slice
	Queue       string     `json:"queue,omitempty"`
	Answered    bool       `json:"answered"`
	Abandoned   bool       `json:"abandoned"`
	Disposition string     `json:"disposition"` // answered|no_answer|busy|failed|abandoned
	StartedAt   time.Time  `json:"started_at"`
	AnsweredAt  *time.Time `json:"answered_at,omitempty"`
	EndedAt     time.Time  `json:"ended_at"`
	WaitSec     float64    `json:"wait_s"`
	TalkSec     float64    `json:"talk_s"`
}

// CallQuery filters the history. Results are ordered newest first: by
// EndedAt descending, then LinkedID descending, then PBX descending (a total
// order). Cursor continues after the last row of the previous page; a
// cursor is only meaningful with the same filters.
type CallQuery struct {
	From, To  time.Time // EndedAt in [From, To); zero = open
	User      string    // calls whose Users contain this id
	Direction string
	Queue     string
	Limit     int    // default 50, max 1000 (larger values are capped)
	Cursor    string // opaque, from the previous page; "" = first page
}

// CallCursor is the decoded position of a CallQuery cursor: the sort key of
// the last row returned. Stores use it; API callers treat cursors as opaque.
type CallCursor struct {
	EndedAt  time.Time `json:"e"`
	LinkedID string    `json:"l"`
	PBX      string    `json:"p"`
}

// CursorAfter returns the cursor that continues after c.
func CursorAfter(c *Call) string {
	b, _ := json.Marshal(CallCursor{EndedAt: Normalize(c.EndedAt), LinkedID: c.LinkedID, PBX: c.PBX})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Precedes reports whether the cursor position sorts before c, i.e. c
// belongs to a later page (newest-first order).
func (cur CallCursor) Precedes(c *Call) bool {
	switch e := Normalize(c.EndedAt); {
	case !e.Equal(cur.EndedAt):
		return e.Before(cur.EndedAt)
	case c.LinkedID != cur.LinkedID:
		return c.LinkedID < cur.LinkedID
	default:
		return c.PBX < cur.PBX
	}
}

// CallLess reports whether a sorts before b in the history order.
func CallLess(a, b *Call) bool {
	return CallCursor{EndedAt: Normalize(a.EndedAt), LinkedID: a.LinkedID, PBX: a.PBX}.Precedes(b)
}

// Normalize validates q and fills defaults: the limit, and the decoded
// cursor (nil for the first page). A malformed cursor is ErrInvalid.
func (q CallQuery) Normalize() (CallQuery, *CallCursor, error) {
	switch {
	case q.Limit <= 0:
		q.Limit = callLimitDef
	case q.Limit > callLimitMax:
		q.Limit = callLimitMax
	}
	q.From, q.To = Normalize(q.From), Normalize(q.To)
	for _, f := range []struct{ name, v string }{{"user", q.User}, {"direction", q.Direction}, {"queue", q.Queue}} {
		if err := checkText(f.name, f.v, maxShortLen, false, false); err != nil {
			return q, nil, err
		}
	}
	if q.Cursor == "" {
		return q, nil, nil
	}
	if len(q.Cursor) > 1024 {
		return q, nil, invalid("cursor is too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err != nil {
		return q, nil, invalid("malformed cursor")
	}
	var cur CallCursor
	if err := json.Unmarshal(raw, &cur); err != nil || cur.EndedAt.IsZero() {
		return q, nil, invalid("malformed cursor")
	}
	cur.EndedAt = Normalize(cur.EndedAt)
	return q, &cur, nil
}

// Matches reports whether c passes the filters of q (not the cursor).
func (q CallQuery) Matches(c *Call) bool {
	e := Normalize(c.EndedAt)
	if !q.From.IsZero() && e.Before(q.From) || !q.To.IsZero() && !e.Before(q.To) {
		return false
	}
	if q.Direction != "" && c.Direction != q.Direction || q.Queue != "" && c.Queue != q.Queue {
		return false
	}
	if q.User == "" {
		return true
	}
	for _, u := range c.Users {
		if u == q.User {
			return true
		}
	}
	return false
}
