package pbxconn

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// BenchmarkConnectors connects N connectors (HOOKFLASH_BENCH_PBXES, default
// 50; the design target is 1,000) to N simulated PBXes in this process,
// reports the memory and goroutines each live connector adds, then runs
// generated traffic for HOOKFLASH_BENCH_SECONDS (default 3) and reports the
// CPU spent per published diff. The CPU figure includes the simulators'
// own work, so it is an upper bound for the connectors. Run with
// -benchtime=1x.
func BenchmarkConnectors(b *testing.B) {
	count := envInt("HOOKFLASH_BENCH_PBXES", 50)
	secs := envInt("HOOKFLASH_BENCH_SECONDS", 3)
	for b.Loop() {
		benchConnectors(b, count, time.Duration(secs)*time.Second)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// connectorGoroutines counts the goroutines running connector code (the
// connector and its protocol clients), not the simulators' side.
func connectorGoroutines() int {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return 0
	}
	total := 0
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(rec, "/pbxsim.") || !strings.Contains(rec, "hookflash/pbxconn") || strings.Contains(rec, "benchConnectors") {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(rec, "%d @", &n); err == nil {
			total += n
		}
	}
	return total
}

func heapInUse() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
}

func benchConnectors(b *testing.B, count int, trafficFor time.Duration) {
	ctx := context.Background()
	cl, err := pbxsim.NewCluster(ctx, pbxsim.ClusterConfig{Count: count, Base: pbxsim.Config{Speed: 40}})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var diffs atomic.Int64
	publish := func(context.Context, Diff) error { diffs.Add(1); return nil }

	// The share per connector includes the simulators' side of its two
	// connections (their buffers and goroutines): an upper bound.
	base, baseG := heapInUse()
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	conns := make([]*Connector, 0, count)
	for i, p := range cl.PBXes() {
		user, pass := p.ARICredentials()
		au, as := p.AMICredentials()
		c, err := NewConnector(ConnectorConfig{
			PBX: PBXInfo{ID: "pbx" + strconv.Itoa(i), ARIURL: p.ARIURL(), ARIUser: user, ARIPassword: pass, ARIApp: "cti",
				AMIAddr: p.AMIAddr(), AMIUser: au, AMISecret: as},
			Directory: newTestDir(),
			Publish:   publish,
		})
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(cctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for _, c := range conns {
		for c.Status().Status != PBXLive {
			if time.Now().After(deadline) {
				b.Fatalf("connector %s not live: %+v", c.cfg.PBX.ID, c.Status())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	live, liveG := heapInUse()
	if path := os.Getenv("HOOKFLASH_BENCH_HEAPPROFILE"); path != "" {
		// The heap with every connector live, for go tool pprof.
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	b.ReportMetric(float64(live-base)/float64(count)/1024, "KiB/connector")
	b.ReportMetric(float64(liveG-baseG)/float64(count), "goroutines/connector")
	b.ReportMetric(float64(connectorGoroutines())/float64(count), "own-goroutines/connector")

	tctx, tcancel := context.WithTimeout(ctx, trafficFor)
	defer tcancel()
	var stats pbxsim.TrafficStats
	d0, cpu0 := diffs.Load(), cpuTime()
	if err := pbxsim.RunTraffic(tctx, cl.PBXes(), pbxsim.TrafficConfig{CallsPerSecond: float64(count), TalkTime: 100 * time.Millisecond, Seed: 1}, &stats); err != nil {
		b.Fatal(err)
	}
	n := diffs.Load() - d0
	if n == 0 {
		b.Fatal("no diffs published during traffic")
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/diff")
	b.ReportMetric(float64(stats.Completed.Load()), "calls")
}
