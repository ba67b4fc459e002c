package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookflash/hookflash/tenant"
)

// testIsolation: tenant B can neither see nor change tenant A's rows; every
// attempt is ErrNotFound or an empty list, and A's rows stay as they were.
func testIsolation(t *testing.T, s tenant.Store) {
	c := ctx(t)
	a, b := newTenant(t, s), newTenant(t, s)
	pbx := createPBX(t, s, a, "a-pbx")
	user := createUser(t, s, a, "alice", "PJSIP/1001")
	tok := createToken(t, s, a, "a-token")
	noErr(t, "RecordCall", s.RecordCall(c, newCall(a, pbx.ID, "1.1", 0)))
	noErr(t, "AppendAudit", s.AppendAudit(c, &tenant.AuditEntry{Tenant: a, Action: "pbx.create", Target: pbx.ID}))

	notFound := []struct {
		name string
		err  func() error
	}{
		{"GetPBX", func() error { _, err := s.GetPBX(c, b, pbx.ID); return err }},
		{"PBXSecrets", func() error { _, err := s.PBXSecrets(c, b, pbx.ID); return err }},
		{"UpdatePBX", func() error {
			p := *pbx
			p.Name, p.Secrets = "hijacked", tenant.PBXSecrets{ARIPassword: "evil"}
			return s.UpdatePBX(c, b, &p)
		}},
		{"DeletePBX", func() error { return s.DeletePBX(c, b, pbx.ID) }},
		{"GetUser", func() error { _, err := s.GetUser(c, b, user.ID); return err }},
		{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(c, b, "alice"); return err }},
		{"UpdateUser", func() error {
			u := *user
			u.Role, u.PasswordHash = tenant.RoleAdmin, "evil"
			return s.UpdateUser(c, b, &u)
		}},
		{"DeleteUser", func() error { return s.DeleteUser(c, b, user.ID) }},
		{"RevokeToken", func() error { return s.RevokeToken(c, b, tok.ID) }},
	}
	for _, tt := range notFound {
		if err := tt.err(); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("tenant B %s on A's row: err = %v, want ErrNotFound", tt.name, err)
		}
	}
	// A TouchTokens entry naming the wrong tenant changes nothing.
	noErr(t, "TouchTokens", s.TouchTokens(c, map[string]tenant.TokenUse{tok.ID: {Tenant: b, At: time.Now()}}))

	empty := []struct {
		name string
		n    func() (int, error)
	}{
		{"ListPBXes", func() (int, error) { l, err := s.ListPBXes(c, b); return len(l), err }},
		{"ListUsers", func() (int, error) { l, err := s.ListUsers(c, b); return len(l), err }},
		{"ListTokens", func() (int, error) { l, err := s.ListTokens(c, b); return len(l), err }},
		{"ListAudit", func() (int, error) { l, err := s.ListAudit(c, b, 100); return len(l), err }},
		{"ListCalls", func() (int, error) { l, _, err := s.ListCalls(c, b, tenant.CallQuery{}); return len(l), err }},
		{"ListCalls with A's user", func() (int, error) {
			l, _, err := s.ListCalls(c, b, tenant.CallQuery{User: "usr_a"})
			return len(l), err
		}},
	}
	for _, tt := range empty {
		n, err := tt.n()
		noErr(t, "tenant B "+tt.name, err)
		if n != 0 {
			t.Errorf("tenant B %s sees %d of A's rows", tt.name, n)
		}
	}
	// B may create a user with A's terminal and username: separate namespaces.
	createUser(t, s, b, "alice", "PJSIP/1001")

	// A's rows are untouched.
	got, err := s.GetPBX(c, a, pbx.ID)
	noErr(t, "A GetPBX", err)
	if got.Name != "a-pbx" || got.Version != 1 {
		t.Errorf("A's PBX changed through B: %+v", got)
	}
	sec, err := s.PBXSecrets(c, a, pbx.ID)
	noErr(t, "A PBXSecrets", err)
	if sec != pbx.Secrets {
		t.Errorf("A's secrets changed through B: %+v", sec)
	}
	u, err := s.GetUser(c, a, user.ID)
	noErr(t, "A GetUser", err)
	if u.Role != tenant.RoleAgent || u.PasswordHash != user.PasswordHash {
		t.Errorf("A's user changed through B: %+v", u)
	}
	tk, err := s.GetTokenByHash(c, tok.Hash)
	noErr(t, "A token", err)
	if tk.RevokedAt != nil || tk.LastUsedAt != nil || tk.Tenant != a {
		t.Errorf("A's token changed through B: %+v", tk)
	}
	calls, _, err := s.ListCalls(c, a, tenant.CallQuery{})
	noErr(t, "A ListCalls", err)
	if len(calls) != 1 {
		t.Errorf("A has %d calls, want 1", len(calls))
	}
}

