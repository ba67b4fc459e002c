package ami

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client defaults.
const (
	DefaultPingInterval     = 20 * time.Second
	DefaultPingTimeout      = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultEventBuffer      = 4096
	DefaultEventBufferBytes = 4 << 20
	DefaultMaxListBytes     = 16 << 20
)

// Config configures Dial. Zero fields take the documented defaults.
type Config struct {
	// Addr is the manager's host:port, e.g. "pbx.example.com:5038".
	Addr string
	// Username and Secret are the manager.conf credentials. The secret is
	// never logged.
	Username string
	Secret   string
	// UseMD5 logs in with the Challenge action and an MD5 key
	// (md5(challenge+secret)) instead of sending the secret.
	UseMD5 bool
	// TLS, if not nil, dials TLS with this configuration (the server name
	// defaults to Addr's host).
	TLS *tls.Config
	// Events turns the session's event stream on ("Events: on"); without it
	// the login says "Events: off". EventMask, if set, is sent instead, e.g.
	// "call,agent,system".
	Events    bool
	EventMask string
	// Filters are added with the Filter action (Operation: Add) right after
	// login, in order, e.g. "Event: Newchannel" or "!Event: VarSet". The
	// manager user needs the system write permission for them.
	Filters []string
	// FiltersOptional makes Filters best effort: a filter the PBX refuses
	// (Response: Error, e.g. the manager user lacks the system write
	// permission) is logged and skipped instead of failing Dial. Network
	// errors still fail it.
	FiltersOptional bool
	// PingInterval is how often a keepalive Ping is sent (default
	// DefaultPingInterval, 20 s; negative disables). PingTimeout is how long
	// its answer may take before the peer is declared dead and the client
	// fails with ErrPingTimeout (default DefaultPingTimeout, 10 s).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// WriteTimeout bounds each socket write (default DefaultWriteTimeout).
	WriteTimeout time.Duration
	// EventBuffer and EventBufferBytes bound the events read but not yet
	// taken from Events (defaults DefaultEventBuffer events, DefaultEventBufferBytes
	// bytes). Past either bound the client fails with ErrSlowConsumer.
	EventBuffer      int
	EventBufferBytes int
	// MaxListBytes bounds one DoList result (default DefaultMaxListBytes).
	MaxListBytes int
	// Reader bounds lines and frames read from the PBX.
	Reader ReaderConfig
	// Log receives connection-level logs; nil discards them.
	Log *slog.Logger
}

