package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// TestPrivacyMaskingAndTokenSwap: with the tenant's privacy rule on, a
// principal without privacy/bypass gets masked numbers in the feed and in
// REST while the admin (bypass) gets them clear; a session socket swaps in a
// renewed token with the `token` request and refuses another principal's.
func TestPrivacyMaskingAndTokenSwap(t *testing.T) {
	r := startReplica(t, backend{name: "memory"}, "--login-rate", "1000")
	a := newTenant(t, r)
	api := r.base + "/api/v1"
	mustStatus(t, call(t, "PATCH", api+"/tenants/"+a.domain, testAdminToken, map[string]any{
		"privacy": map[string]any{"enabled": true, "keep_last": 3, "mask_char": "x"}}), 200, "privacy rule")
	mustStatus(t, call(t, "POST", api+"/users", a.adminToken, map[string]any{"username": "sup", "password": "sup-password", "role": "supervisor"}), 201, "supervisor")
	login := func() string {
		res := call(t, "POST", api+"/auth/login", "", map[string]any{"domain": a.domain, "username": "sup", "password": "sup-password"})
		mustStatus(t, res, 200, "login")
		return res.str("token")
	}
	sup := login()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := pbxsim.Start(ctx, pbxsim.Config{Name: "mask"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	au, ap := sim.ARICredentials()
	mu, ms := sim.AMICredentials()
	mustStatus(t, call(t, "POST", api+"/pbxes", a.adminToken, map[string]any{"name": "pbx", "ari_url": sim.ARIURL(), "ari_user": au,
		"ari_password": ap, "ari_app": "cti", "ami_addr": sim.AMIAddr(), "ami_user": mu, "ami_secret": ms}), 201, "pbx")

	supFeed := dialFeed(t, wsURL(r.base, sup, ""))
	adminFeed := dialFeed(t, wsURL(r.base, a.adminToken, "full_events=true"))
	tctx, tcancel := context.WithTimeout(ctx, 4*time.Second)
	defer tcancel()
	go func() {
		_ = pbxsim.RunTraffic(tctx, []*pbxsim.PBX{sim}, pbxsim.TrafficConfig{CallsPerSecond: 2, TalkTime: 2 * time.Second}, nil)
	}()

	// The customer numbers of the simulator look like +15550009001.
	clear := regexp.MustCompile(`"calling_number":"\+1555\d{7}"`)
	masked := regexp.MustCompile(`"calling_number":"x+\d{3}"`)
	sawMasked, sawClear := false, false
	readUntil(t, supFeed, 6*time.Second, func(m wireMsg) bool {
		if m.Element == "channel" {
			if clear.Match(m.Data) {
				t.Fatalf("supervisor (no privacy/bypass) got a clear number: %s", m.Data)
			}
			sawMasked = sawMasked || masked.Match(m.Data)
		}
		return sawMasked
	})
	readUntil(t, adminFeed, 6*time.Second, func(m wireMsg) bool {
		sawClear = sawClear || (m.Element == "channel" && clear.Match(m.Data))
		return sawClear
	})
	// REST obeys the same rule.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := call(t, "GET", api+"/calls", sup, nil)
		if clear.Match(res.raw) {
			t.Fatalf("GET /calls shows the supervisor a clear number: %s", res.raw)
		}
		if masked.Match(res.raw) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /calls never showed a masked number: %s", res.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Token swap on the open socket.
	renewed := login()
	send := func(body map[string]any) wireResponse {
		b, _ := json.Marshal(body)
		if err := supFeed.WriteMessage(1, b); err != nil {
			t.Fatal(err)
		}
		var got wireResponse
		readUntil(t, supFeed, 3*time.Second, func(m wireMsg) bool {
			if m.Type != "response" {
				return false
			}
			got = wireResponse{Result: m.Result, Error: m.Error, ID: m.ID}
			return m.ID == body["id"]
		})
		return got
	}
	if res := send(map[string]any{"id": "t1", "request": "token", "token": renewed}); res.Result != "success" {
		t.Fatalf("token swap: %+v", res)
	}
	if res := send(map[string]any{"id": "t2", "request": "token", "token": a.adminToken}); res.Result != "error" || !strings.Contains(res.Error, "another principal") {
		t.Fatalf("swap to another principal's token: %+v", res)
	}
	// The old session may end now: the socket lives on the renewed one.
	mustStatus(t, call(t, "POST", api+"/auth/logout", sup, nil), 204, "logout old session")
	if res := send(map[string]any{"id": "p1", "request": "ping"}); res.Result != "success" {
		t.Fatalf("socket after logging out the old session: %+v", res)
	}
}

type wireResponse struct{ ID, Result, Error string }
