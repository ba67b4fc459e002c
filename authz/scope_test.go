package authz

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
)

// defaultAuthorizer returns an Authorizer over a memory adapter holding the
// default policies of tenant.
func defaultAuthorizer(t *testing.T, tenant string) *Authorizer {
	t.Helper()
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if ok, err := a.EnsureDefaults(context.Background(), tenant); err != nil || !ok {
		t.Fatalf("EnsureDefaults = %v, %v", ok, err)
	}
	return a
}

func TestDefaultScopes(t *testing.T) {
	t.Parallel()
	const ten = "acme.example"
	a := defaultAuthorizer(t, ten)
	allButPBX := []string{"channel", "queued_channel", "parked_channel", "user", "group", "group_member", "terminal"}
	tests := []struct {
		role        string
		fullEvents  bool
		wantErr     error
		kinds       []string
		channelsAll bool
		fullOK      bool
		clear       bool
		ownCmds     []string
		anyCmds     []string
		noCmds      []string // refused even on own calls
		notAnyCmds  []string // own yes, any no
	}{
		{role: RoleAdmin, kinds: append(slices.Clone(allButPBX), "pbx"), fullOK: true, clear: true,
			anyCmds: []string{"hangup", "originate", "spy", "queue_pause", "unhold", "record_stop"}},
		{role: RoleAdmin, fullEvents: true, kinds: append(slices.Clone(allButPBX), "pbx"), channelsAll: true, fullOK: true, clear: true,
			anyCmds: []string{"hangup"}},
		{role: RoleSupervisor, kinds: allButPBX, channelsAll: true,
			anyCmds:    []string{"spy", "whisper", "barge", "pickup", "queue_login", "queue_unpause"},
			notAnyCmds: []string{"hangup", "transfer", "originate", "presence"}},
		{role: RoleSupervisor, fullEvents: true, wantErr: ErrFullEventsForbidden},
		{role: RoleAgent, kinds: allButPBX,
			ownCmds:    []string{"hangup", "hold", "unmute", "originate", "queue_pause", "dnd", "atxfer_complete"},
			notAnyCmds: []string{"hangup", "spy", "queue_pause", "pickup"}},
		{role: RoleAgent, fullEvents: true, wantErr: ErrFullEventsForbidden},
		{role: RoleIntegrator, kinds: allButPBX, channelsAll: true, fullOK: true, clear: true,
			anyCmds: []string{"hangup", "originate", "queue_logout"}},
		{role: RoleIntegrator, fullEvents: true, kinds: allButPBX, channelsAll: true, fullOK: true, clear: true},
		{role: "nobody"}, // an unknown role is granted nothing
	}
	for _, tt := range tests {
		name := tt.role
		if tt.fullEvents {
			name += "+full_events"
		}
		t.Run(name, func(t *testing.T) {
			p := Principal{Tenant: ten, Subject: UserSubject("u1"), Role: tt.role, UserID: "u1"}
			s, err := a.Scope(p, tt.fullEvents)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Scope err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Kinds(); !slices.Equal(got, tt.kinds) {
				t.Errorf("Kinds = %v, want %v", got, tt.kinds)
			}
			if s.ChannelsAll() != tt.channelsAll || s.FullEventsAllowed() != tt.fullOK || s.ClearNumbers() != tt.clear || s.Masked() == tt.clear {
				t.Errorf("scope %v: channelsAll=%v fullOK=%v clear=%v, want %v %v %v",
					s, s.ChannelsAll(), s.FullEventsAllowed(), s.ClearNumbers(), tt.channelsAll, tt.fullOK, tt.clear)
			}
			for _, c := range tt.anyCmds {
				if !s.MayCommand(c, false) || !s.MayCommand(c, true) {
					t.Errorf("%s may not %s any/own call", tt.role, c)
				}
			}
			for _, c := range tt.ownCmds {
				if !s.MayCommand(c, true) {
					t.Errorf("%s may not %s its own call", tt.role, c)
				}
			}
			for _, c := range tt.notAnyCmds {
				if !s.MayCommand(c, true) || s.MayCommand(c, false) {
					t.Errorf("%s: %s own=%v any=%v, want own only", tt.role, c, s.MayCommand(c, true), s.MayCommand(c, false))
				}
			}
			if s.MayCommand("self_destruct", true) {
				t.Error("an unknown command was allowed")
			}
			if tt.role == "nobody" && !s.Empty() {
				t.Errorf("unknown role got %v", s)
			}
		})
	}
}

