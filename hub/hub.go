package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WebSocket close codes the hub sends. docs/protocol.md documents them for
// clients; the API layer maps its own errors onto the same table.
const (
	CloseNormal          = 1000 // the client or server ended the session normally
	CloseGoingAway       = 1001 // server shutting down: reconnect (with since) elsewhere
	ClosePolicy          = 1008 // unusable connection parameters
	CloseMessageTooBig   = 1009 // an inbound frame exceeded the maximum size
	CloseInternalError   = 1011 // unexpected server failure
	CloseTryAgainLater   = 1013 // the broker is unavailable; retry with backoff
	CloseConnectionLimit = 4001 // system_msg connection_limit_reached preceded it
	CloseReplaced        = 4002 // system_msg connection_replaced preceded it (force=true elsewhere)
	CloseUnauthorized    = 4003 // token revoked, expired or logged out (sent by the API layer)
	CloseSlowConsumer    = 4008 // the send queue overflowed: reconnect with since
)

// system_msg values the hub sends.
const (
	SysConnectionLimit = "connection_limit_reached"
	SysReplaced        = "connection_replaced"
	SysResync          = "resync"
	SysBrokerDown      = "broker_down"
	SysBrokerUp        = "broker_up"
	SysReconnect       = "reconnect"
)

// DefaultElements are the element kinds of DESIGN §3; each session gets an
// initial_info for every one of them (possibly empty).
var DefaultElements = []string{"channel", "queued_channel", "parked_channel", "user", "group", "group_member", "terminal", "pbx"}

// WSConn is the part of a WebSocket connection the hub uses. It is
// satisfied by *github.com/gofiber/contrib/websocket.Conn and
// *github.com/fasthttp/websocket.Conn. When the connection also has
// SetReadLimit(int64) (both do) the maximum frame size is enforced while
// reading; otherwise after. WriteControl and SetReadDeadline must be safe
// to call concurrently with reads and writes (gorilla-style Conns are).
type WSConn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetPongHandler(h func(appData string) error)
	Close() error
}

// Position is where a client stands in a tenant's event stream: the
// ?since=<epoch>:<seq> of a reconnect.
type Position struct {
	Epoch string
	Seq   uint64
}

// ParsePosition parses "<epoch>:<seq>".
func ParsePosition(s string) (Position, error) {
	epoch, seq, ok := strings.Cut(s, ":")
	if !ok || epoch == "" {
		return Position{}, fmt.Errorf("%w: since must be <epoch>:<seq>", ErrBadOptions)
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("%w: since seq: %w", ErrBadOptions, err)
	}
	return Position{Epoch: epoch, Seq: n}, nil
}

func (p Position) String() string { return p.Epoch + ":" + strconv.FormatUint(p.Seq, 10) }

// Request is one client → server request, e.g.
// {"id":"15","request":"hangup","channel":"<uuid>"}.
type Request struct {
	ID   string          // the "id" field as a string ("" when absent); echoed in the response
	Name string          // the "request" field
	Raw  json.RawMessage // the whole request object as JSON (MessagePack requests are converted)
}

// RequestHandler runs a client request other than ping (which the hub
// answers) and returns the response data or an error whose text the client
// sees; return ErrUnknownRequest (possibly wrapped) for unknown names. It
// runs on the session's reader goroutine, so requests of one session run in
// order; ctx ends with Config.RequestTimeout or when the session closes.
type RequestHandler func(ctx context.Context, s *Session, req Request) (data any, err error)

