package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/casbin/casbin/v2/model"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGAdapterConfig configures a PGAdapter.
type PGAdapterConfig struct {
	// Pool is the Postgres pool; the caller owns it (the adapter never
	// closes it). Required. The casbin_rule table comes from package
	// migrations.
	Pool *pgxpool.Pool
	// Timeout bounds each call made through casbin's context-free methods
	// (AddPolicy, LoadFilteredPolicy, …). Default 5 s.
	Timeout time.Duration
}

// PGAdapter stores policy lines in the casbin_rule table (id, ptype,
// v0..v5). Whole-domain writes run in one transaction under a transaction
// advisory lock per domain, so concurrent writers of one domain serialise.
// Safe for concurrent use.
type PGAdapter struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

var _ Adapter = (*PGAdapter)(nil)

// NewPGAdapter returns an adapter over cfg.Pool.
func NewPGAdapter(cfg PGAdapterConfig) (*PGAdapter, error) {
	if cfg.Pool == nil {
		return nil, errors.New("authz: PGAdapterConfig.Pool is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &PGAdapter{pool: cfg.Pool, timeout: cfg.Timeout}, nil
}

const (
	selectRows = `SELECT ptype, v0, v1, v2, v3, v4, v5 FROM casbin_rule`
	// whereDomain selects one domain's lines: v1 of p lines, v2 of g lines.
	whereDomain = ` WHERE (ptype LIKE 'p%' AND v1 = $1) OR (ptype LIKE 'g%' AND v2 = $1)`
	insertRows  = `INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
ON CONFLICT DO NOTHING`
	lockDomain = `SELECT pg_advisory_xact_lock(hashtextextended('hookflash/casbin/' || $1, 0))`
)

func (a *PGAdapter) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), a.timeout)
}

func (a *PGAdapter) query(ctx context.Context, q pgx.Tx, sql string, args ...any) ([]row, error) {
	var rs pgx.Rows
	var err error
	if q != nil {
		rs, err = q.Query(ctx, sql, args...)
	} else {
		rs, err = a.pool.Query(ctx, sql, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("authz: query casbin_rule: %w", err)
	}
	out, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x[0], &x[1], &x[2], &x[3], &x[4], &x[5], &x[6])
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("authz: read casbin_rule: %w", err)
	}
	return out, nil
}

// insert adds rows (existing ones are skipped) in tx.
func insert(ctx context.Context, tx pgx.Tx, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	var cols [7][]string
	for _, r := range rows {
		for i := range cols {
			cols[i] = append(cols[i], r[i])
		}
	}
	if _, err := tx.Exec(ctx, insertRows, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]); err != nil {
		return fmt.Errorf("authz: insert casbin_rule: %w", err)
	}
	return nil
}

// inTx runs f in a transaction.
func (a *PGAdapter) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	if err := pgx.BeginFunc(ctx, a.pool, f); err != nil {
		return err
	}
	return nil
}

// LoadPolicy loads every line of every domain.
func (a *PGAdapter) LoadPolicy(m model.Model) error {
	ctx, cancel := a.ctx()
	defer cancel()
	rows, err := a.query(ctx, nil, selectRows+` ORDER BY id`)
	if err != nil {
		return err
	}
	return loadRows(m, rows)
}

// LoadFilteredPolicy loads one domain (filter is a Filter), or everything
// when filter is nil.
func (a *PGAdapter) LoadFilteredPolicy(m model.Model, filter any) error {
	dom, ok, err := filterDomain(filter)
	if err != nil {
		return err
	}
	if !ok {
		return a.LoadPolicy(m)
	}
	ctx, cancel := a.ctx()
	defer cancel()
	rows, err := a.query(ctx, nil, selectRows+whereDomain+` ORDER BY id`, dom)
	if err != nil {
		return err
	}
	return loadRows(m, rows)
}

// IsFiltered reports true; see MemoryAdapter.IsFiltered.
func (a *PGAdapter) IsFiltered() bool { return true }

