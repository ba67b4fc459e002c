package migrations

import (
	"context"
	"errors"
	"hash/fnv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookflash/hookflash/internal/testenv"
)

func TestLockIDIsDocumentedHash(t *testing.T) {
	h := fnv.New64a()
	h.Write([]byte("hookflash/migrations"))
	if got := int64(h.Sum64()); got != lockID {
		t.Fatalf("lockID = %#x, FNV-1a 64 of hookflash/migrations = %#x", lockID, got)
	}
}

// TestUpWaitsForTheLock holds the advisory lock on another session: Up must
// wait (and give up when ctx ends, applying nothing), then succeed once the
// lock is released.
func TestUpWaitsForTheLock(t *testing.T) {
	t.Parallel() // each test has its own database, and advisory locks are per database
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	holder, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		t.Fatal(err)
	}

	short, cancelShort := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	err = Up(short, url, nil)
	if err == nil {
		t.Fatal("Up succeeded while another session held the migration lock")
	}
	if !errors.Is(err, context.DeadlineExceeded) && short.Err() == nil {
		t.Fatalf("Up failed for another reason than waiting: %v", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("Up returned after %v, before its context ended: it did not wait for the lock", d)
	}
	var exists bool
	if err := holder.QueryRow(ctx, "SELECT to_regclass('public.tenants') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("Up applied migrations without the lock")
	}

	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockID); err != nil {
		t.Fatal(err)
	}
	if err := Up(ctx, url, nil); err != nil {
		t.Fatalf("Up after the lock was released: %v", err)
	}
}