func (c *Config) fill() {
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if c.EventBufferBytes <= 0 {
		c.EventBufferBytes = DefaultEventBufferBytes
	}
	if c.MaxListBytes <= 0 {
		c.MaxListBytes = DefaultMaxListBytes
	}
	c.Reader.fill()
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Response is the PBX's reply to one action (Response: Success, Goodbye, …).
type Response struct {
	Message
}

// Status returns the Response field: "Success", "Goodbye", "Follows", ….
func (r *Response) Status() string { return r.Get("Response") }

// ListResult is the answer to an EventList action, collected whole.
type ListResult struct {
	// Response is the reply that opened the list ("EventList: start").
	Response *Response
	// Items are the list's events in wire order, without the closing one.
	Items []*Message
	// Complete is the closing event ("EventList: Complete", with ListItems),
	// nil when the response did not announce a list.
	Complete *Message
}

// Stats are the client's counters since Dial.
type Stats struct {
	FramesIn   uint64 // frames read
	BytesIn    uint64 // wire bytes of those frames
	Events     uint64 // events queued for Events
	Malformed  uint64 // frames skipped on a recoverable parse error
	Unmatched  uint64 // responses with an unknown ActionID, frames neither response nor event
	Discarded  uint64 // list responses and events for DoList calls that returned early
	QueueLen   int    // events waiting in the queue now
	QueueBytes int    // their size
}

// Client is one AMI session. Its methods are safe for concurrent use.
//
// One reader goroutine parses frames and never blocks on a consumer: replies
// go to the waiting Do/DoList call (matched by ActionID in a guarded map),
// events go to a queue bounded by Config.EventBuffer/EventBufferBytes, handed
// to Events by a third goroutine. One writer goroutine sends actions (several
// queued ones coalesced into one write) and the keepalive Ping. When the
// connection fails — read or write error, dead peer, slow consumer — the
// client closes the socket, every call in flight returns the cause, Done is
// closed and Err reports it. Close stops all three goroutines and waits.
type Client struct {
	cfg    Config
	log    *slog.Logger
	conn   net.Conn
	rd     *Reader // owned by the reader goroutine once Dial returns
	banner string  // set in Dial, read-only after

	out     chan []byte      // encoded frames for the writer
	events  chan *Message    // unbuffered, fed by the pump; closed when it exits
	notify  chan struct{}    // cap 1: the event queue became non-empty
	done    chan struct{}    // closed by fail
	closing chan struct{}    // closed by Close: the pump stops at once
	nextID  atomic.Uint64    // ActionID counter
	wg      sync.WaitGroup   // reader, writer, pump
	once    sync.Once        // guards closing
	quit    atomic.Bool      // Logoff in progress: EOF is a clean close
	st      [6]atomic.Uint64 // Stats counters, indexed by st* below

	mu      sync.Mutex // guards the fields below
	pending map[string]*call
	queue   []*Message // events not yet handed to the pump; queue[qhead:] are live
	qhead   int
	qbytes  int
	err     error // first failure; set once
}

const (
	stFrames = iota
	stBytes
	stEvents
	stMalformed
	stUnmatched
	stDiscarded
)

// call is one action waiting for its reply.
type call struct {
	id     string
	action string
	list   bool
	done   chan struct{} // closed when resp/err/complete are final
	// The fields below are guarded by Client.mu until done is closed.
	resp      *Response
	items     []*Message
	bytes     int
	complete  *Message
	err       error
	finished  bool // done closed
	abandoned bool // a DoList caller returned; swallow what still comes
}

// Dial connects to cfg.Addr, reads the banner, logs in, applies cfg.Filters
// and returns a live client. ctx bounds only the dial and login; the
// client then lives until Close or a failure. Errors: ErrBadBanner,
// ErrAuth (wrapped with the PBX's *Error), network errors, ctx's error.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg.fill()
	var conn net.Conn
	var err error
	if cfg.TLS != nil {
		d := &tls.Dialer{Config: cfg.TLS}
		conn, err = d.DialContext(ctx, "tcp", cfg.Addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("ami dial %s: %w", cfg.Addr, err)
	}
	c := &Client{
		cfg:     cfg,
		log:     cfg.Log.With("ami", cfg.Addr),
		conn:    conn,
		rd:      NewReader(conn, cfg.Reader),
		out:     make(chan []byte, 64),
		events:  make(chan *Message),
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
		pending: make(map[string]*call),
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	c.banner, err = c.rd.ReadBanner()
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ami banner %s: %w", cfg.Addr, err)
	}
	conn.SetDeadline(time.Time{})
	c.wg.Add(3)
	go c.readLoop()
	go c.writeLoop()
	go c.pump()
	if err := c.login(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("ami login %s: %w", cfg.Addr, err)
	}
	for _, f := range cfg.Filters {
		a := Message{Fields: []Field{{"Action", "Filter"}, {"Operation", "Add"}, {"Filter", f}}}
		if _, err := c.Do(ctx, a); err != nil {
			var refused *Error
			if cfg.FiltersOptional && errors.As(err, &refused) {
				c.log.Warn("ami filter refused by the PBX; continuing without it", "filter", f, "addr", cfg.Addr, "err", refused.Message)
				continue
			}
			c.Close()
			return nil, fmt.Errorf("ami filter %q on %s: %w", f, cfg.Addr, err)
		}
	}
	c.log.Debug("ami connected", "banner", c.banner)
	return c, nil
}

func (c *Client) login(ctx context.Context) error {
	events := c.cfg.EventMask
	if events == "" {
		events = "off"
		if c.cfg.Events {
			events = "on"
		}
	}
	login := Message{Fields: []Field{{"Action", "Login"}, {"Username", c.cfg.Username}}}
	if c.cfg.UseMD5 {
		ch, err := c.Do(ctx, Message{Fields: []Field{{"Action", "Challenge"}, {"AuthType", "MD5"}}})
		if err != nil {
			return fmt.Errorf("challenge: %w", err)
		}
		challenge := ch.Get("Challenge")
		if challenge == "" {
			return fmt.Errorf("challenge: %w: no Challenge field", ErrAuth)
		}
		sum := md5.Sum([]byte(challenge + c.cfg.Secret))
		login.Add("AuthType", "MD5")
		login.Add("Key", hex.EncodeToString(sum[:]))
	} else {
		login.Add("Secret", c.cfg.Secret)
	}
	login.Add("Events", events)
	if _, err := c.Do(ctx, login); err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return fmt.Errorf("%w: %w", ErrAuth, err)
		}
		return err
	}
	return nil
}

// Banner returns the banner the PBX sent, e.g. "Asterisk Call Manager/11.0.0".
func (c *Client) Banner() string { return c.banner }

// Events returns the stream of events that are not part of a DoList result,
// in wire order. It is closed after the client stops and every event queued
// before that was delivered, or at once on Close. Take events promptly: the
// queue behind it is bounded and overflowing it fails the client with
// ErrSlowConsumer.
func (c *Client) Events() <-chan *Message { return c.events }

// Done is closed when the client has failed or been closed; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped (ErrClosed after Close), or nil while live.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	ql, qb := len(c.queue)-c.qhead, c.qbytes
	c.mu.Unlock()
	return Stats{
		FramesIn: c.st[stFrames].Load(), BytesIn: c.st[stBytes].Load(),
		Events: c.st[stEvents].Load(), Malformed: c.st[stMalformed].Load(),
		Unmatched: c.st[stUnmatched].Load(), Discarded: c.st[stDiscarded].Load(),
		QueueLen: ql, QueueBytes: qb,
	}
}

