// Package config reads Hookflash's configuration from HOOKFLASH_* environment
// variables and mirroring command-line flags. One table (Vars) describes every
// setting: its variable, flag, default and meaning; help output, flag parsing
// and the Helm chart check are all driven by it, so they cannot drift apart.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Config is the parsed configuration of `hookflash serve` and `hookflash demo`.
type Config struct {
	Listen         string
	DatabaseURL    string
	RedisURL       string
	SecretKey      string
	AdminToken     string
	ReplicaID      string
	LogLevel       string
	LogFormat      string
	ShutdownGrace  time.Duration
	MigrateOnStart bool
	DBMaxConns     int

	LeaseTTL     time.Duration
	ReconnectMax time.Duration

	SessionIdle          time.Duration
	LoginRatePerMin      int
	LoginFailures        int
	TrustedProxies       []netip.Prefix
	MaxConnsPerPrincipal int

	ThrottleCount  int
	ThrottleWindow time.Duration
	ThrottleBurst  int
	SendQueueBytes int
	MaxFrameBytes  int
	PingInterval   time.Duration
	HistoryLen     int
	HistoryAge     time.Duration

	CommandTimeout time.Duration
	CORSOrigins    string
}

// Var describes one setting.
type Var struct {
	Env     string // HOOKFLASH_…
	Flag    string // flag name
	Default string
	Usage   string
	set     func(c *Config, v string) error
}

// Vars is every setting, in the order help prints them.
var Vars = []Var{
	{"HOOKFLASH_LISTEN", "listen", ":8080", "HTTP/WebSocket listen address (host:port)", func(c *Config, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("not host:port (e.g. :8080 or 127.0.0.1:8080): %v", err)
		}
		c.Listen = v
		return nil
	}},
	{"HOOKFLASH_DATABASE_URL", "database-url", "", "Postgres URL (postgres://user:pass@host:5432/db); empty = embedded memory store", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
				return errors.New("not a postgres:// URL (e.g. postgres://hookflash:secret@db:5432/hookflash)")
			}
		}
		c.DatabaseURL = v
		return nil
	}},
	{"HOOKFLASH_REDIS_URL", "redis-url", "", "Redis URL (redis://host:6379/0 or rediss://); empty = single-node memory broker", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
				return errors.New("not a redis:// or rediss:// URL (e.g. redis://redis:6379/0)")
			}
		}
		c.RedisURL = v
		return nil
	}},
	{"HOOKFLASH_SECRET_KEY", "secret-key", "", "32-byte key (64 hex chars) encrypting PBX secrets at rest; required with a database (make one: openssl rand -hex 32)", func(c *Config, v string) error { c.SecretKey = v; return nil }},
	{"HOOKFLASH_ADMIN_TOKEN", "admin-token", "", "platform admin bootstrap token (creates tenants); empty disables platform admin API", func(c *Config, v string) error {
		if v != "" && len(v) < 16 {
			return errors.New("too short: use at least 16 random characters (e.g. openssl rand -hex 24)")
		}
		c.AdminToken = v
		return nil
	}},
	{"HOOKFLASH_REPLICA_ID", "replica-id", "", "this replica's id in the cluster; empty = hostname plus a random suffix", func(c *Config, v string) error { c.ReplicaID = v; return nil }},
	{"HOOKFLASH_LOG_LEVEL", "log-level", "info", "log level: debug, info, warn, error", func(c *Config, v string) error {
		switch v {
		case "debug", "info", "warn", "error":
			c.LogLevel = v
			return nil
		}
		return errors.New("must be debug, info, warn or error")
	}},
	{"HOOKFLASH_LOG_FORMAT", "log-format", "json", "log format: json or text", func(c *Config, v string) error {
		if v != "json" && v != "text" {
			return errors.New("must be json or text")
		}
		c.LogFormat = v
		return nil
	}},
	{"HOOKFLASH_SHUTDOWN_GRACE", "shutdown-grace", "20s", "how long SIGTERM waits for connections to drain and leases to hand over", durVar(func(c *Config) *time.Duration { return &c.ShutdownGrace })},
	{"HOOKFLASH_MIGRATE_ON_START", "migrate-on-start", "true", "apply database migrations at start (under an advisory lock)", boolVar(func(c *Config) *bool { return &c.MigrateOnStart })},
	{"HOOKFLASH_DB_MAX_CONNS", "db-max-conns", "10", "Postgres connection pool size", intVar(1, 1000, func(c *Config) *int { return &c.DBMaxConns })},
	{"HOOKFLASH_LEASE_TTL", "lease-ttl", "4s", "PBX lease time-to-live; a dead replica's PBXes move within about this time plus 1 s", durVar(func(c *Config) *time.Duration { return &c.LeaseTTL })},
	{"HOOKFLASH_RECONNECT_MAX", "reconnect-max", "30s", "cap of the PBX reconnect backoff (exponential, full jitter)", durVar(func(c *Config) *time.Duration { return &c.ReconnectMax })},
	{"HOOKFLASH_SESSION_IDLE", "session-idle", "30m", "user session idle expiry (sliding; an open socket keeps it alive)", durVar(func(c *Config) *time.Duration { return &c.SessionIdle })},
	{"HOOKFLASH_LOGIN_RATE", "login-rate", "60", "login attempts per minute per client IP, whatever their outcome (cluster-wide with Redis); an office behind one NAT shares it", intVar(1, 100000, func(c *Config) *int { return &c.LoginRatePerMin })},
	{"HOOKFLASH_LOGIN_FAILURES", "login-failures", "5", "wrong passwords per user in 5 minutes before that user is held back (cluster-wide with Redis)", intVar(1, 100000, func(c *Config) *int { return &c.LoginFailures })},
	{"HOOKFLASH_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs of proxies (e.g. the ingress) whose X-Forwarded-For gives the client address; empty = use the peer address", func(c *Config, v string) error {
		p, err := parseTrustedProxies(v)
		if err != nil {
			return err
		}
		c.TrustedProxies = p
		return nil
	}},
	{"HOOKFLASH_MAX_CONNS_PER_PRINCIPAL", "max-conns-per-principal", "5", "open sockets allowed per user or token, cluster-wide", intVar(1, 100000, func(c *Config) *int { return &c.MaxConnsPerPrincipal })},
	{"HOOKFLASH_THROTTLE_COUNT", "throttle-count", "90", "inbound socket messages allowed per throttle window", intVar(1, 1000000, func(c *Config) *int { return &c.ThrottleCount })},
	{"HOOKFLASH_THROTTLE_WINDOW", "throttle-window", "30s", "inbound socket throttle window", durVar(func(c *Config) *time.Duration { return &c.ThrottleWindow })},
	{"HOOKFLASH_THROTTLE_BURST", "throttle-burst", "180", "inbound socket message burst", intVar(1, 1000000, func(c *Config) *int { return &c.ThrottleBurst })},
	{"HOOKFLASH_SEND_QUEUE_BYTES", "send-queue-bytes", "1048576", "per-connection send queue bound in bytes; a slower client is closed (code 4008) and resumes with since", intVar(4096, 1<<30, func(c *Config) *int { return &c.SendQueueBytes })},
	{"HOOKFLASH_MAX_FRAME_BYTES", "max-frame-bytes", "65536", "largest inbound socket frame", intVar(256, 1<<24, func(c *Config) *int { return &c.MaxFrameBytes })},
	{"HOOKFLASH_PING_INTERVAL", "ping-interval", "25s", "socket ping interval; a peer silent for two intervals is closed", durVar(func(c *Config) *time.Duration { return &c.PingInterval })},
	{"HOOKFLASH_HISTORY_LEN", "history-len", "10000", "events kept per tenant for resume (since)", intVar(100, 10000000, func(c *Config) *int { return &c.HistoryLen })},
	{"HOOKFLASH_HISTORY_AGE", "history-age", "10m", "age of events kept per tenant for resume", durVar(func(c *Config) *time.Duration { return &c.HistoryAge })},
	{"HOOKFLASH_COMMAND_TIMEOUT", "command-timeout", "10s", "how long a call-control command may take, including the hop to the owning replica", durVar(func(c *Config) *time.Duration { return &c.CommandTimeout })},
	{"HOOKFLASH_CORS_ORIGINS", "cors-origins", "", "comma-separated origins allowed by CORS; empty = same origin only", func(c *Config, v string) error { c.CORSOrigins = v; return nil }},
}

