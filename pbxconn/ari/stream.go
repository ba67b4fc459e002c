package ari

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// EventStream is one connection of the ARI events WebSocket. One reader
// goroutine reads and decodes every message as soon as it arrives and
// queues it for Next; a timer pings to keep the socket alive. Neither ever
// waits for the consumer: if the queue exceeds its bound
// (Config.EventBufferEvents / EventBufferBytes) the stream ends with
// ErrSlowConsumer instead.
//
// The stream ends on the first of: Close, the Events ctx being done, a read
// or ping error, the peer going silent for Config.PongTimeout (ErrDeadPeer),
// or a slow consumer. Events queued before the end are still returned by
// Next; then Next returns the reason, which Err also reports. A stream is
// never restarted: dial a new one (and resync) to continue.
type EventStream struct {
	// Set by Client.Events before the goroutines start, read-only after.
	conn         *websocket.Conn
	log          *slog.Logger
	maxEvents    int
	maxBytes     int
	pingInterval time.Duration
	pongTimeout  time.Duration

	quit      chan struct{} // closed by Close
	pingMu    sync.Mutex    // guards pinger
	pinger    *time.Timer   // the next ping; nil once the stream ended
	stopCtx   func() bool   // stops the context.AfterFunc watching Events' ctx
	done      chan struct{} // closed when the reader has exited
	ended     chan struct{} // closed when err is first set
	notify    chan struct{} // capacity 1: an event was queued
	wg        sync.WaitGroup
	closeOnce sync.Once

	received  atomic.Uint64
	malformed atomic.Uint64
	bytesIn   atomic.Uint64

	writeMu sync.Mutex // serialises data-frame writes (Do); pings use WriteControl

	mu      sync.Mutex // guards the fields below; never held across I/O
	queue   []queued   // FIFO from head
	head    int
	qBytes  int
	peak    int
	err     error                         // why the stream ended; first one wins
	closed  bool                          // Close was called
	pending map[string]chan *RESTResponse // Do calls waiting, by request_id
	lastReq uint64                        // last request_id number used by Do
}

// maxRetainedBuffer is the largest read buffer the reader keeps between
// messages.
const maxRetainedBuffer = 64 << 10

type queued struct {
	ev   Event
	size int
}

// StreamStats is a snapshot of an EventStream's counters.
type StreamStats struct {
	Received    uint64 // messages read from the socket
	Malformed   uint64 // of which DecodeEvent rejected (delivered as *UnknownEvent with Err)
	Bytes       uint64 // message bytes read
	Queued      int    // events waiting for Next
	QueuedBytes int    // their raw size
	PeakQueued  int    // highest Queued seen
}

// Events dials the events WebSocket (Config.URL + "/events?app=…&subscribeAll=true")
// with Basic auth and returns the running stream. ctx bounds the dial and
// the stream's life: when ctx is done the stream ends with its cause. A
// rejected handshake returns *Error (e.g. 401 matches ErrUnauthorized).
// Asterisk keeps one socket per application: a second stream for the same
// Config.Application replaces the first, which receives ApplicationReplaced
// and is then closed by Asterisk.
func (c *Client) Events(ctx context.Context) (*EventStream, error) {
	if c.cfg.Application == "" {
		return nil, errors.New("ari events: Config.Application is required")
	}
	nd := &net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	d := websocket.Dialer{
		NetDialContext:   nd.DialContext,
		TLSClientConfig:  c.tls,
		HandshakeTimeout: c.cfg.DialTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  512,
	}
	hdr := http.Header{}
	if c.authHdr != "" {
		hdr.Set("Authorization", c.authHdr)
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	conn, resp, err := d.DialContext(dctx, c.wsURL, hdr)
	cancel()
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			defer resp.Body.Close()
			return nil, readError("events.dial", resp)
		}
		return nil, fmt.Errorf("ari events dial %s: %w", redactURL(c.base), err)
	}
	conn.SetReadLimit(c.cfg.MaxMessageBytes)
	s := &EventStream{
		conn:         conn,
		log:          c.log,
		maxEvents:    c.cfg.EventBufferEvents,
		maxBytes:     c.cfg.EventBufferBytes,
		pingInterval: c.cfg.PingInterval,
		pongTimeout:  c.cfg.PongTimeout,
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
		ended:        make(chan struct{}),
		notify:       make(chan struct{}, 1),
	}
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(s.pongTimeout))
	})
	// One goroutine per stream, the reader: pings run from a timer and
	// the caller's ctx is watched with context.AfterFunc, neither holding a
	// goroutine (and its stack) while idle — a replica runs a thousand.
	s.stopCtx = context.AfterFunc(ctx, func() {
		s.fail(fmt.Errorf("ari events: %w", context.Cause(ctx)))
		_ = s.conn.Close()
	})
	s.pingMu.Lock()
	s.pinger = time.AfterFunc(s.pingInterval, s.ping)
	s.pingMu.Unlock()
	s.wg.Add(1)
	go s.readLoop()
	c.log.Debug("ari events connected", "url", redactURL(c.base), "app", c.cfg.Application)
	return s, nil
}