// SavePolicy replaces every row of the table with the model's lines.
func (a *PGAdapter) SavePolicy(m model.Model) error {
	rows, err := modelRows(m)
	if err != nil {
		return err
	}
	ctx, cancel := a.ctx()
	defer cancel()
	return a.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM casbin_rule`); err != nil {
			return fmt.Errorf("authz: clear casbin_rule: %w", err)
		}
		return insert(ctx, tx, rows)
	})
}

// AddPolicy stores one line; an existing line is a no-op.
func (a *PGAdapter) AddPolicy(_ string, ptype string, rule []string) error {
	return a.AddPolicies("", ptype, [][]string{rule})
}

// AddPolicies stores lines in one statement; existing lines are skipped.
func (a *PGAdapter) AddPolicies(_ string, ptype string, rules [][]string) error {
	rows := make([]row, 0, len(rules))
	for _, rule := range rules {
		r, err := toRow(ptype, rule)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	ctx, cancel := a.ctx()
	defer cancel()
	return a.inTx(ctx, func(tx pgx.Tx) error { return insert(ctx, tx, rows) })
}

// RemovePolicy deletes one line; a missing line is not an error.
func (a *PGAdapter) RemovePolicy(_ string, ptype string, rule []string) error {
	return a.RemovePolicies("", ptype, [][]string{rule})
}

// RemovePolicies deletes lines in one transaction.
func (a *PGAdapter) RemovePolicies(_ string, ptype string, rules [][]string) error {
	rows := make([]row, 0, len(rules))
	for _, rule := range rules {
		r, err := toRow(ptype, rule)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	ctx, cancel := a.ctx()
	defer cancel()
	return a.inTx(ctx, func(tx pgx.Tx) error {
		for _, r := range rows {
			_, err := tx.Exec(ctx, `DELETE FROM casbin_rule WHERE ptype = $1 AND v0 = $2 AND v1 = $3
AND v2 = $4 AND v3 = $5 AND v4 = $6 AND v5 = $7`, r[0], r[1], r[2], r[3], r[4], r[5], r[6])
			if err != nil {
				return fmt.Errorf("authz: delete casbin_rule: %w", err)
			}
		}
		return nil
	})
}

// RemoveFilteredPolicy deletes the lines of ptype whose values from
// fieldIndex on equal fieldValues (empty values match anything).
func (a *PGAdapter) RemoveFilteredPolicy(_ string, ptype string, fieldIndex int, fieldValues ...string) error {
	if fieldIndex < 0 || fieldIndex+len(fieldValues) > 6 {
		return fmt.Errorf("%w: filter index %d with %d values out of range", ErrInvalidPolicy, fieldIndex, len(fieldValues))
	}
	sql := `DELETE FROM casbin_rule WHERE ptype = $1`
	args := []any{ptype}
	for i, v := range fieldValues {
		if v == "" {
			continue
		}
		args = append(args, v)
		// Column names come from a fixed range, never from input.
		sql += fmt.Sprintf(" AND v%d = $%d", fieldIndex+i, len(args))
	}
	ctx, cancel := a.ctx()
	defer cancel()
	if _, err := a.pool.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("authz: delete casbin_rule: %w", err)
	}
	return nil
}

// LoadDomain returns the lines of one domain in insertion order.
func (a *PGAdapter) LoadDomain(ctx context.Context, domain string) ([][]string, error) {
	rows, err := a.query(ctx, nil, selectRows+whereDomain+` ORDER BY id`, domain)
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = r.line()
	}
	return out, nil
}

// ReplaceDomain atomically replaces the lines of one domain; every line
// must belong to it.
func (a *PGAdapter) ReplaceDomain(ctx context.Context, domain string, lines [][]string) error {
	rows, err := domainRows(domain, lines)
	if err != nil {
		return err
	}
	err = a.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockDomain, domain); err != nil {
			return fmt.Errorf("authz: lock domain: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM casbin_rule`+whereDomain, domain); err != nil {
			return fmt.Errorf("authz: delete domain lines: %w", err)
		}
		return insert(ctx, tx, rows)
	})
	if err != nil {
		return fmt.Errorf("authz: replace policy of %s: %w", domain, err)
	}
	return nil
}

// InitDomain stores lines when the domain has none, under the domain lock.
func (a *PGAdapter) InitDomain(ctx context.Context, domain string, lines [][]string) (bool, error) {
	rows, err := domainRows(domain, lines)
	if err != nil {
		return false, err
	}
	var stored bool
	err = a.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockDomain, domain); err != nil {
			return fmt.Errorf("authz: lock domain: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM casbin_rule`+whereDomain+`)`, domain).Scan(&exists); err != nil {
			return fmt.Errorf("authz: check domain lines: %w", err)
		}
		if exists {
			return nil
		}
		stored = true
		return insert(ctx, tx, rows)
	})
	if err != nil {
		return false, fmt.Errorf("authz: init policy of %s: %w", domain, err)
	}
	return stored, nil
}
