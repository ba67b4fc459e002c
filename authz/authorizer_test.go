package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestValidatePolicies(t *testing.T) {
	t.Parallel()
	const ten = "acme.example"
	def := DefaultPolicies(ten)
	with := func(extra ...[]string) [][]string { return append(slices.Clone(def), extra...) }
	many := slices.Clone(def)
	for i := range MaxPolicyLines {
		many = append(many, []string{"p", UserSubject(fmt.Sprint(i)), ten, "element/user", "read"})
	}
	tests := []struct {
		name  string
		lines [][]string
		want  string // substring of the error; "" = valid
	}{
		{"defaults", def, ""},
		{"user grant", with([]string{"p", "user:42", ten, "privacy/bypass", "use"}), ""},
		{"token role", with([]string{"g", "token:t1", "agent", ten}), ""},
		{"role inheritance", with([]string{"g", "lead", "supervisor", ten}, []string{"g", "user:1", "lead", ten}), ""},
		{"wildcard object and action", with([]string{"p", "ops", ten, "admin/*", "*"}), ""},
		{"cross-domain p", with([]string{"p", "agent", "other.example", "element/pbx", "read"}), `domain "other.example" is not this tenant`},
		{"cross-domain g", with([]string{"g", "user:1", "admin", "other.example"}), `domain "other.example" is not this tenant`},
		{"unknown ptype", with([]string{"p2", "agent", ten, "element/pbx", "read"}), `unknown line type "p2"`},
		{"short p", with([]string{"p", "agent", ten, "element/pbx"}), "a p line is"},
		{"long g", with([]string{"g", "user:1", "agent", ten, "x"}), "a g line is"},
		{"unknown object", with([]string{"p", "agent", ten, "elements/channel", "read"}), `unknown object "elements/channel"`},
		{"bad action", with([]string{"p", "agent", ten, "full_events", "read"}), `action "read" is not valid for object "full_events"`},
		{"inner wildcard", with([]string{"p", "agent", ten, "element/*/x", "read"}), "only allowed at the end"},
		{"pattern matches nothing", with([]string{"p", "agent", ten, "nothing/*", "read"}), "matches no known object"},
		{"missing role", with([]string{"g", "user:1", "superuser", ten}), `role "superuser" does not exist`},
		{"bad subject", with([]string{"p", "User 1", ten, "element/user", "read"}), "neither a role name"},
		{"padded field", with([]string{"p", " agent", ten, "element/user", "read"}), "holds spaces"},
		{"bad subject kind", with([]string{"p", "group:1", ten, "element/user", "read"}), "neither a role name"},
		{"comma", with([]string{"p", "agent", ten, "element/user,x", "read"}), "commas"},
		{"empty field", with([]string{"p", "agent", "", "element/user", "read"}), "field 3 is empty"},
		{"duplicate", with(def[3]), fmt.Sprintf("line %d duplicates line 4", len(def)+1)},
		{"self inheritance", with([]string{"g", "agent", "agent", ten}), "cannot inherit from itself"},
		{"too many", many, "at most 2000"},
		{"lockout", slices.DeleteFunc(slices.Clone(def), func(l []string) bool { return l[3] == "admin/*" }), "locked out"},
		{"empty line", with([]string{}), "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePolicies(ten, tt.lines)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid policy refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidPolicy containing %q", err, tt.want)
			}
		})
	}
	if err := ValidatePolicies("Bad Tenant", def); !errors.Is(err, ErrInvalidTenant) {
		t.Fatalf("bad tenant: %v", err)
	}
}

func TestSetPoliciesAppliesAndNotifies(t *testing.T) {
	t.Parallel()
	const ten = "acme.example"
	ctx := context.Background()
	a := defaultAuthorizer(t, ten)
	var changes atomic.Int32
	cancel := a.OnChange(func(tenant string) {
		if tenant == ten {
			changes.Add(1)
		}
	})
	defer cancel()
	agent := Principal{Tenant: ten, Subject: UserSubject("u1"), Role: RoleAgent, UserID: "u1"}
	before, err := a.Scope(agent, false)
	if err != nil {
		t.Fatal(err)
	}
	if !before.Visible("terminal", nil) || before.ClearNumbers() {
		t.Fatalf("default agent scope unexpected: %v", before)
	}
	// Agents lose terminals; user u1 personally gets clear numbers.
	lines := slices.DeleteFunc(DefaultPolicies(ten), func(l []string) bool {
		return l[1] == RoleAgent && l[3] == "element/terminal"
	})
	lines = append(lines, []string{"p", UserSubject("u1"), ten, ObjPrivacyBypass, ActUse})
	if err := a.SetPolicies(ctx, ten, lines); err != nil {
		t.Fatal(err)
	}
	if n := changes.Load(); n != 1 {
		t.Fatalf("OnChange called %d times for one change, want 1 (the bus echo must be quiet)", n)
	}
	after, _ := a.Scope(agent, false)
	if after.Visible("terminal", nil) || !after.ClearNumbers() || after.Equal(before) {
		t.Fatalf("policy change not applied: %v", after)
	}
	other, _ := a.Scope(Principal{Tenant: ten, Subject: UserSubject("u2"), Role: RoleAgent, UserID: "u2"}, false)
	if other.ClearNumbers() {
		t.Fatal("a grant to user:u1 reached user:u2")
	}
	got, err := a.Policies(ctx, ten)
	if err != nil || !slices.EqualFunc(got, lines, slices.Equal) {
		t.Fatalf("Policies = %v, %v", got, err)
	}
	// An invalid policy changes nothing.
	if err := a.SetPolicies(ctx, ten, [][]string{{"p", "agent", "x.example", "element/user", "read"}}); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("invalid SetPolicies: %v", err)
	}
	if got, _ := a.Policies(ctx, ten); len(got) != len(lines) {
		t.Fatal("a refused SetPolicies changed the stored policy")
	}
	// Defaults are not re-applied over an existing policy.
	if ok, err := a.EnsureDefaults(ctx, ten); ok || err != nil {
		t.Fatalf("EnsureDefaults on a configured tenant = %v, %v", ok, err)
	}
}

