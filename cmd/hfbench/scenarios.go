package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// rssDelta measures how much pid's RSS grows while open runs, after a
// settle pause on each side.
func rssDelta(ctx context.Context, pid int, settle time.Duration, open func() error) (before, after int64, err error) {
	if err := sleepCtx(ctx, settle); err != nil {
		return 0, 0, err
	}
	if before, err = procRSS(pid); err != nil {
		return 0, 0, err
	}
	if err := open(); err != nil {
		return 0, 0, err
	}
	if err := sleepCtx(ctx, settle); err != nil {
		return 0, 0, err
	}
	after, err = procRSS(pid)
	return before, after, err
}

// idle opens idleConns sockets that receive nothing after their snapshot
// and reports the replica's RSS growth per socket, then the same for the
// baseline server.
func (b *bench) idle(ctx context.Context, r *result) error {
	n := b.opts.idleConns
	lim, err := raiseNoFile()
	if err != nil {
		return err
	}
	r.Params = map[string]any{"connections": n, "rlimit_nofile": lim}
	if uint64(n)+512 > lim {
		return fmt.Errorf("RLIMIT_NOFILE is %d: too low for %d sockets", lim, n)
	}
	cl, err := b.startCluster(ctx, clusterSpec{replicas: 1, tenants: 1, leaseTTL: b.opts.leaseTTL, speed: b.opts.speed})
	if err != nil {
		return err
	}
	defer cl.close()
	st := &runStats{}
	cs := make([]*feedClient, n)
	for i := range cs {
		cs[i] = &feedClient{kind: kindIntegrator, bases: []string{cl.reps[0].base}, token: cl.tenants[0].integrator, st: st}
	}
	set := &clientSet{clients: cs}
	defer set.stop()
	b.prog.run(ctx, func(el time.Duration) string {
		return fmt.Sprintf("idle %4s  sockets open %d of %d", el, st.connected.Load(), n)
	})
	pid := cl.reps[0].pid()
	before, after, err := rssDelta(ctx, pid, b.settle(), func() error {
		set.start(ctx)
		return waitReady(ctx, cs, 3*time.Minute)
	})
	if err != nil {
		return err
	}
	b.prog.stop()
	open := st.connected.Load()
	set.stop()
	per := float64(after-before) / float64(n) / 1024

	b.prog.say("idle: baseline")
	bp, err := startBaseline(ctx, b.opts.procEnv)
	if err != nil {
		return err
	}
	defer bp.close()
	bst := &runStats{}
	bcs := make([]*feedClient, n)
	for i := range bcs {
		bcs[i] = &feedClient{kind: kindIntegrator, rawURL: bp.wsURL(false), st: bst}
	}
	bset := &clientSet{clients: bcs}
	defer bset.stop()
	bBefore, bAfter, err := rssDelta(ctx, bp.pid(), b.settle(), func() error {
		bset.start(ctx)
		return waitReady(ctx, bcs, 3*time.Minute)
	})
	if err != nil {
		return err
	}
	bset.stop()
	bper := float64(bAfter-bBefore) / float64(n) / 1024
	r.add("RSS per idle connection", "KiB", per).vs(bper).target("≤ 16 KiB", per <= 16)
	r.add("replica RSS before", "MiB", float64(before)/(1<<20))
	r.add("replica RSS with sockets", "MiB", float64(after)/(1<<20))
	r.add("sockets open at measurement", "sockets", float64(open))
	r.notef("RLIMIT_NOFILE raised in-process to %d; the replicas (Go ≥ 1.19 runtime) raise their own soft limit to the hard one at start", lim)
	r.notef("sockets are integrator feeds of one tenant with no PBX: after an empty initial_info nothing but pings (every 25 s) flows")
	return nil
}

