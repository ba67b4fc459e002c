package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestAdminCLI drives `hookflash admin` and `hookflash token create` against
// a real replica and checks the tables people read.
func TestAdminCLI(t *testing.T) {
	r := startReplica(t, backend{name: "memory"})
	g := []string{"admin", "--url", r.base, "--token", testAdminToken}
	out, errs, code := runCLI(t, append(g, "tenants", "create", "--domain", "cli.example", "--name", "CLI Co", "--admin-username", "root", "--admin-password", "root-password")...)
	if code != 0 {
		t.Fatalf("tenants create: exit %d: %s", code, errs)
	}
	out, _, _ = runCLI(t, append(g, "tenants", "list")...)
	if !strings.Contains(out, "ID") || !strings.Contains(out, "cli.example") || !strings.Contains(out, "(1)") {
		t.Fatalf("tenants list table:\n%s", out)
	}
	gt := append(append([]string{}, g...), "--tenant", "cli.example")
	if _, errs, code = runCLI(t, append(gt, "users", "create", "--username", "ann", "--password", "ann-password", "--role", "agent", "--terminals", "PJSIP/1001,Local/1001@agents")...); code != 0 {
		t.Fatalf("users create: %s", errs)
	}
	out, _, _ = runCLI(t, append(gt, "users", "list")...)
	if !strings.Contains(out, "ann") || !strings.Contains(out, "PJSIP/1001,Local/1001@agents") {
		t.Fatalf("users list table:\n%s", out)
	}
	out, errs, code = runCLI(t, "token", "create", "--url", r.base, "--token", testAdminToken, "--tenant", "cli.example", "--name", "crm")
	if code != 0 || !strings.Contains(out, "hfk_") || !strings.Contains(out, "shown only now") {
		t.Fatalf("token create: exit %d out %q err %q", code, out, errs)
	}
	out, _, _ = runCLI(t, append(gt, "--json", "tokens", "list")...)
	if !strings.Contains(out, `"tokens"`) || strings.Contains(out, "hfk_") && strings.Contains(out, `"secret"`) {
		t.Fatalf("tokens list --json:\n%s", out)
	}
	pol := filepath.Join(t.TempDir(), "p.json")
	_ = os.WriteFile(pol, []byte(`{"lines":[["p","agent","other.example","element/channel","read"]]}`), 0o600)
	_, errs, code = runCLI(t, append(gt, "policies", "set", pol)...)
	if code == 0 || !strings.Contains(errs, "invalid") {
		t.Fatalf("a cross-domain policy was accepted (exit %d): %s", code, errs)
	}
	_, errs, code = runCLI(t, "admin", "--url", r.base, "--token", "hfk_wrong", "users", "list")
	if code == 0 || !strings.Contains(errs, "401") {
		t.Fatalf("bad token: exit %d: %s", code, errs)
	}
}
