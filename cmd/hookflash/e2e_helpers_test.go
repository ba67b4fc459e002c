package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/hookflash/hookflash/cmd/hookflash/internal/config"
	"github.com/hookflash/hookflash/internal/testenv"
)

const testAdminToken = "platform-admin-token-for-tests"

// backend says which storage and broker a test replica uses.
type backend struct {
	name     string
	dbURL    string
	redisURL string
}

// backends returns the memory backend, plus Postgres+Redis when the test
// services are available (each test gets its own database; Redis keys are
// shared but every tenant domain in the tests is random).
func backends(t *testing.T) []backend {
	out := []backend{{name: "memory"}}
	if os.Getenv(testenv.PostgresEnv) != "" && os.Getenv(testenv.RedisEnv) != "" {
		out = append(out, backend{name: "postgres+redis", dbURL: testenv.Postgres(t), redisURL: testenv.RedisURL(t)})
	} else {
		t.Logf("postgres+redis variant skipped: %s/%s unset (run make test)", testenv.PostgresEnv, testenv.RedisEnv)
	}
	return out
}

// replica is one running app on a loopback port.
type replica struct {
	base string
	app  *app
}

func startReplica(t *testing.T, b backend, extra ...string) *replica {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	build := config.Register(fs, func(string) string { return "" })
	// Every test logs in from 127.0.0.1 and, with Redis, shares the
	// cluster-wide per-address budget; tests of the limiter pass their own
	// --login-rate after this one.
	args := []string{"--listen", "127.0.0.1:0", "--admin-token", testAdminToken, "--log-level", "warn", "--login-rate", "100000"}
	if b.dbURL != "" {
		args = append(args, "--database-url", b.dbURL, "--secret-key", strings.Repeat("7f", 32))
	}
	if b.redisURL != "" {
		args = append(args, "--redis-url", b.redisURL)
	}
	args = append(args, extra...)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := build()
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReplicaID = "test-" + testenv.Random(3)
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := buildApp(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = a.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.close()
	})
	return &replica{base: "http://" + ln.Addr().String(), app: a}
}

type apiResult struct {
	status int
	body   map[string]any
	raw    []byte
}

func (r apiResult) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func call(t *testing.T, method, url, token string, body any) apiResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := apiResult{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &res.body)
	return res
}

func mustStatus(t *testing.T, r apiResult, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.raw)
	}
}

// tenantFixture is a tenant with an admin session, ready for tests.
type tenantFixture struct {
	domain     string
	adminToken string // a session token of the tenant's admin
}

func newTenant(t *testing.T, r *replica) tenantFixture {
	t.Helper()
	domain := "t" + testenv.Random(4) + ".example"
	res := call(t, "POST", r.base+"/api/v1/tenants", testAdminToken, map[string]any{
		"domain": domain, "name": "Test " + domain,
		"admin": map[string]any{"username": "boss", "password": "correct horse battery", "name": "Boss"},
	})
	mustStatus(t, res, 201, "create tenant")
	login := call(t, "POST", r.base+"/api/v1/auth/login", "", map[string]any{"domain": domain, "username": "boss", "password": "correct horse battery"})
	mustStatus(t, login, 200, "admin login")
	return tenantFixture{domain: domain, adminToken: login.str("token")}
}

func wsURL(base, token, query string) string {
	u := strings.Replace(base, "http://", "ws://", 1) + "/api/v1/ws?token=" + token
	if query != "" {
		u += "&" + query
	}
	return u
}

func dialFeed(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial feed: %v (status %d)", err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClose reads until the server closes the socket and returns the code.
func waitClose(t *testing.T, c *websocket.Conn, within time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := c.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code
			}
			t.Fatalf("socket not closed with a close frame within %s: %v", within, err)
		}
	}
}

func websocketDial(url string) (*websocket.Conn, *http.Response, error) {
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if c != nil {
		c.Close()
	}
	return c, resp, err
}

var httpClientShort = http.Client{Timeout: 2 * time.Second}
