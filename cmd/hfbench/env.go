package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// services are the Redis and Postgres every replica of a run shares: either
// given by URL or started here, ephemeral, on free loopback ports, the way
// scripts/test.sh starts them.
type services struct {
	RedisURL, DatabaseURL string

	dir    string    // temp dir of ephemeral servers; "" when given
	redis  *exec.Cmd // ephemeral redis-server, owned here
	pgBin  string    // Postgres bin dir of an ephemeral cluster
	pgData string
}

// startServices returns the services to use. A non-empty URL is used as
// is; otherwise the server is started in a temp directory and stopped by
// close. Starting Postgres as root runs initdb and pg_ctl as the postgres
// user, as scripts/test.sh does.
func startServices(ctx context.Context, redisURL, dbURL string) (*services, error) {
	s := &services{RedisURL: redisURL, DatabaseURL: dbURL}
	if redisURL != "" && dbURL != "" {
		return s, nil
	}
	dir, err := os.MkdirTemp("", "hfbench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		s.close()
		return nil, fmt.Errorf("chmod %s: %w", dir, err)
	}
	if redisURL == "" {
		if err := s.startRedis(ctx); err != nil {
			s.close()
			return nil, err
		}
	}
	if dbURL == "" {
		if err := s.startPostgres(ctx); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *services) startRedis(ctx context.Context) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server not found (Debian: apt-get install redis-server), or pass --redis-url: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	rdir := filepath.Join(s.dir, "redis")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return fmt.Errorf("redis dir: %w", err)
	}
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", rdir, "--maxclients", "20000", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.redis = cmd
	if err := waitTCP(ctx, addr, 10*time.Second); err != nil {
		return fmt.Errorf("redis-server on %s: %w", addr, err)
	}
	s.RedisURL = "redis://" + addr + "/0"
	return nil
}

func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("no initdb under /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql), or pass --database-url")
}

// asPostgres runs a Postgres tool, as the postgres user when we are root.
func asPostgres(ctx context.Context, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

func (s *services) startPostgres(ctx context.Context) error {
	bin, err := pgBinDir()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	data, sock := filepath.Join(s.dir, "pg"), filepath.Join(s.dir, "pgsock")
	for _, d := range []string{data, sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("postgres dir: %w", err)
		}
		if os.Geteuid() == 0 {
			if out, err := exec.CommandContext(ctx, "chown", "postgres", d).CombinedOutput(); err != nil {
				return fmt.Errorf("chown %s to postgres (is there a postgres user?): %w: %s", d, err, out)
			}
		}
	}
	if out, err := asPostgres(ctx, filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, tail(out, 2000))
	}
	s.pgBin, s.pgData = bin, data
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400", port, sock)
	if out, err := asPostgres(ctx, filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(sock, "pg.log"), "-w", "-t", "60", "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(sock, "pg.log"))
		return fmt.Errorf("pg_ctl start: %w: %s %s", err, out, tail(log, 2000))
	}
	s.DatabaseURL = "postgres://postgres@" + addr + "/postgres?sslmode=disable"
	return nil
}

// close stops what startServices started and removes its directory.
func (s *services) close() {
	if s.redis != nil && s.redis.Process != nil {
		_ = s.redis.Process.Signal(syscall.SIGTERM)
		waitOrKill(s.redis, 5*time.Second)
	}
	if s.pgData != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = asPostgres(ctx, filepath.Join(s.pgBin, "pg_ctl"), "-D", s.pgData, "-m", "immediate", "stop").Run()
		cancel()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func waitOrKill(cmd *exec.Cmd, grace time.Duration) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

func waitTCP(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not reachable within %s: %w", within, err)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// benchAdminToken is the platform admin token of the replicas a run starts.
const benchAdminToken = "hfbench-platform-admin-token"

// replica is one `hookflash serve` process.
type replica struct {
	id, base string
	cmd      *exec.Cmd
	out      *tailBuffer
	done     chan struct{} // closed when the process has exited and been waited for
}

// replicaEnv is the configuration every replica of a run gets, beyond its
// listen address and id. Limits are raised so the bench measures the data
// path, not the per-principal caps and login throttles.
func replicaEnv(svc *services, leaseTTL time.Duration) []string {
	return []string{
		"HOOKFLASH_DATABASE_URL=" + svc.DatabaseURL, "HOOKFLASH_REDIS_URL=" + svc.RedisURL,
		"HOOKFLASH_SECRET_KEY=" + strings.Repeat("6b", 32), "HOOKFLASH_ADMIN_TOKEN=" + benchAdminToken,
		"HOOKFLASH_LEASE_TTL=" + leaseTTL.String(), "HOOKFLASH_LOG_LEVEL=warn", "HOOKFLASH_SHUTDOWN_GRACE=1s",
		"HOOKFLASH_MAX_CONNS_PER_PRINCIPAL=100000", "HOOKFLASH_LOGIN_RATE=10000", "HOOKFLASH_DB_MAX_CONNS=8",
		"HOOKFLASH_RECONNECT_MAX=2s",
	}
}

// startReplica starts `bin serve` on a free loopback port and waits until
// /readyz answers 200.
func startReplica(ctx context.Context, bin, id string, env []string) (*replica, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), env...), "HOOKFLASH_LISTEN="+addr, "HOOKFLASH_REPLICA_ID="+id)
	out := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start replica %s: %w", id, err)
	}
	r := &replica{id: id, base: "http://" + addr, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := httpStatus(ctx, r.base+"/readyz"); err == nil && st == 200 {
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("replica %s exited before ready: %s", id, out.String())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.kill()
			return nil, fmt.Errorf("replica %s not ready within 30s: %s", id, out.String())
		}
		_ = sleepCtx(ctx, 50*time.Millisecond)
	}
}

func (r *replica) pid() int { return r.cmd.Process.Pid }

// stop asks the replica to shut down (SIGTERM) and kills it after grace.
func (r *replica) stop(grace time.Duration) {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(grace):
		r.kill()
	}
}

// kill sends SIGKILL and waits for the exit.
func (r *replica) kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

func (r *replica) alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

var shortHTTP = &http.Client{Timeout: 3 * time.Second}

func httpStatus(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	res, err := shortHTTP.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex // guards b
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}