// connectors registers connectors simulated PBXes (ARI + AMI each) on one
// replica, waits until all are live, reports RSS and goroutines per
// connector, then drives calls on all of them and reports CPU per event.
func (b *bench) connectors(ctx context.Context, r *result) error {
	n := b.opts.connectors
	tenants := max(1, n/100)
	per := n / tenants
	n = per * tenants
	r.Params = map[string]any{"pbxes": n, "tenants": tenants, "replicas": 1}
	cl, err := b.startCluster(ctx, clusterSpec{replicas: 1, tenants: tenants, leaseTTL: b.opts.leaseTTL, speed: b.opts.speed})
	if err != nil {
		return err
	}
	defer cl.close()
	rep := cl.reps[0]
	b.prog.run(ctx, func(el time.Duration) string {
		got := cl.live()
		return fmt.Sprintf("connectors %4s  PBXes started %d, live %d of %d", el, len(cl.sims), got, n)
	})
	goroutines := func() float64 {
		text, _ := scrape(ctx, rep.base+"/metrics")
		return metricValue(text, "go_goroutines", "")
	}
	g0 := goroutines()
	var liveIn time.Duration
	before, after, err := rssDelta(ctx, rep.pid(), b.settle(), func() error {
		t0 := time.Now()
		if err := cl.addSims(ctx, per, false); err != nil {
			return err
		}
		if err := cl.waitLive(ctx, n, 3*time.Minute); err != nil {
			return err
		}
		liveIn = time.Since(t0)
		return nil
	})
	if err != nil {
		return err
	}
	g1 := goroutines()
	perConn := float64(after-before) / float64(n) / 1024
	r.add("RSS per live connector", "KiB", perConn).target("≤ 64 KiB", perConn <= 64)
	r.add("goroutines per connector", "goroutines", (g1-g0)/float64(n))
	r.add("registered → all live", "s", liveIn.Seconds())
	r.add("replica RSS with connectors", "MiB", float64(after)/(1<<20))

	// CPU per event under traffic on every PBX.
	b.prog.stop()
	calls := max(1, float64(n)/20)
	// serve does not export the connectors' own counters, so events are
	// counted where they enter the hub: one per element diff published.
	ev0 := cl.sum(ctx, "hookflash_hub_events_in_total", "")
	idleCPU := newCPUMeter(rep.pid())
	idleFor := b.settle()
	if err := sleepCtx(ctx, idleFor); err != nil {
		return err
	}
	idleCores := idleCPU.used() / idleFor.Seconds()
	r.add("replica CPU with all connectors idle", "cores", idleCores)
	tr := &traffic{sims: cl.sims}
	defer tr.stop()
	cpu := newCPUMeter(rep.pid())
	tr.start(ctx, calls, b.opts.seed)
	err = sleepCtx(ctx, b.opts.duration)
	tr.stop()
	used := cpu.used()
	if err != nil {
		return err
	}
	ev := cl.sum(ctx, "hookflash_hub_events_in_total", "") - ev0
	if ev <= 0 {
		return fmt.Errorf("no events counted under traffic (calls completed %d, failed %d: %v)", tr.stats.Completed.Load(), tr.stats.Failed.Load(), tr.stats.LastError())
	}
	r.add("replica CPU per element event", "µs", used/ev*1e6)
	r.add("replica CPU per element event, idle load subtracted", "µs", max(used-idleCores*b.opts.duration.Seconds(), 0)/ev*1e6)
	r.add("element events/s under traffic", "1/s", ev/b.opts.duration.Seconds())
	r.notef("%.0f generated calls/s over all %d PBXes for %s (an element event is one diff the connectors publish, counted by hookflash_hub_events_in_total; CPU per event covers ARI+AMI parsing, normalizing and publishing to Redis, with only the tenant admins' pbx watch feeds connected)", calls, n, b.opts.duration)
	if live := cl.live(); live != n {
		r.notef("after traffic %d of %d connectors are live", live, n)
	}
	return nil
}