func durVar(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("not a positive duration (e.g. 30s, 5m)")
		}
		*field(c) = d
		return nil
	}
}

func intVar(lo, hi int, field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("not a whole number from %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

func boolVar(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("not true or false")
		}
		*field(c) = b
		return nil
	}
}

// Error is a configuration problem, worded for the operator.
type Error struct {
	Env, Flag, Value string
	Reason           string
}

func (e *Error) Error() string {
	return fmt.Sprintf("bad configuration: %s (--%s) %s", e.Env, e.Flag, e.Reason)
}

// Register defines one flag per Var on fs, each defaulting to the value of
// its environment variable (getenv) or else its built-in default. The
// returned function parses the collected values into a Config after fs.Parse.
func Register(fs *flag.FlagSet, getenv func(string) string) func() (*Config, error) {
	vals := make([]*string, len(Vars))
	for i, v := range Vars {
		def := v.Default
		if e := getenv(v.Env); e != "" {
			def = e
		}
		vals[i] = fs.String(v.Flag, def, v.Usage+" ["+v.Env+"]")
	}
	return func() (*Config, error) {
		c := &Config{}
		for i, v := range Vars {
			if err := v.set(c, strings.TrimSpace(*vals[i])); err != nil {
				shown := *vals[i]
				if strings.Contains(v.Env, "SECRET") || strings.Contains(v.Env, "TOKEN") || strings.Contains(v.Env, "URL") {
					shown = "(hidden)"
				}
				return nil, &Error{Env: v.Env, Flag: v.Flag, Value: shown, Reason: err.Error()}
			}
		}
		if c.DatabaseURL != "" && c.SecretKey == "" {
			return nil, &Error{Env: "HOOKFLASH_SECRET_KEY", Flag: "secret-key", Reason: "is required when HOOKFLASH_DATABASE_URL is set: PBX secrets are encrypted with it (make one with: openssl rand -hex 32)"}
		}
		if c.ReplicaID == "" {
			h, _ := os.Hostname()
			if h == "" {
				h = "replica"
			}
			c.ReplicaID = h
		}
		return c, nil
	}
}

// PrintTable writes every variable with its default as an aligned table.
func PrintTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tFLAG\tDEFAULT\tMEANING")
	for _, v := range Vars {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(tw, "  %s\t--%s\t%s\t%s\n", v.Env, v.Flag, def, v.Usage)
	}
	tw.Flush()
}

// EnvNames returns every variable name, sorted.
func EnvNames() []string {
	out := make([]string, len(Vars))
	for i, v := range Vars {
		out[i] = v.Env
	}
	sort.Strings(out)
	return out
}

// parseTrustedProxies parses comma-separated CIDRs or single addresses.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8)", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
