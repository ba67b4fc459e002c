// Package storetest is the one conformance suite every tenant.Store
// implementation passes. Implementations call Run from their tests.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/tenant"
)

// Run runs the conformance suite. newStore returns an empty store for one
// subtest (it may also return a shared store: every subtest uses its own
// random tenants and never assumes it is alone); the suite closes it.
// Subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) tenant.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s tenant.Store)
	}{
		{"Tenants", testTenants},
		{"PBXSecretsAreWriteOnly", testPBXSecretsWriteOnly},
		{"UpdatePBXKeepsSecretsAndBumpsVersion", testUpdatePBX},
		{"PBXValidationAndConflicts", testPBXValidation},
		{"DeletePBX", testDeletePBX},
		{"AllPBXesSkipsDisabledTenants", testAllPBXes},
		{"Users", testUsers},
		{"UsernamesUniqueIgnoringCase", testUsernameUnique},
		{"TerminalOwnedByOneUser", testTerminals},
		{"ConcurrentTerminalSwap", testConcurrentSwap},
		{"ConcurrentCreatesOneWinner", testConcurrentCreate},
		{"Tokens", testTokens},
		{"TouchTokens", testTouchTokens},
		{"Audit", testAudit},
		{"RecordCallIdempotent", testRecordCall},
		{"CallPagination", testCallPagination},
		{"CallCursorErrors", testCallCursorErrors},
		{"TenantIsolation", testIsolation},
		{"DeleteTenantCascades", testDeleteTenant},
		{"NoAliasing", testNoAliasing},
		{"HostileKeys", testHostileKeys},
		{"Ping", func(t *testing.T, s tenant.Store) {
			if err := s.Ping(ctx(t)); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			t.Cleanup(s.Close)
			tt.fn(t, s)
		})
	}
}

// ---- helpers

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func rnd(n int) string {
	return strings.ToLower(rand.Text())[:n]
}

