package pbxsim

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// A thousand idle PBXes: every one answers, and idle ones cost only their
// listeners (the figures are logged, not asserted: targets live in
// benchmarks and the bench harness).
func TestClusterOfAThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 1000 PBXes")
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	start := time.Now()
	cl, err := NewCluster(context.Background(), ClusterConfig{Count: 1000, DistinctCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	t.Logf("1000 PBXes started in %s; heap %+.0f KiB/PBX; %d goroutines/PBX",
		took, float64(after.HeapAlloc-before.HeapAlloc)/1024/1000, (g1-g0)/1000)
	if per := (g1 - g0) / 1000; per > 2 {
		t.Errorf("%d goroutines per idle PBX, want at most its 2 accept loops", per)
	}
	ps := cl.PBXes()
	for _, p := range []*PBX{ps[0], ps[499], ps[999]} {
		h := &simHarness{t: t, pbx: p}
		if st, b := h.rest("GET", "/channels", nil); st != 200 || string(b) != "[]" {
			t.Fatalf("%s: %d %s", p.Name(), st, b)
		}
		conn, _ := h.amiLogin(true)
		conn.Close()
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= g0+5 })
}