// Do sends action and waits for its response. The ActionID is assigned by
// the client (any ActionID in action is replaced). A "Response: Error" comes
// back as *Error. Do returns early with ctx's error (a late response is
// then dropped and counted in Stats.Unmatched) or with the client's
// failure. Events the action causes arrive on Events; those that carry its
// ActionID (OriginateResponse after an Async Originate) can be matched with
// the response's ActionID field.
func (c *Client) Do(ctx context.Context, action Message) (*Response, error) {
	cl, err := c.start(ctx, action, false)
	if err != nil {
		return nil, err
	}
	if err := c.wait(ctx, cl); err != nil {
		return nil, err
	}
	return cl.resp, nil
}

// DoList sends an EventList action (QueueStatus, CoreShowChannels,
// ParkedCalls, Status, DeviceStateList, BridgeList, PJSIPShowEndpoints,
// QueueSummary, ExtensionStateList, ConfbridgeList, …) and collects the
// response and every event carrying its ActionID up to the one with
// "EventList: Complete". A "Response: Error" (e.g. ConfbridgeList's "No
// active conferences.") is returned as *Error. A success response without
// "EventList: start" is returned alone. A result over Config.MaxListBytes
// fails with ErrListTooLarge. When DoList returns early (ctx, list too
// large) the list's remaining events are dropped and counted in
// Stats.Discarded, never streamed; a PBX that never finishes such a list
// costs one small record until the connection ends.
func (c *Client) DoList(ctx context.Context, action Message) (*ListResult, error) {
	cl, err := c.start(ctx, action, true)
	if err != nil {
		return nil, err
	}
	if err := c.wait(ctx, cl); err != nil {
		return nil, err
	}
	return &ListResult{Response: cl.resp, Items: cl.items, Complete: cl.complete}, nil
}

// start registers a call for action and queues it for the writer.
func (c *Client) start(ctx context.Context, action Message, list bool) (*call, error) {
	name := action.Get("Action")
	if name == "" {
		return nil, ErrNoAction
	}
	id := c.newID()
	frame, err := encodeAction(action, id)
	if err != nil {
		return nil, fmt.Errorf("ami %s: %w", name, err)
	}
	cl := &call{id: id, action: name, list: list, done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[id] = cl
	c.mu.Unlock()
	select {
	case c.out <- frame:
		return cl, nil
	case <-ctx.Done():
		c.abandon(id)
		return nil, fmt.Errorf("ami %s: %w", name, ctx.Err())
	case <-c.done:
		return nil, c.Err()
	}
}

// newID returns a fresh ActionID.
func (c *Client) newID() string { return "hf-" + strconv.FormatUint(c.nextID.Add(1), 10) }

// encodeAction encodes action with its ActionID set to id.
func encodeAction(action Message, id string) ([]byte, error) {
	m := Message{Fields: make([]Field, 0, len(action.Fields)+1)}
	for _, f := range action.Fields {
		if !strings.EqualFold(f.Key, "ActionID") {
			m.Fields = append(m.Fields, f)
		}
	}
	m.Add("ActionID", id)
	return AppendMessage(make([]byte, 0, m.wireSize()), &m)
}

// wait blocks until cl is final, ctx is done or the client fails.
func (c *Client) wait(ctx context.Context, cl *call) error {
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		c.mu.Lock()
		finished := cl.finished
		if !finished {
			if cl.list {
				cl.abandoned = true // keep it to swallow the list's events
			} else {
				delete(c.pending, cl.id) // a late response counts as unmatched
			}
		}
		c.mu.Unlock()
		if finished {
			return cl.err
		}
		return fmt.Errorf("ami %s: %w", cl.action, ctx.Err())
	}
}

// abandon forgets a call that was never sent.
func (c *Client) abandon(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Close stops the client: the socket is closed, calls in flight fail with
// ErrClosed, Events is closed, and Close returns once the reader, writer and
// event goroutines have exited. It is idempotent and returns nil.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.closing) })
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// Logoff says goodbye to the PBX (bounded by ctx) and closes the client.
func (c *Client) Logoff(ctx context.Context) error {
	c.quit.Store(true)
	_, err := c.Do(ctx, Message{Fields: []Field{{"Action", "Logoff"}}})
	c.Close()
	if errors.Is(err, ErrClosed) || errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// fail records err as the reason the client stopped, closes the socket and
// completes every pending call with err. Only the first call has effect.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = map[string]*call{}
	for _, cl := range pending {
		if !cl.finished {
			cl.err = err
			cl.finished = true
			close(cl.done)
		}
	}
	c.mu.Unlock()
	c.conn.Close()
	close(c.done)
	if !errors.Is(err, ErrClosed) {
		c.log.Warn("ami connection failed", "err", err)
	}
}