// newTenant creates a tenant with a random domain.
func newTenant(t *testing.T, s tenant.Store) tenant.ID {
	t.Helper()
	id := tenant.ID("t" + rnd(10) + ".example")
	if err := s.CreateTenant(ctx(t), &tenant.Tenant{ID: id, Name: "Tenant " + string(id)}); err != nil {
		t.Fatalf("CreateTenant %s: %v", id, err)
	}
	return id
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func samePtrTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func newPBX(name string) *tenant.PBX {
	return &tenant.PBX{
		Name:    name,
		Enabled: true,
		ARIURL:  "http://pbx.invalid:8088/ari",
		ARIUser: "hookflash",
		AMIAddr: "pbx.invalid:5038",
		AMIUser: "hookflash",
		Secrets: tenant.PBXSecrets{ARIPassword: "ari-" + rnd(8), AMISecret: "ami-" + rnd(8)},
	}
}

func createPBX(t *testing.T, s tenant.Store, id tenant.ID, name string) *tenant.PBX {
	t.Helper()
	p := newPBX(name)
	noErr(t, "CreatePBX", s.CreatePBX(ctx(t), id, p))
	return p
}

func createUser(t *testing.T, s tenant.Store, id tenant.ID, username string, terminals ...string) *tenant.User {
	t.Helper()
	u := &tenant.User{
		Username: username, Name: "User " + username, Role: tenant.RoleAgent,
		Terminals: terminals, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
	}
	noErr(t, "CreateUser "+username, s.CreateUser(ctx(t), id, u))
	return u
}

func newHash() [32]byte { return sha256.Sum256([]byte(rand.Text())) }

func createToken(t *testing.T, s tenant.Store, id tenant.ID, name string) *tenant.Token {
	t.Helper()
	tok := &tenant.Token{Name: name, Role: tenant.RoleIntegrator, Prefix: "hf_" + rnd(4), Hash: newHash()}
	noErr(t, "CreateToken", s.CreateToken(ctx(t), id, tok))
	return tok
}

func pbxIDs(ps []tenant.PBX) map[string]tenant.PBX {
	m := make(map[string]tenant.PBX, len(ps))
	for _, p := range ps {
		m[p.ID] = p
	}
	return m
}

// ---- tenants

func testTenants(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := tenant.ID("acme-" + rnd(6) + ".example")
	in := &tenant.Tenant{
		ID: id, Name: "ACME",
		Limits:  tenant.Limits{MaxPBXes: 2, MaxUsers: 50, MaxTokens: 5, MaxConnsPerID: 4},
		Privacy: tenant.Privacy{Enabled: true, KeepLast: 3, MaskChar: "x"},
	}
	noErr(t, "CreateTenant", s.CreateTenant(c, in))
	if in.CreatedAt.IsZero() || in.UpdatedAt.IsZero() {
		t.Errorf("CreateTenant did not set timestamps: %+v", in)
	}
	wantErr(t, "CreateTenant twice", s.CreateTenant(c, &tenant.Tenant{ID: id}), tenant.ErrConflict)

	got, err := s.GetTenant(c, id)
	noErr(t, "GetTenant", err)
	if got.Name != "ACME" || got.Limits != in.Limits || got.Privacy != in.Privacy || got.Disabled ||
		!got.CreatedAt.Equal(in.CreatedAt) {
		t.Errorf("GetTenant = %+v, want %+v", got, in)
	}

	for _, bad := range []tenant.ID{"", "Upper.example", "bad_domain.example", "-x.example", "a..b"} {
		wantErr(t, "CreateTenant "+string(bad), s.CreateTenant(c, &tenant.Tenant{ID: bad}), tenant.ErrInvalid)
	}
	wantErr(t, "negative limits", s.CreateTenant(c, &tenant.Tenant{
		ID: tenant.ID("neg" + rnd(6) + ".example"), Limits: tenant.Limits{MaxUsers: -1},
	}), tenant.ErrInvalid)

	upd := *got
	upd.Name, upd.Disabled, upd.Limits.MaxUsers = "ACME Corp", true, 60
	upd.CreatedAt = time.Time{} // the store keeps its own
	noErr(t, "UpdateTenant", s.UpdateTenant(c, &upd))
	if !upd.CreatedAt.Equal(in.CreatedAt) {
		t.Errorf("UpdateTenant reported CreatedAt %v, want %v", upd.CreatedAt, in.CreatedAt)
	}
	got, err = s.GetTenant(c, id)
	noErr(t, "GetTenant after update", err)
	if got.Name != "ACME Corp" || !got.Disabled || got.Limits.MaxUsers != 60 || got.UpdatedAt.Before(in.UpdatedAt) {
		t.Errorf("after UpdateTenant: %+v", got)
	}
	wantErr(t, "UpdateTenant missing",
		s.UpdateTenant(c, &tenant.Tenant{ID: tenant.ID("missing" + rnd(6) + ".example")}), tenant.ErrNotFound)

	other := newTenant(t, s)
	list, err := s.ListTenants(c)
	noErr(t, "ListTenants", err)
	seen := 0
	for i, tt := range list {
		if i > 0 && list[i-1].ID >= tt.ID {
			t.Errorf("ListTenants not ordered by ID: %s before %s", list[i-1].ID, tt.ID)
		}
		if tt.ID == id || tt.ID == other {
			seen++
		}
	}
	if seen != 2 {
		t.Errorf("ListTenants saw %d of the 2 created tenants", seen)
	}

	noErr(t, "DeleteTenant", s.DeleteTenant(c, id))
	_, err = s.GetTenant(c, id)
	wantErr(t, "GetTenant after delete", err, tenant.ErrNotFound)
	wantErr(t, "DeleteTenant twice", s.DeleteTenant(c, id), tenant.ErrNotFound)
	_, err = s.GetTenant(c, other)
	noErr(t, "other tenant survives", err)
}

// ---- PBXes

func testPBXSecretsWriteOnly(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	p := newPBX("main")
	secrets := p.Secrets
	noErr(t, "CreatePBX", s.CreatePBX(c, id, p))
	if p.ID == "" || p.Version != 1 || p.Tenant != id || p.CreatedAt.IsZero() {
		t.Fatalf("CreatePBX did not fill ID/Version/Tenant/CreatedAt: %+v", p)
	}
	if p.ARIApp != "hookflash" {
		t.Errorf("ARIApp default = %q, want hookflash", p.ARIApp)
	}

	got, err := s.GetPBX(c, id, p.ID)
	noErr(t, "GetPBX", err)
	if got.Secrets != (tenant.PBXSecrets{}) {
		t.Errorf("GetPBX returned secrets %+v", got.Secrets)
	}
	want := *p
	want.Secrets = tenant.PBXSecrets{}
	if !equalPBX(*got, want) {
		t.Errorf("GetPBX = %+v\nwant %+v", got, want)
	}
	list, err := s.ListPBXes(c, id)
	noErr(t, "ListPBXes", err)
	if len(list) != 1 || list[0].Secrets != (tenant.PBXSecrets{}) {
		t.Errorf("ListPBXes = %+v; want one PBX without secrets", list)
	}
	all, err := s.AllPBXes(c)
	noErr(t, "AllPBXes", err)
	if q, ok := pbxIDs(all)[p.ID]; !ok || q.Secrets != (tenant.PBXSecrets{}) {
		t.Errorf("AllPBXes: PBX present=%v, secrets %+v", ok, q.Secrets)
	}

	sec, err := s.PBXSecrets(c, id, p.ID)
	noErr(t, "PBXSecrets", err)
	if sec != secrets {
		t.Errorf("PBXSecrets = %+v, want %+v", sec, secrets)
	}
	_, err = s.PBXSecrets(c, id, "pbx_missing")
	wantErr(t, "PBXSecrets missing", err, tenant.ErrNotFound)
}

func equalPBX(a, b tenant.PBX) bool {
	ac, bc := a, b
	ac.CreatedAt, ac.UpdatedAt, bc.CreatedAt, bc.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return ac == bc && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func testUpdatePBX(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	p := createPBX(t, s, id, "main")
	orig := p.Secrets

	upd := *p
	upd.Secrets = tenant.PBXSecrets{}
	upd.Name, upd.AMIAddr, upd.Enabled, upd.TLSSkip = "renamed", "10.0.0.9:5039", false, true
	noErr(t, "UpdatePBX", s.UpdatePBX(c, id, &upd))
	if upd.Version != 2 {
		t.Errorf("Version after first update = %d, want 2", upd.Version)
	}
	got, err := s.GetPBX(c, id, p.ID)
	noErr(t, "GetPBX", err)
	if got.Name != "renamed" || got.AMIAddr != "10.0.0.9:5039" || got.Enabled || !got.TLSSkip || got.Version != 2 ||
		!got.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("after update: %+v", got)
	}
	sec, err := s.PBXSecrets(c, id, p.ID)
	noErr(t, "PBXSecrets", err)
	if sec != orig {
		t.Errorf("empty secrets in update changed them: %+v, want %+v", sec, orig)
	}

	upd.Secrets = tenant.PBXSecrets{ARIPassword: "new-ari"}
	noErr(t, "UpdatePBX new ARI password", s.UpdatePBX(c, id, &upd))
	sec, err = s.PBXSecrets(c, id, p.ID)
	noErr(t, "PBXSecrets", err)
	if sec.ARIPassword != "new-ari" || sec.AMISecret != orig.AMISecret {
		t.Errorf("partial secret update: %+v", sec)
	}
	got, err = s.GetPBX(c, id, p.ID)
	noErr(t, "GetPBX", err)
	if got.Version != 3 || upd.Version != 3 {
		t.Errorf("Version after second update = %d (reported %d), want 3", got.Version, upd.Version)
	}

	missing := *p
	missing.ID = "pbx_missing"
	wantErr(t, "UpdatePBX missing", s.UpdatePBX(c, id, &missing), tenant.ErrNotFound)
	bad := *got
	bad.ARIURL = "ftp://pbx"
	wantErr(t, "UpdatePBX invalid", s.UpdatePBX(c, id, &bad), tenant.ErrInvalid)
}

func testPBXValidation(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	tests := []struct {
		name   string
		mutate func(p *tenant.PBX)
	}{
		{"no name", func(p *tenant.PBX) { p.Name = "" }},
		{"ari url scheme", func(p *tenant.PBX) { p.ARIURL = "ws://pbx:8088/ari" }},
		{"ari url with credentials", func(p *tenant.PBX) { p.ARIURL = "http://u:p@pbx:8088/ari" }},
		{"ami addr without port", func(p *tenant.PBX) { p.AMIAddr = "pbx" }},
		{"control character", func(p *tenant.PBX) { p.ARIUser = "a\x00b" }},
		{"bad id", func(p *tenant.PBX) { p.ID = "has space" }},
		{"huge name", func(p *tenant.PBX) { p.Name = strings.Repeat("n", 10000) }},
	}
	for _, tt := range tests {
		p := newPBX("x")
		tt.mutate(p)
		wantErr(t, "CreatePBX "+tt.name, s.CreatePBX(c, id, p), tenant.ErrInvalid)
	}
	p := newPBX("fixed")
	p.ID = "pbx-fixed"
	noErr(t, "CreatePBX with an ID", s.CreatePBX(c, id, p))
	wantErr(t, "CreatePBX same ID", s.CreatePBX(c, id, &tenant.PBX{ID: "pbx-fixed", Name: "again"}), tenant.ErrConflict)
	wantErr(t, "CreatePBX in a missing tenant",
		s.CreatePBX(c, tenant.ID("missing"+rnd(6)+".example"), newPBX("x")), tenant.ErrNotFound)

	// The same PBX id in another tenant is a different row.
	other := newTenant(t, s)
	q := newPBX("fixed")
	q.ID = "pbx-fixed"
	noErr(t, "CreatePBX same ID in another tenant", s.CreatePBX(c, other, q))
}

func testDeletePBX(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	a := createPBX(t, s, id, "a")
	b := createPBX(t, s, id, "b")
	noErr(t, "DeletePBX", s.DeletePBX(c, id, a.ID))
	_, err := s.GetPBX(c, id, a.ID)
	wantErr(t, "GetPBX deleted", err, tenant.ErrNotFound)
	_, err = s.PBXSecrets(c, id, a.ID)
	wantErr(t, "PBXSecrets deleted", err, tenant.ErrNotFound)
	wantErr(t, "DeletePBX twice", s.DeletePBX(c, id, a.ID), tenant.ErrNotFound)
	list, err := s.ListPBXes(c, id)
	noErr(t, "ListPBXes", err)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("ListPBXes after delete = %+v, want only %s", list, b.ID)
	}
}

