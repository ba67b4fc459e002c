package tenant_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookflash/hookflash/tenant"
	"github.com/hookflash/hookflash/tenant/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) tenant.Store { return tenant.NewMemoryStore() })
}

func TestMemoryStoreDropsOldestCalls(t *testing.T) {
	ctx := context.Background()
	const limit = 500
	s := tenant.NewMemoryStore()
	tenant.SetCallLimit(s, limit)
	id := tenant.ID("busy.example")
	if err := s.CreateTenant(ctx, &tenant.Tenant{ID: id}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	record := func(i int) {
		t.Helper()
		end := base.Add(time.Duration(i) * time.Second)
		c := &tenant.Call{Tenant: id, PBX: "pbx1", LinkedID: fmt.Sprint(i), StartedAt: end, EndedAt: end}
		if err := s.RecordCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest call arrives last: it is the one dropped.
	for i := 1; i <= limit; i++ {
		record(i)
	}
	record(0)
	record(limit + 1)

	var n int
	q := tenant.CallQuery{Limit: 7}
	oldest := ""
	for {
		page, next, err := s.ListCalls(ctx, id, q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page)
		if len(page) > 0 {
			oldest = page[len(page)-1].LinkedID
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if n != limit {
		t.Fatalf("history holds %d calls, want the limit %d", n, limit)
	}
	if oldest != "2" {
		t.Fatalf("oldest kept call is %s, want 2 (0 and 1 dropped)", oldest)
	}
}
