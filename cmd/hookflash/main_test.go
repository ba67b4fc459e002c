package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookflash/hookflash/cmd/hookflash/internal/config"
)

func TestHelpListsEveryVariable(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"demo", "--help"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		if code != 0 {
			t.Fatalf("%v: exit %d, want 0 (stderr %q)", args, code, errb.String())
		}
		text := out.String() + errb.String()
		for _, v := range config.Vars {
			if !strings.Contains(text, v.Env) {
				t.Errorf("%v: help does not mention %s", args, v.Env)
			}
			if v.Default != "" && !strings.Contains(text, v.Default) {
				t.Errorf("%v: help does not show default %q of %s", args, v.Default, v.Env)
			}
		}
	}
}

func TestBadConfigurationFailsFastWithOneClearLine(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unparseable database URL", []string{"serve", "--database-url", "mysql://x"}, "HOOKFLASH_DATABASE_URL"},
		{"unparseable redis URL", []string{"serve", "--redis-url", "http://x"}, "HOOKFLASH_REDIS_URL"},
		{"bad trusted proxy", []string{"serve", "--trusted-proxies", "10.0.0.0/33"}, "HOOKFLASH_TRUSTED_PROXIES"},
		{"missing secret key with database", []string{"serve", "--database-url", "postgres://u@127.0.0.1:1/db"}, "HOOKFLASH_SECRET_KEY"},
		{"bad secret key", []string{"serve", "--database-url", "postgres://u@127.0.0.1:1/db", "--secret-key", "short"}, "HOOKFLASH_SECRET_KEY"},
		{"unreachable database", []string{"serve", "--listen", "127.0.0.1:0", "--database-url", "postgres://u@127.0.0.1:1/db?connect_timeout=2", "--secret-key", strings.Repeat("ab", 32)}, "Postgres"},
		{"unreachable redis", []string{"serve", "--listen", "127.0.0.1:0", "--redis-url", "redis://127.0.0.1:1/0"}, "Redis"},
		{"bad duration", []string{"serve", "--lease-ttl", "soon"}, "HOOKFLASH_LEASE_TTL"},
		{"bad listen", []string{"serve", "--listen", "8080"}, "HOOKFLASH_LISTEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			start := time.Now()
			code := run(context.Background(), tc.args, &out, &errb)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s, want under 10s", took)
			}
			if code == 0 {
				t.Fatalf("exit 0, want non-zero")
			}
			msg := strings.TrimSpace(errb.String())
			if strings.Count(msg, "\n") != 0 {
				t.Errorf("want one line, got %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not name %s", msg, tc.want)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("stderr %q", errb.String())
	}
}