func testAllPBXes(t *testing.T, s tenant.Store) {
	c := ctx(t)
	on, off := newTenant(t, s), newTenant(t, s)
	p1 := createPBX(t, s, on, "one")
	p2 := newPBX("two")
	p2.Enabled = false
	noErr(t, "CreatePBX disabled", s.CreatePBX(c, on, p2))
	p3 := createPBX(t, s, off, "three")

	tn, err := s.GetTenant(c, off)
	noErr(t, "GetTenant", err)
	tn.Disabled = true
	noErr(t, "UpdateTenant disable", s.UpdateTenant(c, tn))

	all, err := s.AllPBXes(c)
	noErr(t, "AllPBXes", err)
	m := pbxIDs(all)
	if q, ok := m[p1.ID]; !ok || q.Tenant != on {
		t.Errorf("AllPBXes misses %s of the enabled tenant (or wrong tenant %q)", p1.ID, q.Tenant)
	}
	if _, ok := m[p2.ID]; !ok {
		t.Errorf("AllPBXes misses the disabled PBX %s of an enabled tenant (the supervisor decides)", p2.ID)
	}
	for _, p := range all {
		if p.Tenant == off {
			t.Errorf("AllPBXes returned %s (%s) of a disabled tenant", p.ID, p3.ID)
		}
	}
}