func TestTenantsAreWalled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := defaultAuthorizer(t, "a.example")
	// b has only an agent role granting users.
	if err := a.SetPolicies(ctx, "b.example", [][]string{
		{"p", "admin", "b.example", "admin/*", "*"},
		{"p", "agent", "b.example", "element/user", "read"},
	}); err != nil {
		t.Fatal(err)
	}
	pa := Principal{Tenant: "a.example", Subject: UserSubject("u1"), Role: RoleAdmin, UserID: "u1"}
	if !a.Can(pa, ObjAdminPBXes, ActWrite) {
		t.Fatal("admin of a may not write pbxes")
	}
	pb := pa
	pb.Tenant = "b.example"
	pb.Role = RoleAgent
	s, err := a.Scope(pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Kinds(); !slices.Equal(got, []string{"user"}) {
		t.Fatalf("b agent kinds %v: a's policy leaked into b", got)
	}
	if a.Can(pb, ObjAdminPBXes, ActWrite) {
		t.Fatal("b agent may write pbxes")
	}
	if a.Can(Principal{Tenant: "c.example", Role: RoleAdmin}, ObjAdminPBXes, ActRead) {
		t.Fatal("a tenant without policy granted something")
	}
	if a.Can(Principal{Tenant: "../a.example", Role: RoleAdmin}, ObjAdminPBXes, ActRead) {
		t.Fatal("a malformed tenant granted something")
	}
	if err := a.DropTenant(ctx, "b.example"); err != nil {
		t.Fatal(err)
	}
	if a.Can(Principal{Tenant: "b.example", Role: RoleAdmin}, ObjAdminPBXes, ActRead) {
		t.Fatal("a dropped tenant still grants")
	}
}

func TestAssignRole(t *testing.T) {
	t.Parallel()
	const ten = "acme.example"
	ctx := context.Background()
	a := defaultAuthorizer(t, ten)
	p := Principal{Tenant: ten, Subject: UserSubject("u7"), Role: RoleAgent, UserID: "u7"}
	if s, _ := a.Scope(p, false); s.ChannelsAll() {
		t.Fatal("agent sees all channels before the assignment")
	}
	if err := a.AssignRole(ctx, ten, p.Subject, RoleSupervisor); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.Scope(p, false); !s.ChannelsAll() || !s.MayCommand("spy", false) {
		t.Fatalf("supervisor assignment not applied: %v", s)
	}
	if err := a.AssignRole(ctx, ten, p.Subject, RoleAdmin); err != nil {
		t.Fatal(err)
	}
	lines, _ := a.Policies(ctx, ten)
	n := 0
	for _, l := range lines {
		if l[0] == "g" && l[1] == p.Subject {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d role lines for %s after two assignments, want 1", n, p.Subject)
	}
	if err := a.AssignRole(ctx, ten, p.Subject, ""); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.Scope(p, false); s.ChannelsAll() {
		t.Fatal("unassigning did not take the role away")
	}
	if err := a.AssignRole(ctx, ten, p.Subject, "wizard"); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("unknown role: %v", err)
	}
	if err := a.AssignRole(ctx, ten, "agent", RoleAdmin); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("role as subject: %v", err)
	}
}

// TestPolicyChangeAcrossReplicas runs two Authorizers over one Postgres
// adapter and Redis bus: a change on one reaches the other's scopes and
// listeners within a second.
func TestPolicyChangeAcrossReplicas(t *testing.T) {
	t.Parallel()
	const ten = "acme.example"
	ctx := context.Background()
	adapter := newPGAdapter(t)
	buses := newRedisBuses(t, 2)
	var az [2]*Authorizer
	for i := range az {
		a, err := New(Config{Adapter: adapter, Bus: buses[i]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		az[i] = a
	}
	if _, err := az[0].EnsureDefaults(ctx, ten); err != nil {
		t.Fatal(err)
	}
	p := Principal{Tenant: ten, Subject: UserSubject("u1"), Role: RoleAgent, UserID: "u1"}
	s, err := az[1].Scope(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Visible("channel", []string{"u1"}) {
		t.Fatal("replica 1 does not see the defaults")
	}
	var seen atomic.Bool
	az[1].OnChange(func(tenant string) {
		if tenant == ten {
			seen.Store(true)
		}
	})
	lines := slices.DeleteFunc(DefaultPolicies(ten), func(l []string) bool {
		return l[1] == RoleAgent && l[3] == "element/channel"
	})
	start := time.Now()
	if err := az[0].SetPolicies(ctx, ten, lines); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica 1 applies the change", func() bool {
		s, err := az[1].Scope(p, false)
		return err == nil && !s.Visible("channel", []string{"u1"}) && seen.Load()
	})
	t.Logf("policy change applied on the other replica after %v", time.Since(start))
}
