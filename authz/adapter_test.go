package authz

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/hookflash/hookflash/migrations"
)

// newPGAdapter returns a PGAdapter over a fresh, migrated test database.
func newPGAdapter(t *testing.T) *PGAdapter {
	t.Helper()
	url := testenv.Postgres(t)
	ctx := context.Background()
	if err := migrations.Up(ctx, url, nil); err != nil {
		t.Fatalf("migrations.Up: %v", err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("pgxpool: %v", err)
	}
	t.Cleanup(pool.Close)
	a, err := NewPGAdapter(PGAdapterConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMemoryAdapter(t *testing.T) {
	t.Parallel()
	testAdapter(t, func(t *testing.T) Adapter { return NewMemoryAdapter() })
}

func TestPGAdapter(t *testing.T) {
	t.Parallel()
	testAdapter(t, func(t *testing.T) Adapter { return newPGAdapter(t) })
}

// testAdapter is the conformance suite every Adapter passes.
func testAdapter(t *testing.T, newAdapter func(t *testing.T) Adapter) {
	ctx := context.Background()

	t.Run("domains are isolated", func(t *testing.T) {
		t.Parallel()
		a := newAdapter(t)
		if err := a.ReplaceDomain(ctx, "a.example", DefaultPolicies("a.example")); err != nil {
			t.Fatal(err)
		}
		b := [][]string{{"p", "agent", "b.example", "element/channel", "read"}, {"g", "user:1", "agent", "b.example"}}
		if err := a.ReplaceDomain(ctx, "b.example", b); err != nil {
			t.Fatal(err)
		}
		got, err := a.LoadDomain(ctx, "b.example")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, b, slices.Equal) {
			t.Fatalf("LoadDomain(b) = %v, want %v", got, b)
		}
		gotA, _ := a.LoadDomain(ctx, "a.example")
		if !slices.EqualFunc(gotA, DefaultPolicies("a.example"), slices.Equal) {
			t.Fatalf("LoadDomain(a) = %d lines, want the defaults in order", len(gotA))
		}
		// Replacing b leaves a alone.
		if err := a.ReplaceDomain(ctx, "b.example", b[:1]); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.LoadDomain(ctx, "b.example"); len(got) != 1 {
			t.Fatalf("after replace, b has %d lines, want 1", len(got))
		}
		if gotA, _ := a.LoadDomain(ctx, "a.example"); len(gotA) != len(DefaultPolicies("a.example")) {
			t.Fatalf("replacing b changed a: %d lines", len(gotA))
		}
		// A line of another domain is refused.
		err = a.ReplaceDomain(ctx, "b.example", [][]string{{"p", "agent", "a.example", "element/channel", "read"}})
		if !errors.Is(err, ErrInvalidPolicy) {
			t.Fatalf("cross-domain ReplaceDomain err = %v, want ErrInvalidPolicy", err)
		}
		if got, _ := a.LoadDomain(ctx, "b.example"); len(got) != 1 {
			t.Fatalf("a refused replace changed b: %v", got)
		}
	})

	t.Run("filtered load into an enforcer", func(t *testing.T) {
		t.Parallel()
		a := newAdapter(t)
		for _, d := range []string{"a.example", "b.example"} {
			if _, err := a.InitDomain(ctx, d, DefaultPolicies(d)); err != nil {
				t.Fatal(err)
			}
		}
		m, err := newModel()
		if err != nil {
			t.Fatal(err)
		}
		e, err := casbin.NewSyncedEnforcer(m, a)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := e.GetPolicy(); len(n) != 0 {
			t.Fatalf("building the enforcer loaded %d lines; it must wait for a filtered load", len(n))
		}
		if err := e.LoadFilteredPolicy(Filter{Domain: "a.example"}); err != nil {
			t.Fatal(err)
		}
		pol, _ := e.GetPolicy()
		for _, p := range pol {
			if p[1] != "a.example" {
				t.Fatalf("filtered load holds a line of %s: %v", p[1], p)
			}
		}
		if ok, _ := e.Enforce("admin", "a.example", "element/pbx", "read"); !ok {
			t.Fatal("admin of a may not read element/pbx after a filtered load")
		}
		if ok, _ := e.Enforce("admin", "b.example", "element/pbx", "read"); ok {
			t.Fatal("an enforcer loaded with domain a grants in domain b")
		}
		if err := e.SavePolicy(); err == nil {
			t.Fatal("SavePolicy from a per-domain enforcer succeeded; it would wipe other domains")
		}
		if err := e.LoadFilteredPolicy("a.example"); err == nil {
			t.Fatal("a string filter was accepted")
		}
	})

	t.Run("auto-save methods", func(t *testing.T) {
		t.Parallel()
		a := newAdapter(t)
		d := "c.example"
		p1 := []string{"agent", d, "element/channel", "read"}
		p2 := []string{"agent", d, "element/user", "read"}
		if err := a.AddPolicies("p", "p", [][]string{p1, p2}); err != nil {
			t.Fatal(err)
		}
		if err := a.AddPolicy("p", "p", p1); err != nil {
			t.Fatalf("adding an existing line: %v", err)
		}
		if err := a.AddPolicy("g", "g", []string{"user:7", "agent", d}); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.LoadDomain(ctx, d); len(got) != 3 {
			t.Fatalf("after adds: %v", got)
		}
		if err := a.RemovePolicy("p", "p", p1); err != nil {
			t.Fatal(err)
		}
		if err := a.RemoveFilteredPolicy("g", "g", 0, "user:7", "", d); err != nil {
			t.Fatal(err)
		}
		got, _ := a.LoadDomain(ctx, d)
		want := [][]string{append([]string{"p"}, p2...)}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("after removes: %v, want %v", got, want)
		}
		if err := a.RemovePolicies("p", "p", [][]string{p2}); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.LoadDomain(ctx, d); len(got) != 0 {
			t.Fatalf("after RemovePolicies: %v", got)
		}
		if err := a.RemoveFilteredPolicy("p", "p", 5, "x", "y"); err == nil {
			t.Fatal("out-of-range filter accepted")
		}
		if err := a.AddPolicy("p", "p", []string{"1", "2", "3", "4", "5", "6", "7"}); err == nil {
			t.Fatal("a 7-value rule was accepted")
		}
	})

	t.Run("hostile values round-trip verbatim", func(t *testing.T) {
		t.Parallel()
		a := newAdapter(t)
		d := "e.example"
		lines := [][]string{
			{"p", "'; DROP TABLE casbin_rule; --", d, `"quoted", comma`, "act\n"},
			{"p", "日本語", d, "element/*", "%_"},
			{"g", "user:1", "x' OR '1'='1", d},
		}
		if err := a.ReplaceDomain(ctx, d, lines); err != nil {
			t.Fatal(err)
		}
		got, err := a.LoadDomain(ctx, d)
		if err != nil || !slices.EqualFunc(got, lines, slices.Equal) {
			t.Fatalf("LoadDomain = %q, %v; want %q", got, err, lines)
		}
		// A LIKE pattern in a domain matches only itself.
		if got, _ := a.LoadDomain(ctx, "%"); len(got) != 0 {
			t.Fatalf("domain %%%% matched %d lines", len(got))
		}
	})

	t.Run("init once under concurrency", func(t *testing.T) {
		t.Parallel()
		a := newAdapter(t)
		d := "d.example"
		var wg sync.WaitGroup
		stored := make(chan bool, 8)
		for range 8 {
			wg.Go(func() {
				ok, err := a.InitDomain(ctx, d, DefaultPolicies(d))
				if err != nil {
					t.Error(err)
				}
				stored <- ok
			})
		}
		wg.Wait()
		close(stored)
		n := 0
		for ok := range stored {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d InitDomain calls stored the defaults, want exactly 1", n)
		}
		got, _ := a.LoadDomain(ctx, d)
		if len(got) != len(DefaultPolicies(d)) {
			t.Fatalf("domain holds %d lines, want %d", len(got), len(DefaultPolicies(d)))
		}
	})
}
