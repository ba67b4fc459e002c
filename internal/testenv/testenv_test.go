package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPostgresGivesAnIsolatedDatabase(t *testing.T) {
	a, b := Postgres(t), Postgres(t)
	if a == b {
		t.Fatalf("two calls returned the same database %s", a)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	d, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	var n int
	if err := d.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("table leaked across databases: n=%d err=%v", n, err)
	}
}

func TestRedisPrefixesDiffer(t *testing.T) {
	c, p1 := Redis(t)
	_, p2 := Redis(t)
	if p1 == p2 {
		t.Fatal("prefixes collide")
	}
	if err := c.Set(context.Background(), p1+":k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}
