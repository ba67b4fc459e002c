package ami

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func dial(t *testing.T, cfg Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func action(kv ...string) Message { return Message{Fields: f(kv...)} }

// nextEvent returns the next event named name, skipping others.
func nextEvent(t *testing.T, c *Client, name string) *Message {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed waiting for %s: %v", name, c.Err())
			}
			if m.Event() == name {
				return m
			}
		case <-timeout:
			t.Fatalf("no %s event", name)
		}
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr error
		check   func(t *testing.T, login *Message)
	}{
		{name: "plain", edit: func(*Config) {}, check: func(t *testing.T, login *Message) {
			if login.Get("Secret") != "s3cret" || login.Get("Events") != "on" || login.Has("Key") {
				t.Errorf("login %q", login.Fields)
			}
		}},
		{name: "md5", edit: func(c *Config) { c.UseMD5 = true }, check: func(t *testing.T, login *Message) {
			if login.Has("Secret") || login.Get("AuthType") != "MD5" || len(login.Get("Key")) != 32 {
				t.Errorf("login %q", login.Fields)
			}
		}},
		{name: "events off", edit: func(c *Config) { c.Events = false }, check: func(t *testing.T, login *Message) {
			if login.Get("Events") != "off" {
				t.Errorf("Events %q", login.Get("Events"))
			}
		}},
		{name: "event mask", edit: func(c *Config) { c.EventMask = "call,agent" }, check: func(t *testing.T, login *Message) {
			if login.Get("Events") != "call,agent" {
				t.Errorf("Events %q", login.Get("Events"))
			}
		}},
		{name: "bad secret", edit: func(c *Config) { c.Secret = "wrong" }, wantErr: ErrAuth},
		{name: "bad secret md5", edit: func(c *Config) { c.Secret = "wrong"; c.UseMD5 = true }, wantErr: ErrAuth},
		{name: "bad user", edit: func(c *Config) { c.Username = "nobody" }, wantErr: ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeAMI(t, nil)
			cfg := fake.config()
			tt.edit(&cfg)
			c, err := Dial(context.Background(), cfg)
			if tt.wantErr != nil {
				var ae *Error
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &ae) || ae.Message != "Authentication failed" {
					t.Fatalf("Dial err = %v, want %v carrying the PBX message", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "wrong") {
					t.Fatalf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Banner() != "Asterisk Call Manager/11.0.0" {
				t.Errorf("banner %q", c.Banner())
			}
			var login *Message
			for _, a := range fake.received() {
				if a.Get("Action") == "Login" {
					login = a
				}
			}
			tt.check(t, login)
			nextEvent(t, c, "FullyBooted")
		})
	}
}

func TestDialErrors(t *testing.T) {
	t.Run("not AMI", func(t *testing.T) {
		ln := listenOnce(t, "SSH-2.0-OpenSSH_9.6\r\n")
		_, err := Dial(context.Background(), Config{Addr: ln})
		if !errors.Is(err, ErrBadBanner) {
			t.Fatalf("err = %v, want ErrBadBanner", err)
		}
	})
	t.Run("silent server honours ctx", func(t *testing.T) {
		ln := listenOnce(t, "")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Dial(ctx, Config{Addr: ln})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("Dial took %v", time.Since(start))
		}
	})
}