// resume disconnects resumeClients full-view clients at once while events
// go on, reconnects them all with since, and reports how long until every
// one has replayed what it missed and is live (its seq has reached the
// tenant's seq at the moment of reconnecting).
func (b *bench) resume(ctx context.Context, r *result) error {
	o := b.opts
	n := o.resumeClients
	r.Params = map[string]any{"clients": n, "replicas": o.replicas, "gap_s": o.resumeGap.Seconds(), "calls_per_s": o.resumeCalls}
	cl, err := b.startCluster(ctx, clusterSpec{replicas: o.replicas, tenants: 1, pbxesPerTenant: 2, users: 1, leaseTTL: o.leaseTTL, speed: o.speed})
	if err != nil {
		return err
	}
	defer cl.close()
	if err := cl.waitLive(ctx, 2, 60*time.Second); err != nil {
		return err
	}
	st := &runStats{}
	cs := makeClients(cl, n, false, st, 1000)
	for _, c := range cs {
		if c.kind == kindUser { // users' seqs skip; catch-up is checked on whole-tenant views
			c.kind, c.token, c.query = kindAdmin, cl.tenants[0].adminToken, "full_events=true"
		}
	}
	ref := &feedClient{kind: kindAdmin, bases: []string{cl.reps[0].base}, token: cl.tenants[0].adminToken, query: "full_events=true", st: &runStats{}}
	refSet := &clientSet{clients: []*feedClient{ref}}
	refSet.start(ctx)
	defer refSet.stop()
	set := &clientSet{clients: cs}
	set.start(ctx)
	defer set.stop()
	if err := waitReady(ctx, append(cs, ref), 90*time.Second); err != nil {
		return err
	}
	b.prog.run(ctx, progressLine("resume", st))
	tr := &traffic{sims: cl.sims}
	defer tr.stop()
	// About 50 tenant events/s: a busy tenant. The events missed while
	// away, times the clients, is what the replicas replay.
	tr.start(ctx, o.resumeCalls, o.seed)
	if err := sleepCtx(ctx, b.settle()); err != nil {
		return err
	}
	set.stop()
	var left []uint64
	for _, c := range cs {
		left = append(left, c.seq)
	}
	if err := sleepCtx(ctx, o.resumeGap); err != nil {
		return err
	}
	target := ref.pos.Load()
	repCPU, selfCPU := newCPUMeter(cl.pids()...), newCPUMeter(os.Getpid())
	var redisCPU *cpuMeter
	if b.svc.redis != nil {
		redisCPU = newCPUMeter(b.svc.redis.Process.Pid)
	}
	t0 := time.Now()
	set.start(ctx)
	caught := make([]time.Duration, len(cs))
	remaining := len(cs)
	deadline := t0.Add(30 * time.Second)
	for remaining > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		now := time.Since(t0)
		for i, c := range cs {
			if caught[i] == 0 && c.pos.Load() >= target {
				caught[i] = now
				remaining--
			}
		}
		_ = sleepCtx(ctx, 2*time.Millisecond)
	}
	catchup := time.Since(t0).Seconds()
	repUsed, selfUsed := repCPU.used(), selfCPU.used()
	redisUsed := 0.0
	if redisCPU != nil {
		redisUsed = redisCPU.used()
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	tr.stop()
	_ = sleepCtx(ctx, time.Second)
	b.prog.stop()
	set.stop()
	final := st.snap()
	if remaining > 0 {
		return fmt.Errorf("%d of %d clients had not caught up to seq %d after 30 s", remaining, len(cs), target)
	}
	slices.Sort(caught)
	var missed uint64
	for _, s := range left {
		missed += target - min(s, target)
	}
	all := caught[len(caught)-1]
	r.add("all replayed and live", "s", all.Seconds()).target("≤ 1 s", all <= time.Second)
	r.add("median client replayed and live", "s", caught[len(caught)/2].Seconds())
	r.add("events replayed per client (mean)", "events", float64(missed)/float64(len(cs)))
	r.add("lost events", "events", float64(final.lost)).target("0", final.lost == 0 && final.dups == 0)
	r.add("duplicates", "msgs", float64(final.dups))
	r.add("resyncs", "msgs", float64(final.resyncs))
	r.notef("during the %.2f s catch-up the replicas used %.2f CPU s (%.2f cores), Redis %.2f, this process (clients, simulators) %.2f: %d dials, %d failed",
		catchup, repUsed, repUsed/catchup, redisUsed, selfUsed, st.dials.Load(), st.dialFails.Load())
	r.notef("clients: %d whole-tenant feeds (60%% admins with full_events, 40%% integrators) over %d replicas, all disconnected at once for %s while calls went on, then reconnected at once with since; handshakes are limited to %d at a time by the client side",
		n, o.replicas, o.resumeGap, cap(dialGate))
	return nil
}

