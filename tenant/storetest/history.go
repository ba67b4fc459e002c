package storetest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/tenant"
)

// ---- tokens

func testTokens(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	exp := time.Now().Add(90 * 24 * time.Hour)
	tok := &tenant.Token{Name: "crm", Role: tenant.RoleIntegrator, Prefix: "hf_ab", Hash: newHash(), ExpiresAt: &exp}
	noErr(t, "CreateToken", s.CreateToken(c, id, tok))
	if tok.ID == "" || tok.Tenant != id || tok.CreatedAt.IsZero() {
		t.Fatalf("CreateToken did not fill ID/Tenant/CreatedAt: %+v", tok)
	}
	got, err := s.GetTokenByHash(c, tok.Hash)
	noErr(t, "GetTokenByHash", err)
	if got.ID != tok.ID || got.Tenant != id || got.Name != "crm" || got.Role != tenant.RoleIntegrator ||
		got.Prefix != "hf_ab" || got.Hash != tok.Hash || !samePtrTime(got.ExpiresAt, tok.ExpiresAt) ||
		got.LastUsedAt != nil || got.RevokedAt != nil || !got.CreatedAt.Equal(tok.CreatedAt) {
		t.Errorf("GetTokenByHash = %+v\nwant %+v", got, tok)
	}
	if d := got.ExpiresAt.Sub(exp); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("ExpiresAt drifted by %v", d)
	}
	_, err = s.GetTokenByHash(c, newHash())
	wantErr(t, "GetTokenByHash unknown", err, tenant.ErrNotFound)

	// The hash is unique across tenants.
	other := newTenant(t, s)
	wantErr(t, "CreateToken same hash in another tenant",
		s.CreateToken(c, other, &tenant.Token{Role: "integrator", Hash: tok.Hash}), tenant.ErrConflict)
	wantErr(t, "CreateToken zero hash", s.CreateToken(c, id, &tenant.Token{Role: "integrator"}), tenant.ErrInvalid)
	wantErr(t, "CreateToken no role", s.CreateToken(c, id, &tenant.Token{Hash: newHash()}), tenant.ErrInvalid)

	second := createToken(t, s, id, "second")
	list, err := s.ListTokens(c, id)
	noErr(t, "ListTokens", err)
	if len(list) != 2 || list[0].ID != tok.ID || list[1].ID != second.ID {
		t.Errorf("ListTokens = %v, want [%s %s] in creation order", tokenIDs(list), tok.ID, second.ID)
	}

	noErr(t, "RevokeToken", s.RevokeToken(c, id, tok.ID))
	got, err = s.GetTokenByHash(c, tok.Hash)
	noErr(t, "GetTokenByHash revoked", err)
	if got.RevokedAt == nil {
		t.Fatal("RevokedAt not set by RevokeToken")
	}
	first := *got.RevokedAt
	time.Sleep(2 * time.Millisecond) // let the clock move so a second revoke would show
	noErr(t, "RevokeToken again", s.RevokeToken(c, id, tok.ID))
	got, _ = s.GetTokenByHash(c, tok.Hash)
	if !got.RevokedAt.Equal(first) {
		t.Errorf("second RevokeToken moved RevokedAt from %v to %v", first, got.RevokedAt)
	}
	wantErr(t, "RevokeToken missing", s.RevokeToken(c, id, "tok_missing"), tenant.ErrNotFound)
}

func tokenIDs(ts []tenant.Token) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	return ids
}

func testTouchTokens(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id, other := newTenant(t, s), newTenant(t, s)
	a := createToken(t, s, id, "a")
	b := createToken(t, s, id, "b")
	x := createToken(t, s, other, "x")

	t1 := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	t2 := t1.Add(30 * time.Minute)
	noErr(t, "TouchTokens", s.TouchTokens(c, map[string]tenant.TokenUse{
		a.ID:       {Tenant: id, At: t2},
		b.ID:       {Tenant: id, At: t1},
		x.ID:       {Tenant: id, At: t2}, // wrong tenant: ignored
		"tok_none": {Tenant: id, At: t2}, // unknown: ignored
	}))
	noErr(t, "TouchTokens empty", s.TouchTokens(c, nil))
	// Older uses never move LastUsedAt back.
	noErr(t, "TouchTokens older", s.TouchTokens(c, map[string]tenant.TokenUse{a.ID: {Tenant: id, At: t1}}))

	for _, tc := range []struct {
		tok  *tenant.Token
		want *time.Time
	}{{a, &t2}, {b, &t1}, {x, nil}} {
		got, err := s.GetTokenByHash(c, tc.tok.Hash)
		noErr(t, "GetTokenByHash", err)
		if !samePtrTime(got.LastUsedAt, tc.want) {
			t.Errorf("token %s LastUsedAt = %v, want %v", tc.tok.Name, got.LastUsedAt, tc.want)
		}
	}
}

