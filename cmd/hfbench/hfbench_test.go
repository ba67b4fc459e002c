package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/hookflash/hookflash/internal/testenv"
)

// TestMain lets the test binary serve as the baseline process, since the
// harness re-executes itself (os.Executable) for it.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == baselineCmd {
		if err := runBaselineServer(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestEnvelopeAndState(t *testing.T) {
	m := []byte(`{"type":"info_event","element":"channel","event":"updated","data":{"uuid":"p:1.2","state":{"name":"bridged","ts":1795461439415123},"epoch":"fake"},"epoch":"e1","seq":42}`)
	e, seq, ok := envelope(m)
	if !ok || string(e) != "e1" || seq != 42 {
		t.Fatalf("envelope = %q %d %v", e, seq, ok)
	}
	u, ts, ok := stateOf(m)
	if !ok || string(u) != "p:1.2" || ts != 1795461439415123 {
		t.Fatalf("stateOf = %q %d %v", u, ts, ok)
	}
	for _, bad := range []string{`{"type":"info_event"}`, `{"type":"info_event","epoch":"x","seq":}`, `{"epoch":"unterminated`} {
		if _, _, ok := envelope([]byte(bad)); ok {
			t.Errorf("envelope(%s) ok", bad)
		}
	}
	b := buildMessage(nil, 7, 600)
	if len(b) < 560 || len(b) > 620 || !json.Valid(b) {
		t.Fatalf("baseline message: %d bytes, valid %v: %s", len(b), json.Valid(b), b)
	}
	if _, ts, ok := stateOf(b); !ok || time.Since(time.UnixMicro(ts)) > time.Minute {
		t.Fatalf("baseline message state: %d %v", ts, ok)
	}
}

func TestClientCountsGapsAndDuplicates(t *testing.T) {
	st := &runStats{}
	c := &feedClient{kind: kindAdmin, st: st, states: map[string]int64{}, maxSamp: 10}
	st.recording.Store(true)
	now := time.Now()
	msg := func(seq int, ts int64) []byte {
		return fmt.Appendf(nil, `{"type":"info_event","element":"channel","event":"updated","data":{"uuid":"u","state":{"name":"ringing","ts":%d}},"epoch":"e","seq":%d}`, ts, seq)
	}
	c.handle([]byte(`{"type":"initial_info","element":"channel","data":[],"epoch":"e","seq":10}`), now)
	c.handle(msg(11, now.Add(-2*time.Millisecond).UnixMicro()), now)
	c.handle(msg(11, now.Add(-time.Millisecond).UnixMicro()), now) // duplicate
	c.handle(msg(14, now.Add(-time.Millisecond).UnixMicro()), now) // 12, 13 lost
	c.handle(msg(15, now.Add(-time.Millisecond).UnixMicro()), now) // same state.ts: no sample
	if st.deliveries.Load() != 4 || st.dups.Load() != 1 || st.lost.Load() != 2 {
		t.Fatalf("deliveries %d dups %d lost %d", st.deliveries.Load(), st.dups.Load(), st.lost.Load())
	}
	if len(c.samples) != 2 || c.samples[0] < 1900 || c.samples[0] > 2100 {
		t.Fatalf("samples %v", c.samples)
	}
	// Users and integrators skip seqs they may not see (their own calls;
	// no pbx elements): no loss, but duplicates still count.
	for _, k := range []clientKind{kindUser, kindIntegrator} {
		u := &feedClient{kind: k, st: &runStats{}, states: map[string]int64{}}
		u.handle([]byte(`{"type":"initial_info","element":"channel","data":[],"epoch":"e","seq":1}`), now)
		u.handle(msg(9, 1), now)
		u.handle(msg(9, 1), now)
		if u.st.lost.Load() != 0 || u.st.dups.Load() != 1 {
			t.Fatalf("%s: lost %d dups %d", k, u.st.lost.Load(), u.st.dups.Load())
		}
	}
}

func TestHistogramAndMetrics(t *testing.T) {
	var h histogram
	for i := int64(1); i <= 1000; i++ {
		h.add(i * 10)
	}
	p99 := histQuantile(h.snapshot(), 0.99)
	if p99 < 9900 || p99 > 12000 {
		t.Fatalf("p99 of 10..10000 µs = %d", p99)
	}
	text := "# HELP x\nhookflash_a_total 3\nhookflash_a_total_more 100\nhookflash_b{status=\"live\"} 2\nhookflash_b{status=\"down\"} 5\n"
	if v := metricValue(text, "hookflash_a_total", ""); v != 3 {
		t.Fatalf("a = %v", v)
	}
	if v := metricValue(text, "hookflash_b", `status="live"`); v != 2 {
		t.Fatalf("b live = %v", v)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if rss, err := procRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Fatalf("rss %d %v", rss, err)
	}
}

func TestOptions(t *testing.T) {
	if _, err := parseOptions([]string{"--scenario", "nope"}, &bytes.Buffer{}); err == nil {
		t.Fatal("unknown scenario accepted")
	}
	o, err := parseOptions([]string{"--short", "--scenario", "fanout,idle"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := o.scenarios(); len(n) != 2 || o.clients != 60 || o.duration != 2*time.Second {
		t.Fatalf("short defaults: %v %d %s", n, o.clients, o.duration)
	}
}

// TestShortFanout runs the harness's fan-out scenario, scaled down, against
// the test Redis and Postgres: replicas, simulated PBXes, clients and the
// baseline, end to end. It checks that nothing is lost and the figures are
// sane — not performance targets.
func TestShortFanout(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	if testing.Short() {
		t.Skip("multi-process harness run skipped in -short mode")
	}
	// A Redis database of our own, so that replicas of other tests on the
	// same server are not taken for members of this cluster.
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = fmt.Sprintf("/%d", 1+rand.Intn(15))
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--short", "--scenario", "fanout", "--json", "--quiet", "--clients", "20", "--rate", "800",
		"--duration", "2s", "--replicas", "2", "--redis-url", u.String(), "--database-url", dbURL}
	if bin := os.Getenv("HFBENCH_HOOKFLASH"); bin != "" { // a prebuilt hookflash instead of go build
		args = append(args, "--hookflash", bin)
	}
	code := run(ctx, args, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v: %s\nstderr: %s", err, out.String(), errOut.String())
	}
	if len(rep.Results) != 1 || rep.Results[0].Error != "" {
		t.Fatalf("results: %+v", rep.Results)
	}
	get := func(name string) metric {
		for _, m := range rep.Results[0].Metrics {
			if m.Name == name {
				return m
			}
		}
		t.Fatalf("no metric %q in %+v", name, rep.Results[0].Metrics)
		return metric{}
	}
	if m := get("lost events"); m.Value != 0 || *m.Baseline != 0 {
		t.Errorf("lost events: %v (baseline %v)", m.Value, *m.Baseline)
	}
	if m := get("duplicates"); m.Value != 0 {
		t.Errorf("duplicates: %v", m.Value)
	}
	if m := get("deliveries/s"); m.Value <= 0 || m.Baseline == nil || *m.Baseline <= 0 {
		t.Errorf("deliveries/s: %+v", m)
	}
	p50, p99, mx := get("p50 latency"), get("p99 latency"), get("max latency")
	if p50.Value <= 0 || p50.Value > p99.Value || p99.Value > mx.Value || mx.Value > 30_000 {
		t.Errorf("latency not ordered or absurd: p50 %v p99 %v max %v", p50.Value, p99.Value, mx.Value)
	}
	t.Logf("deliveries/s %.0f (baseline %.0f), p99 %.2f ms (baseline %.2f ms)", get("deliveries/s").Value, *get("deliveries/s").Baseline, p99.Value, *p99.Baseline)
}
