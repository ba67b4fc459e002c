package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// ccEnv is a tenant on one or more replicas with a simulated PBX and users
// of every role: alice and bob (agents, on simulated agents 1001 and 1002),
// carol (supervisor, 1005), dave (agent, 1010, member of no queue) and an
// integrator token.
type ccEnv struct {
	reps   []*replica
	sim    *pbxsim.PBX
	tf     tenantFixture
	pbxID  string
	users  map[string]string // username -> user id
	tokens map[string]string // username or "integrator" -> token
}

func newCCEnv(t *testing.T, reps ...*replica) *ccEnv {
	t.Helper()
	r := reps[0]
	e := &ccEnv{reps: reps, tf: newTenant(t, r), users: map[string]string{}, tokens: map[string]string{}}
	sim, err := pbxsim.Start(context.Background(), pbxsim.Config{Name: "sim", Speed: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e.sim = sim
	for _, u := range []struct{ name, role, ext string }{
		{"alice", "agent", "1001"}, {"bob", "agent", "1002"}, {"carol", "supervisor", "1005"}, {"dave", "agent", "1010"},
	} {
		res := call(t, "POST", r.base+"/api/v1/users", e.tf.adminToken, map[string]any{
			"username": u.name, "password": u.name + "-password", "role": u.role, "name": strings.ToUpper(u.name[:1]) + u.name[1:],
			"main_extension": u.ext, "terminals": []string{"Local/" + u.ext + "@agents"}})
		mustStatus(t, res, 201, "create user "+u.name)
		e.users[u.name] = res.str("id")
		login := call(t, "POST", r.base+"/api/v1/auth/login", "", map[string]any{"domain": e.tf.domain, "username": u.name, "password": u.name + "-password"})
		mustStatus(t, login, 200, "login "+u.name)
		e.tokens[u.name] = login.str("token")
	}
	tok := call(t, "POST", r.base+"/api/v1/tokens", e.tf.adminToken, map[string]any{"name": "crm", "role": "integrator"})
	mustStatus(t, tok, 201, "token")
	e.tokens["integrator"] = tok.str("secret")
	au, ap := sim.ARICredentials()
	mu, ms := sim.AMICredentials()
	pbx := call(t, "POST", r.base+"/api/v1/pbxes", e.tf.adminToken, map[string]any{
		"name": "sim", "ari_url": sim.ARIURL(), "ari_user": au, "ari_password": ap, "ari_app": "cti",
		"ami_addr": sim.AMIAddr(), "ami_user": mu, "ami_secret": ms})
	mustStatus(t, pbx, 201, "pbx")
	e.pbxID = pbx.str("id")
	e.eventually(t, 15*time.Second, "pbx live", func() bool {
		for _, g := range e.live(t, "group") {
			if g["pbx_id"] == e.pbxID {
				return true
			}
		}
		return false
	})
	// the connector is live once groups arrived; commands may still race
	// its first resync on a slow machine, so wait for the pbx element too.
	e.eventually(t, 10*time.Second, "pbx status live", func() bool {
		res := call(t, "GET", r.base+"/api/v1/pbxes/"+e.pbxID, e.tf.adminToken, nil)
		return res.status == 200
	})
	return e
}

func (e *ccEnv) base() string { return e.reps[0].base }

// live returns the tenant's current elements of one kind (integrator view).
func (e *ccEnv) live(t *testing.T, kind string) []map[string]any {
	t.Helper()
	path := map[string]string{"channel": "/calls", "group": "/groups", "group_member": "/groups", "queued_channel": "/groups", "parked_channel": "/parked"}[kind]
	res := call(t, "GET", e.base()+"/api/v1"+path, e.tokens["integrator"], nil)
	if res.status != 200 {
		t.Fatalf("GET %s: %d %s", path, res.status, res.raw)
	}
	list, _ := res.body[kind].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func (e *ccEnv) eventually(t *testing.T, within time.Duration, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			var why string
			for _, f := range explain {
				why += " " + f()
			}
			t.Fatalf("%s: not within %s%s", what, within, why)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// channelOf returns the live channel of user whose name starts with prefix
// ("" = any), waiting for it.
func (e *ccEnv) channelOf(t *testing.T, user, state string) map[string]any {
	t.Helper()
	var found map[string]any
	e.eventually(t, 10*time.Second, "channel of "+user+" in state "+state, func() bool {
		for _, c := range e.live(t, "channel") {
			st, _ := c["state"].(map[string]any)
			name, _ := c["name"].(string)
			if c["user_id"] == e.users[user] && (state == "" || st["name"] == state) && !strings.HasSuffix(name, ";2") {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// customerCall makes customer num call agent ext and returns the agent's
// bridged channel element.
func (e *ccEnv) customerCall(t *testing.T, flow, num, user, ext string) map[string]any {
	t.Helper()
	if err := e.sim.PinFlow(flow); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.Originate(pbxsim.OriginateRequest{Endpoint: "Local/" + num + "@customers", Extension: ext, Context: "default"}); err != nil {
		t.Fatal(err)
	}
	return e.channelOf(t, user, "bridged")
}

func (e *ccEnv) post(t *testing.T, who, path string, body any) apiResult {
	t.Helper()
	return call(t, "POST", e.base()+"/api/v1"+path, e.tokens[who], body)
}

func simHas(sim *pbxsim.PBX, uid string) bool {
	for _, c := range sim.Channels() {
		if c.ID == uid {
			return true
		}
	}
	return false
}

func localID(key string) string {
	_, l, _ := strings.Cut(key, ":")
	return l
}

// feedRecorder reads one socket in the background and keeps every message.
type feedRecorder struct {
	c    *websocket.Conn
	mu   sync.Mutex
	msgs []ccMsg
	wmu  sync.Mutex // serializes writes
}

type ccMsg struct {
	Type    string          `json:"type"`
	Element string          `json:"element"`
	Event   string          `json:"event"`
	ID      string          `json:"id"`
	Result  string          `json:"result"`
	Error   string          `json:"error"`
	Data    json.RawMessage `json:"data"`
}

func recordFeed(t *testing.T, url string) *feedRecorder {
	t.Helper()
	f := &feedRecorder{c: dialFeed(t, url)}
	go func() {
		for {
			_, data, err := f.c.ReadMessage()
			if err != nil {
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				var m ccMsg
				if json.Unmarshal([]byte(line), &m) == nil {
					f.mu.Lock()
					f.msgs = append(f.msgs, m)
					f.mu.Unlock()
				}
			}
		}
	}()
	return f
}

// wait returns the first message matching pred, waiting up to 10 s.
func (f *feedRecorder) wait(t *testing.T, what string, pred func(m ccMsg) bool) ccMsg {
	t.Helper()
	return f.waitFrom(t, 0, what, pred)
}

// waitFrom is wait over the messages from index from on.
func (f *feedRecorder) waitFrom(t *testing.T, from int, what string, pred func(m ccMsg) bool) ccMsg {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		for _, m := range f.msgs[min(from, len(f.msgs)):] {
			if pred(m) {
				f.mu.Unlock()
				return m
			}
		}
		n := len(f.msgs)
		f.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("feed: no %s within 10s (%d messages)", what, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// channelEvent matches a channel info_event of uuid whose data satisfies ok.
func channelEvent(uuid string, ok func(d map[string]any) bool) func(ccMsg) bool {
	return func(m ccMsg) bool {
		if m.Type != "info_event" || m.Element != "channel" {
			return false
		}
		var d map[string]any
		if json.Unmarshal(m.Data, &d) != nil || d["uuid"] != uuid {
			return false
		}
		return ok(d)
	}
}

// request sends a socket request and waits for its response.
func (f *feedRecorder) request(t *testing.T, id string, req map[string]any) ccMsg {
	t.Helper()
	req["id"] = id
	b, _ := json.Marshal(req)
	f.mu.Lock()
	from := len(f.msgs)
	f.mu.Unlock()
	f.wmu.Lock()
	err := f.c.WriteMessage(websocket.TextMessage, b)
	f.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return f.waitFrom(t, from, fmt.Sprintf("response %s", id), func(m ccMsg) bool { return m.Type == "response" && m.ID == id })
}

// simChannel returns the first live PBX channel whose name has prefix and
// suffix.
func simChannel(sim *pbxsim.PBX, prefix, suffix string) *pbxsim.Channel {
	for _, c := range sim.Channels() {
		if strings.HasPrefix(c.Name, prefix) && strings.HasSuffix(c.Name, suffix) {
			return &c
		}
	}
	return nil
}

func simMember(sim *pbxsim.PBX, queue, iface string) *pbxsim.QueueMember {
	for _, m := range sim.QueueMembers() {
		if m.Queue == queue && strings.EqualFold(m.Interface, iface) {
			return &m
		}
	}
	return nil
}

// simDeviceState reads a device state from the simulator's ARI.
func simDeviceState(t *testing.T, sim *pbxsim.PBX, name string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", sim.ARIURL()+"/deviceStates/"+name, nil)
	u, p := sim.ARICredentials()
	req.SetBasicAuth(u, p)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ds struct{ State string }
	_ = json.NewDecoder(resp.Body).Decode(&ds)
	return ds.State
}

// channelEventOf matches a channel info_event of user whose data satisfies ok.
func channelEventOf(user string, ok func(d map[string]any) bool) func(ccMsg) bool {
	return func(m ccMsg) bool {
		if m.Type != "info_event" || m.Element != "channel" {
			return false
		}
		var d map[string]any
		if json.Unmarshal(m.Data, &d) != nil || d["user_id"] != user {
			return false
		}
		return ok(d)
	}
}

// callWithKey is call with an Idempotency-Key header.
func callWithKey(t *testing.T, url, token, key string, body any) apiResult {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := apiResult{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &res.body)
	return res
}
