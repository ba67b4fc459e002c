package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// TestAdminREST walks the administration surface on each backend: a tenant
// with its first admin, users with terminals, a PBX whose secrets never come
// back, tokens shown once, policies validated, an audit row per change, and a
// second tenant that sees none of it.
func TestAdminREST(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			r := startReplica(t, b)
			a := newTenant(t, r)
			other := newTenant(t, r)
			api := r.base + "/api/v1"

			// Users.
			u := call(t, "POST", api+"/users", a.adminToken, map[string]any{
				"username": "alice", "password": "alice-password", "name": "Alice", "role": "agent",
				"main_extension": "1001", "terminals": []string{"PJSIP/1001"}})
			mustStatus(t, u, 201, "create user")
			if strings.Contains(string(u.raw), "argon2") || strings.Contains(string(u.raw), "password") {
				t.Fatalf("user response leaks the password hash: %s", u.raw)
			}
			dup := call(t, "POST", api+"/users", a.adminToken, map[string]any{"username": "ALICE", "password": "another-password"})
			mustStatus(t, dup, 409, "duplicate username (case-insensitive)")
			short := call(t, "POST", api+"/users", a.adminToken, map[string]any{"username": "bob", "password": "short"})
			mustStatus(t, short, 400, "short password")

			// Login by username, by user@domain and by extension is one principal.
			for _, name := range []string{"alice", "Alice@" + a.domain, "1001"} {
				res := call(t, "POST", api+"/auth/login", "", map[string]any{"domain": a.domain, "username": name, "password": "alice-password"})
				mustStatus(t, res, 200, "login as "+name)
				me := call(t, "GET", api+"/auth/me", res.str("token"), nil)
				if me.str("user_id") != u.str("id") {
					t.Fatalf("login %q resolved to %v, want user %s", name, me.body, u.str("id"))
				}
			}
			bad := call(t, "POST", api+"/auth/login", "", map[string]any{"domain": a.domain, "username": "alice", "password": "wrong-password"})
			mustStatus(t, bad, 401, "wrong password")

			// An agent may not administer.
			agent := call(t, "POST", api+"/auth/login", "", map[string]any{"domain": a.domain, "username": "alice", "password": "alice-password"})
			mustStatus(t, call(t, "GET", api+"/users", agent.str("token"), nil), 403, "agent lists users")

			// PBX with write-only secrets.
			p := call(t, "POST", api+"/pbxes", a.adminToken, map[string]any{
				"name": "main", "ari_url": "http://127.0.0.1:1/ari", "ari_user": "cti", "ari_password": "ari-s3cret",
				"ami_addr": "127.0.0.1:1", "ami_user": "cti", "ami_secret": "ami-s3cret"})
			mustStatus(t, p, 201, "create pbx")
			pid := p.str("id")
			for _, res := range []apiResult{p, call(t, "GET", api+"/pbxes/"+pid, a.adminToken, nil), call(t, "GET", api+"/pbxes", a.adminToken, nil)} {
				if strings.Contains(string(res.raw), "s3cret") {
					t.Fatalf("a read returned a PBX secret: %s", res.raw)
				}
			}
			mustStatus(t, call(t, "POST", api+"/pbxes", a.adminToken, map[string]any{"name": "x", "ari_url": "ftp://x"}), 400, "bad ari_url")
			test := call(t, "POST", api+"/pbxes/"+pid+"/test", a.adminToken, nil)
			mustStatus(t, test, 200, "test pbx")
			if test.body["ok"] != false {
				t.Fatalf("test of an unreachable PBX says ok: %s", test.raw)
			}

			// Tokens: secret once, hash stored.
			tk := call(t, "POST", api+"/tokens", a.adminToken, map[string]any{"name": "crm", "role": "integrator"})
			mustStatus(t, tk, 201, "create token")
			secret := tk.str("secret")
			if !strings.HasPrefix(secret, "hfk_") {
				t.Fatalf("token secret %q lacks the hfk_ prefix", secret)
			}
			list := call(t, "GET", api+"/tokens", a.adminToken, nil)
			if strings.Contains(string(list.raw), secret) {
				t.Fatal("token list shows the secret")
			}
			mustStatus(t, call(t, "GET", api+"/auth/me", secret, nil), 200, "token works")
			// Basic domain:token is accepted; another domain is not.
			mustStatus(t, basic(t, api+"/auth/me", a.domain, secret), 200, "basic domain:token")
			mustStatus(t, basic(t, api+"/auth/me", other.domain, secret), 401, "basic with the wrong domain")

			// Policies: invalid lines refused, valid ones stored.
			mustStatus(t, call(t, "PUT", api+"/policies", a.adminToken, map[string]any{"lines": [][]string{{"p", "agent", other.domain, "element/channel", "read"}}}), 400, "cross-domain policy")
			pol := call(t, "GET", api+"/policies", a.adminToken, nil)
			mustStatus(t, pol, 200, "get policies")

			// Tenant walls: the other tenant's admin sees nothing of A.
			for _, path := range []string{"/users/" + u.str("id"), "/pbxes/" + pid} {
				mustStatus(t, call(t, "GET", api+path, other.adminToken, nil), 404, "other tenant reads "+path)
				mustStatus(t, call(t, "PATCH", api+path, other.adminToken, map[string]any{"name": "pwned"}), 404, "other tenant patches "+path)
				mustStatus(t, call(t, "DELETE", api+path, other.adminToken, nil), 404, "other tenant deletes "+path)
			}
			mustStatus(t, call(t, "DELETE", api+"/tokens/"+tk.str("token", "id"), other.adminToken, nil), 404, "other tenant revokes A's token")
			ol := call(t, "GET", api+"/users", other.adminToken, nil)
			if strings.Contains(string(ol.raw), "alice") {
				t.Fatalf("other tenant's user list shows A's user: %s", ol.raw)
			}
			// A tenant admin is not the platform admin.
			mustStatus(t, call(t, "GET", api+"/tenants", a.adminToken, nil), 403, "tenant admin lists tenants")

			// Revocation.
			mustStatus(t, call(t, "DELETE", api+"/tokens/"+tk.str("token", "id"), a.adminToken, nil), 204, "revoke")
			mustStatus(t, call(t, "GET", api+"/auth/me", secret, nil), 401, "revoked token")

			// Audit rows.
			au := call(t, "GET", api+"/audit", a.adminToken, nil)
			var entries struct {
				Entries []struct{ Action string } `json:"entries"`
			}
			_ = json.Unmarshal(au.raw, &entries)
			seen := map[string]bool{}
			for _, e := range entries.Entries {
				seen[e.Action] = true
			}
			for _, want := range []string{"tenant.create", "user.create", "pbx.create", "token.create", "token.revoke"} {
				if !seen[want] {
					t.Errorf("audit log lacks %s: %s", want, au.raw)
				}
			}
		})
	}
}

