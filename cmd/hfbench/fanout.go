package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// makeClients builds n feed clients over the cluster: tenants round robin,
// each client's first replica round robin (reconnects rotate), and a mix of
// 40% admins with full_events, 40% integrator tokens and 20% agents.
func makeClients(cl *cluster, n int, batch bool, st *runStats, maxSamp int) []*feedClient {
	bases := make([]string, len(cl.reps))
	for i, r := range cl.reps {
		bases[i] = r.base
	}
	out := make([]*feedClient, n)
	for i := range out {
		tf := cl.tenants[i%len(cl.tenants)]
		c := &feedClient{st: st, maxSamp: maxSamp, bases: append(append([]string{}, bases[i%len(bases):]...), bases[:i%len(bases)]...)}
		// The kind cycles within each tenant: client i is the (i/T)th of
		// tenant i%T.
		switch (i / len(cl.tenants)) % 10 {
		case 0, 2, 4, 6:
			c.kind, c.token, c.query = kindAdmin, tf.adminToken, "full_events=true"
		case 1, 3, 5, 7:
			c.kind, c.token = kindIntegrator, tf.integrator
		default:
			c.kind, c.token = kindUser, tf.users[(i/len(cl.tenants)/10)%len(tf.users)]
		}
		if batch {
			c.query = joinQuery(c.query, "batch=true")
		}
		out[i] = c
	}
	return out
}

func joinQuery(a, b string) string {
	if a == "" {
		return b
	}
	return a + "&" + b
}

