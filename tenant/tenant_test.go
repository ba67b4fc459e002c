package tenant_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookflash/hookflash/tenant"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want tenant.ID
		ok   bool
	}{
		{"acme.example", "acme.example", true},
		{"  ACME.Example \n", "acme.example", true},
		{"a-b.c1", "a-b.c1", true},
		{"localhost", "localhost", true},
		{"", "", false},
		{"-acme.example", "", false},
		{"acme-.example", "", false},
		{"acme..example", "", false},
		{".acme", "", false},
		{"acme_corp.example", "", false},
		{"acme.example/x", "", false},
		{"acme.example:8080", "", false},
		{"ácme.example", "", false},
		{strings.Repeat("a", 64) + ".example", "", false},
		{strings.Repeat("a.", 127) + "ab", "", false},
	}
	for _, tt := range tests {
		got, err := tenant.ParseID(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseID(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, tenant.ErrInvalid) {
			t.Errorf("ParseID(%q) error %v is not ErrInvalid", tt.in, err)
		}
	}
	if err := tenant.CheckID("Acme.example"); err == nil {
		t.Error("CheckID accepted a non-normalised id")
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := &tenant.Call{PBX: "pbx-1", LinkedID: "1700000000.42", EndedAt: time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)}
	q, cur, err := tenant.CallQuery{Cursor: tenant.CursorAfter(c)}.Normalize()
	if err != nil || cur == nil {
		t.Fatalf("Normalize(CursorAfter) = %v, %v", cur, err)
	}
	if q.Limit != 50 {
		t.Errorf("default limit %d, want 50", q.Limit)
	}
	if !cur.EndedAt.Equal(tenant.Normalize(c.EndedAt)) || cur.LinkedID != c.LinkedID || cur.PBX != c.PBX {
		t.Errorf("cursor %+v does not round-trip %+v", cur, c)
	}
	if cur.Precedes(c) {
		t.Error("the cursor row itself is reported as on a later page")
	}
	older := *c
	older.EndedAt = c.EndedAt.Add(-time.Second)
	if !cur.Precedes(&older) {
		t.Error("an older call is not on a later page")
	}
}

// FuzzCallCursor: no cursor string, however hostile, panics; a cursor that
// decodes is ErrInvalid-free and re-encodes to itself.
func FuzzCallCursor(f *testing.F) {
	f.Add(tenant.CursorAfter(&tenant.Call{PBX: "p", LinkedID: "l", EndedAt: time.Unix(1700000000, 0)}))
	f.Add("")
	f.Add("e30")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		_, cur, err := tenant.CallQuery{Cursor: s}.Normalize()
		if err != nil {
			if !errors.Is(err, tenant.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if s == "" {
			return
		}
		again := tenant.CursorAfter(&tenant.Call{PBX: cur.PBX, LinkedID: cur.LinkedID, EndedAt: cur.EndedAt})
		_, cur2, err := tenant.CallQuery{Cursor: again}.Normalize()
		if err != nil || *cur2 != *cur {
			t.Fatalf("re-encoded cursor %q decodes to %+v, %v; want %+v", again, cur2, err, cur)
		}
	})
}

// FuzzParseKey: never panics, and accepted keys are always 32 bytes.
func FuzzParseKey(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := tenant.ParseKey(s)
		if err == nil && len(k) != tenant.KeySize {
			t.Fatalf("ParseKey(%q) returned %d bytes", s, len(k))
		}
	})
}
