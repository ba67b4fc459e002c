package pbxconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookflash/hookflash/internal/testenv"
)

const supTestTTL = 2 * time.Second

// clusterMember is one supervisor of a test cluster, with its own Redis client so
// it can be cut off from Redis alone.
type clusterMember struct {
	name   string
	sup    *Supervisor
	rdb    *redis.Client
	cancel context.CancelFunc
	done   chan error
}

func (m *clusterMember) stop(t *testing.T) {
	t.Helper()
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("%s: Run: %v", m.name, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Run did not return after cancel", m.name)
	}
	m.done = nil
}

type redisCluster struct {
	t      *testing.T
	url    string
	prefix string
	admin  *redis.Client
	coord  *RedisCoordinator // for key names and inspection
	cat    *pbxCatalog
	live   *liveRuns
}

func (c *redisCluster) start(name string) *clusterMember {
	t := c.t
	t.Helper()
	opt, err := redis.ParseURL(c.url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	metrics, err := NewSupervisorMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	sup, err := NewSupervisor(SupervisorConfig{
		ReplicaID: name,
		Source:    c.cat.source,
		Run:       c.live.runFunc(name),
		Fence: func(ctx context.Context, tenant, pbx string) (uint64, error) {
			n, err := rdb.Incr(ctx, c.prefix+":fence:"+tenant+"/"+pbx).Uint64()
			return n, err
		},
		Coord:          NewRedisCoordinator(rdb, c.prefix+":"),
		LeaseTTL:       supTestTTL,
		Interval:       50 * time.Millisecond,
		SourceInterval: time.Hour, // only Refresh polls, so the tests prove it works
		RestartBackoff: 20 * time.Millisecond,
		Log:            supTestLogger(t).With("test_member", name),
		Metrics:        metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &clusterMember{name: name, sup: sup, rdb: rdb, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		if m.done != nil {
			m.stop(t)
		}
		_ = rdb.Close()
	})
	return m
}

func refreshAll(ms ...*clusterMember) {
	for _, m := range ms {
		if m.done != nil {
			m.sup.Refresh()
		}
	}
}

// TestSupervisorRedis runs 3 (then 4) supervisors over 50 PBXes on the real
// Redis and drives them through lease expiry, PBX changes, membership
// changes, a graceful stop, an abrupt kill and a partition, while a watcher
// checks every 2ms that no PBX ever has two live runs and none stays without
// one for more than 2× the lease TTL.
func TestSupervisorRedis(t *testing.T) {
	admin, prefix := testenv.Redis(t)
	c := &redisCluster{
		t: t, url: testenv.RedisURL(t), prefix: prefix, admin: admin,
		coord: NewRedisCoordinator(admin, prefix+":"),
		cat:   newPBXCatalog(50), live: newLiveRuns(),
	}
	c.live.expect(true, c.cat.ids()...)
	wctx, stopWatch := context.WithCancel(context.Background())
	var watcher sync.WaitGroup
	watcher.Go(func() { c.live.watch(wctx, 2*supTestTTL) })
	defer func() {
		stopWatch()
		watcher.Wait()
		c.live.check(t)
	}()
	ctx := context.Background()

	a, b, cc := c.start("replica-a"), c.start("replica-b"), c.start("replica-c")
	waitSup(t, 3*supTestTTL, "all 50 PBXes live", c.live.allLive)

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("spread over members", func(t *testing.T) {
		total := 0
		for _, m := range []*clusterMember{a, b, cc} {
			held := m.sup.Held()
			live := c.live.liveOn(m.name)
			if len(held) < 5 {
				t.Errorf("%s holds %d of 50 PBXes: rendezvous spread is off", m.name, len(held))
			}
			if len(live) != len(held) {
				t.Errorf("%s holds %d leases but runs %d connectors", m.name, len(held), len(live))
			}
			if got := supMetricValue(t, m.sup.m.LeasesHeld); int(got) != len(held) {
				t.Errorf("%s leases_held gauge %v, holds %d", m.name, got, len(held))
			}
			if got := supMetricValue(t, m.sup.m.ConnectorsRunning); int(got) != len(live) {
				t.Errorf("%s connectors_running gauge %v, runs %d", m.name, got, len(live))
			}
			total += len(held)
		}
		if total != 50 {
			t.Errorf("members hold %d leases in total, want 50", total)
		}
		for _, id := range c.cat.ids()[:10] {
			ref := c.cat.get(id)
			run, _ := c.live.current(id)
			for _, m := range []*clusterMember{a, b, cc} {
				owner, err := m.sup.Owner(ctx, ref.Tenant, ref.ID)
				if err != nil || owner != run.replica {
					t.Errorf("%s: Owner(%s) = %q, %v; it runs on %s", m.name, id, owner, err, run.replica)
				}
			}
		}
		if owner, err := a.sup.Owner(ctx, "t0.example.com", "no-such-pbx"); err != nil || owner != "" {
			t.Errorf("Owner of an unknown PBX = %q, %v; want empty", owner, err)
		}
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("forced lease expiry", func(t *testing.T) {
		ids := c.cat.ids()[:6]
		before := map[string]int{}
		for i, id := range ids {
			before[id] = c.live.runs(id)
			key := c.coord.leaseKey(c.cat.get(id).lease())
			if i%2 == 0 {
				if err := admin.Del(ctx, key).Err(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			// A renew that lands within the millisecond before the key
			// expires legitimately keeps the lease: expire it again then.
			for range 5 {
				if err := admin.PExpire(ctx, key, time.Millisecond).Err(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
				if ttl, err := admin.PTTL(ctx, key).Result(); err != nil || ttl < 0 || ttl < supTestTTL/2 {
					break // gone (or already re-acquired after expiring)
				}
			}
		}
		took := waitSup(t, 2*supTestTTL, "expired PBXes restarted", func() bool {
			for _, id := range ids {
				if _, ok := c.live.current(id); !ok || c.live.runs(id) <= before[id] {
					return false
				}
			}
			return true
		})
		t.Logf("restarted %d PBXes with expired leases in %v", len(ids), took)
		if got := supMetricValue(t, a.sup.m.LeaseLosses) + supMetricValue(t, b.sup.m.LeaseLosses) + supMetricValue(t, cc.sup.m.LeaseLosses); got < float64(len(ids)) {
			t.Errorf("lease_losses_total sums to %v, want at least %d", got, len(ids))
		}
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("version bump restarts", func(t *testing.T) {
		ids := c.cat.ids()[10:15]
		for _, id := range ids {
			r := c.cat.get(id)
			r.Version++
			c.cat.put(r)
		}
		refreshAll(a, b, cc)
		waitSup(t, supTestTTL, "new versions live", func() bool {
			for _, id := range ids {
				if r, ok := c.live.current(id); !ok || r.version != 2 {
					return false
				}
			}
			return true
		})
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("delete stops", func(t *testing.T) {
		ids := c.cat.ids()[20:25]
		refs := make([]PBXRef, len(ids))
		for i, id := range ids {
			refs[i] = c.cat.get(id)
			c.cat.remove(id)
		}
		c.live.expect(false, ids...)
		refreshAll(a, b, cc)
		waitSup(t, supTestTTL, "deleted PBXes stopped and released", func() bool {
			for i, id := range ids {
				if _, ok := c.live.current(id); ok {
					return false
				}
				if n, err := admin.Exists(ctx, c.coord.leaseKey(refs[i].lease())).Result(); err != nil || n != 0 {
					return false
				}
			}
			return true
		})
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("add starts", func(t *testing.T) {
		var ids []string
		for i := range 5 {
			r := PBXRef{ID: fmt.Sprintf("pbx-new-%d", i), Tenant: "new.example.com", Version: 1}
			c.cat.put(r)
			ids = append(ids, r.ID)
		}
		c.live.expect(true, ids...)
		refreshAll(a, b, cc)
		waitSup(t, supTestTTL, "added PBXes live", c.live.allLive)
	})

	var d *clusterMember
	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("join rebalances", func(t *testing.T) {
		d = c.start("replica-d")
		members := []string{"replica-a", "replica-b", "replica-c", "replica-d"}
		waitSup(t, 2*supTestTTL, "PBXes on their rendezvous owners", func() bool {
			if !c.live.allLive() {
				return false
			}
			for _, id := range c.cat.ids() {
				r, _ := c.live.current(id)
				if r.replica != rendezvousOwner(members, c.cat.get(id).lease().String()) {
					return false
				}
			}
			return true
		})
		if len(c.live.liveOn("replica-d")) == 0 {
			t.Error("the new member runs nothing")
		}
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("graceful stop hands over fast", func(t *testing.T) {
		moving := c.live.liveOn(cc.name)
		if len(moving) == 0 {
			t.Fatal("replica-c runs nothing")
		}
		start := time.Now()
		cc.stop(t)
		waitSup(t, 2*supTestTTL, "replica-c's PBXes live elsewhere", c.live.allLive)
		took := time.Since(start)
		t.Logf("%d PBXes handed over in %v", len(moving), took)
		// Without the release they would wait for the lease to expire.
		if took > supTestTTL/2 {
			t.Errorf("graceful handover took %v, want well under the lease TTL %v", took, supTestTTL)
		}
		if n := len(cc.sup.Held()); n != 0 {
			t.Errorf("stopped replica still holds %d leases", n)
		}
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("member killed abruptly", func(t *testing.T) {
		moving := c.live.liveOn(d.name)
		if len(moving) == 0 {
			t.Fatal("replica-d runs nothing")
		}
		// Cut it off from Redis first (no release, no more heartbeats),
		// then kill its runs as a crash would.
		start := time.Now()
		_ = d.rdb.Close()
		d.cancel()
		waitSup(t, 2*supTestTTL, "replica-d's PBXes live on survivors", func() bool {
			return c.live.allLive() && len(c.live.liveOn(d.name)) == 0
		})
		t.Logf("%d PBXes of a killed member moved in %v (lease TTL %v)", len(moving), time.Since(start), supTestTTL)
		d.stop(t)
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("partitioned member stops before its leases expire", func(t *testing.T) {
		moving := c.live.liveOn(b.name)
		if len(moving) == 0 {
			t.Fatal("replica-b runs nothing")
		}
		// Its Run keeps going, but Redis is gone: it must stop its runs on
		// its own before replica-a may take them (checked by liveRuns).
		start := time.Now()
		_ = b.rdb.Close()
		waitSup(t, 2*supTestTTL, "replica-b's PBXes live on replica-a", func() bool {
			return c.live.allLive() && len(c.live.liveOn(b.name)) == 0
		})
		t.Logf("%d PBXes of a partitioned member moved in %v", len(moving), time.Since(start))
		if n := len(b.sup.Held()); n != 0 {
			t.Errorf("partitioned replica still claims %d leases", n)
		}
		b.stop(t)
	})
}

// TestSupervisorLocal runs one supervisor with the default LocalCoordinator:
// it owns every PBX, follows the Source by polling, restarts failed runs
// with backoff and stops everything on shutdown.
func TestSupervisorLocal(t *testing.T) {
	cat := newPBXCatalog(50)
	live := newLiveRuns()
	live.expect(true, cat.ids()...)
	var fence atomic.Uint64
	var (
		failMu   sync.Mutex
		failNext = map[string]int{} // pbx id → runs that should fail at once
		panicID  string
	)
	run := live.runFunc("local")
	metrics, err := NewSupervisorMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	sup, err := NewSupervisor(SupervisorConfig{
		ReplicaID: "local",
		Source:    cat.source,
		Run: func(ctx context.Context, ref PBXRef, f uint64) error {
			failMu.Lock()
			fail := failNext[ref.ID] > 0
			if fail {
				failNext[ref.ID]--
			}
			doPanic := ref.ID == panicID
			if doPanic {
				panicID = ""
			}
			failMu.Unlock()
			if doPanic {
				panic("connector bug")
			}
			if fail {
				return errors.New("pbx unreachable")
			}
			return run(ctx, ref, f)
		},
		Fence: func(ctx context.Context, tenant, pbx string) (uint64, error) {
			return fence.Add(1), nil
		},
		LeaseTTL:       supTestTTL,
		Interval:       20 * time.Millisecond,
		SourceInterval: 50 * time.Millisecond,
		RestartBackoff: 20 * time.Millisecond,
		Log:            supTestLogger(t),
		Metrics:        metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	var once sync.Once
	stop := func() (err error) {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	defer func() {
		_ = stop()
		live.check(t)
	}()

	waitSup(t, supTestTTL, "all 50 PBXes live", live.allLive)
	if n := len(sup.Held()); n != 50 {
		t.Fatalf("holds %d leases, want 50", n)
	}
	if err := sup.Run(ctx); !errors.Is(err, ErrSupervisorStarted) {
		t.Fatalf("second Run: %v, want ErrSupervisorStarted", err)
	}

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("version bump restarts", func(t *testing.T) {
		r := cat.get("pbx-03")
		r.Version = 7
		cat.put(r)
		waitSup(t, supTestTTL, "version 7 live", func() bool {
			cur, ok := live.current("pbx-03")
			return ok && cur.version == 7
		})
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("failed and panicking runs restart with backoff", func(t *testing.T) {
		before := live.runs("pbx-04")
		failMu.Lock()
		failNext["pbx-04"] = 3
		panicID = "pbx-05"
		failMu.Unlock()
		for _, id := range []string{"pbx-04", "pbx-05"} { // force a new run
			r := cat.get(id)
			r.Version++
			cat.put(r)
		}
		took := waitSup(t, supTestTTL, "failing PBX live again", func() bool {
			cur, ok := live.current("pbx-04")
			return ok && live.runs("pbx-04") > before && cur.version == 2
		})
		waitSup(t, supTestTTL, "panicking PBX live again", func() bool {
			cur, ok := live.current("pbx-05")
			return ok && cur.version == 2
		})
		// Three failures back off 10-20, 20-40 and 40-80ms at least.
		if took < 70*time.Millisecond {
			t.Errorf("three failed runs were retried within %v: no backoff", took)
		}
		if n := supMetricValue(t, metrics.RunRestarts); n < 4 {
			t.Errorf("connector_restarts_total %v, want at least 4", n)
		}
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("source failure keeps the last list", func(t *testing.T) {
		cat.mu.Lock()
		cat.fail = errors.New("database down")
		cat.mu.Unlock()
		time.Sleep(200 * time.Millisecond) // several polls fail
		if !live.allLive() {
			t.Error("PBXes stopped while the source was failing")
		}
		cat.mu.Lock()
		cat.fail = nil
		cat.mu.Unlock()
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("delete stops", func(t *testing.T) {
		cat.remove("pbx-06")
		live.expect(false, "pbx-06")
		waitSup(t, supTestTTL, "deleted PBX stopped", func() bool {
			_, ok := live.current("pbx-06")
			return !ok && len(sup.Held()) == 49
		})
	})

	t.Logf("%s phase", time.Now().Format("15:04:05.000"))
	t.Run("shutdown stops every run", func(t *testing.T) {
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		live.expect(false, cat.ids()...)
		if n := len(live.liveOn("local")); n != 0 {
			t.Errorf("%d runs still live after Run returned", n)
		}
		if n := len(sup.Held()); n != 0 {
			t.Errorf("%d leases held after Run returned", n)
		}
		if g := supMetricValue(t, metrics.ConnectorsRunning); g != 0 {
			t.Errorf("connectors_running %v after shutdown", g)
		}
	})
}

func TestNewSupervisorRejectsBadConfig(t *testing.T) {
	ok := SupervisorConfig{
		ReplicaID: "r",
		Source:    func(context.Context) ([]PBXRef, error) { return nil, nil },
		Run:       func(context.Context, PBXRef, uint64) error { return nil },
		Fence:     func(context.Context, string, string) (uint64, error) { return 1, nil },
	}
	if _, err := NewSupervisor(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mutate := range map[string]func(*SupervisorConfig){
		"no replica":   func(c *SupervisorConfig) { c.ReplicaID = "" },
		"no source":    func(c *SupervisorConfig) { c.Source = nil },
		"no run":       func(c *SupervisorConfig) { c.Run = nil },
		"no fence":     func(c *SupervisorConfig) { c.Fence = nil },
		"negative ttl": func(c *SupervisorConfig) { c.LeaseTTL = -time.Second },
		"tiny ttl":     func(c *SupervisorConfig) { c.LeaseTTL = time.Millisecond },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			mutate(&cfg)
			if _, err := NewSupervisor(cfg); !errors.Is(err, ErrSupervisorConfig) {
				t.Fatalf("err %v, want ErrSupervisorConfig", err)
			}
		})
	}
}