func TestTLS(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	fake := newFakeAMI(t, serverTLS)
	fake.lists = loadActions(t, "ami-actions-during-queue-call.txt")
	cfg := fake.config()
	cfg.TLS = clientTLS
	cfg.UseMD5 = true
	c := dial(t, cfg)
	res, err := c.DoList(context.Background(), action("Action", "QueueStatus"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) == 0 {
		t.Fatal("no queue status items over TLS")
	}

	// A client that does not trust the certificate fails the handshake.
	cfg.TLS = nil
	cfg.TLS = clientTLS.Clone()
	cfg.TLS.RootCAs = nil
	if _, err := Dial(context.Background(), cfg); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
}

// TestDoConcurrent runs many Do calls at once against a server that answers
// in random order with events in between: every caller gets its own answer.
func TestDoConcurrent(t *testing.T) {
	fake := newFakeAMI(t, nil)
	fake.handle = func(s *fakeConn, a *Message) bool {
		if a.Get("Action") != "Echo" {
			return false
		}
		s.after(time.Duration(rand.IntN(5))*time.Millisecond, func() {
			s.send("Event: VarSet\r\nVariable: x\r\nValue: " + a.Get("Value") + "\r\n\r\n")
			if a.Get("Value")[0] == '1' {
				s.reply(a, "Error", "Message", "odd one "+a.Get("Value"))
				return
			}
			s.reply(a, "Success", "Value", a.Get("Value"))
		})
		return true
	}
	c := dial(t, fake.config())
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := strconv.Itoa(i)
			resp, err := c.Do(context.Background(), action("Action", "Echo", "Value", v, "ActionID", "mine"))
			if v[0] == '1' {
				var ae *Error
				if !errors.As(err, &ae) || ae.Action != "Echo" || ae.Message != "odd one "+v {
					errs <- fmt.Errorf("call %s: err %v, want *Error", v, err)
				}
				return
			}
			if err != nil {
				errs <- fmt.Errorf("call %s: %w", v, err)
			} else if got := resp.Get("Value"); got != v || resp.Status() != "Success" {
				errs <- fmt.Errorf("call %s got answer %q", v, got)
			}
		}()
	}
	go func() { // consume events so the queue never fills
		for range c.Events() {
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ids := map[string]bool{}
	for _, a := range fake.received() {
		if a.Get("Action") == "Echo" {
			id := a.Get("ActionID")
			if id == "mine" || ids[id] || len(a.All("ActionID")) != 1 {
				t.Fatalf("action sent with ActionID %q (dup %v)", a.All("ActionID"), ids[id])
			}
			ids[id] = true
		}
	}
	if len(ids) != n {
		t.Fatalf("%d Echo actions reached the server, want %d", len(ids), n)
	}
}

// TestDoListFixtures replays every recorded resync response (CoreShowChannels,
// BridgeList, QueueStatus, QueueSummary, Status, ParkedCalls, DeviceStateList,
// PJSIPShowEndpoints, CoreSettings, CoreStatus) with unrelated events
// interleaved, and checks each list is collected exactly as recorded.
func TestDoListFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "ami-actions-*.txt"))
	if len(files) == 0 {
		t.Skip("no ami-actions fixtures")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			fake := newFakeAMI(t, nil)
			fake.lists = loadActions(t, filepath.Base(file))
			fake.interleave = "Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/1001\r\nState: INUSE\r\n\r\n"
			c := dial(t, fake.config())
			var events sync.WaitGroup
			var streamed atomic.Int64
			events.Add(1)
			go func() {
				defer events.Done()
				for m := range c.Events() {
					if m.Event() == "DeviceStateChange" {
						streamed.Add(1)
					}
				}
			}()
			var frames int64
			for name, text := range fake.lists {
				checkList(t, c, name, text)
				frames += int64(strings.Count(text, "\r\n\r\n"))
			}
			waitFor(t, "interleaved events", func() bool { return streamed.Load() >= frames })
			c.Close()
			events.Wait()
			if streamed.Load() != frames {
				t.Errorf("%d interleaved events streamed, %d sent", streamed.Load(), frames)
			}
		})
	}
}

// TestDoListLogged uses the list responses logged in actions-*.log (bare LF
// line endings): ExtensionStateList, DeviceStateList, ConfbridgeList.
func TestDoListLogged(t *testing.T) {
	fake := newFakeAMI(t, nil)
	for _, l := range []struct{ file, action string }{
		{"actions-devicestate.log", "ExtensionStateList"},
		{"actions-devicestate.log", "DeviceStateList"},
		{"actions-confbridge.log", "ConfbridgeList"},
	} {
		fake.lists[strings.ToLower(l.action)] = loadLoggedAction(t, l.file, l.action)
	}
	c := dial(t, fake.config())
	for name, text := range fake.lists {
		checkList(t, c, name, text)
	}
}