// SessionOptions describe one WebSocket session; the API layer fills them
// from the authenticated principal and the query parameters.
type SessionOptions struct {
	Tenant    Tenant // required
	Principal string // user or token identity, for caps and targeted closes ("" = uncapped)
	Filter    Filter // required: what the session sees
	Encoding  Encoding
	// Batch lets the writer coalesce queued messages into one frame:
	// newline-separated JSON in a text frame, or concatenated MessagePack
	// values in a binary frame (?batch=true).
	Batch bool
	Since *Position // replay from here (?since=); nil for a fresh snapshot
	Force bool      // over the cap, replace the oldest connection (?force=true)
	// MaxConns caps the principal's connections cluster-wide; 0 uses
	// Config.MaxConnsPerPrincipal, negative means no cap.
	MaxConns  int
	OnRequest RequestHandler // nil: every request but ping is unknown
	// OnStart, if set, is called with the session once it is registered,
	// before the snapshot is sent, so the caller can keep it (for
	// SetFilter or CloseWith) for the session's life. It must not block.
	OnStart func(*Session)
}

// Config configures a Hub. Zero fields get the documented defaults.
type Config struct {
	Broker   Broker   // required
	Registry Registry // connection caps; default NewMemoryRegistry()
	Log      *slog.Logger
	// Metrics registers the hookflash_hub_* collectors; nil keeps them
	// unregistered.
	Metrics prometheus.Registerer
	// SendQueueBytes bounds each session's send queue (default 1 MiB).
	// A snapshot or replay being sent temporarily extends it by its size.
	SendQueueBytes int
	// Inbound throttle per connection: ThrottleMessages per ThrottlePer
	// with bursts of ThrottleBurst (defaults 90 per 30s, burst 180, as
	// xuc). ThrottleMessages < 0 disables it.
	ThrottleMessages int
	ThrottlePer      time.Duration
	ThrottleBurst    int
	// MaxFrameBytes bounds inbound frames (default 64 KiB).
	MaxFrameBytes int64
	// MaxBatchBytes bounds a coalesced outbound frame (default 64 KiB).
	MaxBatchBytes int
	// PingInterval between server pings (default 20s); a peer silent for
	// PongTimeout (default 50s) is dropped.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// WriteTimeout bounds each frame write (default 10s).
	WriteTimeout time.Duration
	// RequestTimeout bounds one client request (default 15s).
	RequestTimeout time.Duration
	// MaxConnsPerPrincipal is the default cap (default 10; negative: none).
	MaxConnsPerPrincipal int
	// RegistryRefresh is how often live connections are refreshed in the
	// Registry (default 20s; keep it well under the registry's TTL).
	RegistryRefresh time.Duration
	// Mask returns the element data with phone numbers masked, for
	// sessions whose Filter is Masked; nil sends clear data to everyone.
	// Called at most once per event.
	Mask func(t Tenant, element string, data []byte) []byte
	// Elements lists the kinds sent in initial_info (default DefaultElements).
	Elements []string
	// ReplayCacheBytes bounds, per tenant with sessions on this replica,
	// the recent events kept in memory (decoded, and encoded once per
	// variant) to serve resumes: a reconnect storm then reads neither
	// Redis nor the JSON decoder once per socket. Older positions fall back
	// to Broker.Since. Default 256 KiB; negative disables it.
	ReplayCacheBytes int
	// TenantLinger keeps a tenant's subscription (and its replay cache)
	// this long after its last session on this replica left, so clients
	// that all drop at once (a network blip, a redeploy of a proxy) resume
	// from memory and the broker is not unsubscribed and subscribed again.
	// Default 30s; negative: unsubscribe at once.
	TenantLinger time.Duration
}

// Hub fans tenant events out to this replica's WebSocket sessions. Create
// with NewHub; Serve runs one session; Shutdown ends them all.
type Hub struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	serving sync.WaitGroup // Serve calls in progress
	bgStop  context.CancelFunc
	bg      sync.WaitGroup // background goroutines (registry watch and refresh)

	mu       sync.Mutex // guards the fields below and hubTenant.refs/cancel/err
	tenants  map[Tenant]*hubTenant
	sessions map[string]*Session // by id
	closed   bool
}