func basic(t *testing.T, url, user, pass string) apiResult {
	t.Helper()
	return call(t, "GET", strings.Replace(url, "http://", "http://"+user+":"+pass+"@", 1), "", nil)
}

func TestLoginIsRateLimited(t *testing.T) {
	r := startReplica(t, backend{name: "memory"}, "--login-rate", "3")
	a := newTenant(t, r) // one successful login counts too
	var last apiResult
	for i := 0; i < 5; i++ {
		last = call(t, "POST", r.base+"/api/v1/auth/login", "", map[string]any{"domain": a.domain, "username": "boss", "password": "nope-nope-nope"})
	}
	mustStatus(t, last, 429, "after too many attempts")
	if !strings.Contains(string(last.raw), "retry") {
		t.Fatalf("429 does not say when to retry: %s", last.raw)
	}
}

// TestRevocationClosesSockets: a token's socket closes (4003) within 1 s of
// its revocation, also when socket and revocation are on different replicas;
// logging out closes the session's sockets.
func TestRevocationClosesSockets(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			r1 := startReplica(t, b)
			r2 := r1
			if b.redisURL != "" {
				r2 = startReplica(t, b)
			}
			a := newTenant(t, r1)
			tk := call(t, "POST", r1.base+"/api/v1/tokens", a.adminToken, map[string]any{"name": "crm"})
			mustStatus(t, tk, 201, "create token")
			c := dialFeed(t, wsURL(r2.base, tk.str("secret"), ""))
			start := time.Now()
			mustStatus(t, call(t, "DELETE", r1.base+"/api/v1/tokens/"+tk.str("token", "id"), a.adminToken, nil), 204, "revoke")
			if code := waitClose(t, c, 2*time.Second); code != 4003 {
				t.Fatalf("close code %d, want 4003", code)
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("socket closed %s after revocation, want within 1s", took)
			}

			s := dialFeed(t, wsURL(r2.base, a.adminToken, ""))
			mustStatus(t, call(t, "POST", r1.base+"/api/v1/auth/logout", a.adminToken, nil), 204, "logout")
			if code := waitClose(t, s, 2*time.Second); code != 4003 {
				t.Fatalf("after logout: close code %d, want 4003", code)
			}
			mustStatus(t, call(t, "GET", r1.base+"/api/v1/auth/me", a.adminToken, nil), 401, "session after logout")
		})
	}
}

