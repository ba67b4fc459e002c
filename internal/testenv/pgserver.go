package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PGServerEnv names the Postgres bin directory scripts/test.sh exports for
// tests that run a private server (e.g. to stop it mid-test).
const PGServerEnv = "HOOKFLASH_TEST_PG_BIN"

// PGServer is a private Postgres a test may stop and start at will. Its data
// survives a restart; it is removed when the test ends.
type PGServer struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	asUser  string // run as this OS user ("" = ourselves)
	running bool
}

// StartPostgres initialises and starts a private Postgres on a free
// loopback port, or skips the test when no server binaries are known.
func StartPostgres(t testing.TB) *PGServer {
	t.Helper()
	bin := os.Getenv(PGServerEnv)
	if bin == "" {
		t.Skipf("integration test: %s is not set; run `make test` to provide Postgres binaries", PGServerEnv)
	}
	parent, err := os.MkdirTemp("", "hf-pg-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(parent, 0o755)
	s := &PGServer{t: t, bin: bin, dir: filepath.Join(parent, "data")}
	if os.Geteuid() == 0 {
		s.asUser = "postgres"
		if _, err := user.Lookup("postgres"); err != nil {
			t.Skipf("running as root without a postgres OS user to run initdb as")
		}
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if s.asUser != "" {
		if out, err := exec.Command("chown", "-R", s.asUser, parent).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	if out, err := s.run("initdb", "-D", s.dir, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	addr, err := net.ResolveTCPAddr("tcp", FreePort(t))
	if err != nil {
		t.Fatal(err)
	}
	s.port = addr.Port
	s.Start()
	t.Cleanup(func() {
		if s.running {
			_, _ = s.run("pg_ctl", "-D", s.dir, "-m", "immediate", "stop")
		}
		_ = os.RemoveAll(parent)
	})
	return s
}

func (s *PGServer) run(tool string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, tool)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	return cmd.CombinedOutput()
}

// URL is the server's postgres database URL.
func (s *PGServer) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", s.port)
}

// Start starts the server (again) and waits until it accepts connections.
func (s *PGServer) Start() {
	s.t.Helper()
	sock := filepath.Dir(s.dir)
	opts := strings.Join([]string{"-p", strconv.Itoa(s.port), "-k", sock, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}, " ")
	if out, err := s.run("pg_ctl", "-D", s.dir, "-l", filepath.Join(sock, "pg.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		s.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	s.running = true
}

// Stop stops the server at once (connections are cut).
func (s *PGServer) Stop() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.dir, "-m", "fast", "-w", "stop"); err != nil {
		s.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	s.running = false
	time.Sleep(50 * time.Millisecond)
}
