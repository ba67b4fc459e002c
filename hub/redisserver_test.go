package hub

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of the test's own, on a fixed
// free port of 127.0.0.1 and a temp dir, so it can be stopped and
// restarted at the same address.
type redisServer struct {
	addr       string
	port       int
	dir        string
	persistent bool
	cmd        *exec.Cmd
	exited     chan struct{}
}

func startRedisServer(t *testing.T, persistent bool) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &redisServer{addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, dir: t.TempDir(), persistent: persistent}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *redisServer) start(t *testing.T) {
	t.Helper()
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir, "--save", ""}
	if s.persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.exited)
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	defer c.Close()
	eventually(t, 10*time.Second, func() bool { return c.Ping(context.Background()).Err() == nil },
		func() string { return "redis-server did not start on " + s.addr })
}

func (s *redisServer) stop(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	_ = c.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err()
	_ = c.Close()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}
