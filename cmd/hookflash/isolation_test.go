package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// isoPrincipal is one random principal of the isolation test and what it saw.
type isoPrincipal struct {
	name, tenant, token, query string
	userID                     string // set for users: they may see only their audience
	full                       bool   // sees the whole tenant (integrators, admins with full_events,
	// supervisors while the policy grants them channels/all)
	base string

	mu   sync.Mutex
	seqs map[string][]uint64 // epoch -> seqs delivered
	keys []string            // element keys delivered (snapshots and deltas)
	bad  []string
}

// TestTenantIsolationProperty: random tenants, users, terminals, tokens and
// policy edits; simulated traffic on every tenant's PBX; random principals on
// every replica. No event, REST read or command ever crosses a tenant, and no
// user sees a channel whose audience lacks them.
func TestTenantIsolationProperty(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			rng := rand.New(rand.NewPCG(seed, 7))
			t.Logf("seed %d", seed)
			// Many logins come from 127.0.0.1: lift the per-IP limit.
			reps := []*replica{startReplica(t, b, "--login-rate", "10000")}
			if b.redisURL != "" {
				reps = append(reps, startReplica(t, b, "--login-rate", "10000"))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			type tenantInfo struct {
				domain string
				pbxID  string
				sim    *pbxsim.PBX
			}
			var tenants []tenantInfo
			var principals []*isoPrincipal
			var sims []*pbxsim.PBX
			var supervisors []*isoPrincipal // of the current tenant
			for i := 0; i < 3; i++ {
				r := reps[rng.IntN(len(reps))]
				tf := newTenant(t, r)
				sim, err := pbxsim.Start(ctx, pbxsim.Config{Name: fmt.Sprintf("iso%d", i)})
				if err != nil {
					t.Fatal(err)
				}
				defer sim.Close()
				sims = append(sims, sim)
				au, ap := sim.ARICredentials()
				mu, ms := sim.AMICredentials()
				p := call(t, "POST", r.base+"/api/v1/pbxes", tf.adminToken, map[string]any{"name": "pbx", "ari_url": sim.ARIURL(), "ari_user": au,
					"ari_password": ap, "ari_app": "cti", "ami_addr": sim.AMIAddr(), "ami_user": mu, "ami_secret": ms})
				mustStatus(t, p, 201, "pbx")
				tenants = append(tenants, tenantInfo{domain: tf.domain, pbxID: p.str("id"), sim: sim})

				// Random users on random terminals, random roles.
				exts := rng.Perm(5)
				for j := 0; j < 3; j++ {
					ext := fmt.Sprintf("100%d", exts[j]+1)
					role := []string{"agent", "agent", "supervisor"}[rng.IntN(3)]
					name := fmt.Sprintf("u%d", j)
					u := call(t, "POST", r.base+"/api/v1/users", tf.adminToken, map[string]any{"username": name, "password": name + "-password",
						"role": role, "terminals": []string{"PJSIP/" + ext, "Local/" + ext + "@agents"}})
					mustStatus(t, u, 201, "user")
					login := call(t, "POST", r.base+"/api/v1/auth/login", "", map[string]any{"domain": tf.domain, "username": name, "password": name + "-password"})
					mustStatus(t, login, 200, "login")
					ip := &isoPrincipal{name: tf.domain + "/" + name + "(" + role + ")", tenant: tf.domain,
						token: login.str("token"), userID: u.str("id"), full: role == "supervisor"}
					principals = append(principals, ip)
					if role == "supervisor" {
						supervisors = append(supervisors, ip)
					}
				}
				tk := call(t, "POST", r.base+"/api/v1/tokens", tf.adminToken, map[string]any{"name": "crm"})
				principals = append(principals, &isoPrincipal{name: tf.domain + "/integrator", tenant: tf.domain, token: tk.str("secret"), full: true})
				principals = append(principals, &isoPrincipal{name: tf.domain + "/admin+full", tenant: tf.domain, token: tf.adminToken, query: "full_events=true", full: true})
				// Random policy edit: sometimes supervisors lose the tenant-wide view.
				if rng.IntN(2) == 0 {
					pol := call(t, "GET", r.base+"/api/v1/policies", tf.adminToken, nil)
					var lines struct{ Lines [][]string }
					_ = json.Unmarshal(pol.raw, &lines)
					var kept [][]string
					for _, l := range lines.Lines {
						if len(l) > 3 && l[1] == "supervisor" && l[3] == "channels/all" {
							continue
						}
						kept = append(kept, l)
					}
					mustStatus(t, call(t, "PUT", r.base+"/api/v1/policies", tf.adminToken, map[string]any{"lines": kept}), 200, "policy edit")
					for _, sp := range supervisors {
						sp.full = false
					}
				}
				supervisors = nil
			}
			pbxTenant := map[string]string{}
			for _, ti := range tenants {
				pbxTenant[ti.pbxID] = ti.domain
			}

			var wg sync.WaitGroup
			for _, p := range principals {
				p.base = reps[rng.IntN(len(reps))].base
				p.seqs = map[string][]uint64{}
				wg.Add(1)
				go func() { defer wg.Done(); p.follow(ctx, t) }()
			}
			tctx, tcancel := context.WithTimeout(ctx, 6*time.Second)
			_ = pbxsim.RunTraffic(tctx, sims, pbxsim.TrafficConfig{CallsPerSecond: 6, TalkTime: 300 * time.Millisecond, Seed: int64(seed)}, nil)
			tcancel()
			time.Sleep(1500 * time.Millisecond)

			// REST reads obey the same walls.
			for _, p := range principals {
				res := call(t, "GET", p.base+"/api/v1/calls", p.token, nil)
				mustStatus(t, res, 200, p.name+" GET /calls")
				var view map[string]json.RawMessage
				_ = json.Unmarshal(res.raw, &view)
				var chans []struct {
					UUID string `json:"uuid"`
				}
				_ = json.Unmarshal(view["channel"], &chans)
				for _, c := range chans {
					if id, _, _ := pbxconn.SplitKey(c.UUID); pbxTenant[id] != p.tenant {
						t.Errorf("%s: GET /calls shows %s of tenant %q", p.name, c.UUID, pbxTenant[id])
					}
				}
			}
			// Reading another tenant's objects by id is not found.
			for i, ti := range tenants {
				other := principals[((i+1)%len(tenants))*5+4] // the admin of another tenant
				mustStatus(t, call(t, "GET", other.base+"/api/v1/pbxes/"+ti.pbxID, other.token, nil), 404, "another tenant's admin reads the PBX")
				mustStatus(t, call(t, "POST", other.base+"/api/v1/pbxes/"+ti.pbxID+"/test", other.token, nil), 404, "another tenant's admin tests the PBX")
			}
			cancel()
			wg.Wait()

			// Check every delivered event against the broker's record.
			br := reps[0].app.broker
			total := 0
			for _, p := range principals {
				p.mu.Lock()
				for _, bad := range p.bad {
					t.Errorf("%s: %s", p.name, bad)
				}
				for _, k := range p.keys {
					if id, _, ok := pbxconn.SplitKey(k); ok && pbxTenant[id] != p.tenant {
						t.Errorf("%s received element %s of tenant %q", p.name, k, pbxTenant[id])
					}
				}
				for epoch, seqs := range p.seqs {
					evs, ok, err := br.Since(context.Background(), hub.Tenant(p.tenant), epoch, 0)
					if err != nil || !ok {
						t.Fatalf("history of %s: ok=%v err=%v", p.tenant, ok, err)
					}
					bySeq := map[uint64]hub.Event{}
					for _, e := range evs {
						bySeq[e.Seq] = e
					}
					for _, s := range seqs {
						e, found := bySeq[s]
						if !found {
							t.Errorf("%s got seq %d that its tenant never published", p.name, s)
							continue
						}
						total++
						if id, _, ok := pbxconn.SplitKey(e.Key); ok && pbxTenant[id] != p.tenant {
							t.Errorf("%s got %s of another tenant", p.name, e.Key)
						}
						if p.userID != "" && e.Element == "channel" && !p.full {
							if !slices.Contains(e.Audience, p.userID) {
								t.Errorf("%s got channel %s whose audience %v lacks it", p.name, e.Key, e.Audience)
							}
						}
					}
				}
				p.mu.Unlock()
			}
			if total < 50 {
				t.Fatalf("only %d deliveries checked: the traffic did not flow", total)
			}
			t.Logf("%d deliveries to %d principals checked", total, len(principals))
		})
	}
}

func (p *isoPrincipal) follow(ctx context.Context, t *testing.T) {
	u := wsURL(p.base, p.token, p.query)
	c, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		p.mu.Lock()
		p.bad = append(p.bad, "dial: "+err.Error())
		p.mu.Unlock()
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m wireMsg
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			p.mu.Lock()
			switch m.Type {
			case "initial_info":
				var items []map[string]any
				_ = json.Unmarshal(m.Data, &items)
				for _, it := range items {
					if k := elementKey(it); k != "" {
						p.keys = append(p.keys, k)
					}
				}
			case "info_event":
				p.seqs[m.Epoch] = append(p.seqs[m.Epoch], m.Seq)
				var it map[string]any
				_ = json.Unmarshal(m.Data, &it)
				if k := elementKey(it); k != "" {
					p.keys = append(p.keys, k)
				}
			}
			p.mu.Unlock()
		}
	}
}

func elementKey(it map[string]any) string {
	for _, f := range []string{"uuid", "id"} {
		if s, ok := it[f].(string); ok && strings.Contains(s, pbxconn.KeySep) {
			return s
		}
	}
	return ""
}