// failover kills (SIGKILL) the replica holding the most PBX leases while
// calls go on and reports how long until all its PBXes are live on the
// survivors, checking throughout that no PBX ever had two connectors: the
// sum of live connectors over replicas never exceeds the PBX count, and no
// simulated PBX ever saw two AMI sessions open at once.
func (b *bench) failover(ctx context.Context, r *result) error {
	o := b.opts
	reps := max(2, o.replicas)
	tenants := max(1, min(3, o.failoverPBXes/5))
	per := max(1, o.failoverPBXes/tenants)
	n := per * tenants
	r.Params = map[string]any{"replicas": reps, "pbxes": n, "tenants": tenants, "lease_ttl_s": o.leaseTTL.Seconds()}
	cl, err := b.startCluster(ctx, clusterSpec{replicas: reps, tenants: tenants, pbxesPerTenant: per, leaseTTL: o.leaseTTL, proxyAMI: true, speed: o.speed})
	if err != nil {
		return err
	}
	defer cl.close()
	if err := cl.waitLive(ctx, n, 60*time.Second); err != nil {
		return err
	}
	tr := &traffic{sims: cl.sims}
	defer tr.stop()
	tr.start(ctx, 2, o.seed)

	// Watch the connectors running on every live replica, summed.
	var mu sync.Mutex // guards maxRun, lastRun
	maxRun, lastRun := 0, 0
	mctx, mcancel := context.WithCancel(ctx)
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() {
		defer mwg.Done()
		for mctx.Err() == nil {
			got := int(cl.sum(mctx, "hookflash_pbxconn_connectors_running", ""))
			mu.Lock()
			maxRun, lastRun = max(maxRun, got), got
			mu.Unlock()
			_ = sleepCtx(mctx, 50*time.Millisecond)
		}
	}()
	defer func() { mcancel(); mwg.Wait() }()
	var t0 time.Time
	again := func() int {
		k := 0
		for id := range cl.proxies {
			if s := cl.watch.get(id); s.Status == "live" && !t0.IsZero() && s.LiveAt.After(t0) {
				k++
			}
		}
		return k
	}
	held := -1.0
	b.prog.run(ctx, func(el time.Duration) string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("failover %4s  connectors running %d of %d (max seen %d), live again %d of %.0f", el, lastRun, n, maxRun, again(), held)
	})
	if err := sleepCtx(ctx, b.settle()); err != nil {
		return err
	}
	victim := 0
	for i, rp := range cl.reps {
		text, err := scrape(ctx, rp.base+"/metrics")
		if err != nil {
			continue
		}
		if v := metricValue(text, "hookflash_pbxconn_leases_held", ""); v > held {
			victim, held = i, v
		}
	}
	peakBefore := 0
	for _, p := range cl.proxies {
		_, pk, _ := p.counts()
		peakBefore = max(peakBefore, pk)
	}
	if held <= 0 {
		return fmt.Errorf("no replica reports a PBX lease (hookflash_pbxconn_leases_held)")
	}
	t0 = time.Now()
	cl.reps[victim].kill()
	var took time.Duration
	deadline := t0.Add(60 * time.Second)
	for {
		if got := again(); got >= int(held) && cl.live() >= n {
			took = time.Since(t0)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("only %d of the %.0f PBXes of the killed replica live again 60 s after the kill", again(), held)
		}
		_ = sleepCtx(ctx, 10*time.Millisecond)
	}
	if err := sleepCtx(ctx, b.settle()); err != nil {
		return err
	}
	mcancel()
	mwg.Wait()
	b.prog.stop()
	peak, sessions := 0, 0
	for _, p := range cl.proxies {
		_, pk, tot := p.counts()
		peak = max(peak, pk)
		sessions += tot
	}
	r.add("PBXes live again on survivors", "s", took.Seconds()).target("≤ 5 s", took <= 5*time.Second)
	r.add("PBXes the killed replica held", "PBXes", held)
	r.add("max AMI sessions open at once per PBX", "sessions", float64(peak)).target("1", peak <= 1)
	r.add("max connectors running, summed over replicas", "connectors", float64(maxRun)).target(fmt.Sprintf("≤ %d", n), maxRun <= n)
	r.notef("lease TTL %s (HOOKFLASH_LEASE_TTL; the serve default is 4 s): takeover is bounded by the TTL plus the survivors' poll and connect time", o.leaseTTL)
	r.notef("live again = the PBX's pbx element turned live after the kill, as the tenant admin's feed shows it; connectors running = hookflash_pbxconn_connectors_running of the live replicas, polled every 50 ms")
	r.notef("AMI sessions counted by a TCP proxy in front of every simulated PBX: peak before the kill %d, %d sessions over the scenario", peakBefore, sessions)
	return nil
}