func testDeleteTenant(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id, keep := newTenant(t, s), newTenant(t, s)
	pbx := createPBX(t, s, id, "gone")
	createUser(t, s, id, "alice", "PJSIP/1001")
	tok := createToken(t, s, id, "gone")
	noErr(t, "RecordCall", s.RecordCall(c, newCall(id, pbx.ID, "1.1", 0)))
	noErr(t, "AppendAudit", s.AppendAudit(c, &tenant.AuditEntry{Tenant: id, Action: "x"}))
	kept := createPBX(t, s, keep, "kept")
	keptTok := createToken(t, s, keep, "kept")

	noErr(t, "DeleteTenant", s.DeleteTenant(c, id))
	_, err := s.GetTokenByHash(c, tok.Hash)
	wantErr(t, "token of deleted tenant", err, tenant.ErrNotFound)
	all, err := s.AllPBXes(c)
	noErr(t, "AllPBXes", err)
	m := pbxIDs(all)
	if p, ok := m[pbx.ID]; ok && p.Tenant == id {
		t.Error("AllPBXes still lists the deleted tenant's PBX")
	}
	if _, ok := m[kept.ID]; !ok {
		t.Error("AllPBXes lost the other tenant's PBX")
	}

	// Re-creating the domain starts empty: nothing survived the delete.
	noErr(t, "CreateTenant again", s.CreateTenant(c, &tenant.Tenant{ID: id}))
	counts := map[string]func() (int, error){
		"pbxes":  func() (int, error) { l, err := s.ListPBXes(c, id); return len(l), err },
		"users":  func() (int, error) { l, err := s.ListUsers(c, id); return len(l), err },
		"tokens": func() (int, error) { l, err := s.ListTokens(c, id); return len(l), err },
		"audit":  func() (int, error) { l, err := s.ListAudit(c, id, 100); return len(l), err },
		"calls":  func() (int, error) { l, _, err := s.ListCalls(c, id, tenant.CallQuery{}); return len(l), err },
	}
	for name, f := range counts {
		n, err := f()
		noErr(t, "list "+name, err)
		if n != 0 {
			t.Errorf("%d %s survived DeleteTenant", n, name)
		}
	}
	// The username, terminal and token hash are free again.
	createUser(t, s, id, "alice", "PJSIP/1001")
	noErr(t, "reuse token hash", s.CreateToken(c, id, &tenant.Token{Role: "integrator", Hash: tok.Hash}))
	_, err = s.GetTokenByHash(c, keptTok.Hash)
	noErr(t, "other tenant's token", err)
}

