package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// TestPBXAndUserChangesReachConnectors: a user given a terminal shows up as
// that terminal's user within seconds; a deleted PBX's elements leave the
// live state (no ghosts).
func TestPBXAndUserChangesReachConnectors(t *testing.T) {
	r := startReplica(t, backend{name: "memory"})
	a := newTenant(t, r)
	api := r.base + "/api/v1"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := pbxsim.Start(ctx, pbxsim.Config{Name: "life"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	au, ap := sim.ARICredentials()
	mu, ms := sim.AMICredentials()
	p := call(t, "POST", api+"/pbxes", a.adminToken, map[string]any{"name": "pbx", "ari_url": sim.ARIURL(), "ari_user": au,
		"ari_password": ap, "ari_app": "cti", "ami_addr": sim.AMIAddr(), "ami_user": mu, "ami_secret": ms})
	mustStatus(t, p, 201, "pbx")
	pbxID := p.str("id")

	terminalUser := func() (n int, user string) {
		s, err := r.app.broker.Snapshot(ctx, hub.Tenant(a.domain))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range s.Elements {
			if e.Element != "terminal" {
				continue
			}
			n++
			var d struct {
				ID   string `json:"id"`
				User string `json:"assoc_user_id"`
			}
			_ = json.Unmarshal(e.Data, &d)
			if d.ID == pbxID+":PJSIP/1006" {
				user = d.User
			}
		}
		return n, user
	}
	waitFor(t, 10*time.Second, "terminals published", func() bool { n, _ := terminalUser(); return n > 0 })

	u := call(t, "POST", api+"/users", a.adminToken, map[string]any{"username": "zoe", "password": "zoe-password", "terminals": []string{"PJSIP/1006"}})
	mustStatus(t, u, 201, "user")
	waitFor(t, 3*time.Second, "PJSIP/1006 assigned to the new user", func() bool { _, who := terminalUser(); return who == u.str("id") })

	mustStatus(t, call(t, "DELETE", api+"/pbxes/"+pbxID, a.adminToken, nil), 204, "delete pbx")
	waitFor(t, 10*time.Second, "the deleted PBX's elements removed", func() bool { n, _ := terminalUser(); return n == 0 })
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
