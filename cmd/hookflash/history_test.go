package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/hookflash/hookflash/migrations"
	"github.com/hookflash/hookflash/pbxconn"
	"github.com/hookflash/hookflash/tenant"
	"github.com/hookflash/hookflash/tenant/pgstore"
)

// TestHistorySurvivesPostgresRestart stops the test's own Postgres while
// calls complete, starts it again, and checks every call was written once.
func TestHistorySurvivesPostgresRestart(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrations.Up(ctx, pg.URL(), log); err != nil {
		t.Fatal(err)
	}
	sealer, err := tenant.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.New(ctx, pgstore.Config{URL: pg.URL(), Sealer: sealer, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tid := tenant.ID("hist.example")
	if err := st.CreateTenant(ctx, &tenant.Tenant{ID: tid, Name: "h"}); err != nil {
		t.Fatal(err)
	}
	w := newHistoryWriter(st, log, prometheus.NewRegistry())
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx, 10*time.Second) }()

	const n = 60
	start := time.Now().Add(-time.Hour)
	for i := 0; i < n; i++ {
		if i == 20 {
			pg.Stop() // mid-traffic outage
		}
		if i == 45 {
			if w.len() == 0 {
				t.Fatal("calls during the outage were not kept pending")
			}
			pg.Start()
		}
		w.add(tid, pbxconn.Call{LinkedID: fmt.Sprintf("17954.%d", i), PBXID: "pbx1", Direction: "inbound",
			From: "+15550001", To: "8000", Users: []string{"u1"}, Answered: true, Disposition: "answered",
			Start: start.Add(time.Duration(i) * time.Second), Answer: start.Add(time.Duration(i)*time.Second + 2*time.Second),
			End: start.Add(time.Duration(i)*time.Second + 30*time.Second), TalkTime: 28 * time.Second})
		time.Sleep(20 * time.Millisecond)
	}
	// Everything reaches the database once it is back.
	deadline := time.Now().Add(30 * time.Second)
	for w.len() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	<-done
	if w.len() != 0 {
		t.Fatalf("%d calls still pending after Postgres came back", w.len())
	}
	seen := map[string]bool{}
	q := tenant.CallQuery{Limit: 25}
	for {
		calls, next, err := st.ListCalls(ctx, tid, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			if seen[c.LinkedID] {
				t.Fatalf("call %s listed twice", c.LinkedID)
			}
			seen[c.LinkedID] = true
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if len(seen) != n {
		t.Fatalf("history holds %d calls, want %d", len(seen), n)
	}
}

// TestHistoryInvalidRowDoesNotBlock: a row the store refuses is skipped and
// counted; the calls behind it are still written.
func TestHistoryInvalidRowDoesNotBlock(t *testing.T) {
	st := tenant.NewMemoryStore()
	ctx := context.Background()
	tid := tenant.ID("inv.example")
	if err := st.CreateTenant(ctx, &tenant.Tenant{ID: tid, Name: "i"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := newHistoryWriter(st, log, prometheus.NewRegistry())
	now := time.Now()
	// Skewed clocks: answer before start, end before start.
	w.add(tid, pbxconn.Call{LinkedID: "skew.1", PBXID: "p", Direction: "inbound", Disposition: "answered",
		Start: now, Answer: now.Add(-time.Second), End: now.Add(-2 * time.Second), TalkTime: -time.Second})
	w.add(tid, pbxconn.Call{LinkedID: "", PBXID: "p", Direction: "inbound", Disposition: "answered", Start: now, End: now}) // no linked id: invalid
	w.add(tid, pbxconn.Call{LinkedID: "ok.1", PBXID: "p", Direction: "inbound", Disposition: "no_answer", Start: now, End: now.Add(time.Second)})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx, time.Second) }()
	deadline := time.Now().Add(5 * time.Second)
	for w.len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	calls, _, err := st.ListCalls(ctx, tid, tenant.CallQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range calls {
		ids = append(ids, c.LinkedID)
		if c.WaitSec < 0 || c.TalkSec < 0 || c.EndedAt.Before(c.StartedAt) {
			t.Errorf("call %s stored with negative durations: %+v", c.LinkedID, c)
		}
	}
	if len(ids) != 2 || !strings.Contains(strings.Join(ids, ","), "skew.1") || !strings.Contains(strings.Join(ids, ","), "ok.1") {
		t.Fatalf("stored %v, want skew.1 and ok.1", ids)
	}
}