// Next returns the next event in arrival order, blocking until one is
// queued, the stream has ended (then it returns the reason, after every
// event queued before the end), or ctx is done. After Close it returns
// ErrStreamClosed. It is safe for concurrent use; each event is returned
// once.
func (s *EventStream) Next(ctx context.Context) (Event, error) {
	for {
		ev, err := s.Poll()
		if ev != nil || err != nil {
			return ev, err
		}
		select {
		case <-s.notify:
		case <-s.ended:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Poll is the non-blocking Next, for consumers that select on several
// sources instead of dedicating a goroutine to Next: it returns the next
// event if one is queued, (nil, nil) if none is queued and the stream runs,
// and (nil, reason) once the stream has ended and every event queued
// before the end was returned. Wait for Ready or Done between polls.
func (s *EventStream) Poll() (Event, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrStreamClosed
	}
	if s.head < len(s.queue) {
		q := s.queue[s.head]
		s.queue[s.head] = queued{}
		s.head++
		s.qBytes -= q.size
		if s.head == len(s.queue) {
			s.queue, s.head = s.queue[:0], 0
		} else if s.head >= 1024 && s.head*2 >= len(s.queue) {
			n := copy(s.queue, s.queue[s.head:])
			clear(s.queue[n:])
			s.queue, s.head = s.queue[:n], 0
		}
		more := s.head < len(s.queue)
		s.mu.Unlock()
		if more {
			s.signal() // keep Ready armed, and wake another waiting Next
		}
		return q.ev, nil
	}
	err := s.err
	s.mu.Unlock()
	return nil, err
}

// Ready receives a value when events may have been queued: after a receive,
// Poll until it returns no event. Select on Done as well to learn of the
// end. Ready and Next share one signal: use one or the other per stream.
func (s *EventStream) Ready() <-chan struct{} { return s.notify }

// Err returns why the stream ended, or nil while it runs.
func (s *EventStream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Done is closed when the stream has ended (see Err).
func (s *EventStream) Done() <-chan struct{} { return s.ended }

// Stats returns a snapshot of the stream's counters.
func (s *EventStream) Stats() StreamStats {
	s.mu.Lock()
	st := StreamStats{Queued: len(s.queue) - s.head, QueuedBytes: s.qBytes, PeakQueued: s.peak}
	s.mu.Unlock()
	st.Received, st.Malformed, st.Bytes = s.received.Load(), s.malformed.Load(), s.bytesIn.Load()
	return st
}

// Close ends the stream, discards queued events, closes the socket and
// waits for the stream's goroutines to exit. It is idempotent and always
// returns nil.
func (s *EventStream) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		clear(s.queue)
		s.queue, s.head, s.qBytes = nil, 0, 0
		s.mu.Unlock()
		s.fail(ErrStreamClosed)
		close(s.quit)
		// A polite close frame; the socket is closed right after either way.
		_ = s.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(100*time.Millisecond))
		_ = s.conn.Close()
		s.wg.Wait()
	})
	return nil
}

