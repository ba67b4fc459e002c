package ari

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// wsServer is a loopback ARI events socket. Each accepted connection is
// handed to handle, which owns it until it returns.
type wsServer struct {
	*httptest.Server
	mu      sync.Mutex // guards the fields below
	queries []string
	conns   map[*websocket.Conn]bool // upgraded connections (httptest does not track hijacked ones)
	closed  bool
	wg      sync.WaitGroup // one per running handler; Add under mu while !closed
}

func newWSServer(t testing.TB, tlsServer bool, handle func(conn *websocket.Conn)) *wsServer {
	t.Helper()
	s := &wsServer{conns: map[*websocket.Conn]bool{}}
	up := websocket.Upgrader{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPass {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"Authentication required"}`))
			return
		}
		if r.URL.Path != "/ari/events" {
			http.NotFound(w, r)
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.queries = append(s.queries, r.URL.RawQuery)
		s.conns[conn] = true
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		handle(conn)
	})
	if tlsServer {
		s.Server = httptest.NewUnstartedServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			_ = c.NetConn().Close()
		}
		s.mu.Unlock()
		s.Server.Close()
		s.wg.Wait()
	})
	return s
}

// drain reads (and so answers pings) until the connection fails.
func drain(conn *websocket.Conn) {
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// sendLines writes lines as text frames; it stops quietly when the client
// has gone (some tests make it go).
func sendLines(conn *websocket.Conn, lines []fixtureLine) {
	for _, l := range lines {
		if err := conn.WriteMessage(websocket.TextMessage, l.Data); err != nil {
			return
		}
	}
}

func wsURL(s *wsServer) string { return s.URL }

func nextWithin(t *testing.T, s *EventStream, d time.Duration) (Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.Next(ctx)
}

func TestEventsStreamDeliversFixturesInOrder(t *testing.T) {
	lines := fixtureEvents(t)
	srv := newWSServer(t, false, func(conn *websocket.Conn) {
		sendLines(conn, lines)
		drain(conn)
	})
	c := newTestClient(t, wsURL(srv), nil)
	s, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make([]Event, 0, len(lines))
	for i := range lines {
		ev, err := nextWithin(t, s, 5*time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		got = append(got, ev)
	}
	// Compared only after all arrived: an event must not alias the reader's
	// reused buffer.
	for i, l := range lines {
		ev := got[i]
		if _, unknown := ev.(*UnknownEvent); unknown {
			t.Fatalf("event %d (%s:%d) decoded as unknown", i, l.File, l.Line)
		}
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		assertSameJSON(t, fmt.Sprintf("event %d (%s:%d)", i, l.File, l.Line), l.Data, out)
	}
	st := s.Stats()
	if st.Received != uint64(len(lines)) || st.Malformed != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v, want %d received", st, len(lines))
	}
	if s.Err() != nil {
		t.Fatalf("stream ended early: %v", s.Err())
	}
	srv.mu.Lock()
	q := srv.queries[0]
	srv.mu.Unlock()
	if q != "app=cti&subscribeAll=true" {
		t.Fatalf("query %q", q)
	}
}

func TestEventsUnauthorized(t *testing.T) {
	srv := newWSServer(t, false, func(*websocket.Conn) {})
	c := newTestClient(t, wsURL(srv), func(cfg *Config) { cfg.Password = "nope" })
	_, err := c.Events(context.Background())
	var ae *Error
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &ae) || ae.Message != "Authentication required" {
		t.Fatalf("err = %v, want *Error 401 with ARI's message", err)
	}
	c2 := newTestClient(t, wsURL(srv), func(cfg *Config) { cfg.Application = "" })
	if _, err := c2.Events(context.Background()); err == nil {
		t.Fatal("Events without Application succeeded")
	}
}

func TestEventsSlowConsumer(t *testing.T) {
	lines := fixtureEvents(t)[:200]
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"by count", func(cfg *Config) { cfg.EventBufferEvents = 50 }},
		{"by bytes", func(cfg *Config) { cfg.EventBufferBytes = 16 << 10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWSServer(t, false, func(conn *websocket.Conn) {
				sendLines(conn, lines)
				drain(conn)
			})
			c := newTestClient(t, wsURL(srv), tc.mod)
			s, err := c.Events(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// Do not consume: the stream must end itself, not block the socket.
			select {
			case <-s.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("stream did not detect the slow consumer")
			}
			if !errors.Is(s.Err(), ErrSlowConsumer) {
				t.Fatalf("Err = %v, want ErrSlowConsumer", s.Err())
			}
			// What was queued before the overflow is still delivered, in order,
			// then the reason.
			n := 0
			for {
				ev, err := nextWithin(t, s, time.Second)
				if err != nil {
					if !errors.Is(err, ErrSlowConsumer) {
						t.Fatalf("Next: %v, want ErrSlowConsumer", err)
					}
					break
				}
				kind, _ := scanType(lines[n].Data)
				if ev.GetType() != kind {
					t.Fatalf("event %d: %s, want %s", n, ev.GetType(), kind)
				}
				n++
			}
			if n == 0 || n >= len(lines) {
				t.Fatalf("%d events delivered before the end, want some but not all %d", n, len(lines))
			}
		})
	}
}

func TestEventsMalformedFrames(t *testing.T) {
	good := fixtureEvents(t)[0].Data
	frames := [][]byte{
		[]byte("not json at all"),
		[]byte(`{"type":"ChannelCreated","channel":5,"application":"cti","timestamp":"2026-11-23T14:07:34.258+0000"}`),
		[]byte(`[1,2,3]`),
		[]byte(`{"type":"ChannelCreated","timestamp":"yesterday","application":"cti","channel":{}}`),
		[]byte(`{"type":"FutureThing","application":"cti","timestamp":"2026-11-23T14:07:34.258+0000","x":{"y":[1,2]}}`),
		{},
		good,
	}
	srv := newWSServer(t, false, func(conn *websocket.Conn) {
		for _, f := range frames {
			if err := conn.WriteMessage(websocket.TextMessage, f); err != nil {
				return
			}
		}
		drain(conn)
	})
	c := newTestClient(t, wsURL(srv), nil)
	s, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, f := range frames {
		ev, err := nextWithin(t, s, 5*time.Second)
		if err != nil {
			t.Fatalf("frame %d: stream ended: %v", i, err)
		}
		u, unknown := ev.(*UnknownEvent)
		switch i {
		case 4: // a well-formed future kind: unknown, no error
			if !unknown || u.Err != nil || u.Type != "FutureThing" || u.Application != "cti" || u.Timestamp.IsZero() || string(u.Raw) != string(f) {
				t.Fatalf("frame %d: %#v", i, ev)
			}
		case 6:
			if _, ok := ev.(*ChannelCreated); !ok {
				t.Fatalf("frame %d: %T, want *ChannelCreated", i, ev)
			}
		default:
			if !unknown || !errors.Is(u.Err, ErrMalformedEvent) || string(u.Raw) != string(f) {
				t.Fatalf("frame %d: %#v, want *UnknownEvent with ErrMalformedEvent", i, ev)
			}
		}
	}
	if st := s.Stats(); st.Malformed != 5 {
		t.Fatalf("stats %+v, want 5 malformed", st)
	}
}

func TestEventsDeadPeer(t *testing.T) {
	// The server never reads, so it never answers pings.
	stop := make(chan struct{})
	srv := newWSServer(t, false, func(*websocket.Conn) { <-stop })
	t.Cleanup(func() { close(stop) })
	c := newTestClient(t, wsURL(srv), func(cfg *Config) {
		cfg.PingInterval = 20 * time.Millisecond
		cfg.PongTimeout = 150 * time.Millisecond
	})
	s, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("dead peer not detected")
	}
	if _, err := nextWithin(t, s, time.Second); !errors.Is(err, ErrDeadPeer) {
		t.Fatalf("Next: %v, want ErrDeadPeer", err)
	}
}

func TestEventsKeepAliveKeepsQuietStreamOpen(t *testing.T) {
	srv := newWSServer(t, false, drain) // reads, so pings are answered
	c := newTestClient(t, wsURL(srv), func(cfg *Config) {
		cfg.PingInterval = 25 * time.Millisecond
		cfg.PongTimeout = 400 * time.Millisecond // generous: loaded CI machines schedule late
	})
	s, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Three pong timeouts of silence from the peer, apart from pongs.
	if _, err := nextWithin(t, s, 1200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a quiet stream: %v, want only the caller's deadline", err)
	}
	if s.Err() != nil {
		t.Fatalf("quiet but live stream ended: %v", s.Err())
	}
}

func TestEventsEndings(t *testing.T) {
	t.Run("ctx canceled", func(t *testing.T) {
		srv := newWSServer(t, false, drain)
		c := newTestClient(t, wsURL(srv), nil)
		ctx, cancel := context.WithCancel(context.Background())
		s, err := c.Events(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cancel()
		<-s.Done()
		if !errors.Is(s.Err(), context.Canceled) {
			t.Fatalf("Err = %v, want context.Canceled", s.Err())
		}
	})
	t.Run("close", func(t *testing.T) {
		serverSaw := make(chan error, 1)
		srv := newWSServer(t, false, func(conn *websocket.Conn) {
			_, _, err := conn.ReadMessage()
			serverSaw <- err
		})
		c := newTestClient(t, wsURL(srv), nil)
		s, err := c.Events(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_ = s.Close() // idempotent
		if _, err := s.Next(context.Background()); !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
		select {
		case err := <-serverSaw:
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("server saw %v, want a normal close frame", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("server saw no close")
		}
	})
	t.Run("peer closes", func(t *testing.T) {
		srv := newWSServer(t, false, func(conn *websocket.Conn) {
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"))
		})
		c := newTestClient(t, wsURL(srv), nil)
		s, err := c.Events(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = nextWithin(t, s, 5*time.Second)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || !strings.Contains(err.Error(), "closed by peer") {
			t.Fatalf("Next: %v, want the peer's close", err)
		}
	})
	t.Run("oversize message", func(t *testing.T) {
		srv := newWSServer(t, false, func(conn *websocket.Conn) {
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"X","pad":"`+strings.Repeat("a", 4096)+`"}`))
			drain(conn)
		})
		c := newTestClient(t, wsURL(srv), func(cfg *Config) { cfg.MaxMessageBytes = 1024 })
		s, err := c.Events(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := nextWithin(t, s, 5*time.Second); !errors.Is(err, websocket.ErrReadLimit) {
			t.Fatalf("Next: %v, want the read limit error", err)
		}
	})
	t.Run("refused dial", func(t *testing.T) {
		srv := newWSServer(t, false, drain)
		url := srv.URL
		srv.Close()
		c := newTestClient(t, url, nil)
		if _, err := c.Events(context.Background()); err == nil || strings.Contains(err.Error(), testPass) {
			t.Fatalf("Events against a closed port: %v", err)
		}
	})
}