// ---- users

func testUsers(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	u := createUser(t, s, id, "Alice", "PJSIP/1001", "PJSIP/1001-mobile")
	if u.ID == "" || u.Tenant != id || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser did not fill ID/Tenant/CreatedAt: %+v", u)
	}
	got, err := s.GetUser(c, id, u.ID)
	noErr(t, "GetUser", err)
	if !equalUser(*got, *u) {
		t.Errorf("GetUser = %+v\nwant %+v", got, u)
	}
	for _, name := range []string{"alice", "ALICE", "Alice"} {
		got, err := s.GetUserByUsername(c, id, name)
		noErr(t, "GetUserByUsername "+name, err)
		if got.ID != u.ID {
			t.Errorf("GetUserByUsername(%q) = %s, want %s", name, got.ID, u.ID)
		}
	}
	_, err = s.GetUserByUsername(c, id, "bob")
	wantErr(t, "GetUserByUsername missing", err, tenant.ErrNotFound)

	createUser(t, s, id, "carol")
	createUser(t, s, id, "Bob")
	list, err := s.ListUsers(c, id)
	noErr(t, "ListUsers", err)
	var names []string
	for _, u := range list {
		names = append(names, u.Username)
	}
	if strings.Join(names, ",") != "Alice,Bob,carol" {
		t.Errorf("ListUsers order = %v, want Alice,Bob,carol (case-insensitive)", names)
	}

	upd := *got
	upd.Name, upd.PasswordHash, upd.Terminals = "Alice B.", "", []string{"PJSIP/2001"}
	noErr(t, "UpdateUser", s.UpdateUser(c, id, &upd))
	got, err = s.GetUser(c, id, u.ID)
	noErr(t, "GetUser", err)
	if got.Name != "Alice B." || got.PasswordHash != u.PasswordHash ||
		strings.Join(got.Terminals, ",") != "PJSIP/2001" || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("after UpdateUser: %+v", got)
	}
	upd.PasswordHash = "$argon2id$new"
	noErr(t, "UpdateUser password", s.UpdateUser(c, id, &upd))
	got, _ = s.GetUser(c, id, u.ID)
	if got.PasswordHash != "$argon2id$new" {
		t.Errorf("PasswordHash = %q after setting it", got.PasswordHash)
	}
	// The freed terminal can be taken by another user.
	createUser(t, s, id, "dave", "PJSIP/1001")

	missing := upd
	missing.ID = "usr_missing"
	wantErr(t, "UpdateUser missing", s.UpdateUser(c, id, &missing), tenant.ErrNotFound)
	for _, bad := range []*tenant.User{
		{Username: "", Role: "agent"},
		{Username: "has space", Role: "agent"},
		{Username: "norole"},
		{Username: "dup", Role: "agent", Terminals: []string{"PJSIP/1", "PJSIP/1"}},
		{Username: "empty", Role: "agent", Terminals: []string{""}},
	} {
		wantErr(t, "CreateUser invalid "+bad.Username, s.CreateUser(c, id, bad), tenant.ErrInvalid)
	}
	wantErr(t, "CreateUser in a missing tenant",
		s.CreateUser(c, tenant.ID("missing"+rnd(6)+".example"), &tenant.User{Username: "x", Role: "agent"}), tenant.ErrNotFound)

	noErr(t, "DeleteUser", s.DeleteUser(c, id, u.ID))
	_, err = s.GetUser(c, id, u.ID)
	wantErr(t, "GetUser deleted", err, tenant.ErrNotFound)
	wantErr(t, "DeleteUser twice", s.DeleteUser(c, id, u.ID), tenant.ErrNotFound)
	// Username and terminals are free again.
	createUser(t, s, id, "alice", "PJSIP/2001")
}

