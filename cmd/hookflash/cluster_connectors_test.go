package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// clusterLeaseTTL is the lease TTL of the replicas in
// TestClusterConnectors: short, so that expiry and failover fit the test.
const clusterLeaseTTL = 2 * time.Second

// TestClusterConnectors: 3 replicas on one Redis and Postgres run the
// connectors of 50 simulated PBXes. A watcher samples every replica's held
// leases every 10 ms throughout and fails the test if any PBX is ever held by
// two replicas at once. The PBXes spread with exactly one holder each; a
// forced lease expiry (the lease keys deleted in Redis) is recovered; a
// replica whose Redis is cut off abruptly loses its PBXes to the survivors
// within 2× the lease TTL; and afterwards the live model of a few PBXes
// equals the simulator's channels after each simulator fault (socket drops,
// a stall, malformed frames, a restart).
func TestClusterConnectors(t *testing.T) {
	b := backend{name: "postgres+redis", dbURL: testenv.Postgres(t), redisURL: testenv.RedisURL(t)}
	reps := make([]*replica, 3)
	for i := range reps {
		reps[i] = startReplica(t, b, "--lease-ttl", clusterLeaseTTL.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cl, err := pbxsim.NewCluster(ctx, pbxsim.ClusterConfig{Count: 50, Base: pbxsim.Config{Name: "cc"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sims := cl.PBXes()

	// The watcher runs from before the first registration: no double
	// holding may happen during the initial spread either.
	w := newHoldWatcher(reps)
	w.start()
	defer w.stop()

	// Two tenants, the PBXes registered alternately through every replica.
	tenants := []tenantFixture{newTenant(t, reps[0]), newTenant(t, reps[1])}
	pbxIDs := make([]string, len(sims))    // store id of sims[i]
	pbxTenant := make([]string, len(sims)) // domain of sims[i]
	for i, sim := range sims {
		tf := tenants[i%len(tenants)]
		au, ap := sim.ARICredentials()
		mu, ms := sim.AMICredentials()
		res := call(t, "POST", reps[i%len(reps)].base+"/api/v1/pbxes", tf.adminToken, map[string]any{
			"name": sim.Name(), "ari_url": sim.ARIURL(), "ari_user": au, "ari_password": ap, "ari_app": "cti",
			"ami_addr": sim.AMIAddr(), "ami_user": mu, "ami_secret": ms})
		mustStatus(t, res, 201, "register "+sim.Name())
		pbxIDs[i], pbxTenant[i] = res.str("id"), tf.domain
		if pbxIDs[i] == "" {
			t.Fatalf("register %s: no id in %s", sim.Name(), res.raw)
		}
	}

	w.expect(pbxIDs)

	// Phase 1: every PBX gets exactly one holder, and its connector is live.
	t0 := time.Now()
	w.waitAllHeld(t, "initial spread", 30*time.Second)
	t.Logf("all %d PBXes held after %s; per replica %v", len(sims), time.Since(t0).Round(time.Millisecond), w.perReplica())
	for i, n := range w.perReplica() {
		if n == 0 {
			t.Errorf("replica %d holds no PBX: rendezvous hashing did not spread them", i)
		}
	}
	live := func(r *replica) []string {
		var notLive []string
		for _, tf := range tenants {
			s, err := r.app.broker.Snapshot(ctx, hub.Tenant(tf.domain))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range s.Elements {
				if e.Element != string(pbxconn.ElemPBX) {
					continue
				}
				var p pbxconn.PBX
				if err := json.Unmarshal(e.Data, &p); err != nil || p.Status != pbxconn.PBXLive {
					notLive = append(notLive, e.Key+"="+p.Status)
				}
			}
			if n := countElements(s, string(pbxconn.ElemPBX)); n != len(sims)/len(tenants) {
				notLive = append(notLive, fmt.Sprintf("%s has %d pbx elements", tf.domain, n))
			}
		}
		return notLive
	}
	clusterWait(t, 30*time.Second, "every connector live", func() string {
		if bad := live(reps[0]); len(bad) > 0 {
			return fmt.Sprintf("not live: %v", bad[:min(5, len(bad))])
		}
		return ""
	})
	w.check(t, "after the initial spread")

	// Phase 2: forced lease expiry. The lease keys of a few PBXes vanish;
	// their holders notice at the next renewal and the leases are taken again.
	opt, err := redis.ParseURL(b.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	expired := []int{0, 7, 13, 21, 34}
	var keys []string
	for _, i := range expired {
		keys = append(keys, leaseKeyOf(w.refOf(pbxIDs[i])))
	}
	if n, err := rc.Del(ctx, keys...).Result(); err != nil || n != int64(len(keys)) {
		t.Fatalf("delete lease keys %v: %d deleted, %v (is the key format still hf:pbxlease:<tenant>/<pbx>?)", keys, n, err)
	}
	clusterWait(t, 3*clusterLeaseTTL, "expired leases taken again", func() string {
		for _, k := range keys {
			h, err := rc.Get(ctx, k).Result()
			if err != nil || h == "" {
				return fmt.Sprintf("lease %s not held again: %v", k, err)
			}
		}
		return ""
	})
	w.waitAllHeld(t, "after the forced lease expiry", 3*clusterLeaseTTL)
	w.check(t, "during the forced lease expiry")

	// Phase 3: replica 2 dies abruptly: its Redis client is closed, so it
	// neither heartbeats nor renews nor releases. Its connectors stop at the
	// lease guard; the survivors take its PBXes once the leases expire.
	victim := reps[2]
	var moved []string
	for _, ref := range victim.app.supervisor.Held() {
		moved = append(moved, ref.ID)
	}
	if len(moved) == 0 {
		t.Fatal("replica 2 holds nothing to move")
	}
	killedAt := time.Now()
	if err := victim.app.redis.(*redis.Client).Close(); err != nil {
		t.Fatal(err)
	}
	w.exclude(2)
	deadline := killedAt.Add(2 * clusterLeaseTTL)
	for {
		missing := w.notHeldBySurvivors(moved)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the killed replica's %d PBXes not held by a survivor within 2× lease TTL (%s): %v",
				len(missing), len(moved), 2*clusterLeaseTTL, missing[:min(5, len(missing))])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d PBXes moved to survivors %s after the kill", len(moved), time.Since(killedAt).Round(time.Millisecond))
	if left := victim.app.supervisor.Held(); len(left) > 0 {
		t.Errorf("the killed replica still claims %d leases after they moved", len(left))
	}
	w.waitAllHeld(t, "after the kill", 2*clusterLeaseTTL)
	clusterWait(t, 30*time.Second, "every connector live on the survivors", func() string {
		if bad := live(reps[0]); len(bad) > 0 {
			return fmt.Sprintf("not live: %v", bad[:min(5, len(bad))])
		}
		return ""
	})
	w.check(t, "during the kill")

	// Phase 4: the model equals the simulator's truth for a few PBXes (one
	// that moved, others that did not) after each simulator fault: an ARI
	// drop with a hangup while it is down, an AMI drop, a write stall,
	// malformed frames, and a restart that takes every channel away.
	var picks []int
	for i, id := range pbxIDs {
		first, stayed := len(picks) == 0, !slices.Contains(moved, id)
		if first && !stayed || !first && len(picks) < 3 && stayed {
			picks = append(picks, i)
		}
	}
	t.Logf("model checks on PBXes %v (the first moved at the kill)", picks)
	for _, i := range picks {
		sim := sims[i]
		converged := func(what string) {
			t.Helper()
			stable := 0
			clusterWait(t, 15*time.Second, sim.Name()+" model equals the simulator "+what, func() string {
				truth, model := simChannels(sim), modelChannels(t, ctx, reps[0], pbxTenant[i], pbxIDs[i])
				if !slices.Equal(truth, model) {
					stable = 0
					return fmt.Sprintf("truth %q, model %q", truth, model)
				}
				if stable++; stable < 5 {
					return "stabilising"
				}
				return ""
			})
		}
		originate := func(customer, exten string) string {
			t.Helper()
			raw, err := sim.Originate(pbxsim.OriginateRequest{Endpoint: "Local/" + customer + "@customers", Extension: exten, Context: "default"})
			if err != nil {
				t.Fatalf("%s: originate: %v", sim.Name(), err)
			}
			var ch struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &ch); err != nil || ch.ID == "" {
				t.Fatalf("%s: originate returned %s (%v)", sim.Name(), raw, err)
			}
			return ch.ID
		}

		first := originate("9001", "1001")
		converged("with a call")
		if len(simChannels(sim)) == 0 {
			t.Fatalf("%s: the call left no channel in the simulator", sim.Name())
		}
		sim.DropARI()
		if err := sim.Hangup(first, "normal"); err != nil {
			t.Fatal(err)
		}
		converged("after an ARI drop with a hangup while down")
		originate("9002", "1002")
		converged("with a second call")
		sim.DropAMI()
		converged("after an AMI drop")
		sim.StallWrites(300 * time.Millisecond)
		originate("9003", "1003")
		converged("after a call during a write stall")
		sim.MalformedARI()
		sim.MalformedAMI()
		for _, c := range sim.Channels() {
			_ = sim.Hangup(c.ID, "normal") // a leg may already be gone with its peer
		}
		converged("after malformed frames and hangups")
		originate("9004", "1001")
		converged("with a call before the restart")
		if len(simChannels(sim)) == 0 {
			t.Fatalf("%s: the call left no channel in the simulator", sim.Name())
		}
		sim.Restart()
		converged("after a restart")
		if n := len(modelChannels(t, ctx, reps[0], pbxTenant[i], pbxIDs[i])); n != 0 {
			t.Errorf("%s: %d ghost channels after the restart", sim.Name(), n)
		}
	}
	w.stop()
	w.check(t, "through the whole test")
}

// leaseKeyOf is the Redis key of a PBX lease as the app's RedisCoordinator
// (prefix "hf:") builds it.
func leaseKeyOf(ref pbxconn.PBXRef) string {
	return "hf:pbxlease:" + ref.Tenant + "/" + ref.ID
}

func countElements(s *hub.Snapshot, element string) int {
	n := 0
	for _, e := range s.Elements {
		if e.Element == element {
			n++
		}
	}
	return n
}

// simChannels is the simulator's live channels as sorted "id name" lines.
func simChannels(sim *pbxsim.PBX) []string {
	var out []string
	for _, c := range sim.Channels() {
		out = append(out, c.ID+" "+c.Name)
	}
	slices.Sort(out)
	return out
}

// modelChannels is the broker's channel elements of one PBX as sorted
// "id name" lines.
func modelChannels(t *testing.T, ctx context.Context, r *replica, domain, pbxID string) []string {
	t.Helper()
	s, err := r.app.broker.Snapshot(ctx, hub.Tenant(domain))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range s.Elements {
		id, local, ok := pbxconn.SplitKey(e.Key)
		if e.Element != string(pbxconn.ElemChannel) || !ok || id != pbxID {
			continue
		}
		var c pbxconn.Channel
		if err := json.Unmarshal(e.Data, &c); err != nil {
			t.Fatalf("channel %s: %v", e.Key, err)
		}
		out = append(out, local+" "+c.Name)
	}
	slices.Sort(out)
	return out
}

// clusterWait polls cond every 20 ms until it returns "" or within passes.
func clusterWait(t *testing.T, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdWatcher samples every replica's held leases every 10 ms and records
// any PBX held by two replicas at once. Its goroutine is owned by the test:
// start it once and stop it before the replicas shut down.
type holdWatcher struct {
	reps []*replica

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	want     []string         // PBX ids that must be held; set by expect
	holders  map[string][]int // pbx id → replicas holding it at the last sample
	refs     map[string]pbxconn.PBXRef
	excluded map[int]bool // replicas whose holdings do not count as serving
	doubles  []string     // violations, first few
	ndoubles int
	samples  int
	maxGap   time.Duration // longest stretch of a PBX with no holder, after first held
	gapPBX   string
	lastHeld map[string]time.Time
}

func newHoldWatcher(reps []*replica) *holdWatcher {
	return &holdWatcher{reps: reps, quit: make(chan struct{}), done: make(chan struct{}),
		holders: map[string][]int{}, refs: map[string]pbxconn.PBXRef{}, excluded: map[int]bool{}, lastHeld: map[string]time.Time{}}
}

func (w *holdWatcher) start() {
	go func() {
		defer close(w.done)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			w.sample()
			select {
			case <-w.quit:
				return
			case <-tk.C:
			}
		}
	}()
}

func (w *holdWatcher) stop() {
	w.stopOnce.Do(func() { close(w.quit) })
	<-w.done
}

func (w *holdWatcher) sample() {
	now := time.Now()
	holders := map[string][]int{}
	refs := map[string]pbxconn.PBXRef{}
	for i, r := range w.reps {
		// The killed replica is sampled too: until its guard stops its
		// connectors it still serves, and must not overlap a survivor.
		for _, ref := range r.app.supervisor.Held() {
			holders[ref.ID] = append(holders[ref.ID], i)
			refs[ref.ID] = ref
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	w.holders = holders
	for id, ref := range refs {
		w.refs[id] = ref
	}
	for id, hs := range holders {
		if len(hs) > 1 {
			w.ndoubles++
			if len(w.doubles) < 5 {
				w.doubles = append(w.doubles, fmt.Sprintf("%s held by replicas %v at %s", id, hs, now.Format("15:04:05.000")))
			}
		}
	}
	for _, id := range w.want {
		last, seen := w.lastHeld[id]
		if len(holders[id]) > 0 {
			if seen && now.Sub(last) > w.maxGap {
				w.maxGap, w.gapPBX = now.Sub(last), id
			}
			w.lastHeld[id] = now
		}
	}
}

// expect sets the PBX ids that must be held from now on.
func (w *holdWatcher) expect(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.want = ids
}

// check fails the test if any PBX was ever held twice.
func (w *holdWatcher) check(t *testing.T, when string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ndoubles > 0 {
		t.Errorf("%s: %d samples saw a PBX held by two replicas at once, e.g. %s",
			when, w.ndoubles, strings.Join(w.doubles, "; "))
	}
	t.Logf("%s: %d samples, longest gap without a holder %s (%s)", when, w.samples, w.maxGap.Round(time.Millisecond), w.gapPBX)
}

// waitAllHeld waits until every wanted PBX has exactly one holder among the
// replicas not excluded.
func (w *holdWatcher) waitAllHeld(t *testing.T, what string, within time.Duration) {
	t.Helper()
	clusterWait(t, within, what+": every PBX held once", func() string {
		w.mu.Lock()
		defer w.mu.Unlock()
		var bad []string
		for _, id := range w.want {
			n := 0
			for _, r := range w.holders[id] {
				if !w.excluded[r] {
					n++
				}
			}
			if n != 1 {
				bad = append(bad, fmt.Sprintf("%s:%v", id, w.holders[id]))
			}
		}
		if len(bad) > 0 {
			return fmt.Sprintf("%d PBXes not held exactly once, e.g. %v", len(bad), bad[:min(5, len(bad))])
		}
		return ""
	})
}

// perReplica counts the PBXes each replica held at the last sample.
func (w *holdWatcher) perReplica() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int, len(w.reps))
	for _, hs := range w.holders {
		for _, r := range hs {
			out[r]++
		}
	}
	return out
}

// refOf returns the last seen PBXRef of a held PBX.
func (w *holdWatcher) refOf(id string) pbxconn.PBXRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refs[id]
}

// exclude stops counting replica i as a holder that serves (it was killed).
func (w *holdWatcher) exclude(i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.excluded[i] = true
}

// notHeldBySurvivors returns the ids not held by any replica not excluded.
func (w *holdWatcher) notHeldBySurvivors(ids []string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, id := range ids {
		if !slices.ContainsFunc(w.holders[id], func(r int) bool { return !w.excluded[r] }) {
			out = append(out, id)
		}
	}
	return out
}