// hubTenant is a tenant with local sessions: one broker subscription.
type hubTenant struct {
	hub      *Hub
	t        Tenant
	sessions atomic.Pointer[[]*Session] // copy-on-write; written under Hub.mu
	refs     int
	ready    chan struct{} // closed once the subscription is set up (err says how)
	err      error
	cancel   func()
	recent   recentEvents
	linger   *time.Timer // set while refs == 0 and the subscription lingers
}

// NewHub returns a running Hub.
func NewHub(cfg Config) (*Hub, error) {
	if cfg.Broker == nil {
		return nil, errors.New("hub: config needs a Broker")
	}
	if cfg.Registry == nil {
		cfg.Registry = NewMemoryRegistry()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.SendQueueBytes, 1<<20)
	if cfg.TenantLinger == 0 {
		cfg.TenantLinger = 30 * time.Second
	}
	if cfg.ReplayCacheBytes == 0 {
		cfg.ReplayCacheBytes = 256 << 10
	}
	if cfg.ThrottleMessages == 0 {
		cfg.ThrottleMessages = 90
	}
	defDur(&cfg.ThrottlePer, 30*time.Second)
	def(&cfg.ThrottleBurst, 180)
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = 64 << 10
	}
	def(&cfg.MaxBatchBytes, 64<<10)
	defDur(&cfg.PingInterval, 20*time.Second)
	defDur(&cfg.PongTimeout, 50*time.Second)
	if cfg.PongTimeout <= cfg.PingInterval {
		return nil, errors.New("hub: PongTimeout must exceed PingInterval")
	}
	defDur(&cfg.WriteTimeout, 10*time.Second)
	defDur(&cfg.RequestTimeout, 15*time.Second)
	if cfg.MaxConnsPerPrincipal == 0 {
		cfg.MaxConnsPerPrincipal = 10
	}
	defDur(&cfg.RegistryRefresh, 20*time.Second)
	if cfg.Elements == nil {
		cfg.Elements = DefaultElements
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, log: cfg.Log, m: m, bgStop: cancel,
		tenants:  make(map[Tenant]*hubTenant),
		sessions: make(map[string]*Session),
	}
	h.bg.Add(2)
	go func() {
		defer h.bg.Done()
		_ = cfg.Registry.Watch(ctx, h.replace)
	}()
	go func() {
		defer h.bg.Done()
		h.refreshLoop(ctx)
	}()
	return h, nil
}

// Serve runs one session on conn until it ends, and closes conn before
// returning. It subscribes to the tenant, sends the snapshot (or the replay
// since opts.Since) and then every visible event, answers requests, and
// enforces the queue, throttle, frame-size and connection limits. It
// returns nil when the session ended normally (including closes by the
// server for documented reasons) and an error when it could not start:
// ErrBadOptions, ErrConnLimit, ErrClosed or a broker error.
func (h *Hub) Serve(ctx context.Context, conn WSConn, opts SessionOptions) error {
	defer conn.Close()
	if err := h.checkOptions(&opts); err != nil {
		h.m.rejected.WithLabelValues("bad_options").Inc()
		h.closeDirect(conn, EncodingJSON, nil, ClosePolicy, err.Error())
		return err
	}
	s := newSession(h, conn, opts)
	defer s.cancel()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.closeDirect(conn, s.enc, encodeSystem(s.enc, SysReconnect), CloseGoingAway, "server shutting down")
		return ErrClosed
	}
	h.serving.Add(1)
	h.sessions[s.id] = s
	h.mu.Unlock()
	if opts.OnStart != nil {
		opts.OnStart(s)
	}
	defer func() {
		h.mu.Lock()
		delete(h.sessions, s.id)
		h.mu.Unlock()
		h.serving.Done()
	}()

	if limit := opts.MaxConns; limit > 0 && opts.Principal != "" {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		evicted, err := h.cfg.Registry.Acquire(actx, opts.Tenant, opts.Principal, s.id, s.created, limit, opts.Force)
		cancel()
		switch {
		case errors.Is(err, ErrConnLimit):
			h.m.rejected.WithLabelValues("connection_limit").Inc()
			h.closeDirect(conn, s.enc, encodeSystem(s.enc, SysConnectionLimit), CloseConnectionLimit, SysConnectionLimit)
			return fmt.Errorf("principal %q: %w", opts.Principal, ErrConnLimit)
		case err != nil:
			// Fail open: a registry outage must not take the feed down.
			h.log.Warn("hub: connection registry unavailable; not capping", "err", err)
		default:
			h.mu.Lock()
			s.registered = true
			h.mu.Unlock()
			defer func() {
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = h.cfg.Registry.Release(rctx, opts.Tenant, opts.Principal, s.id, s.created)
			}()
			for _, id := range evicted {
				h.replace(id)
			}
		}
	}

	h.m.connections.Inc()
	defer h.m.connections.Dec()
	// The reader gets a goroutine; this one becomes the writer (run).
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.readLoop() }()
	err := s.run(ctx)
	wg.Wait()
	s.lingerClose()
	return err
}

