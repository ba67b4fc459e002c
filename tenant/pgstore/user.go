package pgstore

import (
	"context"
	"errors"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookflash/hookflash/tenant"
)

// userSelect reads users with their terminals in order.
const userSelect = `SELECT u.tenant, u.id, u.username, u.name, u.email, u.role, u.main_extension, u.password_hash,
	u.disabled, u.created_at, u.updated_at,
	ARRAY(SELECT t.terminal FROM user_terminals t WHERE t.tenant = u.tenant AND t.user_id = u.id ORDER BY t.position)
	FROM users u`

func scanUser(row pgx.Row) (*tenant.User, error) {
	var u tenant.User
	var tid string
	err := row.Scan(&tid, &u.ID, &u.Username, &u.Name, &u.Email, &u.Role, &u.MainExtension, &u.PasswordHash,
		&u.Disabled, &u.CreatedAt, &u.UpdatedAt, &u.Terminals)
	if err != nil {
		return nil, err
	}
	u.Tenant = tenant.ID(tid)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	if u.Terminals == nil {
		u.Terminals = []string{}
	}
	return &u, nil
}

// lockUsers serialises the user writes of one tenant for the rest of the
// transaction. Without it two users trading terminals at once deadlock
// (each deletes its own rows, then waits on the other's), which Postgres
// only notices after deadlock_timeout. User writes are rare admin actions.
func lockUsers(ctx context.Context, tx pgx.Tx, id tenant.ID) error {
	h := fnv.New64a()
	h.Write([]byte("hookflash/users/" + string(id)))
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64()))
	return err
}

// inTx runs fn in a transaction, committing when it returns nil. A
// deadlock or serialization failure aborts the transaction; it is retried,
// up to three attempts, since fn is safe to run again.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for range 3 {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			return err
		}
	}
	return err
}

// setTerminals replaces the user's terminals, keeping their order.
func setTerminals(ctx context.Context, tx pgx.Tx, id tenant.ID, userID string, terminals []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM user_terminals WHERE tenant = $1 AND user_id = $2`, string(id), userID); err != nil {
		return err
	}
	if len(terminals) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO user_terminals (tenant, user_id, terminal, position)
		SELECT $1, $2, t.terminal, t.position FROM unnest($3::text[]) WITH ORDINALITY AS t(terminal, position)`,
		string(id), userID, terminals)
	return err
}

// CreateUser stores u under tenant id, assigning an ID when empty.
// ErrConflict when the username (any case) or a terminal is taken.
func (s *Store) CreateUser(ctx context.Context, id tenant.ID, u *tenant.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if err := missing("create user", string(id)); err != nil {
		return err
	}
	if u.ID == "" {
		u.ID = tenant.NewRecordID("usr")
	}
	now := tenant.Now()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockUsers(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO users (tenant, id, username, name, email, role, main_extension, password_hash,
				disabled, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
			string(id), u.ID, u.Username, u.Name, u.Email, u.Role, u.MainExtension, u.PasswordHash, u.Disabled, now)
		if err != nil {
			return err
		}
		return setTerminals(ctx, tx, id, u.ID, u.Terminals)
	})
	if err != nil {
		return mapErr("create user "+u.Username, err)
	}
	u.Tenant, u.CreatedAt, u.UpdatedAt = id, now, now
	return nil
}

// GetUser returns one user.
func (s *Store) GetUser(ctx context.Context, id tenant.ID, userID string) (*tenant.User, error) {
	if err := missing("get user", string(id), userID); err != nil {
		return nil, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, userSelect+` WHERE u.tenant = $1 AND u.id = $2`, string(id), userID))
	if err != nil {
		return nil, mapErr("get user "+userID, err)
	}
	return u, nil
}

// GetUserByUsername returns the user whose username equals username
// ignoring case.
func (s *Store) GetUserByUsername(ctx context.Context, id tenant.ID, username string) (*tenant.User, error) {
	if err := missing("get user", string(id), username); err != nil {
		return nil, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, userSelect+` WHERE u.tenant = $1 AND lower(u.username) = lower($2)`,
		string(id), username))
	if err != nil {
		return nil, mapErr("get user "+username, err)
	}
	return u, nil
}

// ListUsers returns the tenant's users ordered by lower-cased username.
func (s *Store) ListUsers(ctx context.Context, id tenant.ID) ([]tenant.User, error) {
	if missing("", string(id)) != nil {
		return []tenant.User{}, nil
	}
	rows, err := s.pool.Query(ctx, userSelect+` WHERE u.tenant = $1 ORDER BY lower(u.username) COLLATE "C"`, string(id))
	if err != nil {
		return nil, mapErr("list users", err)
	}
	out, err := collect(rows, scanUser)
	return out, mapErr("list users", err)
}