// ---- audit

func testAudit(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id, other := newTenant(t, s), newTenant(t, s)
	var ids []int64
	for i := range 5 {
		e := &tenant.AuditEntry{Tenant: id, Actor: "user:alice", Action: "pbx.update", Target: fmt.Sprintf("pbx-%d", i)}
		noErr(t, "AppendAudit", s.AppendAudit(c, e))
		if e.ID == 0 || e.At.IsZero() {
			t.Fatalf("AppendAudit did not set ID/At: %+v", e)
		}
		if len(ids) > 0 && e.ID <= ids[len(ids)-1] {
			t.Errorf("audit ids not increasing: %d after %d", e.ID, ids[len(ids)-1])
		}
		ids = append(ids, e.ID)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	noErr(t, "AppendAudit other", s.AppendAudit(c, &tenant.AuditEntry{Tenant: other, Action: "user.create", At: at, Detail: "line 1\nline 2"}))
	platform := &tenant.AuditEntry{Actor: "platform", Action: "tenant.create", Target: string(id)}
	noErr(t, "AppendAudit platform", s.AppendAudit(c, platform))

	got, err := s.ListAudit(c, id, 3)
	noErr(t, "ListAudit", err)
	if len(got) != 3 || got[0].Target != "pbx-4" || got[2].Target != "pbx-2" {
		t.Errorf("ListAudit(limit 3) = %+v, want pbx-4..pbx-2 newest first", got)
	}
	for _, e := range got {
		if e.Tenant != id || e.Actor != "user:alice" || e.Action != "pbx.update" {
			t.Errorf("ListAudit entry %+v", e)
		}
	}
	all, err := s.ListAudit(c, id, 0)
	noErr(t, "ListAudit default limit", err)
	if len(all) != 5 {
		t.Errorf("ListAudit(0) = %d entries, want 5", len(all))
	}
	o, err := s.ListAudit(c, other, 10)
	noErr(t, "ListAudit other", err)
	if len(o) != 1 || !o[0].At.Equal(at) || o[0].Detail != "line 1\nline 2" {
		t.Errorf("ListAudit other = %+v", o)
	}
	p, err := s.ListAudit(c, "", 1000)
	noErr(t, "ListAudit platform", err)
	found := false
	for _, e := range p {
		if e.Tenant != "" {
			t.Errorf("platform audit holds a tenant entry %+v", e)
		}
		found = found || e.ID == platform.ID
	}
	if !found {
		t.Error("platform entry missing from ListAudit(\"\")")
	}
	wantErr(t, "AppendAudit missing tenant",
		s.AppendAudit(c, &tenant.AuditEntry{Tenant: tenant.ID("missing" + rnd(6) + ".example"), Action: "x"}), tenant.ErrNotFound)
	wantErr(t, "AppendAudit without action", s.AppendAudit(c, &tenant.AuditEntry{Tenant: id}), tenant.ErrInvalid)
}

// ---- calls

var base = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newCall(id tenant.ID, pbx, linked string, endedMin int) *tenant.Call {
	end := base.Add(time.Duration(endedMin) * time.Minute)
	ans := end.Add(-90 * time.Second)
	return &tenant.Call{
		Tenant: id, PBX: pbx, LinkedID: linked, Direction: "inbound",
		From: "+390612345678", FromName: "Caller", To: "1001", Users: []string{"usr_a"},
		Answered: true, Disposition: "answered",
		StartedAt: end.Add(-2 * time.Minute), AnsweredAt: &ans, EndedAt: end,
		WaitSec: 30.5, TalkSec: 90,
	}
}

func testRecordCall(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	in := newCall(id, "pbx1", "1700000000.1", 0)
	in.Queue = "support"
	noErr(t, "RecordCall", s.RecordCall(c, in))
	dup := *in
	dup.Disposition, dup.Users = "failed", []string{"usr_other"}
	noErr(t, "RecordCall again", s.RecordCall(c, &dup))

	got, next, err := s.ListCalls(c, id, tenant.CallQuery{})
	noErr(t, "ListCalls", err)
	if len(got) != 1 || next != "" {
		t.Fatalf("ListCalls after two records = %d rows (next %q), want 1", len(got), next)
	}
	g := got[0]
	if g.Tenant != id || g.PBX != "pbx1" || g.LinkedID != in.LinkedID || g.Direction != "inbound" ||
		g.From != in.From || g.FromName != "Caller" || g.To != "1001" || strings.Join(g.Users, ",") != "usr_a" ||
		g.Queue != "support" || !g.Answered || g.Abandoned || g.Disposition != "answered" ||
		!g.StartedAt.Equal(in.StartedAt) || !samePtrTime(g.AnsweredAt, in.AnsweredAt) || !g.EndedAt.Equal(in.EndedAt) ||
		g.WaitSec != 30.5 || g.TalkSec != 90 {
		t.Errorf("ListCalls row = %+v\nwant the first write %+v", g, in)
	}

	// The same linked id on another PBX is another call.
	noErr(t, "RecordCall other pbx", s.RecordCall(c, newCall(id, "pbx2", in.LinkedID, 0)))
	got, _, err = s.ListCalls(c, id, tenant.CallQuery{})
	noErr(t, "ListCalls", err)
	if len(got) != 2 {
		t.Errorf("ListCalls = %d rows, want 2", len(got))
	}
	noAns := newCall(id, "pbx1", "noans", 1)
	noAns.AnsweredAt, noAns.Users = nil, nil
	noErr(t, "RecordCall unanswered", s.RecordCall(c, noAns))
	got, _, _ = s.ListCalls(c, id, tenant.CallQuery{Limit: 1})
	if len(got) != 1 || got[0].LinkedID != "noans" || got[0].AnsweredAt != nil || got[0].Users == nil {
		t.Errorf("unanswered call read back as %+v (want nil AnsweredAt, non-nil empty Users)", got)
	}

	// Replicas recording the same call at once: all succeed, one row.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			racer := newCall(id, "pbx1", "racer", -10)
			racer.Users = []string{"usr_race"}
			errs[i] = s.RecordCall(c, racer)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		noErr(t, "concurrent RecordCall", err)
	}
	got, _, err = s.ListCalls(c, id, tenant.CallQuery{User: "usr_race"})
	noErr(t, "ListCalls racer", err)
	if len(got) != 1 {
		t.Errorf("concurrent RecordCall left %d rows in the user's history, want 1", len(got))
	}

	// A user listed twice is still one call in that user's history.
	twice := newCall(id, "pbx1", "twice", -5)
	twice.Users = []string{"usr_d", "usr_d"}
	noErr(t, "RecordCall duplicate users", s.RecordCall(c, twice))
	got, _, err = s.ListCalls(c, id, tenant.CallQuery{User: "usr_d"})
	noErr(t, "ListCalls by user", err)
	if len(got) != 1 || got[0].LinkedID != "twice" {
		t.Errorf("ListCalls(User usr_d) = %d rows, want the one call", len(got))
	}

	wantErr(t, "RecordCall missing tenant",
		s.RecordCall(c, newCall(tenant.ID("missing"+rnd(6)+".example"), "pbx1", "x", 0)), tenant.ErrNotFound)
	for name, mutate := range map[string]func(*tenant.Call){
		"no linked id":   func(c *tenant.Call) { c.LinkedID = "" },
		"no pbx":         func(c *tenant.Call) { c.PBX = "" },
		"no end":         func(c *tenant.Call) { c.EndedAt = time.Time{} },
		"ends too early": func(c *tenant.Call) { c.EndedAt = c.StartedAt.Add(-time.Second) },
		"negative wait":  func(c *tenant.Call) { c.WaitSec = -1 },
		"bad tenant":     func(c *tenant.Call) { c.Tenant = "Not A Domain" },
	} {
		call := newCall(id, "pbx1", "bad", 0)
		mutate(call)
		wantErr(t, "RecordCall "+name, s.RecordCall(c, call), tenant.ErrInvalid)
	}
}