// testHostileKeys: lookups with keys no row can have (NUL bytes, invalid
// UTF-8, huge) are ErrNotFound or empty, never another error, in every store.
func testHostileKeys(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	createUser(t, s, id, "alice")
	for _, k := range []string{"a\x00b", "\xff\xfe", strings.Repeat("k", 100_000), "", "' OR 1=1 --"} {
		bad := tenant.ID(k)
		for _, tt := range []struct {
			name string
			err  func() error
		}{
			{"GetTenant", func() error { _, err := s.GetTenant(c, bad); return err }},
			{"DeleteTenant", func() error { return s.DeleteTenant(c, bad) }},
			{"GetPBX", func() error { _, err := s.GetPBX(c, id, k); return err }},
			{"GetPBX bad tenant", func() error { _, err := s.GetPBX(c, bad, "pbx"); return err }},
			{"PBXSecrets", func() error { _, err := s.PBXSecrets(c, id, k); return err }},
			{"DeletePBX", func() error { return s.DeletePBX(c, id, k) }},
			{"GetUser", func() error { _, err := s.GetUser(c, id, k); return err }},
			{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(c, id, k); return err }},
			{"DeleteUser", func() error { return s.DeleteUser(c, id, k) }},
			{"RevokeToken", func() error { return s.RevokeToken(c, id, k) }},
			{"CreatePBX bad tenant", func() error { return s.CreatePBX(c, bad, newPBX("x")) }},
			{"CreateUser bad tenant", func() error {
				return s.CreateUser(c, bad, &tenant.User{Username: "x", Role: "agent"})
			}},
			{"CreateToken bad tenant", func() error {
				return s.CreateToken(c, bad, &tenant.Token{Role: "integrator", Hash: newHash()})
			}},
		} {
			if err := tt.err(); !errors.Is(err, tenant.ErrNotFound) {
				t.Errorf("%s(%.12q): %v, want ErrNotFound", tt.name, k, err)
			}
		}
		lists := map[string]func() (int, error){
			"ListPBXes":  func() (int, error) { l, err := s.ListPBXes(c, bad); return len(l), err },
			"ListUsers":  func() (int, error) { l, err := s.ListUsers(c, bad); return len(l), err },
			"ListTokens": func() (int, error) { l, err := s.ListTokens(c, bad); return len(l), err },
			"ListCalls":  func() (int, error) { l, _, err := s.ListCalls(c, bad, tenant.CallQuery{}); return len(l), err },
		}
		if k != "" { // the empty ID lists platform audit entries
			lists["ListAudit"] = func() (int, error) { l, err := s.ListAudit(c, bad, 10); return len(l), err }
		}
		for name, f := range lists {
			if n, err := f(); err != nil || n != 0 {
				t.Errorf("%s(%.12q) = %d rows, %v; want none", name, k, n, err)
			}
		}
		noErr(t, "TouchTokens hostile", s.TouchTokens(c, map[string]tenant.TokenUse{k: {Tenant: bad, At: time.Now()}}))
	}
}

// testNoAliasing: changing values passed in or returned never changes what
// the store holds.
func testNoAliasing(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)

	u := createUser(t, s, id, "alice", "PJSIP/1001", "PJSIP/1002")
	u.Terminals[0] = "PJSIP/evil"
	got, err := s.GetUser(c, id, u.ID)
	noErr(t, "GetUser", err)
	got.Terminals[1] = "PJSIP/evil2"
	again, _ := s.GetUser(c, id, u.ID)
	if strings.Join(again.Terminals, ",") != "PJSIP/1001,PJSIP/1002" {
		t.Errorf("user terminals aliased: %v", again.Terminals)
	}
	list, _ := s.ListUsers(c, id)
	list[0].Terminals[0] = "PJSIP/evil3"
	again, _ = s.GetUser(c, id, u.ID)
	if again.Terminals[0] != "PJSIP/1001" {
		t.Errorf("ListUsers result aliased: %v", again.Terminals)
	}

	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	tok := &tenant.Token{Role: "integrator", Hash: newHash(), ExpiresAt: &exp}
	noErr(t, "CreateToken", s.CreateToken(c, id, tok))
	*tok.ExpiresAt = exp.Add(time.Hour)
	gt, err := s.GetTokenByHash(c, tok.Hash)
	noErr(t, "GetTokenByHash", err)
	*gt.ExpiresAt = exp.Add(2 * time.Hour)
	gt2, _ := s.GetTokenByHash(c, tok.Hash)
	if !gt2.ExpiresAt.Equal(exp) {
		t.Errorf("token ExpiresAt aliased: %v, want %v", gt2.ExpiresAt, exp)
	}

	call := newCall(id, "pbx1", "alias", 0)
	noErr(t, "RecordCall", s.RecordCall(c, call))
	call.Users[0] = "usr_evil"
	*call.AnsweredAt = call.AnsweredAt.Add(time.Hour)
	page, _, err := s.ListCalls(c, id, tenant.CallQuery{})
	noErr(t, "ListCalls", err)
	page[0].Users[0] = "usr_evil2"
	page, _, _ = s.ListCalls(c, id, tenant.CallQuery{})
	if page[0].Users[0] != "usr_a" || !page[0].AnsweredAt.Equal(base.Add(-90*time.Second)) {
		t.Errorf("call aliased: users %v answered %v", page[0].Users, page[0].AnsweredAt)
	}

	p := createPBX(t, s, id, "pbx")
	p.Secrets.ARIPassword = "changed-after-create"
	sec, _ := s.PBXSecrets(c, id, p.ID)
	if sec.ARIPassword == "changed-after-create" {
		t.Error("PBX secrets aliased")
	}
}
