package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/internal/testenv"
)

// TestCallControlAcrossReplicas: two replicas on one Postgres and Redis; a
// command sent to the replica that does not hold the PBX's lease runs on
// the one that does (Redis request/reply), and concurrent retries of one
// originate with the same Idempotency-Key dial exactly once.
func TestCallControlAcrossReplicas(t *testing.T) {
	b := backend{name: "postgres+redis", dbURL: testenv.Postgres(t), redisURL: testenv.RedisURL(t)}
	r1 := startReplica(t, b)
	r2 := startReplica(t, b)
	// let both replicas see each other before the PBX exists, so its
	// lease does not move right after it is taken
	time.Sleep(1500 * time.Millisecond)
	e := newCCEnv(t, r1, r2)
	var owner, other *replica
	e.eventually(t, 15*time.Second, "one replica holds the pbx lease", func() bool {
		for i, r := range e.reps {
			for _, ref := range r.app.supervisor.Held() {
				if ref.ID == e.pbxID {
					owner, other = r, e.reps[1-i]
					return true
				}
			}
		}
		return false
	})
	for _, ref := range other.app.supervisor.Held() {
		if ref.ID == e.pbxID {
			t.Fatal("both replicas hold the lease")
		}
	}
	_ = owner

	leg := e.customerCall(t, "park", "9020", "alice", "1001")
	key := leg["uuid"].(string)
	res := call(t, "POST", other.base+"/api/v1/calls/"+key+"/hangup", e.tokens["alice"], nil)
	mustStatus(t, res, 200, "hangup through the replica without the lease")
	e.eventually(t, 5*time.Second, "channel gone from the pbx", func() bool { return !simHas(e.sim, localID(key)) })
	hangupAll(t, e)

	before := map[string]bool{}
	for _, c := range e.sim.Channels() {
		before[c.Linkedid] = true
	}
	body := map[string]any{"from_user": e.users["alice"], "to": "7000"}
	idem := "dial-once-" + testenv.Random(4)
	var wg sync.WaitGroup
	uuids := make([]string, 6)
	codes := make([]int, 6)
	for i := range uuids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := e.reps[i%2].base
			r := callWithKey(t, base+"/api/v1/calls", e.tokens["integrator"], idem, body)
			uuids[i], codes[i] = r.str("uuid"), r.status
		}()
	}
	wg.Wait()
	for i := range uuids {
		if codes[i] != 200 || uuids[i] == "" || uuids[i] != uuids[0] {
			t.Fatalf("concurrent retries answered %v %v, want one uuid", codes, uuids)
		}
	}
	calls := map[string]bool{}
	for _, c := range e.sim.Channels() {
		if !before[c.Linkedid] {
			calls[c.Linkedid] = true
		}
	}
	if len(calls) != 1 || !simHas(e.sim, localID(uuids[0])) {
		t.Fatalf("the pbx got %d new calls (%v), want exactly the one of %s", len(calls), calls, uuids[0])
	}
	// a later retry through the other replica still gets the same answer
	r := callWithKey(t, other.base+"/api/v1/calls", e.tokens["integrator"], idem, body)
	if r.str("uuid") != uuids[0] {
		t.Fatalf("late retry: %s", r.raw)
	}
	// the same key with another command is a new request, not a retry
	r = callWithKey(t, other.base+"/api/v1/calls", e.tokens["integrator"], idem, map[string]any{"from_user": e.users["bob"], "to": "7000"})
	mustStatus(t, r, 200, "same key, other command")
	if r.str("uuid") == uuids[0] || !strings.HasPrefix(r.str("uuid"), e.pbxID+":") {
		t.Fatalf("same key with another command returned %s", r.raw)
	}
	hangupAll(t, e)
}
