package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
	"github.com/hookflash/hookflash/tenant"
)

// demoCredentials is what `hookflash demo` writes to --credentials-out.
type demoCredentials struct {
	HTTP    string       `json:"http"`
	Tenants []demoTenant `json:"tenants"`
}

type demoTenant struct {
	Domain          string     `json:"domain"`
	AdminToken      string     `json:"admin_token"`
	IntegratorToken string     `json:"integrator_token"`
	Users           []demoUser `json:"users"`
}

type demoUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
	Terminal string `json:"terminal,omitempty"`
}

// runDemo runs one embedded node (memory store and broker) on loopback with
// two demo tenants, each with a simulated PBX producing live traffic.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var credsOut string
	var cps float64
	cfg, _, err := parseConfig("demo", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&credsOut, "credentials-out", "demo-credentials.json", "where to write the demo credentials (JSON)")
		fs.Float64Var(&cps, "calls-per-second", 0.5, "simulated calls per second across the demo PBXes")
		if l := fs.Lookup("listen"); l != nil && os.Getenv("HOOKFLASH_LISTEN") == "" {
			l.DefValue, _ = "127.0.0.1:8080", l.Value.Set("127.0.0.1:8080")
		}
		if l := fs.Lookup("log-level"); l != nil && os.Getenv("HOOKFLASH_LOG_LEVEL") == "" {
			l.DefValue, _ = "warn", l.Value.Set("warn")
		}
	})
	if err != nil {
		return err
	}
	cfg.DatabaseURL, cfg.RedisURL = "", "" // the demo is always the embedded single node
	log := newLogger(stderr, cfg.LogLevel, "text")
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		// Port taken: take any free loopback port rather than fail.
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		fmt.Fprintf(stderr, "%s is busy; using %s instead\n", cfg.Listen, ln.Addr())
	}
	a, err := buildApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	base := "http://" + ln.Addr().String()

	creds := demoCredentials{HTTP: base}
	var pbxs []*pbxsim.PBX
	defer func() {
		for _, p := range pbxs {
			_ = p.Close()
		}
	}()
	for i, name := range []string{"acme", "globex"} {
		dt, p, err := a.seedDemoTenant(ctx, name+".demo", i)
		if err != nil {
			return fmt.Errorf("demo tenant %s: %w", name, err)
		}
		creds.Tenants = append(creds.Tenants, dt)
		pbxs = append(pbxs, p)
	}
	if err := writeCredentials(credsOut, &creds); err != nil {
		return err
	}
	go func() {
		if err := pbxsim.RunTraffic(ctx, pbxs, pbxsim.TrafficConfig{CallsPerSecond: cps, TalkTime: 4 * time.Second}, nil); err != nil && ctx.Err() == nil {
			log.Warn("demo traffic stopped", "err", err)
		}
	}()
	printDemoHelp(stdout, &creds, credsOut)
	return a.serve(ctx, ln)
}

// seedDemoTenant creates a tenant with an admin, four agents, an admin and an
// integrator token, and a simulated PBX registered as the tenant's PBX.
func (a *app) seedDemoTenant(ctx context.Context, domain string, n int) (demoTenant, *pbxsim.PBX, error) {
	dt := demoTenant{Domain: domain}
	id, err := tenant.ParseID(domain)
	if err != nil {
		return dt, nil, err
	}
	title := strings.ToUpper(domain[:1]) + domain[1:strings.IndexByte(domain, '.')]
	if err := a.store.CreateTenant(ctx, &tenant.Tenant{ID: id, Name: title + " (demo)", Privacy: tenant.Privacy{Enabled: n == 1, KeepLast: 3}}); err != nil {
		return dt, nil, err
	}
	if _, err := a.authz.EnsureDefaults(ctx, string(id)); err != nil {
		return dt, nil, err
	}
	users := []struct {
		username, name, role, ext string
	}{
		{"admin", "Ada Admin", tenant.RoleAdmin, ""},
		{"sam", "Sam Supervisor", tenant.RoleSupervisor, "1004"},
		{"alice", "Alice Agent", tenant.RoleAgent, "1001"},
		{"bob", "Bob Agent", tenant.RoleAgent, "1002"},
		{"carol", "Carol Agent", tenant.RoleAgent, "1003"},
	}
	for _, u := range users {
		pw := u.username + "-demo-pass"
		row := &tenant.User{Username: u.username, Name: u.name, Role: u.role, MainExtension: u.ext}
		if u.ext != "" {
			row.Terminals = []string{"PJSIP/" + u.ext, "Local/" + u.ext + "@agents"}
		}
		if row.PasswordHash, err = a.identity.Passwords.Hash(ctx, pw); err != nil {
			return dt, nil, err
		}
		if err := a.store.CreateUser(ctx, id, row); err != nil {
			return dt, nil, err
		}
		du := demoUser{Username: u.username, Password: pw, Role: u.role}
		if u.ext != "" {
			du.Terminal = "PJSIP/" + u.ext
		}
		dt.Users = append(dt.Users, du)
	}
	_, adminSecret, err := a.identity.CreateToken(ctx, id, "demo admin", tenant.RoleAdmin, nil)
	if err != nil {
		return dt, nil, err
	}
	_, integSecret, err := a.identity.CreateToken(ctx, id, "demo integrator", tenant.RoleIntegrator, nil)
	if err != nil {
		return dt, nil, err
	}
	dt.AdminToken, dt.IntegratorToken = adminSecret, integSecret

	sim, err := pbxsim.Start(ctx, pbxsim.Config{Name: title, Logger: a.log})
	if err != nil {
		return dt, nil, err
	}
	ariUser, ariPass := sim.ARICredentials()
	amiUser, amiSecret := sim.AMICredentials()
	p := &tenant.PBX{Name: title + " PBX", Enabled: true, ARIURL: sim.ARIURL(), ARIUser: ariUser, ARIApp: "cti",
		AMIAddr: sim.AMIAddr(), AMIUser: amiUser, Secrets: tenant.PBXSecrets{ARIPassword: ariPass, AMISecret: amiSecret}}
	if err := a.store.CreatePBX(ctx, id, p); err != nil {
		_ = sim.Close()
		return dt, nil, err
	}
	a.refreshConnectors()
	return dt, sim, nil
}

func writeCredentials(path string, c *demoCredentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write credentials to %s: %w (choose another path with --credentials-out)", path, err)
	}
	return nil
}

func printDemoHelp(w io.Writer, c *demoCredentials, path string) {
	t := c.Tenants[0]
	fmt.Fprintf(w, `
Hookflash demo is running at %s  (Ctrl-C to stop)

  Operator console:  %s/?full_events=true&token=%s
  Credentials file:  %s

`, c.HTTP, c.HTTP, t.AdminToken, path)
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "  TENANT\tUSER\tPASSWORD\tROLE\tTERMINAL")
	for _, dt := range c.Tenants {
		for _, u := range dt.Users {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", dt.Domain, u.Username, u.Password, u.Role, u.Terminal)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, `
Watch the live feed of %s (every call of the tenant):
  go run ./cmd/hookflash tail --url %s --token %s

Call the REST API:
  curl -s -H 'Authorization: Bearer %s' %s/api/v1/calls
  curl -s -H 'Authorization: Bearer %s' %s/api/v1/groups
  curl -s -X POST %s/api/v1/auth/login -H 'Content-Type: application/json' \
       -d '{"domain":"%s","username":"alice","password":"alice-demo-pass"}'

`, t.Domain, c.HTTP, t.IntegratorToken, t.IntegratorToken, c.HTTP, t.AdminToken, c.HTTP, c.HTTP, t.Domain)
}