func (h *Hub) checkOptions(o *SessionOptions) error {
	switch {
	case o.Tenant == "":
		return fmt.Errorf("%w: no tenant", ErrBadOptions)
	case o.Filter == nil:
		return fmt.Errorf("%w: no filter", ErrBadOptions)
	case o.Encoding != EncodingJSON && o.Encoding != EncodingMsgpack:
		return fmt.Errorf("%w: unknown encoding", ErrBadOptions)
	}
	if o.MaxConns == 0 {
		o.MaxConns = h.cfg.MaxConnsPerPrincipal
	}
	return nil
}

// closeDirect writes an optional message and a close frame on a conn whose
// session never started.
func (h *Hub) closeDirect(conn WSConn, enc Encoding, msg []byte, code int, reason string) {
	deadline := time.Now().Add(h.cfg.WriteTimeout)
	_ = conn.SetWriteDeadline(deadline)
	if msg != nil {
		_ = conn.WriteMessage(enc.frameType(), msg)
	}
	_ = conn.WriteControl(closeMessage, closePayload(code, reason), deadline)
}

func closePayload(code int, reason string) []byte {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	b := make([]byte, 2, 2+len(reason))
	b[0], b[1] = byte(code>>8), byte(code)
	return append(b, reason...)
}

// subscribeTimeout bounds setting up a tenant's broker subscription.
const subscribeTimeout = 10 * time.Second

// attach adds s to its tenant, subscribing the tenant first if s is its
// first local session.
func (h *Hub) attach(ctx context.Context, s *Session) (*hubTenant, error) {
	h.mu.Lock()
	ht := h.tenants[s.tenant]
	creator := ht == nil
	if creator {
		ht = &hubTenant{hub: h, t: s.tenant, ready: make(chan struct{})}
		ht.sessions.Store(&[]*Session{})
		h.tenants[s.tenant] = ht
	}
	if ht.linger != nil {
		ht.linger.Stop() // if it already fired, expire sees refs > 0
		ht.linger = nil
	}
	ht.refs++
	ht.add(s)
	h.mu.Unlock()
	if creator {
		sctx, stop := context.WithTimeout(ctx, subscribeTimeout)
		cancel, err := h.cfg.Broker.Subscribe(sctx, s.tenant, ht.handle)
		stop()
		h.mu.Lock()
		ht.cancel, ht.err = cancel, err
		if err != nil && h.tenants[s.tenant] == ht {
			delete(h.tenants, s.tenant)
		}
		close(ht.ready)
		h.mu.Unlock()
	} else {
		select {
		case <-ht.ready:
		case <-ctx.Done():
			h.detach(ht, s)
			return nil, ctx.Err()
		}
	}
	if ht.err != nil {
		h.detach(ht, s)
		return nil, ht.err
	}
	return ht, nil
}