// checkList runs action name as DoList (or Do, for a plain response) and
// compares the result with the recorded text's frames.
func checkList(t *testing.T, c *Client, name, text string) {
	t.Helper()
	res, err := c.DoList(context.Background(), action("Action", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	id := res.Response.Get("ActionID")
	_, want := parseAll(t, name, []byte(strings.ReplaceAll(text, "ActionID: act-1", "ActionID: "+id)))
	if !reflect.DeepEqual(res.Response.Fields, want[0].Fields) {
		t.Fatalf("%s response %q, want %q", name, res.Response.Fields, want[0].Fields)
	}
	if len(want) == 1 { // CoreSettings, CoreStatus: no list
		if res.Complete != nil || len(res.Items) != 0 {
			t.Fatalf("%s: list parts on a plain response", name)
		}
		return
	}
	last := want[len(want)-1]
	if res.Complete == nil || !reflect.DeepEqual(res.Complete.Fields, last.Fields) {
		t.Fatalf("%s complete %v, want %q", name, res.Complete, last.Fields)
	}
	if len(res.Items) != len(want)-2 {
		t.Fatalf("%s: %d items, want %d", name, len(res.Items), len(want)-2)
	}
	for i, m := range res.Items {
		if !reflect.DeepEqual(m.Fields, want[i+1].Fields) {
			t.Fatalf("%s item %d %q, want %q", name, i, m.Fields, want[i+1].Fields)
		}
	}
	if n, err := strconv.Atoi(res.Complete.Get("ListItems")); err == nil && n != len(res.Items) {
		t.Errorf("%s: ListItems %d, collected %d", name, n, len(res.Items))
	}
}

func TestDoListError(t *testing.T) {
	fake := newFakeAMI(t, nil)
	fake.lists["confbridgelist"] = "Response: Error\r\nActionID: act-1\r\nMessage: No active conferences.\r\n\r\n"
	c := dial(t, fake.config())
	_, err := c.DoList(context.Background(), action("Action", "ConfbridgeList"))
	var ae *Error
	if !errors.As(err, &ae) || ae.Action != "ConfbridgeList" || ae.Message != "No active conferences." {
		t.Fatalf("err = %v, want *Error No active conferences.", err)
	}
	_, err = c.Do(context.Background(), action("Action", "NoSuchThing"))
	if !errors.As(err, &ae) || ae.Message != "Invalid/unknown command" {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Do(context.Background(), action("Channel", "x")); !errors.Is(err, ErrNoAction) {
		t.Fatalf("err = %v, want ErrNoAction", err)
	}
	if _, err := c.Do(context.Background(), action("Action", "Originate", "CallerID", "x\r\nAction: Logoff")); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("err = %v, want ErrInvalidField", err)
	}
	// The client is still usable after all of that.
	if _, err := c.Do(context.Background(), action("Action", "Ping")); err != nil {
		t.Fatal(err)
	}
}

func TestDoListTooLarge(t *testing.T) {
	fake := newFakeAMI(t, nil)
	fake.lists = loadActions(t, "ami-actions-during-queue-call.txt")
	cfg := fake.config()
	cfg.MaxListBytes = 1000
	c := dial(t, cfg)
	if _, err := c.DoList(context.Background(), action("Action", "QueueStatus")); !errors.Is(err, ErrListTooLarge) {
		t.Fatalf("err = %v, want ErrListTooLarge", err)
	}
	// The rest of that list is swallowed, not streamed; the next call works.
	res, err := c.DoList(context.Background(), action("Action", "ParkedCalls"))
	if err != nil || res.Complete == nil {
		t.Fatalf("ParkedCalls after overflow: %v", err)
	}
	waitFor(t, "discard count", func() bool { return c.Stats().Discarded > 0 })
	for len(c.Events()) > 0 {
		if m := <-c.Events(); m.Get("ActionID") != "" {
			t.Fatalf("list event leaked to the stream: %q", m.Fields)
		}
	}
}

// TestDoContext: a call whose ctx ends returns at once; its late answer is
// dropped and counted (never streamed), and the client carries on.
func TestDoContext(t *testing.T) {
	fake := newFakeAMI(t, nil)
	fake.lists = loadActions(t, "ami-actions-during-queue-call.txt")
	release := make(chan struct{})
	fake.handle = func(s *fakeConn, a *Message) bool {
		switch a.Get("Action") {
		case "Slow":
			s.after(0, func() { <-release; s.reply(a, "Success") })
			return true
		case "SlowList":
			s.after(0, func() { <-release; s.replay(s.f.lists["queuestatus"], a.Get("ActionID")) })
			return true
		}
		return false
	}
	c := dial(t, fake.config())
	for _, name := range []string{"Slow", "SlowList"} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		var err error
		if name == "Slow" {
			_, err = c.Do(ctx, action("Action", name))
		} else {
			_, err = c.DoList(ctx, action("Action", name))
		}
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s err = %v", name, err)
		}
	}
	close(release)
	waitFor(t, "late answers dropped", func() bool {
		st := c.Stats()
		return st.Unmatched >= 1 && st.Discarded >= 8 // the response and the QueueStatus events
	})
	if _, err := c.DoList(context.Background(), action("Action", "CoreShowChannels")); err != nil {
		t.Fatal(err)
	}
	for len(c.Events()) > 0 {
		if m := <-c.Events(); m.Get("ActionID") != "" {
			t.Fatalf("abandoned list event streamed: %q", m.Fields)
		}
	}
}

