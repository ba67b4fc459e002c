package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hookflash/hookflash/tenant"
)

// ---- audit

// AppendAudit appends e, assigning ID (increasing across the store) and At
// when zero. A tenant entry needs an existing tenant (ErrNotFound).
func (s *Store) AppendAudit(ctx context.Context, e *tenant.AuditEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	at := tenant.Normalize(e.At)
	if at.IsZero() {
		at = tenant.Now()
	}
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO audit_log (tenant, actor, action, target, detail, at)
		VALUES (NULLIF($1, ''), $2, $3, $4, $5, $6) RETURNING id`,
		string(e.Tenant), e.Actor, e.Action, e.Target, e.Detail, at).Scan(&id)
	if err != nil {
		return mapErr("append audit", err)
	}
	e.ID, e.At = id, at
	return nil
}

func scanAudit(row pgx.Row) (*tenant.AuditEntry, error) {
	var e tenant.AuditEntry
	var tid *string
	if err := row.Scan(&e.ID, &tid, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.At); err != nil {
		return nil, err
	}
	if tid != nil {
		e.Tenant = tenant.ID(*tid)
	}
	e.At = e.At.UTC()
	return &e, nil
}

// ListAudit returns the newest entries of tenant id first (the empty ID
// lists platform-level entries); limit defaults to 100, at most 1000.
func (s *Store) ListAudit(ctx context.Context, id tenant.ID, limit int) ([]tenant.AuditEntry, error) {
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	if missing("", string(id)) != nil {
		return []tenant.AuditEntry{}, nil
	}
	const cols = `SELECT id, tenant, actor, action, target, detail, at FROM audit_log`
	var rows pgx.Rows
	var err error
	if id == "" {
		rows, err = s.pool.Query(ctx, cols+` WHERE tenant IS NULL ORDER BY id DESC LIMIT $1`, limit)
	} else {
		rows, err = s.pool.Query(ctx, cols+` WHERE tenant = $1 ORDER BY id DESC LIMIT $2`, string(id), limit)
	}
	if err != nil {
		return nil, mapErr("list audit", err)
	}
	out, err := collect(rows, scanAudit)
	return out, mapErr("list audit", err)
}

// ---- calls

const callCols = `tenant, pbx_id, linked_id, direction, from_number, from_name, to_number, users, queue,
	answered, abandoned, disposition, started_at, answered_at, ended_at, wait_s, talk_s`

// RecordCall stores c unless a call with the same (tenant, PBX, linked id)
// exists, in which case it does nothing and returns nil. The tenant must
// exist (ErrNotFound).
func (s *Store) RecordCall(ctx context.Context, c *tenant.Call) error {
	if err := c.Validate(); err != nil {
		return err
	}
	users := c.Users
	if users == nil {
		users = []string{}
	}
	// One statement: the call and, only if it is new, its per-user index
	// rows (see migration 00002).
	_, err := s.pool.Exec(ctx, `WITH ins AS (
			INSERT INTO calls (`+callCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
			ON CONFLICT (tenant, pbx_id, linked_id) DO NOTHING
			RETURNING tenant, pbx_id, linked_id, ended_at, users)
		INSERT INTO call_users (tenant, user_id, ended_at, linked_id, pbx_id)
		SELECT ins.tenant, u.user_id, ins.ended_at, ins.linked_id, ins.pbx_id
		FROM ins CROSS JOIN LATERAL unnest(ins.users) AS u(user_id)
		ON CONFLICT DO NOTHING`,
		string(c.Tenant), c.PBX, c.LinkedID, c.Direction, c.From, c.FromName, c.To, users, c.Queue,
		c.Answered, c.Abandoned, c.Disposition, tenant.Normalize(c.StartedAt), normalizePtr(c.AnsweredAt),
		tenant.Normalize(c.EndedAt), c.WaitSec, c.TalkSec)
	return mapErr("record call "+c.LinkedID, err)
}

func scanCall(row pgx.Row) (*tenant.Call, error) {
	var c tenant.Call
	var tid string
	err := row.Scan(&tid, &c.PBX, &c.LinkedID, &c.Direction, &c.From, &c.FromName, &c.To, &c.Users, &c.Queue,
		&c.Answered, &c.Abandoned, &c.Disposition, &c.StartedAt, &c.AnsweredAt, &c.EndedAt, &c.WaitSec, &c.TalkSec)
	if err != nil {
		return nil, err
	}
	c.Tenant = tenant.ID(tid)
	c.StartedAt, c.EndedAt = c.StartedAt.UTC(), c.EndedAt.UTC()
	if c.AnsweredAt != nil {
		a := c.AnsweredAt.UTC()
		c.AnsweredAt = &a
	}
	if c.Users == nil {
		c.Users = []string{}
	}
	return &c, nil
}

// ListCalls returns one page of the tenant's history matching q, newest
// first (the order CallQuery documents), and the cursor of the next page
// ("" on the last page). Pages are keyset-paginated on (ended_at,
// linked_id, pbx_id), so a page costs the same at any depth. A malformed
// cursor is ErrInvalid.
func (s *Store) ListCalls(ctx context.Context, id tenant.ID, q tenant.CallQuery) ([]tenant.Call, string, error) {
	q, cur, err := q.Normalize()
	if err != nil {
		return nil, "", fmt.Errorf("list calls: %w", err)
	}
	if missing("", string(id)) != nil {
		return []tenant.Call{}, "", nil
	}
	// Without a user filter the keyset runs on calls itself; with one, on
	// call_users (whose key has the same order), joined to calls for the
	// row and the other filters. k names the table holding the sort key.
	from, k := "calls c", "c"
	if q.User != "" {
		from = "call_users k JOIN calls c ON c.tenant = k.tenant AND c.pbx_id = k.pbx_id AND c.linked_id = k.linked_id"
		k = "k"
	}
	args := []any{string(id)}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := []string{k + ".tenant = $1"}
	if q.User != "" {
		where = append(where, "k.user_id = "+arg(q.User))
	}
	if !q.From.IsZero() {
		where = append(where, k+".ended_at >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, k+".ended_at < "+arg(q.To))
	}
	if q.Direction != "" {
		where = append(where, "c.direction = "+arg(q.Direction))
	}
	if q.Queue != "" {
		// The literal queue <> '' lets a generic (prepared) plan prove the
		// partial index calls_tenant_queue_ended_idx applies.
		where = append(where, "c.queue = "+arg(q.Queue), "c.queue <> ''")
	}
	if cur != nil {
		where = append(where, fmt.Sprintf(`(%[1]s.ended_at, %[1]s.linked_id, %[1]s.pbx_id) < (%s, %s::text COLLATE "C", %s::text COLLATE "C")`,
			k, arg(cur.EndedAt), arg(cur.LinkedID), arg(cur.PBX)))
	}
	sql := `SELECT ` + prefixed("c.", callCols) + ` FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(` ORDER BY %[1]s.ended_at DESC, %[1]s.linked_id DESC, %[1]s.pbx_id DESC LIMIT %s`, k, arg(q.Limit+1))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", mapErr("list calls", err)
	}
	out, err := collect(rows, scanCall)
	if err != nil {
		return nil, "", mapErr("list calls", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = tenant.CursorAfter(&out[len(out)-1])
	}
	return out, next, nil
}
