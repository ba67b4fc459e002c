package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/time/rate"
)

// closeGrace is how long the reader waits for the peer's close frame after
// the server sent its own.
const closeGrace = time.Second

// Session is one WebSocket connection being served. Its methods are safe
// for concurrent use.
type Session struct {
	hub       *Hub
	id        string
	tenant    Tenant
	principal string
	created   time.Time
	enc       Encoding
	batch     bool
	since     *Position
	conn      WSConn
	onRequest RequestHandler
	limiter   *rate.Limiter // nil when unthrottled; used by the reader only
	// registered: the session holds a Registry slot. Guarded by Hub.mu.
	registered bool

	filter atomic.Pointer[filterBox]

	ctx    context.Context // ends when the session starts closing
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: the queue has data or the session is closing
	resync chan struct{} // cap 1: a fresh snapshot is wanted
	closed chan struct{} // closed when closing starts

	mu      sync.Mutex // guards the fields below
	queue   []outMsg   // messages for the writer, in order
	queued  int        // bytes in queue
	limit   int        // queue budget: SendQueueBytes plus an in-flight snapshot
	ready   bool       // initial sync done: events go to queue, else to pending
	epoch   string     // epoch of the snapshot or replay the session is on
	base    uint64     // events with Seq <= base are already covered
	pending []*outEvent
	pendMem int // approximate bytes in pending
	closing bool
	code    int
	reason  string
	flush   bool // write the queue before the close frame
	// sentClose: a close frame went out (ours or the library's).
	sentClose bool
}

func newSession(h *Hub, conn WSConn, o SessionOptions) *Session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		hub: h, id: newID(), tenant: o.Tenant, principal: o.Principal, created: time.Now(),
		enc: o.Encoding, batch: o.Batch, since: o.Since, conn: conn, onRequest: o.OnRequest,
		ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), resync: make(chan struct{}, 1), closed: make(chan struct{}),
		limit: h.cfg.SendQueueBytes,
	}
	if h.cfg.ThrottleMessages > 0 {
		every := h.cfg.ThrottlePer / time.Duration(h.cfg.ThrottleMessages)
		s.limiter = rate.NewLimiter(rate.Every(every), h.cfg.ThrottleBurst)
	}
	s.filter.Store(&filterBox{o.Filter})
	return s
}

// ID is the session's cluster-unique id.
func (s *Session) ID() string { return s.id }

// Tenant is the session's tenant.
func (s *Session) Tenant() Tenant { return s.tenant }

// Principal is the identity the session was opened for.
func (s *Session) Principal() string { return s.principal }

// SetFilter replaces what the session sees (e.g. after a policy change)
// and resyncs it: the client gets system_msg resync and a fresh
// initial_info under the new filter.
func (s *Session) SetFilter(f Filter) {
	if f == nil {
		return
	}
	s.filter.Store(&filterBox{f})
	s.requestResync()
}

// CloseWith ends the session: messages already queued are written, then a
// close frame with code and reason. It does not wait.
func (s *Session) CloseWith(code int, reason string) {
	s.mu.Lock()
	s.closeLocked(code, reason, true)
	s.mu.Unlock()
}

// closeWithMsg queues system_msg msg (beyond the queue budget) and closes.
func (s *Session) closeWithMsg(msg string, code int, reason string) {
	b := encodeSystem(s.enc, msg)
	s.mu.Lock()
	if !s.closing {
		s.queue = append(s.queue, outMsg{b: b})
		s.queued += len(b)
	}
	s.closeLocked(code, reason, true)
	s.mu.Unlock()
}

// closeLocked starts closing. s.mu held.
func (s *Session) closeLocked(code int, reason string, flush bool) {
	if s.closing {
		return
	}
	s.closing, s.code, s.reason, s.flush = true, code, reason, flush
	if !flush {
		clear(s.queue)
		s.queue, s.queued = nil, 0
	}
	s.pending = nil
	close(s.closed)
	s.cancel()
	s.signal()
}

