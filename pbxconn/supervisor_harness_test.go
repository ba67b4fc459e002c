package pbxconn

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// liveRuns is the shared truth of the supervisor tests: every Run registers
// itself here while it runs. It records a violation the moment a PBX gets a
// second live run, a fence that does not increase, or (via watch) a PBX that
// stays without a run for longer than a bound.
type liveRuns struct {
	mu         sync.Mutex           // guards the fields below
	live       map[string]liveRun   // pbx id → the run now live
	entries    map[string][]liveRun // pbx id → every run, in order
	downSince  map[string]time.Time // pbx id → since when it has had no run
	expected   map[string]bool      // pbx ids that should be live
	violations []string
}

type liveRun struct {
	replica string
	version int64
	fence   uint64
}

func newLiveRuns() *liveRuns {
	return &liveRuns{
		live:      make(map[string]liveRun),
		entries:   make(map[string][]liveRun),
		downSince: make(map[string]time.Time),
		expected:  make(map[string]bool),
	}
}

// runFunc returns a Run for replica that stays live until cancelled.
func (l *liveRuns) runFunc(replica string) func(ctx context.Context, ref PBXRef, fence uint64) error {
	return func(ctx context.Context, ref PBXRef, fence uint64) error {
		l.enter(replica, ref, fence)
		defer l.leave(replica, ref)
		<-ctx.Done()
		return nil
	}
}

func (l *liveRuns) enter(replica string, ref PBXRef, fence uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.live[ref.ID]; ok {
		l.violate("pbx %s live on %s and %s at once", ref.ID, cur.replica, replica)
	}
	if prev := l.entries[ref.ID]; len(prev) > 0 && prev[len(prev)-1].fence >= fence {
		l.violate("pbx %s fence %d after %d", ref.ID, fence, prev[len(prev)-1].fence)
	}
	r := liveRun{replica: replica, version: ref.Version, fence: fence}
	l.live[ref.ID] = r
	l.entries[ref.ID] = append(l.entries[ref.ID], r)
	delete(l.downSince, ref.ID)
}

func (l *liveRuns) leave(replica string, ref PBXRef) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.live[ref.ID]; ok && cur.replica == replica {
		delete(l.live, ref.ID)
		l.downSince[ref.ID] = time.Now()
	}
}

// expect marks ids as wanted (from now) or not.
func (l *liveRuns) expect(want bool, ids ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		if want {
			l.expected[id] = true
			if _, ok := l.live[id]; !ok {
				l.downSince[id] = time.Now()
			}
		} else {
			delete(l.expected, id)
			delete(l.downSince, id)
		}
	}
}

// watch checks every 2ms, until ctx is done, that every expected PBX has
// been without a live run for at most bound.
func (l *liveRuns) watch(ctx context.Context, bound time.Duration) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	reported := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		l.mu.Lock()
		for id, since := range l.downSince {
			if l.expected[id] && now.Sub(since) > bound && !reported[id].Equal(since) {
				reported[id] = since
				l.violate("pbx %s without a live run for over %v", id, bound)
			}
		}
		l.mu.Unlock()
	}
}

func (l *liveRuns) allLive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.expected {
		if _, ok := l.live[id]; !ok {
			return false
		}
	}
	return true
}

func (l *liveRuns) liveOn(replica string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, r := range l.live {
		if r.replica == replica {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (l *liveRuns) current(id string) (liveRun, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.live[id]
	return r, ok
}

func (l *liveRuns) runs(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries[id])
}

func (l *liveRuns) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violations {
		t.Error(v)
	}
	l.violations = nil
}

func (l *liveRuns) violate(format string, args ...any) {
	l.violations = append(l.violations, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

// pbxCatalog is the test's PBX store: the supervisors' Source.
type pbxCatalog struct {
	mu   sync.Mutex // guards refs
	refs map[string]PBXRef
	fail error // when set, source fails
}

func newPBXCatalog(n int) *pbxCatalog {
	c := &pbxCatalog{refs: make(map[string]PBXRef)}
	for i := range n {
		c.put(PBXRef{ID: fmt.Sprintf("pbx-%02d", i), Tenant: fmt.Sprintf("t%d.example.com", i%5), Version: 1})
	}
	return c
}

func (c *pbxCatalog) source(ctx context.Context) ([]PBXRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return nil, c.fail
	}
	return slices.Collect(maps.Values(c.refs)), nil
}

func (c *pbxCatalog) put(r PBXRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs[r.ID] = r
}

func (c *pbxCatalog) get(id string) PBXRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refs[id]
}

func (c *pbxCatalog) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.refs, id)
}

func (c *pbxCatalog) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.refs))
}

// waitSup polls cond every 5ms until it holds or timeout passes, and
// returns how long it took.
func waitSup(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func supMetricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

// supTestLogger logs Warn and above through t.Log.
func supTestLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(supLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type supLogWriter struct{ t *testing.T }

func (w supLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