// fail records err as the reason the stream ended, if none is recorded yet.
func (s *EventStream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		close(s.ended)
	}
}

func (s *EventStream) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// push queues ev; it reports false (after ending the stream) when the queue
// bound would be exceeded.
func (s *EventStream) push(ev Event, size int) bool {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return false
	}
	n, qb := len(s.queue)-s.head, s.qBytes
	if n+1 > s.maxEvents || qb+size > s.maxBytes {
		s.mu.Unlock()
		s.fail(fmt.Errorf("%w: %d events (%d bytes) unread", ErrSlowConsumer, n, qb))
		s.log.Warn("ari events: slow consumer, closing stream", "queued", n, "queued_bytes", qb)
		_ = s.conn.Close()
		return false
	}
	s.queue = append(s.queue, queued{ev: ev, size: size})
	s.qBytes += size
	if n+1 > s.peak {
		s.peak = n + 1
	}
	s.mu.Unlock()
	s.signal()
	return true
}

// readLoop is the only reader of the socket.
func (s *EventStream) readLoop() {
	defer s.wg.Done()
	defer close(s.done)
	defer s.stopTimers()
	var lastWarn time.Time
	var suppressed int
	var buf bytes.Buffer // reused for every message; DecodeEvent keeps no reference
	for {
		if err := s.conn.SetReadDeadline(time.Now().Add(s.pongTimeout)); err != nil {
			s.fail(fmt.Errorf("ari events: %w", err))
			return
		}
		if buf.Cap() > maxRetainedBuffer {
			buf = bytes.Buffer{} // do not keep a rare huge message's buffer
		}
		buf.Reset()
		_, r, err := s.conn.NextReader()
		if err == nil {
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			s.fail(s.readError(err))
			_ = s.conn.Close()
			return
		}
		data := buf.Bytes()
		s.received.Add(1)
		s.bytesIn.Add(uint64(len(data)))
		ev, err := DecodeEvent(data)
		if err != nil {
			s.malformed.Add(1)
			kind, _ := scanType(data)
			ev = &UnknownEvent{Type: kind, Raw: bytes.Clone(data), Err: err}
			if now := time.Now(); now.Sub(lastWarn) >= 10*time.Second {
				s.log.Warn("ari events: malformed message", "err", err, "bytes", len(data), "suppressed", suppressed)
				lastWarn, suppressed = now, 0
			} else {
				suppressed++
			}
		}
		if r, ok := ev.(*RESTResponse); ok && s.route(r) {
			continue
		}
		if !s.push(ev, len(data)) {
			return
		}
	}
}

// readError classifies a read error. When the stream already ended (Close,
// ctx, slow consumer), that reason is kept by fail and this one is ignored.
func (s *EventStream) readError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: silent for %v", ErrDeadPeer, s.pongTimeout)
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Errorf("ari events: closed by peer: %w", err)
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return fmt.Errorf("ari events: message larger than the read limit: %w", err)
	}
	return fmt.Errorf("ari events: read: %w", err)
}

// ping sends one ping and arms the next, until the stream ends. It runs on
// the timer's goroutine.
func (s *EventStream) ping() {
	select {
	case <-s.quit:
		return
	case <-s.done:
		return
	default:
	}
	if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.pongTimeout)); err != nil {
		s.fail(fmt.Errorf("ari events: ping: %w", err))
		_ = s.conn.Close()
		return
	}
	s.pingMu.Lock()
	if s.pinger != nil {
		s.pinger.Reset(s.pingInterval)
	}
	s.pingMu.Unlock()
}

// stopTimers ends the pings and the context watch.
func (s *EventStream) stopTimers() {
	s.pingMu.Lock()
	if s.pinger != nil {
		s.pinger.Stop()
		s.pinger = nil
	}
	s.pingMu.Unlock()
	if s.stopCtx != nil {
		s.stopCtx()
	}
}