func (s *Session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// outMsg is one queued message; ts is the Event.TS of a live event (µs),
// for the delivery latency histogram, else 0.
type outMsg struct {
	b  []byte
	ts int64
}

// pushLocked queues b, or closes a session whose queue is full. s.mu held.
func (s *Session) pushLocked(b []byte, ts int64) bool {
	if s.closing {
		return false
	}
	if s.queued+len(b) > s.limit {
		s.hub.m.slowConsumers.Inc()
		s.closeLocked(CloseSlowConsumer, "slow consumer", false)
		return false
	}
	s.queue = append(s.queue, outMsg{b: b, ts: ts})
	s.queued += len(b)
	if len(s.queue) == 1 {
		// The writer swaps the whole queue under s.mu, so it needs waking
		// only when the queue becomes non-empty.
		s.signal()
	}
	return true
}

func (s *Session) push(b []byte) {
	s.mu.Lock()
	s.pushLocked(b, 0)
	s.mu.Unlock()
}

func (s *Session) pushSystem(msg string) { s.push(encodeSystem(s.enc, msg)) }

// offer is the per-session step of the fan-out; it reports whether the
// event was queued. It never blocks on the network.
func (s *Session) offer(oe *outEvent) bool {
	f := s.filter.Load().f
	if !f.Visible(oe.ev.Element, oe.ev.Audience) {
		return false
	}
	b := oe.bytes(variantOf(s.enc, f.Masked()))
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return false
	case !s.ready:
		s.pending = append(s.pending, oe)
		s.pendMem += len(oe.ev.Data) + 64
		if s.pendMem > s.hub.cfg.SendQueueBytes {
			s.hub.m.slowConsumers.Inc()
			s.closeLocked(CloseSlowConsumer, "slow consumer", false)
		}
		return false
	case oe.ev.Epoch != s.epoch:
		// The broker moved to a new epoch (ErrGap is on its way): resync.
		s.ready, s.pending, s.pendMem = false, []*outEvent{oe}, 0
		select {
		case s.resync <- struct{}{}:
		default:
		}
		return false
	case oe.ev.Seq <= s.base:
		return false // covered by the snapshot or replay
	}
	return s.pushLocked(b, oe.ev.TS)
}