func TestScopeVisible(t *testing.T) {
	t.Parallel()
	const ten = "acme.example"
	a := defaultAuthorizer(t, ten)
	agent, err := a.Scope(Principal{Tenant: ten, Subject: UserSubject("u1"), Role: RoleAgent, UserID: "u1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	sup, _ := a.Scope(Principal{Tenant: ten, Subject: UserSubject("u2"), Role: RoleSupervisor, UserID: "u2"}, false)
	admin, _ := a.Scope(Principal{Tenant: ten, Subject: UserSubject("u3"), Role: RoleAdmin, UserID: "u3"}, false)
	adminFull, _ := a.Scope(Principal{Tenant: ten, Subject: UserSubject("u3"), Role: RoleAdmin, UserID: "u3"}, true)
	integ, _ := a.Scope(Principal{Tenant: ten, Subject: TokenSubject("t1"), Role: RoleIntegrator}, false)
	// An agent-role token has no user id: it sees no channel-like event.
	agentTok, _ := a.Scope(Principal{Tenant: ten, Subject: TokenSubject("t2"), Role: RoleAgent}, false)

	tests := []struct {
		element  string
		audience []string
		agent    bool
		sup      bool
		admin    bool
		full     bool
		integ    bool
		agentTok bool
	}{
		{"channel", []string{"u9", "u1"}, true, true, false, true, true, false},
		{"channel", []string{"u9"}, false, true, false, true, true, false},
		{"channel", nil, false, true, false, true, true, false},
		{"channel", []string{"u3"}, false, true, true, true, true, false},
		{"queued_channel", []string{"u1"}, true, true, false, true, true, false},
		{"parked_channel", []string{"u2"}, false, true, false, true, true, false},
		{"user", nil, true, true, true, true, true, true},
		{"group_member", []string{"u9"}, true, true, true, true, true, true},
		{"pbx", nil, false, false, true, true, false, false},
		{"bogus", []string{"u1"}, false, false, false, false, false, false},
		{"", nil, false, false, false, false, false, false},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			name string
			s    *Scope
			want bool
		}{{"agent", agent, tt.agent}, {"supervisor", sup, tt.sup}, {"admin", admin, tt.admin},
			{"admin+full", adminFull, tt.full}, {"integrator", integ, tt.integ}, {"agent token", agentTok, tt.agentTok}} {
			if got := c.s.Visible(tt.element, tt.audience); got != c.want {
				t.Errorf("%s.Visible(%q, %v) = %v, want %v", c.name, tt.element, tt.audience, got, c.want)
			}
		}
	}
}

// filter is the hub's per-connection filter, restated here so the build
// fails if Scope stops satisfying it.
type filter interface {
	Visible(element string, audience []string) bool
	Masked() bool
}

var _ filter = (*Scope)(nil)

// BenchmarkScopeVisible measures one per-event check (ns/op is per call)
// of an own-channel agent scope: a channel event whose three-user audience
// holds the user last (kind lookup plus a full audience scan, the slowest
// path), one it is not in, and a kind-only element.
func BenchmarkScopeVisible(b *testing.B) {
	a, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	const ten = "acme.example"
	if _, err := a.EnsureDefaults(context.Background(), ten); err != nil {
		b.Fatal(err)
	}
	s, err := a.Scope(Principal{Tenant: ten, Subject: UserSubject("user-0042"), Role: RoleAgent, UserID: "user-0042"}, false)
	if err != nil {
		b.Fatal(err)
	}
	var f filter = s
	for _, c := range []struct {
		name     string
		element  string
		audience []string
		want     bool
	}{
		{"channel-in-audience", "channel", []string{"user-0007", "user-0013", "user-0042"}, true},
		{"channel-not-in-audience", "channel", []string{"user-0007", "user-0013", "user-0099"}, false},
		{"group-member", "group_member", nil, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if f.Visible(c.element, c.audience) != c.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

// BenchmarkScopeCompile measures what a connection open costs: a Scope for
// a user the policy does not mention by name (the common case), whose
// role's grants are already compiled.
func BenchmarkScopeCompile(b *testing.B) {
	a, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	const ten = "acme.example"
	if _, err := a.EnsureDefaults(context.Background(), ten); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := strconv.Itoa(i)
		if _, err := a.Scope(Principal{Tenant: ten, Subject: UserSubject(id), Role: RoleAgent, UserID: id}, false); err != nil {
			b.Fatal(err)
		}
	}
}