func equalUser(a, b tenant.User) bool {
	return a.ID == b.ID && a.Tenant == b.Tenant && a.Username == b.Username && a.Name == b.Name &&
		a.Email == b.Email && a.Role == b.Role && a.MainExtension == b.MainExtension &&
		strings.Join(a.Terminals, "\x00") == strings.Join(b.Terminals, "\x00") &&
		a.PasswordHash == b.PasswordHash && a.Disabled == b.Disabled &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func testUsernameUnique(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	alice := createUser(t, s, id, "alice")
	err := s.CreateUser(c, id, &tenant.User{Username: "ALICE", Role: "agent"})
	wantErr(t, "CreateUser ALICE", err, tenant.ErrConflict)

	bob := createUser(t, s, id, "bob")
	ren := *bob
	ren.Username = "Alice"
	wantErr(t, "rename bob to Alice", s.UpdateUser(c, id, &ren), tenant.ErrConflict)
	// Changing the case of one's own name is not a conflict.
	self := *alice
	self.Username = "Alice"
	noErr(t, "rename alice to Alice", s.UpdateUser(c, id, &self))

	// Another tenant may have its own alice.
	createUser(t, s, newTenant(t, s), "alice")

	dup := &tenant.User{ID: bob.ID, Username: "bob2", Role: "agent"}
	wantErr(t, "CreateUser same ID", s.CreateUser(c, id, dup), tenant.ErrConflict)
}

func testTerminals(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	createUser(t, s, id, "alice", "PJSIP/1001")
	err := s.CreateUser(c, id, &tenant.User{Username: "bob", Role: "agent", Terminals: []string{"PJSIP/1002", "PJSIP/1001"}})
	wantErr(t, "CreateUser with alice's terminal", err, tenant.ErrConflict)
	if _, err := s.GetUserByUsername(c, id, "bob"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("failed CreateUser left a user behind: %v", err)
	}
	bob := createUser(t, s, id, "bob", "PJSIP/1002")
	upd := *bob
	upd.Terminals = []string{"PJSIP/1002", "PJSIP/1001"}
	wantErr(t, "UpdateUser taking alice's terminal", s.UpdateUser(c, id, &upd), tenant.ErrConflict)
	got, err := s.GetUser(c, id, bob.ID)
	noErr(t, "GetUser", err)
	if strings.Join(got.Terminals, ",") != "PJSIP/1002" {
		t.Errorf("failed UpdateUser changed terminals to %v", got.Terminals)
	}
	// Terminal order is kept.
	upd.Terminals = []string{"SIP/z", "PJSIP/1002", "IAX2/a"}
	noErr(t, "UpdateUser reorder", s.UpdateUser(c, id, &upd))
	got, _ = s.GetUser(c, id, bob.ID)
	if strings.Join(got.Terminals, ",") != "SIP/z,PJSIP/1002,IAX2/a" {
		t.Errorf("terminals = %v, want the order given", got.Terminals)
	}
	// Another tenant may use the same terminal name.
	createUser(t, s, newTenant(t, s), "eve", "PJSIP/1001")
}

func testConcurrentCreate(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "racer"
			if i%2 == 1 {
				name = "RACER"
			}
			errs[i] = s.CreateUser(c, id, &tenant.User{Username: name, Role: "agent", Terminals: []string{"PJSIP/race"}})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, tenant.ErrConflict):
			t.Errorf("concurrent CreateUser: %v, want nil or ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent creates of one username succeeded, want exactly 1", ok)
	}
	list, err := s.ListUsers(c, id)
	noErr(t, "ListUsers", err)
	if len(list) != 1 {
		t.Errorf("ListUsers has %d users, want 1", len(list))
	}
}