// detach removes s; the last session of a tenant ends its subscription.
func (h *Hub) detach(ht *hubTenant, s *Session) {
	h.mu.Lock()
	ht.remove(s)
	ht.refs--
	var cancel func()
	if ht.refs == 0 {
		if h.cfg.TenantLinger > 0 && !h.closed && ht.err == nil && ht.cancel != nil && h.tenants[ht.t] == ht {
			ht.linger = time.AfterFunc(h.cfg.TenantLinger, func() { h.expire(ht) })
		} else {
			if h.tenants[ht.t] == ht {
				delete(h.tenants, ht.t)
			}
			cancel, ht.cancel = ht.cancel, nil
		}
	}
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// expire ends a lingering tenant subscription nobody came back to (its
// timer fired, or the hub shuts down).
func (h *Hub) expire(ht *hubTenant) {
	h.mu.Lock()
	if ht.refs > 0 || h.tenants[ht.t] != ht {
		h.mu.Unlock()
		return
	}
	delete(h.tenants, ht.t)
	if ht.linger != nil {
		ht.linger.Stop() // a no-op when it is what called us
		ht.linger = nil
	}
	cancel := ht.cancel
	ht.cancel = nil
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// add and remove copy the session list. Hub.mu held.
func (ht *hubTenant) add(s *Session) {
	old := *ht.sessions.Load()
	n := make([]*Session, len(old), len(old)+1)
	copy(n, old)
	n = append(n, s)
	ht.sessions.Store(&n)
}

func (ht *hubTenant) remove(s *Session) {
	old := *ht.sessions.Load()
	n := make([]*Session, 0, len(old))
	for _, x := range old {
		if x != s {
			n = append(n, x)
		}
	}
	ht.sessions.Store(&n)
}

// handle is the broker subscription handler: the fan-out. It never blocks.
func (ht *hubTenant) handle(ev *Event, err error) {
	if ev == nil {
		// Whatever was missed is recovered by the broker or resynced; the
		// cache starts again from the next event.
		ht.recent.reset()
		ss := *ht.sessions.Load()
		switch {
		case errors.Is(err, ErrGap):
			for _, s := range ss {
				s.requestResync()
			}
		case errors.Is(err, ErrBrokerDown):
			for _, s := range ss {
				s.pushSystem(SysBrokerDown)
			}
		case err == nil:
			for _, s := range ss {
				s.pushSystem(SysBrokerUp)
			}
		}
		return
	}
	h := ht.hub
	h.m.eventsIn.Inc()
	if ev.TS > 0 {
		h.m.latency.Observe(time.Since(time.UnixMicro(ev.TS)).Seconds())
	}
	oe := &outEvent{ev: ev, mask: h.cfg.Mask}
	// Cache before loading the sessions: a session added after this load
	// (so not offered oe) reads the cache after being added, and finds oe.
	ht.recent.add(oe, h.cfg.ReplayCacheBytes)
	ss := *ht.sessions.Load()
	n := 0
	for _, s := range ss {
		if s.offer(oe) {
			n++
		}
	}
	if n > 0 {
		h.m.messagesOut.Add(float64(n))
	}
}

// Sessions returns the tenant's sessions on this replica.
func (h *Hub) Sessions(t Tenant) []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	ht := h.tenants[t]
	if ht == nil {
		return nil
	}
	return append([]*Session(nil), *ht.sessions.Load()...)
}

// ForEach calls fn for each of the tenant's sessions on this replica.
func (h *Hub) ForEach(t Tenant, fn func(*Session)) {
	for _, s := range h.Sessions(t) {
		fn(s)
	}
}

// SystemMsg sends {"type":"system_msg","msg":msg} to the tenant's sessions
// on this replica (e.g. pbx_down, token_expiring).
func (h *Hub) SystemMsg(t Tenant, msg string) {
	for _, s := range h.Sessions(t) {
		s.pushSystem(msg)
	}
}

// replace closes local session id with connection_replaced, if it is here.
func (h *Hub) replace(id string) {
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	if s != nil {
		s.closeWithMsg(SysReplaced, CloseReplaced, SysReplaced)
	}
}

// refreshLoop keeps this replica's registered connections alive.
func (h *Hub) refreshLoop(ctx context.Context) {
	tk := time.NewTicker(h.cfg.RegistryRefresh)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		byP := map[principalKey][]ConnRef{}
		h.mu.Lock()
		for _, s := range h.sessions {
			if s.registered {
				k := principalKey{s.tenant, s.principal}
				byP[k] = append(byP[k], ConnRef{ID: s.id, Created: s.created})
			}
		}
		h.mu.Unlock()
		for k, refs := range byP {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := h.cfg.Registry.Refresh(rctx, k.t, k.p, refs); err != nil {
				h.log.Warn("hub: refresh connection registry", "err", err)
			}
			cancel()
		}
	}
}

