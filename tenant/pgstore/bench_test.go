package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/hookflash/hookflash/migrations"
	"github.com/hookflash/hookflash/tenant"
	"github.com/hookflash/hookflash/tenant/pgstore"
)

const benchCalls = 50_000

// seedHistory bulk-loads n calls (through COPY: RecordCall one by one would
// dominate the run) spread over 20 users, and returns the store.
func seedHistory(b *testing.B, n int) (*pgstore.Store, tenant.ID) {
	b.Helper()
	url := testenv.Postgres(b)
	ctx := context.Background()
	if err := migrations.Up(ctx, url, nil); err != nil {
		b.Fatal(err)
	}
	s, err := pgstore.New(ctx, pgstore.Config{URL: url, Sealer: newSealer(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	id := tenant.ID("bench.example")
	if err := s.CreateTenant(ctx, &tenant.Tenant{ID: id}); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := make([][]any, 0, n)
	users := make([][]any, 0, n)
	for i := range n {
		end := base.Add(time.Duration(i) * time.Second)
		u := fmt.Sprintf("usr_%d", i%20)
		linked := fmt.Sprintf("1700000000.%d", i)
		calls = append(calls, []any{string(id), "pbx1", linked, "inbound", []string{u}, end.Add(-time.Minute), end})
		users = append(users, []any{string(id), u, end, linked, "pbx1"})
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"calls"},
		[]string{"tenant", "pbx_id", "linked_id", "direction", "users", "started_at", "ended_at"}, pgx.CopyFromRows(calls)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"call_users"},
		[]string{"tenant", "user_id", "ended_at", "linked_id", "pbx_id"}, pgx.CopyFromRows(users)); err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{"calls", "call_users"} {
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+t); err != nil {
			b.Fatal(err)
		}
	}
	return s, id
}

// BenchmarkListCalls shows that a page costs the same at any depth
// (keyset pagination), with and without the user filter.
func BenchmarkListCalls(b *testing.B) {
	s, id := seedHistory(b, benchCalls)
	ctx := context.Background()
	// Halfway down the history: 500 pages in.
	mid := benchCalls / 2
	deep := tenant.CursorAfter(&tenant.Call{PBX: "pbx1", LinkedID: fmt.Sprintf("1700000000.%d", mid),
		EndedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(mid) * time.Second)})
	for _, bc := range []struct {
		name string
		q    tenant.CallQuery
	}{
		{"first-page", tenant.CallQuery{}},
		{"deep-page", tenant.CallQuery{Cursor: deep}},
		{"user-first-page", tenant.CallQuery{User: "usr_7"}},
		{"user-deep-page", tenant.CallQuery{User: "usr_7", Cursor: deep}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, _, err := s.ListCalls(ctx, id, bc.q)
				if err != nil || len(page) == 0 {
					b.Fatalf("ListCalls: %d rows, %v", len(page), err)
				}
			}
		})
	}
}

// BenchmarkGetTokenByHash is the per-request token lookup (before any cache).
func BenchmarkGetTokenByHash(b *testing.B) {
	s, id := seedHistory(b, 0)
	ctx := context.Background()
	tok := &tenant.Token{Role: "integrator", Hash: [32]byte{1, 2, 3}}
	if err := s.CreateToken(ctx, id, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetTokenByHash(ctx, tok.Hash); err != nil {
			b.Fatal(err)
		}
	}
}
