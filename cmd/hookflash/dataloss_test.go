package main

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// TestRedisDataLossRepublishes: when Redis loses a tenant's state (keys
// gone), the next publish opens a new epoch; the connector notices and
// republishes its PBX's whole state, so the snapshot is complete again —
// not only the elements that changed after the loss.
func TestRedisDataLossRepublishes(t *testing.T) {
	b := backend{name: "postgres+redis", dbURL: testenv.Postgres(t), redisURL: testenv.RedisURL(t)}
	r := startReplica(t, b)
	a := newTenant(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim, err := pbxsim.Start(ctx, pbxsim.Config{Name: "loss"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	au, ap := sim.ARICredentials()
	mu, ms := sim.AMICredentials()
	mustStatus(t, call(t, "POST", r.base+"/api/v1/pbxes", a.adminToken, map[string]any{"name": "pbx", "ari_url": sim.ARIURL(), "ari_user": au,
		"ari_password": ap, "ari_app": "cti", "ami_addr": sim.AMIAddr(), "ami_user": mu, "ami_secret": ms}), 201, "pbx")

	tn := hub.Tenant(a.domain)
	count := func(element string) (int, string) {
		s, err := r.app.broker.Snapshot(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range s.Elements {
			if e.Element == element {
				n++
			}
		}
		return n, s.Epoch
	}
	var terminals int
	var epoch string
	deadline := time.Now().Add(15 * time.Second)
	for terminals == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		terminals, epoch = count("terminal")
	}
	if terminals == 0 {
		t.Fatal("the connector never published terminals")
	}

	// Lose the tenant's Redis data.
	opt, _ := redis.ParseURL(b.redisURL)
	rc := redis.NewClient(opt)
	defer rc.Close()
	keys, err := rc.Keys(ctx, "*{"+a.domain+"}*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("tenant keys: %v %v", keys, err)
	}
	if err := rc.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	// Traffic makes the connector publish into the new epoch.
	tctx, tcancel := context.WithTimeout(ctx, 3*time.Second)
	_ = pbxsim.RunTraffic(tctx, []*pbxsim.PBX{sim}, pbxsim.TrafficConfig{CallsPerSecond: 2, TalkTime: 200 * time.Millisecond}, nil)
	tcancel()
	deadline = time.Now().Add(15 * time.Second)
	for {
		n, ep := count("terminal")
		if ep != epoch && n == terminals {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the data loss: %d of %d terminals in epoch %q (was %q): the state was not republished", n, terminals, ep, epoch)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