func TestFeedRefusesBadRequests(t *testing.T) {
	r := startReplica(t, backend{name: "memory"})
	a := newTenant(t, r)
	u := call(t, "POST", r.base+"/api/v1/users", a.adminToken, map[string]any{"username": "agent1", "password": "agent-password", "role": "agent"})
	mustStatus(t, u, 201, "create agent")
	agent := call(t, "POST", r.base+"/api/v1/auth/login", "", map[string]any{"domain": a.domain, "username": "agent1", "password": "agent-password"})
	cases := []struct {
		name, url string
		status    int
	}{
		{"no token", wsURL(r.base, "", ""), 401},
		{"unknown token", wsURL(r.base, "hfk_nope", ""), 401},
		{"agent asks full_events", wsURL(r.base, agent.str("token"), "full_events=true"), 403},
		{"bad since", wsURL(r.base, a.adminToken, "since=garbage"), 400},
		{"bad encoding", wsURL(r.base, a.adminToken, "encoding=xml"), 400},
		{"platform admin", wsURL(r.base, testAdminToken, ""), 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := websocketDial(tc.url)
			if err == nil {
				t.Fatal("dial succeeded")
			}
			if resp == nil || resp.StatusCode != tc.status {
				got := 0
				if resp != nil {
					got = resp.StatusCode
				}
				t.Fatalf("status %d, want %d", got, tc.status)
			}
		})
	}
	// The admin may use full_events.
	c := dialFeed(t, wsURL(r.base, a.adminToken, "full_events=true"))
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil || !strings.Contains(string(msg), "initial_info") {
		t.Fatalf("admin full_events: first message %q, err %v", msg, err)
	}
}

// TestPolicyChangeReachesOpenSockets: a policy edit on one replica reaches a
// socket on another within 1 s — a narrowed scope resyncs it under the new
// rules, and a scope left with nothing closes it (4003).
func TestPolicyChangeReachesOpenSockets(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			r1 := startReplica(t, b)
			r2 := r1
			if b.redisURL != "" {
				r2 = startReplica(t, b)
			}
			a := newTenant(t, r1)
			api := r1.base + "/api/v1"
			mustStatus(t, call(t, "POST", api+"/users", a.adminToken, map[string]any{"username": "sup", "password": "sup-password", "role": "supervisor"}), 201, "supervisor")
			sup := call(t, "POST", api+"/auth/login", "", map[string]any{"domain": a.domain, "username": "sup", "password": "sup-password"})
			c := dialFeed(t, wsURL(r2.base, sup.str("token"), ""))
			readUntil(t, c, 3*time.Second, func(m wireMsg) bool { return m.Type == "initial_info" && m.Element == "pbx" })

			pol := call(t, "GET", api+"/policies", a.adminToken, nil)
			var lines struct{ Lines [][]string }
			_ = json.Unmarshal(pol.raw, &lines)
			edit := func(drop func(l []string) bool) {
				var kept [][]string
				for _, l := range lines.Lines {
					if !drop(l) {
						kept = append(kept, l)
					}
				}
				mustStatus(t, call(t, "PUT", api+"/policies", a.adminToken, map[string]any{"lines": kept}), 200, "put policies")
				lines.Lines = kept
			}
			// Narrow: supervisors lose the tenant-wide channel view.
			start := time.Now()
			edit(func(l []string) bool { return len(l) > 3 && l[1] == "supervisor" && l[3] == "channels/all" })
			readUntil(t, c, 2*time.Second, func(m wireMsg) bool { return m.Type == "initial_info" })
			if took := time.Since(start); took > time.Second {
				t.Fatalf("narrowed scope reached the socket after %s, want within 1s", took)
			}
			// Withdraw everything the supervisor could see: the socket closes.
			edit(func(l []string) bool {
				return len(l) > 3 && l[1] == "supervisor" && strings.HasPrefix(l[3], "element/")
			})
			if code := waitClose(t, c, 2*time.Second); code != 4003 {
				t.Fatalf("close code %d, want 4003", code)
			}
		})
	}
}

// readUntil reads messages until match returns true or the time is up.
func readUntil(t *testing.T, c *websocket.Conn, within time.Duration, match func(wireMsg) bool) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	defer c.SetReadDeadline(time.Time{})
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("no matching message within %s: %v", within, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m wireMsg
			if json.Unmarshal([]byte(line), &m) == nil && match(m) {
				return
			}
		}
	}
}
