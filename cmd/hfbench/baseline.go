package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// baselineCmd is the hidden subcommand that runs the raw baseline server:
// a plain fiber + contrib/websocket server that broadcasts one pre-encoded
// message to every connected socket, with no broker, no filter, no
// per-connection encoding. It is the reference every figure is compared
// with, so it runs in its own process like a replica.
const baselineCmd = "__baseline"

// baselineServer is the state of the baseline process.
type baselineServer struct {
	mu    sync.Mutex // guards conns
	conns map[*bconn]struct{}
	snap  atomic.Pointer[[]*bconn] // copy of conns for the broadcaster

	bmu    sync.Mutex // guards cancel and done (the broadcaster)
	cancel context.CancelFunc
	done   chan struct{}

	sent   atomic.Int64 // messages broadcast
	closed atomic.Int64 // sockets closed as slow consumers
}

// bconn is one baseline socket: a bounded queue drained by its handler.
type bconn struct {
	q    chan []byte
	gone chan struct{} // closed when the handler returns
	slow atomic.Bool   // set when the queue overflowed
}

func (s *baselineServer) add(c *bconn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	s.publish()
}

func (s *baselineServer) remove(c *bconn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.publish()
}

func (s *baselineServer) publish() {
	l := make([]*bconn, 0, len(s.conns))
	for c := range s.conns {
		l = append(l, c)
	}
	s.snap.Store(&l)
}

// serveSocket is one connection: a reader that only notices the close, and
// this goroutine writing queued messages, coalesced into one frame of at
// most 64 KiB when batch is set.
func (s *baselineServer) serveSocket(c *websocket.Conn) {
	batch := c.Query("batch") == "true"
	bc := &bconn{q: make(chan []byte, 256), gone: make(chan struct{})}
	s.add(bc)
	defer func() { s.remove(bc); close(bc.gone) }()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	defer func() { c.Close(); <-readDone }()
	var frame []byte
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-readDone:
			return
		case <-tick.C:
			if bc.slow.Load() {
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4008, "slow consumer"), time.Now().Add(time.Second))
				return
			}
		case m := <-bc.q:
			frame = append(frame[:0], m...)
			for batch && len(frame) < 64<<10 {
				select {
				case m = <-bc.q:
					frame = append(append(frame, '\n'), m...)
					continue
				default:
				}
				break
			}
			if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
				return
			}
		}
	}
}

// buildMessage is the baseline's pre-encoded event: the shape and size of
// a channel info_event whose state.ts is the time it is built, so the
// clients measure it exactly as they measure Hookflash (every baseline
// message is a state change of the one channel "base").
func buildMessage(dst []byte, seq uint64, size int) []byte {
	dst = append(dst[:0], `{"type":"info_event","element":"channel","event":"updated","data":{"uuid":"base","pad":"`...)
	tailLen := len(`","state":{"name":"ringing","ts":1795461439415123}},"epoch":"base","seq":`) + 20
	for len(dst)+tailLen < size {
		dst = append(dst, 'x')
	}
	dst = append(dst, `","state":{"name":"ringing","ts":`...)
	dst = strconv.AppendInt(dst, time.Now().UnixMicro(), 10)
	dst = append(dst, `}},"epoch":"base","seq":`...)
	return append(strconv.AppendUint(dst, seq, 10), '}')
}

// broadcast sends messages of size bytes at rate per second (0: as fast as
// the sockets take them) until ctx ends. With block it waits for a full
// queue (measuring throughput); without, a full queue marks the socket slow
// and it is closed (4008), as Hookflash does.
func (s *baselineServer) broadcast(ctx context.Context, rate float64, size int, block bool) {
	start := time.Now()
	var seq uint64
	var msg []byte
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		n := 1
		if rate > 0 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			due := int64(rate*time.Since(start).Seconds()) - int64(seq)
			n = int(min(max(due, 0), int64(rate/10)+1))
		}
		for i := 0; i < n; i++ {
			seq++
			// Each message is a fresh slice: sockets still hold the older ones.
			msg = buildMessage(make([]byte, 0, size+64), seq, size)
			for _, c := range *s.snap.Load() {
				if block {
					select {
					case c.q <- msg:
					case <-c.gone:
					case <-ctx.Done():
						return
					}
					continue
				}
				select {
				case c.q <- msg:
				default:
					if !c.slow.Swap(true) {
						s.closed.Add(1)
					}
				}
			}
			s.sent.Add(1)
		}
	}
}

