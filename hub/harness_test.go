package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/vmihailenco/msgpack/v5"
)

// testFilter: "all" sees every channel; otherwise only channels whose
// audience names user. Other elements are visible to everyone except
// "pbx", which needs all.
type testFilter struct {
	user   string
	all    bool
	masked bool
}

func (f testFilter) Visible(element string, audience []string) bool {
	switch element {
	case "channel":
		if f.all {
			return true
		}
		for _, a := range audience {
			if a == f.user {
				return true
			}
		}
		return false
	case "pbx":
		return f.all
	}
	return true
}

func (f testFilter) Masked() bool { return f.masked }

// server is a real fiber app serving Hub.Serve on 127.0.0.1:0. Query
// parameters: tenant, user, all, masked, encoding, since, force, batch,
// max.
type server struct {
	hub  *Hub
	url  string
	errs chan error
}

func newServer(t *testing.T, cfg Config) *server {
	t.Helper()
	if cfg.Broker == nil {
		b := NewMemoryBroker(MemoryBrokerConfig{})
		t.Cleanup(func() { _ = b.Close() })
		cfg.Broker = b
	}
	h, err := NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{hub: h, errs: make(chan error, 100)}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/ws", websocket.New(func(c *websocket.Conn) {
		enc, err := ParseEncoding(c.Query("encoding"))
		if err != nil {
			srv.errs <- err
			return
		}
		o := SessionOptions{
			Tenant:    Tenant(c.Query("tenant", "acme")),
			Principal: c.Query("user"),
			Filter:    testFilter{user: c.Query("user"), all: c.Query("all") == "true", masked: c.Query("masked") == "true"},
			Encoding:  enc,
			Batch:     c.Query("batch") == "true",
			Force:     c.Query("force") == "true",
			OnRequest: func(ctx context.Context, s *Session, req Request) (any, error) {
				switch req.Name {
				case "echo":
					var v map[string]any
					_ = json.Unmarshal(req.Raw, &v)
					return map[string]any{"echo": v["text"], "principal": s.Principal()}, nil
				case "fail":
					return nil, errors.New("channel not found")
				case "panic":
					panic("boom")
				}
				return nil, ErrUnknownRequest
			},
		}
		if m := c.Query("max"); m != "" {
			o.MaxConns, _ = strconv.Atoi(m)
		}
		if s := c.Query("since"); s != "" {
			p, err := ParsePosition(s)
			if err != nil {
				srv.errs <- err
				return
			}
			o.Since = &p
		}
		if err := h.Serve(context.Background(), c, o); err != nil {
			srv.errs <- err
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		_ = app.ShutdownWithTimeout(2 * time.Second)
	})
	srv.url = "ws://" + ln.Addr().String() + "/ws"
	return srv
}

// client is a fasthttp/websocket client that decodes messages (JSON or
// MessagePack, batched or not) into maps.
type client struct {
	t       *testing.T
	c       *fws.Conn
	msgpack bool
	buf     []map[string]any
	closeCh int // close code once the server closed
}

func (s *server) dial(t *testing.T, query string) *client {
	t.Helper()
	c, _, err := fws.DefaultDialer.Dial(s.url+"?"+query, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	q, _ := url.ParseQuery(query)
	return &client{t: t, c: c, msgpack: q.Get("encoding") == "msgpack"}
}

// next returns the next message; it fails the test on timeout or close.
func (c *client) next(d time.Duration) map[string]any {
	c.t.Helper()
	m, err := c.read(d)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *client) read(d time.Duration) (map[string]any, error) {
	for len(c.buf) == 0 {
		_ = c.c.SetReadDeadline(time.Now().Add(d))
		typ, data, err := c.c.ReadMessage()
		if err != nil {
			var ce *fws.CloseError
			if errors.As(err, &ce) {
				c.closeCh = ce.Code
			}
			return nil, err
		}
		if c.msgpack {
			if typ != fws.BinaryMessage {
				return nil, fmt.Errorf("msgpack session sent frame type %d", typ)
			}
			dec := msgpack.NewDecoder(bytes.NewReader(data))
			for {
				var m map[string]any
				if err := dec.Decode(&m); err != nil {
					break
				}
				c.buf = append(c.buf, m)
			}
			continue
		}
		if typ != fws.TextMessage {
			return nil, fmt.Errorf("json session sent frame type %d", typ)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				return nil, fmt.Errorf("bad JSON %q: %w", line, err)
			}
			c.buf = append(c.buf, m)
		}
	}
	m := c.buf[0]
	c.buf = c.buf[1:]
	return m, nil
}

