package authz

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casbin/casbin/v2/model"
)

// flakyAdapter wraps a MemoryAdapter; while down is set, loads fail.
type flakyAdapter struct {
	*MemoryAdapter
	down atomic.Bool
}

var errDown = errors.New("database down")

func (f *flakyAdapter) LoadFilteredPolicy(m model.Model, filter any) error {
	if f.down.Load() {
		return errDown
	}
	return f.MemoryAdapter.LoadFilteredPolicy(m, filter)
}

func (f *flakyAdapter) LoadDomain(ctx context.Context, d string) ([][]string, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.MemoryAdapter.LoadDomain(ctx, d)
}

func TestAuthorizerSurvivesStorageOutage(t *testing.T) {
	t.Parallel()
	const ten = "acme.example"
	ctx := context.Background()
	ad := &flakyAdapter{MemoryAdapter: NewMemoryAdapter()}
	if _, err := ad.InitDomain(ctx, ten, DefaultPolicies(ten)); err != nil {
		t.Fatal(err)
	}
	if _, err := ad.InitDomain(ctx, "other.example", DefaultPolicies("other.example")); err != nil {
		t.Fatal(err)
	}
	bus := NewMemoryBus()
	defer bus.Close()
	a, err := New(Config{Adapter: ad, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	agent := Principal{Tenant: ten, Subject: UserSubject("u1"), Role: RoleAgent, UserID: "u1"}
	if !a.Can(agent, "element/channel", ActRead) {
		t.Fatal("agent may not read channels")
	}
	ad.down.Store(true)
	// A change announced while storage is down: the reload fails and the
	// last good policy stays in force.
	if err := bus.Publish(ctx, Message{Kind: KindPolicy, Tenant: ten}); err != nil {
		t.Fatal(err)
	}
	if !a.Can(agent, "element/channel", ActRead) {
		t.Fatal("a failed reload dropped the loaded policy")
	}
	if _, err := a.Scope(agent, false); err != nil {
		t.Fatalf("Scope during the outage: %v", err)
	}
	// A tenant never loaded cannot be evaluated: fail closed.
	other := Principal{Tenant: "other.example", Role: RoleAdmin}
	if a.Can(other, ObjAdminPBXes, ActRead) {
		t.Fatal("a tenant whose policy could not be loaded granted something")
	}
	if _, err := a.Scope(other, false); !errors.Is(err, errDown) {
		t.Fatalf("Scope of an unloadable tenant: %v, want the storage error", err)
	}
	if _, err := a.Policies(ctx, ten); !errors.Is(err, errDown) {
		t.Fatalf("Policies during the outage: %v", err)
	}
	// The change announced during the outage is applied, and listeners
	// told, once storage is back and the tenant is used again.
	var told atomic.Bool
	a.OnChange(func(t string) {
		if t == ten {
			told.Store(true)
		}
	})
	lines := slices.DeleteFunc(DefaultPolicies(ten), func(l []string) bool { return l[1] == RoleAgent && l[3] == "element/channel" })
	if err := ad.ReplaceDomain(ctx, ten, lines); err != nil {
		t.Fatal(err)
	}
	// Storage back: the stale tenant reloads on the next use after the
	// retry pause (failed reloads are not retried on every call).
	ad.down.Store(false)
	if a.Can(other, ObjAdminPBXes, ActRead) {
		t.Fatal("reload retried at once after a failure")
	}
	eventually(t, 3*time.Second, "tenant reloads after the retry pause", func() bool {
		return a.Can(other, ObjAdminPBXes, ActRead)
	})
	eventually(t, 3*time.Second, "the change made during the outage applies and is announced", func() bool {
		return !a.Can(agent, "element/channel", ActRead) && told.Load()
	})
}

func TestAuthorizerPeriodicReload(t *testing.T) {
	t.Parallel()
	const ten = "acme.example"
	ctx := context.Background()
	ad := NewMemoryAdapter()
	if _, err := ad.InitDomain(ctx, ten, DefaultPolicies(ten)); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Adapter: ad, ReloadEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var notified, quiet atomic.Bool
	quiet.Store(true)
	a.OnChange(func(tenant string) {
		if tenant != ten {
			quiet.Store(false)
		}
		notified.Store(true)
	})
	agent := Principal{Tenant: ten, Subject: UserSubject("u1"), Role: RoleAgent, UserID: "u1"}
	if !a.Can(agent, "element/terminal", ActRead) {
		t.Fatal("agent may not read terminals")
	}
	time.Sleep(100 * time.Millisecond) // several reloads of an unchanged policy
	if notified.Load() {
		t.Fatal("a periodic reload of an unchanged policy notified listeners")
	}
	// A change that was saved but never announced.
	lines := slices.DeleteFunc(DefaultPolicies(ten), func(l []string) bool { return l[1] == RoleAgent && l[3] == "element/terminal" })
	if err := ad.ReplaceDomain(ctx, ten, lines); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the periodic reload applies the unannounced change", func() bool {
		return !a.Can(agent, "element/terminal", ActRead) && notified.Load()
	})
	if !quiet.Load() {
		t.Fatal("the periodic reload notified a change for every tenant instead of the changed one")
	}
}