// Shutdown tells every session to reconnect elsewhere (system_msg
// reconnect, close 1001), refuses new ones, and waits for Serve calls to
// return or ctx to end; then it stops the hub's background work. It does
// not close the Broker.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	ss := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.closeWithMsg(SysReconnect, CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { h.serving.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("hub: shutdown: %w", ctx.Err())
	}
	// End the subscriptions that linger without sessions.
	var lingering []*hubTenant
	h.mu.Lock()
	for _, ht := range h.tenants {
		if ht.refs == 0 {
			lingering = append(lingering, ht)
		}
	}
	h.mu.Unlock()
	for _, ht := range lingering {
		h.expire(ht)
	}
	h.bgStop()
	h.bg.Wait()
	return err
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recentEvents is a tenant's replay cache: the last events delivered to
// this replica, contiguous in seq within one epoch, bounded in bytes.
type recentEvents struct {
	mu    sync.Mutex
	evs   []*outEvent // evs[i].ev.Seq == evs[0].ev.Seq + i
	bytes int
}

// add appends oe, restarting the cache when oe does not follow the last
// event (another epoch, or a gap), and drops the oldest beyond limit bytes.
func (r *recentEvents) add(oe *outEvent, limit int) {
	if limit < 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.evs); n > 0 {
		last := r.evs[n-1].ev
		if last.Epoch != oe.ev.Epoch || oe.ev.Seq != last.Seq+1 {
			clear(r.evs)
			r.evs, r.bytes = r.evs[:0], 0
		}
	}
	r.evs = append(r.evs, oe)
	r.bytes += oe.cost()
	drop := 0
	for r.bytes > limit && drop < len(r.evs)-1 {
		r.bytes -= r.evs[drop].cost()
		drop++
	}
	if drop > 0 {
		// The dropped head stays in the backing array until an append
		// reallocates it away; when one large event dropped many small
		// ones, copy the live part out now rather than hold the room.
		clear(r.evs[:drop])
		r.evs = r.evs[drop:]
		if cap(r.evs) > 2*len(r.evs)+64 {
			r.evs = append([]*outEvent(nil), r.evs...)
		}
	}
}

func (r *recentEvents) reset() {
	r.mu.Lock()
	clear(r.evs)
	r.evs, r.bytes = nil, 0
	r.mu.Unlock()
}

// since returns the cached events after seq of epoch, and whether the cache
// reaches back that far (false: ask the broker).
func (r *recentEvents) since(epoch string, seq uint64) ([]*outEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.evs) == 0 {
		return nil, false
	}
	first := r.evs[0].ev
	if first.Epoch != epoch || seq+1 < first.Seq {
		return nil, false
	}
	i := seq + 1 - first.Seq
	if i > uint64(len(r.evs)) {
		// The client claims a position beyond what this replica has
		// delivered: let the broker judge it.
		return nil, false
	}
	return append([]*outEvent(nil), r.evs[i:]...), true
}