func (s *baselineServer) start(rate float64, size int, block bool) {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.stopLocked()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	done := s.done
	go func() { defer close(done); s.broadcast(ctx, rate, size, block) }()
}

func (s *baselineServer) stop() {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.stopLocked()
}

func (s *baselineServer) stopLocked() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel, s.done = nil, nil
	}
}

// runBaselineServer is the baseline process: it prints "listening <addr>"
// and serves until SIGTERM/SIGINT or its stdin closes (its parent died).
func runBaselineServer() error {
	if _, err := raiseNoFile(); err != nil {
		return err
	}
	s := &baselineServer{conns: map[*bconn]struct{}{}}
	s.publish()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use("/ws", func(c *fiber.Ctx) error {
		if websocket.IsWebSocketUpgrade(c) {
			return c.Next()
		}
		return fiber.ErrUpgradeRequired
	})
	app.Get("/ws", websocket.New(s.serveSocket))
	app.Post("/start", func(c *fiber.Ctx) error {
		rate, err1 := strconv.ParseFloat(c.Query("rate", "0"), 64)
		size, err2 := strconv.Atoi(c.Query("size", "400"))
		if err1 != nil || err2 != nil || rate < 0 || size < 64 || size > 1<<20 {
			return fiber.NewError(400, "rate >= 0 and 64 <= size <= 1MiB required")
		}
		s.start(rate, size, c.Query("block") == "true")
		return c.SendStatus(204)
	})
	app.Post("/stop", func(c *fiber.Ctx) error {
		s.stop()
		return c.JSON(map[string]int64{"sent": s.sent.Load(), "closed": s.closed.Load()})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("baseline listen: %w", err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	// The stdin watcher ends with the process: its parent closes the pipe
	// (or dies) only when the baseline is to stop.
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("baseline server: %w", err)
	case <-ctx.Done():
	}
	s.stop()
	sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer scancel()
	_ = app.ShutdownWithContext(sctx)
	select { // the listener goroutine returns once the server is shut down
	case <-errc:
	case <-sctx.Done():
	}
	return nil
}

// baselineProc is the baseline server process, as the harness drives it.
type baselineProc struct {
	base  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// startBaseline re-executes this binary as the baseline server.
func startBaseline(ctx context.Context, env []string) (*baselineProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("baseline: own executable: %w", err)
	}
	cmd := exec.Command(exe, baselineCmd)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("baseline stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("baseline stdout: %w", err)
	}
	errBuf := &tailBuffer{max: 4096}
	cmd.Stderr = errBuf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	p := &baselineProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		// Wait only after stdout is drained (exec's rule): the copy ends
		// when the process exits and its end of the pipe closes.
		defer close(p.done)
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	select {
	case l, ok := <-lines:
		addr, found := strings.CutPrefix(l, "listening ")
		if !ok || !found {
			p.close()
			return nil, fmt.Errorf("baseline did not start: %q %s", l, errBuf.String())
		}
		p.base = "http://" + addr
	case <-time.After(15 * time.Second):
		p.close()
		return nil, fmt.Errorf("baseline did not start within 15s: %s", errBuf.String())
	case <-ctx.Done():
		p.close()
		return nil, ctx.Err()
	}
	return p, nil
}

func (p *baselineProc) pid() int { return p.cmd.Process.Pid }

// wsURL is the URL the clients connect to; batch asks for coalescing.
func (p *baselineProc) wsURL(batch bool) string {
	return strings.Replace(p.base, "http://", "ws://", 1) + "/ws?batch=" + strconv.FormatBool(batch)
}

func (p *baselineProc) startBroadcast(ctx context.Context, rate float64, size int, block bool) error {
	return apiCall(ctx, "POST", fmt.Sprintf("%s/start?rate=%g&size=%d&block=%t", p.base, rate, size, block), "", nil, nil, 204)
}

// stopBroadcast stops the broadcaster and returns how many messages it sent
// and how many sockets it closed as slow, since the process started.
func (p *baselineProc) stopBroadcast(ctx context.Context) (sent, closed int64, err error) {
	var out struct{ Sent, Closed int64 }
	if err := apiCall(ctx, "POST", p.base+"/stop", "", nil, &out, 200); err != nil {
		return 0, 0, err
	}
	return out.Sent, out.Closed, nil
}

// close ends the process (stdin closed, then SIGTERM, then SIGKILL).
func (p *baselineProc) close() {
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
