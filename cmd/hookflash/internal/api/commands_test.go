package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/tenant"
)

// recRunner records the commands it is given and answers with their uniqueid.
type recRunner struct{ cmds []pbxconn.Command }

func (r *recRunner) Do(ctx context.Context, c pbxconn.Command) (pbxconn.Result, error) {
	r.cmds = append(r.cmds, c)
	return pbxconn.Result{Op: c.Op, UniqueID: c.UniqueID, LinkedID: c.LinkedID, Channel: c.Channel}, nil
}

// callsFixture is a tenant with one PBX ("p1") whose live state holds a
// call of agent u1 with a customer, a queued caller and a queue member.
type callsFixture struct {
	calls  *Calls
	run    *recRunner
	az     *authz.Authorizer
	tenant tenant.ID
}

func newCallsFixture(t *testing.T) *callsFixture {
	t.Helper()
	ctx := context.Background()
	const tid = tenant.ID("calls.example")
	st := tenant.NewMemoryStore()
	if err := st.CreateTenant(ctx, &tenant.Tenant{ID: tid, Name: "Calls"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []tenant.User{
		{ID: "u1", Username: "alice", Role: authz.RoleAgent, MainExtension: "1001", Terminals: []string{"PJSIP/1001"}},
		{ID: "u2", Username: "bob", Role: authz.RoleAgent, MainExtension: "1002", Terminals: []string{"PJSIP/1002"}},
		{ID: "u3", Username: "carol", Role: authz.RoleSupervisor, MainExtension: "1005", Terminals: []string{"PJSIP/1005"}},
	} {
		if err := st.CreateUser(ctx, tid, &u); err != nil {
			t.Fatal(err)
		}
	}
	az, err := authz.New(authz.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { az.Close() })
	if _, err := az.EnsureDefaults(ctx, string(tid)); err != nil {
		t.Fatal(err)
	}
	b := hub.NewMemoryBroker(hub.MemoryBrokerConfig{})
	t.Cleanup(func() { b.Close() })
	pub := func(el, key string, audience []string, v any) {
		data, _ := json.Marshal(v)
		if err := b.Publish(ctx, &hub.Event{Tenant: hub.Tenant(tid), Element: el, Op: hub.OpAdded, Key: key, Data: data, Audience: audience, PBX: "p1"}); err != nil {
			t.Fatal(err)
		}
	}
	pub("pbx", "p1", nil, pbxconn.PBX{ID: "p1", Status: pbxconn.PBXLive})
	pub("terminal", "p1:PJSIP/1005", nil, pbxconn.Terminal{ID: "p1:PJSIP/1005", PBXID: "p1", Device: "PJSIP/1005", AssocUserID: "u3", Registered: true})
	pub("channel", "p1:1.1", []string{"u1"}, pbxconn.Channel{UUID: "p1:1.1", PBXID: "p1", Name: "PJSIP/1001-00000001", UserID: "u1", OtherUUID: "p1:1.2", LinkedID: "1.2"})
	pub("channel", "p1:1.2", []string{"u1"}, pbxconn.Channel{UUID: "p1:1.2", PBXID: "p1", Name: "PJSIP/trunk-00000002", OtherUUID: "p1:1.1", LinkedID: "1.2"})
	pub("channel", "p1:2.1", nil, pbxconn.Channel{UUID: "p1:2.1", PBXID: "p1", Name: "PJSIP/trunk-00000003", LinkedID: "2.1"})
	pub("queued_channel", "p1:2.1", nil, pbxconn.QueuedChannel{UUID: "p1:2.1", GroupID: "p1:support", Position: 1})
	pub("group", "p1:support", nil, pbxconn.Group{ID: "p1:support", PBXID: "p1", Name: "support"})
	pub("group_member", "p1:support/PJSIP/1002", nil, pbxconn.GroupMember{ID: "p1:support/PJSIP/1002", GroupID: "p1:support", UserID: "u2", Interface: "PJSIP/1002"})
	run := &recRunner{}
	return &callsFixture{calls: NewCalls(CallsConfig{Runner: run, Broker: b, Store: st}), run: run, az: az, tenant: tid}
}

// as runs a request as user id.
func (f *callsFixture) as(t *testing.T, user, role string, r callRequest) (*callResult, error) {
	t.Helper()
	ap := authz.Principal{Tenant: string(f.tenant), Subject: authz.UserSubject(user), Role: role, UserID: user}
	sc, err := f.az.Scope(ap, false)
	if err != nil {
		t.Fatal(err)
	}
	p := &Principal{Kind: KindUser, Tenant: f.tenant, Authz: ap}
	f.run.cmds = nil
	return f.calls.run(context.Background(), p, sc, &r)
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	if e := toError(err); err == nil || e.Status != status {
		t.Fatalf("error %v, want status %d", err, status)
	}
}

func TestCallsResolveAndAuthorize(t *testing.T) {
	f := newCallsFixture(t)
	tests := []struct {
		name       string
		user, role string
		req        callRequest
		status     int             // 0: success
		want       pbxconn.Command // fields checked when status is 0
	}{
		{name: "agent parks own call: the peer is parked", user: "u1", role: "agent",
			req: callRequest{Name: "park", Channel: "p1:1.1"}, want: pbxconn.Command{Op: pbxconn.OpPark, Channel: "PJSIP/trunk-00000002", UniqueID: "1.2"}},
		{name: "agent transfers own leg: BlindTransfer", user: "u1", role: "agent",
			req: callRequest{Name: "transfer", Channel: "p1:1.1", Target: "1002"}, want: pbxconn.Command{Op: pbxconn.OpBlindXfer, Channel: "PJSIP/1001-00000001", Exten: "1002", Context: "default"}},
		{name: "agent transfers the customer leg: Redirect", user: "u1", role: "agent",
			req: callRequest{Name: "transfer", Channel: "p1:1.2", Target: "8000"}, want: pbxconn.Command{Op: pbxconn.OpRedirect, Channel: "PJSIP/trunk-00000002", Exten: "8000"}},
		{name: "atxfer cancel hangs up the consultation leg", user: "u1", role: "agent",
			req: callRequest{Name: "atxfer_cancel", Channel: "p1:1.1"}, want: pbxconn.Command{Op: pbxconn.OpHangup, Channel: "PJSIP/trunk-00000002"}},
		{name: "atxfer complete hangs up the transferer", user: "u1", role: "agent",
			req: callRequest{Name: "atxfer", Action: "complete", Channel: "p1:1.1"}, want: pbxconn.Command{Op: pbxconn.OpHangup, Channel: "PJSIP/1001-00000001"}},
		{name: "atxfer bad action", user: "u1", role: "agent", req: callRequest{Name: "atxfer", Action: "maybe", Channel: "p1:1.1"}, status: 400},
		{name: "another agent's call", user: "u2", role: "agent", req: callRequest{Name: "hangup", Channel: "p1:1.1"}, status: 403},
		{name: "unknown channel", user: "u1", role: "agent", req: callRequest{Name: "hangup", Channel: "p1:9.9"}, status: 404},
		{name: "supervisor picks up a queued call to her extension", user: "u3", role: "supervisor",
			req: callRequest{Name: "pickup", Channel: "p1:2.1"}, want: pbxconn.Command{Op: pbxconn.OpRedirect, Channel: "PJSIP/trunk-00000003", Exten: "1005"}},
		{name: "agent may not pick up a queued call of nobody's", user: "u1", role: "agent", req: callRequest{Name: "pickup", Channel: "p1:2.1"}, status: 403},
		{name: "supervisor spies from her terminal", user: "u3", role: "supervisor",
			req: callRequest{Name: "whisper", Channel: "p1:1.1"}, want: pbxconn.Command{Op: pbxconn.OpSpy, Mode: pbxconn.SpyWhisper, Endpoint: "PJSIP/1005", Channel: "PJSIP/1001-00000001"}},
		{name: "agent pauses own membership", user: "u2", role: "agent",
			req: callRequest{Name: "pause", Group: "p1:support", Reason: "lunch"}, want: pbxconn.Command{Op: pbxconn.OpQueuePause, Queue: "support", Interface: "PJSIP/1002", Reason: "lunch"}},
		{name: "agent pauses another", user: "u1", role: "agent", req: callRequest{Name: "pause", Group: "p1:support", User: "u2"}, status: 403},
		{name: "supervisor pauses another", user: "u3", role: "supervisor",
			req: callRequest{Name: "queue_pause", Group: "p1:support", User: "u2"}, want: pbxconn.Command{Op: pbxconn.OpQueuePause, Interface: "PJSIP/1002"}},
		{name: "logout of a non-member", user: "u1", role: "agent", req: callRequest{Name: "logout", Group: "p1:support"}, status: 404},
		{name: "login uses the user's terminal", user: "u1", role: "agent",
			req: callRequest{Name: "login", Group: "p1:support"}, want: pbxconn.Command{Op: pbxconn.OpQueueAdd, Queue: "support", Interface: "PJSIP/1001", Member: "alice"}},
		{name: "originate from own terminal", user: "u1", role: "agent",
			req: callRequest{Name: "originate", To: "+15550001234"}, want: pbxconn.Command{Op: pbxconn.OpOriginate, Endpoint: "PJSIP/1001", Exten: "+15550001234", PBX: "p1"}},
		{name: "originate to a dial string", user: "u1", role: "agent", req: callRequest{Name: "originate", To: "PJSIP/evil@trunk"}, status: 400},
		{name: "dnd of another", user: "u1", role: "agent", req: callRequest{Name: "dnd", User: "u2", DND: ptrBool(true)}, status: 403},
		{name: "own dnd", user: "u1", role: "agent", req: callRequest{Name: "dnd", DND: ptrBool(true)},
			want: pbxconn.Command{Op: pbxconn.OpDeviceState, Device: "Stasis:hookflash-dnd-u1", State: "BUSY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.as(t, tc.user, tc.role, tc.req)
			if tc.status != 0 {
				wantStatus(t, err, tc.status)
				if len(f.run.cmds) != 0 {
					t.Fatalf("a refused request ran %+v", f.run.cmds)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(f.run.cmds) != 1 {
				t.Fatalf("ran %d commands", len(f.run.cmds))
			}
			got, w := f.run.cmds[0], tc.want
			check := func(name, g, w string) {
				if w != "" && g != w {
					t.Errorf("%s = %q, want %q", name, g, w)
				}
			}
			check("op", got.Op, w.Op)
			check("channel", got.Channel, w.Channel)
			check("uniqueid", got.UniqueID, w.UniqueID)
			check("exten", got.Exten, w.Exten)
			check("context", got.Context, w.Context)
			check("endpoint", got.Endpoint, w.Endpoint)
			check("mode", got.Mode, w.Mode)
			check("queue", got.Queue, w.Queue)
			check("interface", got.Interface, w.Interface)
			check("member", got.Member, w.Member)
			check("reason", got.Reason, w.Reason)
			check("pbx", got.PBX, w.PBX)
			check("device", got.Device, w.Device)
			check("state", got.State, w.State)
			if got.Tenant != string(f.tenant) || got.Principal != "user:"+tc.user {
				t.Errorf("tenant/principal %q %q", got.Tenant, got.Principal)
			}
		})
	}
}

func TestCallsOtherTenantAndErrors(t *testing.T) {
	f := newCallsFixture(t)
	// The same uuid seen from another tenant does not exist.
	ap := authz.Principal{Tenant: "other.example", Subject: authz.UserSubject("x"), Role: authz.RoleAdmin, UserID: "x"}
	if _, err := f.az.EnsureDefaults(context.Background(), "other.example"); err != nil {
		t.Fatal(err)
	}
	sc, err := f.az.Scope(ap, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.calls.run(context.Background(), &Principal{Kind: KindUser, Tenant: "other.example", Authz: ap}, sc, &callRequest{Name: "hangup", Channel: "p1:1.1"})
	wantStatus(t, err, http.StatusNotFound)
	// Unknown request names stay the hub's to word.
	if _, err := f.as(t, "u1", "agent", callRequest{Name: "explode"}); !errors.Is(err, hub.ErrUnknownRequest) {
		t.Fatalf("unknown request: %v", err)
	}
	// Command errors map to their codes.
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{pbxconn.ErrPBXUnavailable, 503, "pbx_unavailable"}, {pbxconn.ErrCommandTimeout, 504, "timeout"},
		{pbxconn.ErrRejectedByPBX, 422, "rejected_by_pbx"}, {pbxconn.ErrUnsupported, 422, "unsupported"},
		{pbxconn.ErrChannelGone, 404, "not_found"}, {pbxconn.ErrCommandInvalid, 400, "invalid"},
	} {
		if e := toError(c.err); e.Status != c.status || e.Code != c.code {
			t.Errorf("%v → %d %s, want %d %s", c.err, e.Status, e.Code, c.status, c.code)
		}
	}
}

func ptrBool(b bool) *bool { return &b }