// waitClose reads until the server closes and returns the close code.
func (c *client) waitClose(d time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := c.read(time.Until(deadline)); err != nil {
			return c.closeCh
		}
	}
	c.t.Fatal("server did not close")
	return 0
}

func (c *client) send(v any) {
	c.t.Helper()
	var err error
	if c.msgpack {
		b, _ := msgpack.Marshal(v)
		err = c.c.WriteMessage(fws.BinaryMessage, b)
	} else {
		b, _ := json.Marshal(v)
		err = c.c.WriteMessage(fws.TextMessage, b)
	}
	if err != nil {
		c.t.Fatal(err)
	}
}

// initial reads the initial_info messages of every default element kind,
// returning them by kind, plus the epoch and seq they carry.
func (c *client) initial() (map[string][]any, string, uint64) {
	c.t.Helper()
	got := map[string][]any{}
	var epoch string
	var seq uint64
	for range DefaultElements {
		m := c.next(5 * time.Second)
		if m["type"] != "initial_info" {
			c.t.Fatalf("want initial_info, got %v", m)
		}
		data, _ := m["data"].([]any)
		got[m["element"].(string)] = data
		epoch, seq = m["epoch"].(string), num(m["seq"])
	}
	return got, epoch, seq
}

// num reads a JSON or MessagePack number.
func num(v any) uint64 {
	switch x := v.(type) {
	case float64:
		return uint64(x)
	case int64:
		return uint64(x)
	case uint64:
		return x
	case int8:
		return uint64(x)
	case int16:
		return uint64(x)
	case int32:
		return uint64(x)
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	}
	panic(fmt.Sprintf("not a number: %T %v", v, v))
}

// readEvents reads info_events until one with seq >= last.
func (c *client) readEvents(last uint64) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	for {
		m := c.next(10 * time.Second)
		if m["type"] != "info_event" {
			c.t.Fatalf("want info_event, got %v", m)
		}
		out = append(out, m)
		if num(m["seq"]) >= last {
			return out
		}
	}
}

func assertSeqs(t *testing.T, msgs []map[string]any, from uint64) {
	t.Helper()
	for i, m := range msgs {
		if s := num(m["seq"]); s != from+uint64(i) {
			t.Fatalf("message %d has seq %d, want %d (gap or duplicate)", i, s, from+uint64(i))
		}
	}
}

// publisher publishes to a tenant from several goroutines until stopped.
type publisher struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	last   uint64
}

func startPublishers(t *testing.T, b Broker, tn Tenant, n int) *publisher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &publisher{cancel: cancel}
	for w := range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				op := OpUpdated
				if i%4 == 3 {
					op = OpRemoved
				}
				ev := testEvent(tn, "channel", fmt.Sprintf("w%d-%d", w, i%10), op, map[string]any{"id": fmt.Sprintf("w%d-%d", w, i%10), "i": i})
				if err := b.Publish(context.Background(), ev); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				p.mu.Lock()
				p.last = max(p.last, ev.Seq)
				p.mu.Unlock()
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	return p
}

func (p *publisher) stop() uint64 {
	p.cancel()
	p.wg.Wait()
	return p.last
}

func publish(t *testing.T, b Broker, ev *Event) *Event {
	t.Helper()
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func hasKey(items []any, key string) bool {
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && fmt.Sprint(m["id"]) == key {
			return true
		}
	}
	return false
}

// Both WebSocket libraries' connections satisfy WSConn.
var (
	_ WSConn = (*websocket.Conn)(nil)
	_ WSConn = (*fws.Conn)(nil)
)
