// Package testenv gives integration tests their own isolated piece of the
// real Redis and Postgres that scripts/test.sh starts.
//
// The servers are found through HOOKFLASH_TEST_REDIS_URL and
// HOOKFLASH_TEST_DATABASE_URL. When a variable is unset the test is skipped
// with a reason saying how to run it (make test), so plain `go test ./...`
// stays green without services. Each Postgres caller gets a fresh database,
// dropped at cleanup; each Redis caller gets a unique key prefix, whose keys
// are deleted at cleanup.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Names of the environment variables scripts/test.sh exports.
const (
	RedisEnv    = "HOOKFLASH_TEST_REDIS_URL"
	PostgresEnv = "HOOKFLASH_TEST_DATABASE_URL"
)

// RedisURL returns the test Redis URL or skips t.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(RedisEnv)
	if u == "" {
		t.Skipf("integration test: %s is not set; run `make test` to start an ephemeral Redis", RedisEnv)
	}
	return u
}

// Redis returns a client on the test Redis and a key prefix unique to this
// test. Keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", RedisEnv, err)
	}
	c := redis.NewClient(opt)
	prefix := "hftest:" + Random(6)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		// Hash-tagged keys put the prefix inside braces.
		iter = c.Scan(ctx, 0, "*"+prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return c, prefix
}

// PostgresURL returns the test server URL or skips t.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PostgresEnv)
	if u == "" {
		t.Skipf("integration test: %s is not set; run `make test` to start an ephemeral Postgres", PostgresEnv)
	}
	return u
}

// Postgres creates a fresh, empty database on the test server and returns
// its URL. The database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testenv: connect %s: %v", PostgresEnv, err)
	}
	defer admin.Close(context.Background())
	name := "hftest_" + Random(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return u.String()
}

// Random returns n random bytes as lower-case hex.
func Random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("testenv: random: %v", err))
	}
	return strings.ToLower(hex.EncodeToString(b))
}