// UpdateUser replaces the user's fields and terminals in one transaction;
// an empty PasswordHash keeps the stored one. Timestamps are reported back.
func (s *Store) UpdateUser(ctx context.Context, id tenant.ID, u *tenant.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if err := missing("update user", string(id)); err != nil {
		return err
	}
	now := tenant.Now()
	var created time.Time
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockUsers(ctx, tx, id); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `UPDATE users SET username = $3, name = $4, email = $5, role = $6, main_extension = $7,
				password_hash = CASE WHEN $8 = '' THEN password_hash ELSE $8 END, disabled = $9, updated_at = $10
			WHERE tenant = $1 AND id = $2 RETURNING created_at`,
			string(id), u.ID, u.Username, u.Name, u.Email, u.Role, u.MainExtension, u.PasswordHash, u.Disabled, now).
			Scan(&created)
		if err != nil {
			return err
		}
		return setTerminals(ctx, tx, id, u.ID, u.Terminals)
	})
	if err != nil {
		return mapErr("update user "+u.ID, err)
	}
	u.Tenant, u.CreatedAt, u.UpdatedAt = id, created.UTC(), now
	return nil
}

// DeleteUser removes one user; its terminals go with it.
func (s *Store) DeleteUser(ctx context.Context, id tenant.ID, userID string) error {
	if err := missing("delete user", string(id), userID); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE tenant = $1 AND id = $2`, string(id), userID)
	return notFoundIfNone("delete user "+userID, tag, err)
}

// ---- tokens

const tokenCols = `tenant, id, name, role, prefix, hash, expires_at, last_used_at, revoked_at, created_at`

func scanToken(row pgx.Row) (*tenant.Token, error) {
	var t tenant.Token
	var tid string
	var hash []byte
	err := row.Scan(&tid, &t.ID, &t.Name, &t.Role, &t.Prefix, &hash, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt, &t.CreatedAt)
	if err != nil {
		return nil, err
	}
	t.Tenant = tenant.ID(tid)
	copy(t.Hash[:], hash) // the schema checks the length is 32
	t.CreatedAt = t.CreatedAt.UTC()
	for _, p := range []**time.Time{&t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	return &t, nil
}

// CreateToken stores t under tenant id, assigning an ID when empty and
// CreatedAt. ErrConflict when the hash exists (in any tenant).
func (s *Store) CreateToken(ctx context.Context, id tenant.ID, t *tenant.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if err := missing("create token", string(id)); err != nil {
		return err
	}
	if t.ID == "" {
		t.ID = tenant.NewRecordID("tok")
	}
	now := tenant.Now()
	exp, used, rev := normalizePtr(t.ExpiresAt), normalizePtr(t.LastUsedAt), normalizePtr(t.RevokedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		string(id), t.ID, t.Name, t.Role, t.Prefix, t.Hash[:], exp, used, rev, now)
	if err != nil {
		return mapErr("create token "+t.ID, err)
	}
	t.Tenant, t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = id, now, exp, used, rev
	return nil
}

func normalizePtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	n := tenant.Normalize(*t)
	return &n
}

// GetTokenByHash finds a token in any tenant, revoked and expired included.
func (s *Store) GetTokenByHash(ctx context.Context, hash [32]byte) (*tenant.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = $1`, hash[:]))
	if err != nil {
		return nil, mapErr("get token", err)
	}
	return t, nil
}

// ListTokens returns the tenant's tokens ordered by CreatedAt then ID.
func (s *Store) ListTokens(ctx context.Context, id tenant.ID) ([]tenant.Token, error) {
	if missing("", string(id)) != nil {
		return []tenant.Token{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE tenant = $1
		ORDER BY created_at, id COLLATE "C"`, string(id))
	if err != nil {
		return nil, mapErr("list tokens", err)
	}
	out, err := collect(rows, scanToken)
	return out, mapErr("list tokens", err)
}

// RevokeToken sets RevokedAt; revoking a revoked token keeps the first time.
func (s *Store) RevokeToken(ctx context.Context, id tenant.ID, tokenID string) error {
	if err := missing("revoke token", string(id), tokenID); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant = $1 AND id = $2`,
		string(id), tokenID, tenant.Now())
	return notFoundIfNone("revoke token "+tokenID, tag, err)
}

// TouchTokens moves LastUsedAt forward (never back) for the whole batch in
// one statement; ids unknown in their tenant are ignored.
func (s *Store) TouchTokens(ctx context.Context, used map[string]tenant.TokenUse) error {
	tenants := make([]string, 0, len(used))
	ids := make([]string, 0, len(used))
	ats := make([]time.Time, 0, len(used))
	for id, u := range used {
		if u.At.IsZero() || missing("", string(u.Tenant), id) != nil {
			continue
		}
		tenants, ids, ats = append(tenants, string(u.Tenant)), append(ids, id), append(ats, tenant.Normalize(u.At))
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE api_tokens a SET last_used_at = GREATEST(a.last_used_at, u.at)
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(tenant, id, at)
		WHERE a.tenant = u.tenant AND a.id = u.id`, tenants, ids, ats)
	return mapErr("touch tokens", err)
}