// testConcurrentSwap: two users trading terminals at the same time (a
// deadlock in a naive SQL store) each get nil or ErrConflict, and no
// terminal ever ends up with two owners.
func testConcurrentSwap(t *testing.T, s tenant.Store) {
	c := ctx(t)
	id := newTenant(t, s)
	a := createUser(t, s, id, "swap-a", "PJSIP/x")
	b := createUser(t, s, id, "swap-b", "PJSIP/y")
	for round := range 10 {
		ua, ub := *a, *b
		ua.Terminals, ub.Terminals = []string{"PJSIP/a", "PJSIP/y"}, []string{"PJSIP/b", "PJSIP/x"}
		if round%2 == 1 { // and back
			ua.Terminals, ub.Terminals = []string{"PJSIP/x"}, []string{"PJSIP/y"}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, u := range []*tenant.User{&ua, &ub} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.UpdateUser(c, id, u)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && !errors.Is(err, tenant.ErrConflict) {
				t.Fatalf("round %d: UpdateUser: %v, want nil or ErrConflict", round, err)
			}
		}
		users, err := s.ListUsers(c, id)
		noErr(t, "ListUsers", err)
		owner := map[string]string{}
		for _, u := range users {
			for _, term := range u.Terminals {
				if o, ok := owner[term]; ok {
					t.Fatalf("round %d: terminal %s owned by %s and %s", round, term, o, u.Username)
				}
				owner[term] = u.Username
			}
		}
	}
}