func TestEventsConcurrentConsumers(t *testing.T) {
	lines := fixtureEvents(t)
	srv := newWSServer(t, false, func(conn *websocket.Conn) {
		sendLines(conn, lines)
		drain(conn)
	})
	c := newTestClient(t, wsURL(srv), nil)
	s, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	got := 0
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				done := got == len(lines)
				mu.Unlock()
				if done {
					return
				}
				wctx, wcancel := context.WithTimeout(ctx, 200*time.Millisecond)
				_, err := s.Next(wctx)
				wcancel()
				if err == nil {
					mu.Lock()
					got++
					mu.Unlock()
				} else if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if got != len(lines) {
		t.Fatalf("consumers got %d events, want %d", got, len(lines))
	}
}

func TestEventsPollAndReady(t *testing.T) {
	lines := fixtureEvents(t)
	srv := newWSServer(t, false, func(conn *websocket.Conn) {
		sendLines(conn, lines)
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	})
	c := newTestClient(t, srv.URL, nil)
	s, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	timeout := time.After(10 * time.Second)
	n := 0
	for {
		ev, err := s.Poll()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
				t.Fatalf("Poll: %v, want the peer's close", err)
			}
			break
		}
		if ev != nil {
			if kind, _ := scanType(lines[n].Data); ev.GetType() != kind {
				t.Fatalf("event %d: %s, want %s", n, ev.GetType(), kind)
			}
			n++
			continue
		}
		select {
		case <-s.Ready():
		case <-s.Done():
		case <-timeout:
			t.Fatalf("stuck after %d events", n)
		}
	}
	if n != len(lines) {
		t.Fatalf("polled %d events before the end, want %d", n, len(lines))
	}
}
