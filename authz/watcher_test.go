package authz

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
)

// TestWatcherWithCasbin wires Watchers into plain casbin enforcers (the
// WatcherEx path casbin takes on AddPolicy/RemovePolicy): a change made
// through one enforcer reaches the other's callback with its domain.
func TestWatcherWithCasbin(t *testing.T) {
	t.Parallel()
	const dom = "acme.example"
	adapter := NewMemoryAdapter()
	bus := NewMemoryBus()
	defer bus.Close()
	newEnforcer := func() (*casbin.SyncedEnforcer, *Watcher) {
		m, err := newModel()
		if err != nil {
			t.Fatal(err)
		}
		e, err := casbin.NewSyncedEnforcer(m, adapter)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.LoadFilteredPolicy(Filter{Domain: dom}); err != nil {
			t.Fatal(err)
		}
		w, err := NewWatcher(bus)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		if err := e.SetWatcher(w); err != nil {
			t.Fatal(err)
		}
		return e, w
	}
	e1, _ := newEnforcer()
	e2, w2 := newEnforcer()
	var got atomic.Value
	// SetWatcher installs casbin's own reload-everything callback; a
	// per-domain enforcer replaces it with a filtered reload.
	_ = w2.SetUpdateCallback(func(d string) {
		got.Store(d)
		if err := e2.LoadFilteredPolicy(Filter{Domain: d}); err != nil {
			t.Error(err)
		}
	})
	if _, err := e1.AddPolicy("agent", dom, "element/channel", "read"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the other enforcer learns the domain and reloads it", func() bool {
		ok, _ := e2.Enforce("agent", dom, "element/channel", "read")
		return got.Load() == dom && ok
	})
	if _, err := e1.RemovePolicy("agent", dom, "element/channel", "read"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "removal reaches the other enforcer", func() bool {
		ok, _ := e2.Enforce("agent", dom, "element/channel", "read")
		return !ok
	})
}