// requestResync parks events until the writer has sent a fresh snapshot.
func (s *Session) requestResync() {
	s.mu.Lock()
	s.ready, s.pending, s.pendMem = false, nil, 0
	s.mu.Unlock()
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// run is the session's writer, on Serve's goroutine: attach, first sync,
// then the write loop (which also performs resyncs) until the session
// closes and its close frame is out.
func (s *Session) run(ctx context.Context) error {
	h := s.hub
	ht, err := h.attach(ctx, s)
	if err != nil {
		h.m.rejected.WithLabelValues("broker").Inc()
		s.CloseWith(CloseTryAgainLater, "broker unavailable")
		s.writeLoop(ctx)
		return fmt.Errorf("hub: attach %s: %w", s.tenant, err)
	}
	defer h.detach(ht, s)
	if err := s.start(ctx, ht); err != nil {
		h.m.rejected.WithLabelValues("broker").Inc()
		s.CloseWith(CloseTryAgainLater, "broker unavailable")
		s.writeLoop(ctx)
		return fmt.Errorf("hub: start %s: %w", s.tenant, err)
	}
	s.writeLoop(ctx)
	return nil
}

// start sends the replay since the client's position, or a snapshot. The
// replay comes from ht's replay cache when it reaches back that far, else
// from the broker's history.
func (s *Session) start(ctx context.Context, ht *hubTenant) error {
	if s.since == nil {
		return s.sync(ctx, false)
	}
	oes, ok := ht.recent.since(s.since.Epoch, s.since.Seq)
	if ok {
		s.hub.m.replays.WithLabelValues("cache").Inc()
	} else {
		s.hub.m.replays.WithLabelValues("broker").Inc()
		evs, ok, err := s.hub.cfg.Broker.Since(ctx, s.tenant, s.since.Epoch, s.since.Seq)
		if err != nil {
			return err
		}
		if !ok {
			return s.sync(ctx, true)
		}
		oes = make([]*outEvent, len(evs))
		for i := range evs {
			oes[i] = &outEvent{ev: &evs[i], mask: s.hub.cfg.Mask}
		}
	}
	f := s.filter.Load().f
	v := variantOf(s.enc, f.Masked())
	msgs := make([][]byte, 0, len(oes))
	size, last := 0, s.since.Seq
	for _, oe := range oes {
		last = oe.ev.Seq
		if !f.Visible(oe.ev.Element, oe.ev.Audience) {
			continue
		}
		b := oe.bytes(v) // a cached event is encoded once per variant for every socket
		msgs = append(msgs, b)
		size += len(b)
	}
	s.begin(s.since.Epoch, last, msgs, size)
	return nil
}

// sync sends a fresh snapshot: system_msg resync (when notice) and one
// initial_info per element kind, then the events that arrived meanwhile.
func (s *Session) sync(ctx context.Context, notice bool) error {
	snap, err := s.hub.cfg.Broker.Snapshot(ctx, s.tenant)
	if err != nil {
		return err
	}
	f := s.filter.Load().f
	masked := f.Masked() && s.hub.cfg.Mask != nil
	byKind := make(map[string][]any)
	var extra []string
	for i := range snap.Elements {
		e := &snap.Elements[i]
		if !f.Visible(e.Element, e.Audience) {
			continue
		}
		data := []byte(e.Data)
		if masked {
			data = safeMask(s.hub.cfg.Mask, s.tenant, e.Element, data)
		}
		d, err := elementData(s.enc, data)
		if err != nil {
			continue // a Mask that broke the JSON; skip rather than fail the session
		}
		if _, seen := byKind[e.Element]; !seen && !contains(s.hub.cfg.Elements, e.Element) {
			extra = append(extra, e.Element)
		}
		byKind[e.Element] = append(byKind[e.Element], d)
	}
	var msgs [][]byte
	size := 0
	if notice {
		b := encodeSystem(s.enc, SysResync)
		msgs, size = append(msgs, b), len(b)
		s.hub.m.resyncs.Inc()
	}
	for _, kind := range append(append([]string(nil), s.hub.cfg.Elements...), extra...) {
		data := byKind[kind]
		if data == nil {
			data = []any{}
		}
		b, err := encodeMsg(s.enc, initialInfoMsg{Type: "initial_info", Element: kind, Data: data, Epoch: snap.Epoch, Seq: snap.Seq})
		if err != nil {
			return fmt.Errorf("hub: encode initial_info: %w", err)
		}
		msgs = append(msgs, b)
		size += len(b)
	}
	s.begin(snap.Epoch, snap.Seq, msgs, size)
	return nil
}

// begin queues the sync messages, then the parked events after base, and
// makes the session live.
func (s *Session) begin(epoch string, base uint64, msgs [][]byte, size int) {
	f := s.filter.Load().f
	v := variantOf(s.enc, f.Masked())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.limit = s.hub.cfg.SendQueueBytes + size
	for _, b := range msgs {
		if !s.pushLocked(b, 0) {
			return
		}
	}
	s.hub.m.messagesOut.Add(float64(len(msgs)))
	s.epoch, s.base, s.ready = epoch, base, true
	pending := s.pending
	s.pending, s.pendMem = nil, 0
	for i, oe := range pending {
		if oe.ev.Epoch != epoch {
			// Broker reloaded after our snapshot: resync once more.
			s.ready, s.pending = false, append([]*outEvent(nil), pending[i:]...)
			select {
			case s.resync <- struct{}{}:
			default:
			}
			return
		}
		if oe.ev.Seq <= base || !f.Visible(oe.ev.Element, oe.ev.Audience) {
			continue
		}
		if !s.pushLocked(oe.bytes(v), oe.ev.TS) {
			return
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// batchBufs recycles coalescing buffers so idle sessions hold none.
var batchBufs = sync.Pool{New: func() any { return new([]byte) }}

// writeLoop is the session's only writer: it drains the queue, pings,
// resyncs when asked, and finally sends the close frame. When ctx ends the
// session is closed with CloseGoingAway.
func (s *Session) writeLoop(ctx context.Context) {
	h := s.hub
	ping := time.NewTicker(h.cfg.PingInterval)
	defer ping.Stop()
	var retry *time.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	done := ctx.Done()
	var spare []outMsg
	for {
		select {
		case <-s.wake:
		case <-ping.C:
			if err := s.conn.WriteControl(pingMessage, nil, time.Now().Add(h.cfg.WriteTimeout)); err != nil {
				s.abort()
				return
			}
			continue
		case <-done:
			done = nil
			s.CloseWith(CloseGoingAway, "server shutting down")
			continue
		case <-s.resync:
			if err := s.sync(ctx, true); err != nil && s.ctx.Err() == nil {
				h.log.Warn("hub: resync failed; retrying", "tenant", s.tenant, "err", err)
				if retry != nil {
					retry.Stop()
				}
				retry = time.AfterFunc(time.Second, func() {
					select {
					case s.resync <- struct{}{}:
					default:
					}
				})
			}
			continue
		}
		s.mu.Lock()
		q := s.queue
		s.queue, s.queued, s.limit = spare[:0], 0, h.cfg.SendQueueBytes
		closing, code, reason, flush := s.closing, s.code, s.reason, s.flush
		s.mu.Unlock()
		if !closing || flush {
			if err := s.write(q); err != nil {
				s.abort()
				return
			}
		}
		clear(q)
		spare = q
		if cap(spare) > 1024 {
			spare = nil
		}
		if closing {
			deadline := time.Now().Add(h.cfg.WriteTimeout)
			err := s.conn.WriteControl(closeMessage, closePayload(code, reason), deadline)
			if err == nil || errors.Is(err, websocket.ErrCloseSent) {
				s.mu.Lock()
				s.sentClose = true
				s.mu.Unlock()
			}
			_ = s.conn.SetReadDeadline(time.Now().Add(closeGrace))
			return
		}
	}
}

// write sends q: one frame per message, or coalesced frames in batch
// mode; then it records the delivery latency of the live events in q.
func (s *Session) write(q []outMsg) error {
	if len(q) == 0 {
		return nil
	}
	h := s.hub
	ft := s.enc.frameType()
	if !s.batch || len(q) == 1 {
		for _, m := range q {
			if err := s.frame(ft, m.b); err != nil {
				return err
			}
		}
	} else if err := s.writeBatched(ft, q); err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	for _, m := range q {
		if m.ts > 0 {
			h.m.delivery.Observe(float64(now-m.ts) / 1e6)
		}
	}
	return nil
}

func (s *Session) writeBatched(ft int, q []outMsg) error {
	h := s.hub
	bp := batchBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) > 4*h.cfg.MaxBatchBytes {
			*bp = nil
		}
		batchBufs.Put(bp)
	}()
	buf := (*bp)[:0]
	for _, m := range q {
		if len(buf) > 0 && len(buf)+1+len(m.b) > h.cfg.MaxBatchBytes {
			if err := s.frame(ft, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if len(buf) > 0 && s.enc == EncodingJSON {
			buf = append(buf, '\n')
		}
		buf = append(buf, m.b...)
	}
	*bp = buf
	return s.frame(ft, buf)
}

// frame writes one frame within Config.WriteTimeout.
func (s *Session) frame(ft int, b []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.hub.cfg.WriteTimeout)); err != nil {
		return err
	}
	return s.conn.WriteMessage(ft, b)
}

// abort ends a session whose connection failed: no close frame.
func (s *Session) abort() {
	s.mu.Lock()
	s.closeLocked(CloseInternalError, "", false)
	s.mu.Unlock()
	_ = s.conn.SetReadDeadline(time.Now())
}

// readLoop is the session's only reader.
func (s *Session) readLoop() {
	h := s.hub
	c := s.conn
	extend := func() { _ = c.SetReadDeadline(time.Now().Add(h.cfg.PongTimeout)) }
	extend()
	c.SetPongHandler(func(string) error { extend(); return nil })
	limited := false
	if rl, ok := c.(interface{ SetReadLimit(int64) }); ok {
		rl.SetReadLimit(h.cfg.MaxFrameBytes)
		limited = true
	}
	for {
		typ, data, err := c.ReadMessage()
		if err != nil {
			s.mu.Lock()
			if errors.Is(err, websocket.ErrReadLimit) {
				s.closeLocked(CloseMessageTooBig, "message too big", false)
			} else {
				s.closeLocked(CloseNormal, "", false)
			}
			s.mu.Unlock()
			return
		}
		if !limited && int64(len(data)) > h.cfg.MaxFrameBytes {
			s.mu.Lock()
			s.closeLocked(CloseMessageTooBig, "message too big", false)
			s.mu.Unlock()
			return
		}
		extend()
		if s.limiter != nil && !s.limiter.Allow() {
			h.m.throttled.Inc()
			s.push(encodeError(s.enc, "Maximum throttle throughput exceeded."))
			continue
		}
		s.handle(typ, data)
		extend()
	}
}

// handle answers one inbound message.
func (s *Session) handle(typ int, data []byte) {
	raw := json.RawMessage(data)
	if typ == binaryMessage && s.enc == EncodingMsgpack {
		var v map[string]any
		if err := checkMsgpack(data); err != nil {
			s.push(encodeError(s.enc, "malformed request: not a MessagePack map"))
			return
		}
		if err := msgpack.Unmarshal(data, &v); err != nil {
			s.push(encodeError(s.enc, "malformed request: not a MessagePack map"))
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			s.push(encodeError(s.enc, "malformed request: unsupported MessagePack value"))
			return
		}
		raw = b
	}
	var hdr struct {
		ID      any    `json:"id"`
		Request string `json:"request"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		s.push(encodeError(s.enc, "malformed request: expected a JSON object with \"request\""))
		return
	}
	id := idString(hdr.ID)
	switch hdr.Request {
	case "":
		s.push(encodeResponse(s.enc, id, nil, errors.New("missing request")))
	case "ping":
		s.push(encodeResponse(s.enc, id, map[string]any{"ts": time.Now().UnixMicro()}, nil))
	default:
		data, err := s.request(Request{ID: id, Name: hdr.Request, Raw: raw})
		if errors.Is(err, ErrUnknownRequest) {
			err = fmt.Errorf("unknown request %q", hdr.Request)
		}
		s.push(encodeResponse(s.enc, id, data, err))
	}
}

// request runs the RequestHandler, turning a panic into an error reply.
func (s *Session) request(req Request) (data any, err error) {
	if s.onRequest == nil {
		return nil, ErrUnknownRequest
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.hub.cfg.RequestTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			s.hub.log.Error("hub: request handler panicked", "request", req.Name, "panic", fmt.Sprint(r))
			data, err = nil, errors.New("internal error")
		}
	}()
	return s.onRequest(ctx, s, req)
}

func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// lingerClose closes the connection after both loops exited. When a close
// frame went out and the transport exposes its net.Conn, it first half-closes
// and drains what the peer still sends (up to closeGrace), so that closing a
// socket with unread input does not reset the connection and destroy the
// close frame before the peer read it.
func (s *Session) lingerClose() {
	s.mu.Lock()
	sent := s.sentClose
	s.mu.Unlock()
	if nc, ok := s.conn.(interface{ NetConn() net.Conn }); ok && sent {
		if c := nc.NetConn(); c != nil {
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			_ = c.SetReadDeadline(time.Now().Add(closeGrace))
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
		}
	}
	_ = s.conn.Close()
}