func TestFilters(t *testing.T) {
	fake := newFakeAMI(t, nil)
	cfg := fake.config()
	cfg.Filters = []string{"Event: Newchannel", "!Event: VarSet"}
	dial(t, cfg)
	var got []string
	for _, a := range fake.received() {
		if a.Get("Action") == "Filter" {
			if a.Get("Operation") != "Add" {
				t.Errorf("filter operation %q", a.Get("Operation"))
			}
			got = append(got, a.Get("Filter"))
		}
	}
	if !reflect.DeepEqual(got, cfg.Filters) {
		t.Fatalf("filters sent %q, want %q", got, cfg.Filters)
	}

	fake.handle = func(s *fakeConn, a *Message) bool {
		if a.Get("Action") == "Filter" {
			s.reply(a, "Error", "Message", "Permission denied")
			return true
		}
		return false
	}
	var ae *Error
	if _, err := Dial(context.Background(), cfg); !errors.As(err, &ae) || ae.Action != "Filter" {
		t.Fatalf("Dial with a refused filter: %v", err)
	}
	cfg.FiltersOptional = true
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial with optional filters refused: %v", err)
	}
	c.Close()
}

// TestEventsInOrder: events stream in wire order, including ones that carry
// an ActionID no call is waiting for (OriginateResponse).
func TestEventsInOrder(t *testing.T) {
	fake := newFakeAMI(t, nil)
	c := dial(t, fake.config())
	nextEvent(t, c, "FullyBooted")
	s := fake.conn(0)
	var b strings.Builder
	for i := range 500 {
		fmt.Fprintf(&b, "Event: UserEvent\r\nSeq: %d\r\n\r\n", i)
	}
	b.WriteString("Event: OriginateResponse\r\nActionID: hf-999\r\nResponse: Success\r\n\r\n")
	s.send(b.String())
	for i := range 500 {
		m := nextEvent(t, c, "UserEvent")
		if m.Get("Seq") != strconv.Itoa(i) {
			t.Fatalf("event %d has Seq %s", i, m.Get("Seq"))
		}
	}
	if m := nextEvent(t, c, "OriginateResponse"); m.Get("ActionID") != "hf-999" {
		t.Fatalf("%q", m.Fields)
	}
}

// TestSlowConsumer: a consumer that stops reading makes the client fail with
// ErrSlowConsumer once the queue bound is passed; the reader never stalls, the
// server's writes never block, and every event queued before the failure is
// still delivered in order (nothing dropped silently).
func TestSlowConsumer(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"count bound", func(c *Config) { c.EventBuffer = 100 }},
		{"byte bound", func(c *Config) { c.EventBufferBytes = 4000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeAMI(t, nil)
			cfg := fake.config()
			cfg.Events = true
			tc.edit(&cfg)
			c := dial(t, cfg)
			s := fake.conn(0)
			const sent = 5000
			var b strings.Builder
			for i := range sent {
				fmt.Fprintf(&b, "Event: UserEvent\r\nSeq: %d\r\n\r\n", i)
			}
			writeErr := make(chan error, 1)
			go func() { writeErr <- s.send(b.String()) }()
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("client did not fail on a slow consumer")
			}
			if !errors.Is(c.Err(), ErrSlowConsumer) {
				t.Fatalf("Err = %v, want ErrSlowConsumer", c.Err())
			}
			<-writeErr // the server's write finished or failed: it never hung
			var got []string
			for m := range c.Events() {
				if m.Event() == "UserEvent" {
					got = append(got, m.Get("Seq"))
				}
			}
			if len(got) == 0 || len(got) >= sent {
				t.Fatalf("%d events delivered", len(got))
			}
			for i, seq := range got {
				if seq != strconv.Itoa(i) {
					t.Fatalf("event %d has Seq %s: a gap", i, seq)
				}
			}
		})
	}
}

