package hub

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// frameConn records written frames; reads block until Close.
type frameConn struct {
	mu     sync.Mutex
	frames [][]byte
	closed chan struct{}
}

func (c *frameConn) ReadMessage() (int, []byte, error) { <-c.closed; return 0, nil, ErrClosed }
func (c *frameConn) WriteMessage(_ int, b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames = append(c.frames, append([]byte(nil), b...))
	return nil
}
func (c *frameConn) WriteControl(int, []byte, time.Time) error { return nil }
func (c *frameConn) SetReadDeadline(time.Time) error           { return nil }
func (c *frameConn) SetWriteDeadline(time.Time) error          { return nil }
func (c *frameConn) SetPongHandler(func(string) error)         {}
func (c *frameConn) Close() error                              { return nil }

func TestBatchedWritesRespectFrameBound(t *testing.T) {
	h, err := NewHub(Config{Broker: NewMemoryBroker(MemoryBrokerConfig{}), MaxBatchBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	msg := func(n int, c byte) outMsg { return outMsg{b: bytes.Repeat([]byte{c}, n)} }
	q := []outMsg{msg(40, 'a'), msg(40, 'b'), msg(40, 'c'), msg(250, 'd'), msg(10, 'e'), msg(10, 'f')}
	for _, batch := range []bool{false, true} {
		fc := &frameConn{closed: make(chan struct{})}
		s := newSession(h, fc, SessionOptions{Tenant: "acme", Filter: testFilter{all: true}, Batch: batch})
		if err := s.write(q); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fc.frames {
			got = append(got, summarize(f))
		}
		want := "[a b c d e f]"
		if batch {
			// a+b fit in 100 bytes with the newline; c alone (d would not
			// fit); d is larger than the bound so it goes alone; e+f.
			want = "[a\nb c d e\nf]"
		}
		if s := "[" + strings.Join(got, " ") + "]"; s != want {
			t.Fatalf("batch=%v: frames %q, want %q", batch, s, want)
		}
	}
}

// summarize turns "aaaa\nbbbb" into "a\nb".
func summarize(f []byte) string {
	var parts []string
	for _, p := range bytes.Split(f, []byte("\n")) {
		parts = append(parts, string(p[:1]))
	}
	return strings.Join(parts, "\n")
}