func testCallPagination(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id, other := newTenant(t, s), newTenant(t, s)
	var all []*tenant.Call
	// Record in a scrambled order (37 is coprime to 57): stores must not
	// assume calls arrive in EndedAt order.
	for n := range 57 {
		i := n * 37 % 57
		// Ties on EndedAt (i/3) and on LinkedID across PBXes exercise the
		// full sort key.
		call := newCall(id, fmt.Sprintf("pbx%d", i%2+1), fmt.Sprintf("17000.%d", i/2), i/3)
		call.Users = []string{fmt.Sprintf("usr_%d", i%4), "usr_all"}
		if i%4 == 0 {
			call.Users = nil
		}
		if i%3 == 0 {
			call.Queue = "sales"
		}
		if i%5 == 0 {
			call.Direction = "outbound"
		}
		noErr(t, "RecordCall", s.RecordCall(c, call))
		all = append(all, call)
	}
	for i := range 5 {
		noErr(t, "RecordCall other", s.RecordCall(c, newCall(other, "pbx1", fmt.Sprintf("17000.%d", i), i)))
	}

	tests := []struct {
		name string
		q    tenant.CallQuery
	}{
		{"all", tenant.CallQuery{}},
		{"page 7", tenant.CallQuery{Limit: 7}},
		{"page 1", tenant.CallQuery{Limit: 1}},
		{"user", tenant.CallQuery{User: "usr_1", Limit: 4}},
		{"user all", tenant.CallQuery{User: "usr_all", Limit: 10}},
		{"queue", tenant.CallQuery{Queue: "sales", Limit: 5}},
		{"direction", tenant.CallQuery{Direction: "outbound", Limit: 2}},
		{"window", tenant.CallQuery{From: base.Add(4 * time.Minute), To: base.Add(11 * time.Minute), Limit: 6}},
		{"combined", tenant.CallQuery{User: "usr_all", Queue: "sales", From: base.Add(2 * time.Minute), Limit: 3}},
		{"none", tenant.CallQuery{User: "usr_nobody"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []*tenant.Call
			for _, call := range all {
				if matches(tt.q, call) {
					want = append(want, call)
				}
			}
			sortCalls(want)
			var got []tenant.Call
			q := tt.q
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatal("pagination does not end")
				}
				page, next, err := s.ListCalls(c, id, q)
				noErr(t, "ListCalls", err)
				limit := q.Limit
				if limit == 0 {
					limit = 50
				}
				if len(page) > limit {
					t.Fatalf("page of %d rows exceeds limit %d", len(page), limit)
				}
				got = append(got, page...)
				if next == "" {
					break
				}
				if len(page) == 0 {
					t.Fatal("empty page with a next cursor")
				}
				q.Cursor = next
			}
			if len(got) != len(want) {
				t.Fatalf("pages hold %d rows, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].Tenant != id || got[i].PBX != want[i].PBX || got[i].LinkedID != want[i].LinkedID {
					t.Fatalf("row %d = %s/%s, want %s/%s (order or coverage wrong)",
						i, got[i].PBX, got[i].LinkedID, want[i].PBX, want[i].LinkedID)
				}
			}
		})
	}
	// Limits above the maximum are capped, not refused.
	page, _, err := s.ListCalls(c, id, tenant.CallQuery{Limit: 1 << 30})
	noErr(t, "ListCalls huge limit", err)
	if len(page) != len(all) {
		t.Errorf("huge limit returned %d rows, want %d", len(page), len(all))
	}
}

// sortCalls and matches restate the documented order and filters on their
// own, so the suite does not check the stores against their own code.
func sortCalls(cs []*tenant.Call) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.EndedAt.Equal(b.EndedAt) {
			return a.EndedAt.After(b.EndedAt)
		}
		if a.LinkedID != b.LinkedID {
			return a.LinkedID > b.LinkedID
		}
		return a.PBX > b.PBX
	})
}

func matches(q tenant.CallQuery, c *tenant.Call) bool {
	if !q.From.IsZero() && c.EndedAt.Before(q.From) || !q.To.IsZero() && !c.EndedAt.Before(q.To) {
		return false
	}
	if q.Direction != "" && q.Direction != c.Direction || q.Queue != "" && q.Queue != c.Queue {
		return false
	}
	return q.User == "" || slices.Contains(c.Users, q.User)
}

func testCallCursorErrors(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	for _, cur := range []string{"!!!", "bm90IGpzb24", strings.Repeat("A", 5000), "e30"} {
		_, _, err := s.ListCalls(c, id, tenant.CallQuery{Cursor: cur})
		wantErr(t, fmt.Sprintf("ListCalls cursor %.10q", cur), err, tenant.ErrInvalid)
	}
}
