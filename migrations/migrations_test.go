package migrations_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/hookflash/hookflash/migrations"
)

// tables the initial schema must create.
var tables = []string{
	"tenants", "pbxes", "users", "user_terminals", "api_tokens",
	"calls", "audit_log", "casbin_rule",
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func tableExists(t *testing.T, c *pgx.Conn, name string) bool {
	t.Helper()
	var ok bool
	err := c.QueryRow(context.Background(), "SELECT to_regclass('public.' || $1) IS NOT NULL", name).Scan(&ok)
	if err != nil {
		t.Fatalf("to_regclass %s: %v", name, err)
	}
	return ok
}

func TestConcurrentUpMigratesOnce(t *testing.T) {
	t.Parallel() // each test has its own database, and advisory locks are per database
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const replicas = 8
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	start := make(chan struct{})
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = migrations.Up(ctx, url, nil)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Up: %v", i, err)
		}
	}

	c := connect(t, url)
	// goose records one row per applied migration (plus its version-0 seed
	// row); a double apply would either fail on CREATE TABLE or add a row.
	var applied, distinct int
	err := c.QueryRow(ctx,
		"SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0 AND is_applied").
		Scan(&applied, &distinct)
	if err != nil {
		t.Fatalf("count versions: %v", err)
	}
	n := len(mustStatus(t, ctx, url))
	if applied != n || distinct != n {
		t.Fatalf("goose_db_version has %d applied rows (%d distinct), want %d each", applied, distinct, n)
	}
	for _, name := range tables {
		if !tableExists(t, c, name) {
			t.Errorf("table %s missing after Up", name)
		}
	}
}

func mustStatus(t *testing.T, ctx context.Context, url string) []migrations.Migration {
	t.Helper()
	ss, err := migrations.Status(ctx, url)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return ss
}

func TestStatusUpDownCycle(t *testing.T) {
	t.Parallel() // each test has its own database, and advisory locks are per database
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ss := mustStatus(t, ctx, url)
	if len(ss) == 0 {
		t.Fatal("Status lists no migrations")
	}
	for _, s := range ss {
		if s.Applied || !s.AppliedAt.IsZero() {
			t.Errorf("fresh database: %+v reported applied", s)
		}
		if s.Name == "" || s.Version <= 0 {
			t.Errorf("bad status entry %+v", s)
		}
	}
	if got, want := ss[len(ss)-1].Version, migrations.Latest(); got != want {
		t.Errorf("last status version %d, Latest() %d", got, want)
	}

	if err := migrations.Down(ctx, url, nil); !errors.Is(err, migrations.ErrNothingToRollBack) {
		t.Fatalf("Down on a fresh database: %v, want ErrNothingToRollBack", err)
	}
	if err := migrations.Up(ctx, url, nil); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if err := migrations.Up(ctx, url, nil); err != nil {
		t.Fatalf("second Up (nothing to do): %v", err)
	}
	for _, s := range mustStatus(t, ctx, url) {
		if !s.Applied || s.AppliedAt.IsZero() {
			t.Errorf("after Up: %+v not applied", s)
		}
	}

	// Roll everything back one step at a time: every Down must succeed and
	// leave an empty schema.
	for range ss {
		if err := migrations.Down(ctx, url, nil); err != nil {
			t.Fatalf("Down: %v", err)
		}
	}
	c := connect(t, url)
	for _, name := range tables {
		if tableExists(t, c, name) {
			t.Errorf("table %s still exists after rolling everything back", name)
		}
	}
	for _, s := range mustStatus(t, ctx, url) {
		if s.Applied {
			t.Errorf("after Down: %+v still applied", s)
		}
	}
	// And forward again: the Down sections really undo the Up sections.
	if err := migrations.Up(ctx, url, nil); err != nil {
		t.Fatalf("Up after full rollback: %v", err)
	}
}

func TestCasbinRuleShape(t *testing.T) {
	t.Parallel() // each test has its own database, and advisory locks are per database
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := migrations.Up(ctx, url, nil); err != nil {
		t.Fatalf("Up: %v", err)
	}
	c := connect(t, url)
	if _, err := c.Exec(ctx, "INSERT INTO casbin_rule (ptype, v0, v1) VALUES ('g', 'alice', 'admin')"); err != nil {
		t.Fatalf("insert rule: %v", err)
	}
	_, err := c.Exec(ctx, "INSERT INTO casbin_rule (ptype, v0, v1) VALUES ('g', 'alice', 'admin')")
	if err == nil {
		t.Fatal("duplicate casbin rule accepted; want a unique violation")
	}
}

func TestBadURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, u := range []string{"::not a url", "postgres://127.0.0.1:1/x?connect_timeout=2"} {
		if err := migrations.Up(ctx, u, nil); err == nil {
			t.Errorf("Up(%q) succeeded; want an error", u)
		}
		if _, err := migrations.Status(ctx, u); err == nil {
			t.Errorf("Status(%q) succeeded; want an error", u)
		}
	}
}