func TestServerClosesMidFrame(t *testing.T) {
	fake := newFakeAMI(t, nil)
	fake.handle = func(s *fakeConn, a *Message) bool {
		if a.Get("Action") == "Status" {
			s.send("Response: Success\r\nActionID: " + a.Get("ActionID") + "\r\nEventList: sta")
			s.c.Close()
			return true
		}
		return false
	}
	c := dial(t, fake.config())
	_, err := c.DoList(context.Background(), action("Action", "Status"))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("DoList err = %v, want unexpected EOF", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), io.ErrUnexpectedEOF) {
		t.Fatalf("Err = %v", c.Err())
	}
	if _, err := c.Do(context.Background(), action("Action", "Ping")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Do after failure: %v", err)
	}
}

func TestMalformedFrameSkipped(t *testing.T) {
	fake := newFakeAMI(t, nil)
	c := dial(t, fake.config())
	nextEvent(t, c, "FullyBooted")
	fake.conn(0).send("Event: Broken\r\nthis line has no colon\r\n\r\n" +
		"Event: Huge\r\nX: " + strings.Repeat("y", 20000) + "\r\n\r\n" +
		"Response: Success\r\nActionID: nobody-asked\r\n\r\n" +
		"Neither: response nor event\r\n\r\n" +
		"Event: Fine\r\n\r\n")
	nextEvent(t, c, "Fine")
	if st := c.Stats(); st.Malformed != 2 || st.Unmatched != 2 {
		t.Fatalf("Malformed = %d, Unmatched = %d; want 2, 2", st.Malformed, st.Unmatched)
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

func TestPingKeepalive(t *testing.T) {
	fake := newFakeAMI(t, nil)
	cfg := fake.config()
	cfg.PingInterval = 20 * time.Millisecond
	cfg.PingTimeout = time.Second // generous: a loaded CI machine must not look dead
	c := dial(t, cfg)
	waitFor(t, "5 pings", func() bool { return fake.pings.Load() >= 5 })
	if c.Err() != nil {
		t.Fatalf("client failed while the peer answers: %v", c.Err())
	}

	fake.noPong.Store(true)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("dead peer not detected")
	}
	if !errors.Is(c.Err(), ErrPingTimeout) {
		t.Fatalf("Err = %v, want ErrPingTimeout", c.Err())
	}
}

func TestCloseAndLogoff(t *testing.T) {
	fake := newFakeAMI(t, nil)
	fake.handle = func(s *fakeConn, a *Message) bool { return a.Get("Action") == "Hang" }
	c := dial(t, fake.config())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Do(context.Background(), action("Action", "Hang"))
		errc <- err
	}()
	waitFor(t, "Hang sent", func() bool {
		for _, a := range fake.received() {
			if a.Get("Action") == "Hang" {
				return true
			}
		}
		return false
	})
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Do in flight got %v, want ErrClosed", err)
	}
	for range c.Events() { // closed after Close
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatal(c.Err())
	}
	c.Close() // idempotent

	c2 := dial(t, fake.config())
	if err := c2.Logoff(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c2.Err(), ErrClosed) {
		t.Fatalf("after Logoff Err = %v", c2.Err())
	}
}

// TestWriteStall: a peer that stops reading makes writes hit
// Config.WriteTimeout; the client fails instead of hanging its callers.
func TestWriteStall(t *testing.T) {
	fake := newFakeAMI(t, nil)
	stalled := make(chan struct{})
	var once sync.Once
	fake.handle = func(s *fakeConn, a *Message) bool {
		if a.Get("Action") == "Stall" {
			once.Do(func() { close(stalled) })
			<-s.f.closing // stop reading this session until the test ends
			return true
		}
		return false
	}
	cfg := fake.config()
	cfg.WriteTimeout = 200 * time.Millisecond
	c := dial(t, cfg)
	go c.Do(context.Background(), action("Action", "Stall"))
	<-stalled
	big := strings.Repeat("x", 7000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 8; i++ {
		go func() {
			for ctx.Err() == nil && c.Err() == nil {
				// Give up on each answer quickly so the actions keep coming.
				short, stop := context.WithTimeout(ctx, 5*time.Millisecond)
				c.Do(short, action("Action", "UserEvent", "Body", big))
				stop()
			}
		}()
	}
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("client still live after its peer stopped reading")
	}
	if !errors.Is(c.Err(), os.ErrDeadlineExceeded) {
		t.Fatalf("Err = %v, want a write deadline error", c.Err())
	}
}