// waitReady waits until every client has its snapshot (or, for the
// baseline, is connected).
func waitReady(ctx context.Context, cs []*feedClient, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		n := 0
		for _, c := range cs {
			if c.ready.Load() {
				n++
			}
		}
		if n == len(cs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d clients ready after %s", n, len(cs), within)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// counters is a copy of a runStats' counters at one moment.
type counters struct {
	at                                                   time.Time
	deliveries, bytes, lost, dups, resyncs, slow, others int64
}

func (st *runStats) snap() counters {
	return counters{at: time.Now(), deliveries: st.deliveries.Load(), bytes: st.bytes.Load(), lost: st.lost.Load(),
		dups: st.dups.Load(), resyncs: st.resyncs.Load(), slow: st.slowCloses.Load(), others: st.otherClose.Load()}
}

// progressLine reports the last second's delivery rate and latency.
func progressLine(name string, st *runStats) func(time.Duration) string {
	last := st.snap()
	lastH := st.hist.snapshot()
	return func(el time.Duration) string {
		now := st.snap()
		h := st.hist.snapshot()
		var d [160]int64
		for i := range h {
			d[i] = h[i] - lastH[i]
		}
		rate := float64(now.deliveries-last.deliveries) / now.at.Sub(last.at).Seconds()
		last, lastH = now, h
		return fmt.Sprintf("%s %4s  conns %d  deliveries/s %.0f  p99(1s) %.1f ms  lost %d  dups %d  resyncs %d  slow-closes %d",
			name, el, st.connected.Load(), rate, float64(histQuantile(d, 0.99))/1000, now.lost, now.dups, now.resyncs, now.slow)
	}
}

// window measures one steady-state interval: counters, CPU of pids, and
// each tenant's event rate (from one full-view client per tenant).
type window struct {
	start, end counters
	cpu        float64 // CPU seconds of the measured processes
	events     int64   // tenant events in the window, summed over tenants
}

func (w window) seconds() float64 { return w.end.at.Sub(w.start.at).Seconds() }
func (w window) deliveries() int64 {
	return w.end.deliveries - w.start.deliveries
}

func measure(ctx context.Context, st *runStats, refs []*feedClient, d time.Duration, pids ...int) (window, error) {
	var w window
	pos0 := make([]uint64, len(refs))
	for i, c := range refs {
		pos0[i] = c.pos.Load()
	}
	cpu := newCPUMeter(pids...)
	w.start = st.snap()
	st.recording.Store(true)
	err := sleepCtx(ctx, d)
	st.recording.Store(false)
	w.end = st.snap()
	w.cpu = cpu.used()
	for i, c := range refs {
		w.events += int64(c.pos.Load() - pos0[i])
	}
	return w, err
}

// refClients picks the first full-view client of each tenant.
func refClients(cs []*feedClient, tenants int) []*feedClient {
	var out []*feedClient
	for i := 0; i < tenants && i < len(cs); i++ {
		for j := i; j < len(cs); j += tenants {
			if cs[j].kind.fullView() {
				out = append(out, cs[j])
				break
			}
		}
	}
	return out
}

// fanout measures end-to-end latency at a target delivery rate (or, with
// saturation, the delivery rate when the source offers far more), then the
// baseline with the same clients at the same per-client rate and message
// size (saturation: as fast as it can, with backpressure).
func (b *bench) fanout(ctx context.Context, r *result, saturation bool) error {
	o := b.opts
	name := map[bool]string{false: "fanout", true: "saturation"}[saturation]
	batch := o.batch || saturation
	r.Params = map[string]any{"replicas": o.replicas, "tenants": o.tenants, "pbxes_per_tenant": o.pbxes, "clients": o.clients, "sim_speed": fmt.Sprint(o.speed),
		"duration_s": o.duration.Seconds(), "batch": batch}
	if saturation {
		r.Params["offered_calls_per_s"] = o.satCalls
	} else {
		r.Params["target_deliveries_per_s"] = o.rate
	}
	b.prog.say("%s: %d replicas, %d tenants × %d PBXes", name, o.replicas, o.tenants, o.pbxes)
	cl, err := b.startCluster(ctx, clusterSpec{replicas: o.replicas, tenants: o.tenants, pbxesPerTenant: o.pbxes, users: 5, leaseTTL: o.leaseTTL, speed: o.speed})
	if err != nil {
		return err
	}
	defer cl.close()
	if err := cl.waitLive(ctx, o.tenants*o.pbxes, 60*time.Second); err != nil {
		return err
	}
	st := &runStats{}
	maxSamp := max(1000, 4_000_000/o.clients)
	clients := makeClients(cl, o.clients, batch, st, maxSamp)
	set := &clientSet{clients: clients}
	set.start(ctx)
	defer set.stop()
	b.prog.say("%s: %d clients connecting", name, o.clients)
	if err := waitReady(ctx, clients, 90*time.Second); err != nil {
		return err
	}
	b.prog.run(ctx, progressLine(name, st))
	tr := &traffic{sims: cl.sims}
	defer tr.stop()
	settle := 2 * time.Second
	if o.short {
		settle = time.Second
	}
	calls := o.satCalls
	if !saturation {
		// A generated call is about 45 deliveries to each client of its
		// tenant (measured here; it depends on the call mix).
		calls = max(0.5, o.rate/(float64(o.clients)/float64(o.tenants)*45))
	}
	if !saturation && !o.short {
		// Calibrate: measure at the guess, scale once (--short keeps the
		// guess).
		tr.start(ctx, calls, o.seed)
		if err := sleepCtx(ctx, settle+time.Second); err != nil {
			return err
		}
		c0 := st.snap()
		if err := sleepCtx(ctx, settle); err != nil {
			return err
		}
		c1 := st.snap()
		if got := float64(c1.deliveries-c0.deliveries) / c1.at.Sub(c0.at).Seconds(); got > 0 {
			calls = min(max(calls*o.rate/got, calls/5), calls*5)
		}
	}
	tr.start(ctx, calls, o.seed+1)
	if err := sleepCtx(ctx, settle); err != nil {
		return err
	}
	refs := refClients(clients, len(cl.tenants))
	pids := cl.pids()
	self := newCPUMeter(os.Getpid())
	var redisCPU *cpuMeter
	if b.svc.redis != nil {
		redisCPU = newCPUMeter(b.svc.redis.Process.Pid)
	}
	hubSum0 := cl.sum(ctx, "hookflash_hub_event_latency_seconds_sum", "")
	hubN0 := cl.sum(ctx, "hookflash_hub_event_latency_seconds_count", "")
	w, err := measure(ctx, st, refs, o.duration, pids...)
	if err != nil {
		return err
	}
	hubSum := cl.sum(ctx, "hookflash_hub_event_latency_seconds_sum", "") - hubSum0
	hubN := cl.sum(ctx, "hookflash_hub_event_latency_seconds_count", "") - hubN0
	selfCPU := self.used()
	tr.stop()
	_ = sleepCtx(ctx, settle) // the last events reach every client
	b.prog.stop()
	var rss []float64
	for _, p := range pids {
		if v, err := procRSS(p); err == nil {
			rss = append(rss, float64(v)/(1<<20))
		}
	}
	set.stop()
	final := st.snap()
	ours := summarize(set.samples())
	if ours.N == 0 {
		return fmt.Errorf("%s: %w (calls completed %d, failed %d: %v)", name, errNoSamples, tr.stats.Completed.Load(), tr.stats.Failed.Load(), tr.stats.LastError())
	}
	dps := float64(w.deliveries()) / w.seconds()
	avgBytes := 400
	if w.deliveries() > 0 {
		avgBytes = int((w.end.bytes - w.start.bytes) / w.deliveries())
	}

	// The baseline, same clients and rate.
	b.prog.say("%s: baseline", name)
	base, err := b.baseline(ctx, o.clients, batch, dps/float64(o.clients), avgBytes, saturation, o.duration)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}

	r.add("deliveries/s", "1/s", dps).vs(base.dps)
	if saturation {
		m := &r.Metrics[len(r.Metrics)-1]
		m.target("≥ 50% of baseline", dps >= 0.5*base.dps)
	}
	r.add("p50 latency", "ms", ours.P50).vs(base.lat.P50)
	r.add("p90 latency", "ms", ours.P90).vs(base.lat.P90)
	p99 := r.add("p99 latency", "ms", ours.P99).vs(base.lat.P99)
	if !saturation {
		p99.target("≤ 2× baseline p99", ours.P99 <= 2*base.lat.P99)
	}
	r.add("max latency", "ms", ours.PMax).vs(base.lat.PMax)
	lost := r.add("lost events", "events", float64(final.lost)).vs(float64(base.lost))
	if !saturation {
		lost.target("0", final.lost == 0 && final.dups == 0)
	}
	r.add("duplicates", "msgs", float64(final.dups)).vs(float64(base.dups))
	r.add("resyncs", "msgs", float64(final.resyncs))
	r.add("slow-consumer closes", "closes", float64(final.slow)).vs(float64(base.slow))
	if w.deliveries() > 0 && base.deliveries > 0 {
		r.add("replica CPU per delivery", "µs", w.cpu/float64(w.deliveries())*1e6).vs(base.cpu / float64(base.deliveries) * 1e6)
	}
	for i, v := range rss {
		r.add(fmt.Sprintf("RSS replica %d", i), "MiB", v)
	}
	r.add("RSS baseline server", "MiB", base.rssMiB)
	r.notef("clients: %d (40%% admins with full_events, whose seq gaps count as lost events; 40%% integrators and 20%% agents, checked for duplicates and order); %d latency samples (every channel state change a client received: its arrival time minus the PBX event time in state.ts), baseline %d",
		o.clients, ours.N, base.lat.N)
	r.notef("tenant events/s %.0f (sum over %d tenants), generated calls/s %.1f, avg message %d B; hookflash replicas used %.2f CPU s in the %.0f s window (%.2f cores), this process (clients + simulators) %.2f CPU s",
		float64(w.events)/w.seconds(), len(cl.tenants), calls, avgBytes, w.cpu, w.seconds(), w.cpu/w.seconds(), selfCPU)
	if hubN > 0 {
		r.notef("the replicas' own histogram hookflash_hub_event_latency_seconds (PBX event time → queued for the sockets, before the socket write) averaged %.2f ms over %.0f events in the window", hubSum/hubN*1000, hubN)
	}
	if redisCPU != nil {
		r.notef("Redis used %.2f CPU s over the window and the drain after it", redisCPU.used())
	}
	if !saturation && dps < 0.9*o.rate {
		r.notef("reached %.0f of the %.0f deliveries/s asked for", dps, o.rate)
	}
	return nil
}

// baselineResult is the baseline's figures for one scenario.
type baselineResult struct {
	lat              latency
	dps              float64
	deliveries       int64
	lost, dups, slow int64
	cpu              float64
	rssMiB           float64
}

// baseline runs n clients against the raw baseline server broadcasting
// perClientRate messages/s (0 with block: as fast as it can) of size bytes
// for d, and measures them as fanout measures Hookflash.
func (b *bench) baseline(ctx context.Context, n int, batch bool, perClientRate float64, size int, block bool, d time.Duration) (baselineResult, error) {
	var out baselineResult
	bp, err := startBaseline(ctx, b.opts.procEnv)
	if err != nil {
		return out, err
	}
	defer bp.close()
	st := &runStats{}
	maxSamp := max(1000, 4_000_000/n)
	cs := make([]*feedClient, n)
	for i := range cs {
		cs[i] = &feedClient{kind: kindIntegrator, rawURL: bp.wsURL(batch), st: st, maxSamp: maxSamp}
	}
	set := &clientSet{clients: cs}
	set.start(ctx)
	defer set.stop()
	if err := waitReady(ctx, cs, 60*time.Second); err != nil {
		return out, err
	}
	for st.connected.Load() < int64(n) {
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return out, err
		}
	}
	b.prog.run(ctx, progressLine("baseline", st))
	rate := perClientRate
	if block {
		rate = 0
	}
	if err := bp.startBroadcast(ctx, rate, max(size, 64), block); err != nil {
		return out, err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return out, err
	}
	w, err := measure(ctx, st, cs[:1], d, bp.pid())
	if err != nil {
		return out, err
	}
	if _, _, err := bp.stopBroadcast(ctx); err != nil {
		return out, err
	}
	_ = sleepCtx(ctx, time.Second)
	b.prog.stop()
	if v, err := procRSS(bp.pid()); err == nil {
		out.rssMiB = float64(v) / (1 << 20)
	}
	set.stop()
	final := st.snap()
	out.lat = summarize(set.samples())
	out.deliveries = w.deliveries()
	out.dps = float64(out.deliveries) / w.seconds()
	out.lost, out.dups, out.slow = final.lost, final.dups, final.slow
	out.cpu = w.cpu
	return out, nil
}
