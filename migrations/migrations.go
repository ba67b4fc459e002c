package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed sql/*.sql
var embedded embed.FS

// lockID is the key of the session advisory lock held while migrating: the
// FNV-1a 64 hash of "hookflash/migrations" (checked by a test), fixed
// forever so that old and new binaries exclude each other.
const lockID int64 = 0x137f_9b16_ef36_c460

// Migration is one embedded migration and its state in a database, as
// reported by Status. (The type cannot share the function's name.)
type Migration struct {
	Version   int64
	Name      string    // file name, e.g. "00001_initial.sql"
	Applied   bool      // recorded as applied in the database
	AppliedAt time.Time // zero when not applied
}

// Up applies every pending migration. It blocks until it holds the
// migration lock (another replica may be migrating) or ctx ends. Errors name
// the migration that failed; a failed migration is rolled back (each runs in
// a transaction). A nil log discards goose's progress lines.
func Up(ctx context.Context, databaseURL string, log *slog.Logger) error {
	p, closeDB, err := open(ctx, databaseURL, log)
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// Down rolls back the most recently applied migration, under the same lock
// as Up. It returns ErrNothingToRollBack when none is applied.
func Down(ctx context.Context, databaseURL string, log *slog.Logger) error {
	p, closeDB, err := open(ctx, databaseURL, log)
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := p.Down(ctx); err != nil {
		if errors.Is(err, goose.ErrNoNextVersion) {
			return fmt.Errorf("migrate down: %w", ErrNothingToRollBack)
		}
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// Status reports every embedded migration in version order, with whether
// the database has applied it.
func Status(ctx context.Context, databaseURL string) ([]Migration, error) {
	p, closeDB, err := open(ctx, databaseURL, nil)
	if err != nil {
		return nil, err
	}
	defer closeDB()
	ss, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	out := make([]Migration, 0, len(ss))
	for _, s := range ss {
		st := Migration{Version: s.Source.Version, Name: path.Base(s.Source.Path)}
		if s.State == goose.StateApplied {
			st.Applied = true
			st.AppliedAt = s.AppliedAt
		}
		out = append(out, st)
	}
	return out, nil
}

// Latest returns the highest embedded migration version: the schema version
// a fully migrated database reports.
func Latest() int64 {
	var latest int64
	for _, m := range mustSources() {
		latest = max(latest, m.Version)
	}
	return latest
}

func mustSub() fs.FS {
	sub, err := fs.Sub(embedded, "sql")
	if err != nil {
		panic(fmt.Sprintf("migrations: embedded sql directory: %v", err)) // impossible: checked at build time
	}
	return sub
}

func mustSources() []*goose.Source {
	// Read the names the way goose does (NNNNN_name.sql) without a database.
	entries, err := fs.ReadDir(mustSub(), ".")
	if err != nil {
		panic(fmt.Sprintf("migrations: read embedded sql: %v", err))
	}
	var out []*goose.Source
	for _, e := range entries {
		v, err := goose.NumericComponent(e.Name())
		if err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		out = append(out, &goose.Source{Type: goose.TypeSQL, Path: e.Name(), Version: v})
	}
	return out
}

// open connects, checks the server answers, and builds a goose provider
// guarded by the advisory lock. The returned func closes the database.
func open(ctx context.Context, databaseURL string, log *slog.Logger) (*goose.Provider, func(), error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: parse database url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	closeDB := func() { _ = db.Close() }
	if err := db.PingContext(ctx); err != nil {
		closeDB()
		return nil, nil, fmt.Errorf("migrate: connect to postgres %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(),
		goose.WithSessionLocker(advisoryLocker{id: lockID}),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log),
		goose.WithVerbose(true),
	)
	if err != nil {
		closeDB()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	return p, closeDB, nil
}

// advisoryLocker is a goose session locker that waits on a blocking
// pg_advisory_lock, so waiters proceed as soon as the holder finishes
// (goose's own locker polls every few seconds). Cancelling ctx cancels the
// wait. The lock is per database.
type advisoryLocker struct{ id int64 }

// SessionLock blocks until the session holds the lock or ctx ends.
func (l advisoryLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", l.id); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

// SessionUnlock releases the lock taken by SessionLock.
func (l advisoryLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", l.id).Scan(&ok); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	if !ok {
		return errors.New("release migration lock: the session did not hold it")
	}
	return nil
}
