// Package pgstore is the Postgres implementation of tenant.Store, over a
// pgx v5 connection pool. It expects the schema of package migrations.
//
// Every statement names the tenant in its WHERE clause (or, for inserts, in
// the row); the only lookups across tenants are GetTokenByHash, where the
// hash is the credential, and AllPBXes, for the supervisor. PBX secrets are
// sealed with tenant.Sealer before they reach the database, bound to their
// tenant, PBX and field, and are only ever decrypted by PBXSecrets.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookflash/hookflash/migrations"
	"github.com/hookflash/hookflash/tenant"
)

// Config configures New.
type Config struct {
	// URL is the Postgres connection URL (postgres://user:pass@host/db).
	// Required.
	URL string
	// Sealer encrypts PBX secrets at rest. Required.
	Sealer *tenant.Sealer
	// MaxConns caps the pool. Default 10.
	MaxConns int32
	// Log receives the store's few messages. Default: discard.
	Log *slog.Logger
}

// Store is a tenant.Store on Postgres. Safe for concurrent use; Close
// releases the pool.
type Store struct {
	pool   *pgxpool.Pool  // set in New, read-only after
	sealer *tenant.Sealer // set in New, read-only after
	log    *slog.Logger   // set in New, read-only after
}

var _ tenant.Store = (*Store)(nil)

// New connects to Postgres, checks that it answers and that the schema is
// migrated, and returns the store. It fails fast (within ctx) with an error
// saying what is wrong.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("pgstore: database URL is empty")
	}
	if cfg.Sealer == nil {
		return nil, errors.New("pgstore: a secret key is required to seal PBX secrets; generate one with `openssl rand -hex 32`")
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("pgstore: parse database url: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s := &Store{pool: pool, sealer: cfg.Sealer, log: cfg.Log}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to postgres at %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	if err := checkSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	cfg.Log.Debug("postgres store ready", "host", pc.ConnConfig.Host, "max_conns", cfg.MaxConns)
	return s, nil
}

// checkSchema fails unless the database holds every migration this binary
// embeds (a newer schema is fine: a newer replica may have migrated first).
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("pgstore: check schema: %w", err)
	}
	have := int64(-1)
	if exists {
		err := pool.QueryRow(ctx, `SELECT COALESCE(max(version_id), 0) FROM goose_db_version`).Scan(&have)
		if err != nil {
			return fmt.Errorf("pgstore: check schema version: %w", err)
		}
	}
	switch want := migrations.Latest(); {
	case have < 0:
		return errors.New("pgstore: the database has no Hookflash schema; run `hookflash migrate up`")
	case have < want:
		return fmt.Errorf("pgstore: the database schema is at version %d, this binary needs %d; run `hookflash migrate up`", have, want)
	}
	return nil
}

// Ping reports whether Postgres answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres ping: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Store) Close() { s.pool.Close() }

// Pool returns the underlying pool, for packages sharing the database (the
// casbin adapter). Callers must not close it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// mapErr turns driver errors into the tenant sentinel errors: no rows is
// ErrNotFound, a unique violation ErrConflict, a foreign-key violation
// ErrNotFound (the tenant or user referred to does not exist), and data
// the column refuses ErrInvalid.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, tenant.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w (%s)", op, tenant.ErrConflict, pe.ConstraintName)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: %w (%s)", op, tenant.ErrNotFound, pe.ConstraintName)
		case "22001", "22021", "22P02", "23514", "22003", "22007", "22008":
			// string too long, bad encoding, bad text representation,
			// check violation, numeric out of range, bad datetime
			return fmt.Errorf("%s: %w: %s", op, tenant.ErrInvalid, pe.Message)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// maxKeyLen bounds lookup keys; every stored key is far shorter.
const maxKeyLen = 1024

// missing reports ErrNotFound for lookup keys Postgres cannot hold as text
// (invalid UTF-8, NUL bytes) or longer than any stored key: no row can have
// them. Without this check the
// server would refuse the query and a hostile key would read as a bad
// request in one store and "not found" in the other.
func missing(op string, keys ...string) error {
	for _, k := range keys {
		if len(k) > maxKeyLen || !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 {
			return fmt.Errorf("%s: %w", op, tenant.ErrNotFound)
		}
	}
	return nil
}

// notFoundIfNone reports ErrNotFound when a write touched no row.
func notFoundIfNone(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, tenant.ErrNotFound)
	}
	return nil
}

// ---- tenants

const tenantCols = `id, name, limits, privacy, disabled, created_at, updated_at`

func scanTenant(row pgx.Row) (*tenant.Tenant, error) {
	var t tenant.Tenant
	var id string
	if err := row.Scan(&id, &t.Name, &t.Limits, &t.Privacy, &t.Disabled, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	t.ID = tenant.ID(id)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, nil
}

// CreateTenant stores t and sets its timestamps. ErrConflict if the domain exists.
func (s *Store) CreateTenant(ctx context.Context, t *tenant.Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	now := tenant.Now()
	_, err := s.pool.Exec(ctx, `INSERT INTO tenants (`+tenantCols+`) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
		string(t.ID), t.Name, t.Limits, t.Privacy, t.Disabled, now)
	if err != nil {
		return mapErr("create tenant "+string(t.ID), err)
	}
	t.CreatedAt, t.UpdatedAt = now, now
	return nil
}

// GetTenant returns one tenant or ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id tenant.ID) (*tenant.Tenant, error) {
	if err := missing("get tenant", string(id)); err != nil {
		return nil, err
	}
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = $1`, string(id)))
	if err != nil {
		return nil, mapErr("get tenant "+string(id), err)
	}
	return t, nil
}

// ListTenants returns every tenant ordered by ID.
func (s *Store) ListTenants(ctx context.Context) ([]tenant.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, mapErr("list tenants", err)
	}
	out, err := collect(rows, scanTenant)
	return out, mapErr("list tenants", err)
}

// UpdateTenant replaces name, limits, privacy and the disabled flag; it
// sets UpdatedAt and reports CreatedAt back in t.
func (s *Store) UpdateTenant(ctx context.Context, t *tenant.Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	now := tenant.Now()
	var created time.Time
	err := s.pool.QueryRow(ctx, `UPDATE tenants SET name = $2, limits = $3, privacy = $4, disabled = $5, updated_at = $6
		WHERE id = $1 RETURNING created_at`,
		string(t.ID), t.Name, t.Limits, t.Privacy, t.Disabled, now).Scan(&created)
	if err != nil {
		return mapErr("update tenant "+string(t.ID), err)
	}
	t.CreatedAt, t.UpdatedAt = created.UTC(), now
	return nil
}

// DeleteTenant removes the tenant; the schema's ON DELETE CASCADE removes
// all its rows in the same statement.
func (s *Store) DeleteTenant(ctx context.Context, id tenant.ID) error {
	if err := missing("delete tenant", string(id)); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, string(id))
	return notFoundIfNone("delete tenant "+string(id), tag, err)
}

// collect scans every row with scan, closing rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (*T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// prefixed qualifies each column of a comma-separated list with p ("t.").
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
