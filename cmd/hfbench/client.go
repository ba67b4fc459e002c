package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// clientKind is the principal a feed client connects as.
type clientKind uint8

const (
	kindIntegrator clientKind = iota // API token: the whole tenant but pbx elements
	kindAdmin                        // admin session with full_events=true: everything
	kindUser                         // agent session: only its own calls
)

func (k clientKind) String() string {
	return [...]string{"integrator", "admin", "user"}[k]
}

// fullView reports whether the client sees every event of its tenant, so
// that a seq gap is a lost event: only a tenant admin with full_events does.
// An integrator token does not see the admin-only pbx elements, and a user
// sees only its own calls, so their seqs jump over what they may not see;
// for them only duplicates and order are checked.
func (k clientKind) fullView() bool { return k == kindAdmin }

// runStats are the counters all clients of one measured run share.
type runStats struct {
	deliveries atomic.Int64 // info_event messages received
	bytes      atomic.Int64 // bytes of those messages
	lost       atomic.Int64 // seq gaps of full-view clients, in events
	dups       atomic.Int64 // messages with a seq not above the last one
	resyncs    atomic.Int64 // system_msg resync received
	slowCloses atomic.Int64 // closes with code 4008 (slow consumer)
	otherClose atomic.Int64 // other closes and read errors while the run went on
	dials      atomic.Int64 // successful connects (initial and reconnects)
	dialFails  atomic.Int64
	connected  atomic.Int64 // sockets open now
	recording  atomic.Bool  // latency samples are kept only while set
	hist       histogram    // every latency sample, for the progress line
}

// feedClient follows one feed, reconnecting with since until its context
// ends. Its fields below st are owned by the goroutine running run; read
// them only after run has returned.
type feedClient struct {
	kind    clientKind
	bases   []string // replica base URLs; reconnects rotate through them
	token   string
	query   string // extra query without leading &, e.g. "full_events=true&batch=true"
	st      *runStats
	maxSamp int // latency samples kept at most

	rawURL string // when set, dialled as is (the baseline server), no since
	// onPBX, if set, also receives every pbx element message (pbxWatch).
	onPBX func(m []byte, now time.Time)

	pos   atomic.Uint64 // last seq received, for catch-up checks by other goroutines
	ready atomic.Bool   // a snapshot or event arrived (baseline: connected)

	epoch   string
	seq     uint64
	have    bool             // epoch/seq are known
	states  map[string]int64 // channel uuid -> last state.ts seen
	samples []int32          // latency samples, µs
	buf     bytes.Buffer
}

var benchDialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 512}

// dialGate bounds concurrent handshakes so that thousands of clients do not
// overrun the listen backlog.
var dialGate = make(chan struct{}, 128)

// run connects and reads until ctx ends, reconnecting after any close with
// since=<epoch>:<seq> (after 100 ms, to the next base). It returns when ctx
// is done and its socket is closed.
func (c *feedClient) run(ctx context.Context) {
	if c.states == nil {
		c.states = make(map[string]int64)
	}
	for i := 0; ctx.Err() == nil; i++ {
		u := c.rawURL
		if u == "" {
			u = wsURL(c.bases[i%len(c.bases)], c.token, c.query)
			if c.have {
				u += "&since=" + c.epoch + ":" + strconv.FormatUint(c.seq, 10)
			}
		}
		select {
		case dialGate <- struct{}{}:
		case <-ctx.Done():
			return
		}
		conn, _, err := benchDialer.DialContext(ctx, u, nil)
		<-dialGate
		if err != nil {
			if ctx.Err() == nil {
				c.st.dialFails.Add(1)
			}
			_ = sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		c.st.dials.Add(1)
		c.st.connected.Add(1)
		if c.rawURL != "" {
			c.ready.Store(true)
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		err = c.read(conn)
		stop()
		conn.Close()
		c.st.connected.Add(-1)
		if ctx.Err() != nil {
			return
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == 4008 {
			c.st.slowCloses.Add(1)
		} else {
			c.st.otherClose.Add(1)
		}
		_ = sleepCtx(ctx, 100*time.Millisecond)
	}
}

func (c *feedClient) read(conn *websocket.Conn) error {
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return err
		}
		c.buf.Reset()
		if _, err := c.buf.ReadFrom(r); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		now := time.Now()
		b := c.buf.Bytes()
		for len(b) > 0 {
			var m []byte
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				m, b = b[:i], b[i+1:]
			} else {
				m, b = b, nil
			}
			if len(m) > 0 {
				c.handle(m, now)
			}
		}
	}
}

var (
	prefixType = []byte(`{"type":"`)
	keyEpoch   = []byte(`"epoch":"`)
	keySeq     = []byte(`"seq":`)
	keyMsg     = []byte(`"msg":"`)
	keyUUID    = []byte(`"data":{"uuid":"`)
	keyState   = []byte(`"state":{`)
	keyTS      = []byte(`"ts":`)
	evRemoved  = []byte(`"event":"removed"`)
	chanEvent  = []byte(`{"type":"info_event","element":"channel"`)
)

// envelope reads epoch and seq, the last two fields of info_event and
// initial_info (documented field order), without decoding the element data.
func envelope(m []byte) (epoch []byte, seq uint64, ok bool) {
	i := bytes.LastIndex(m, keyEpoch)
	j := bytes.LastIndex(m, keySeq)
	if i < 0 || j < i {
		return nil, 0, false
	}
	e := m[i+len(keyEpoch):]
	k := bytes.IndexByte(e, '"')
	if k < 0 {
		return nil, 0, false
	}
	s := m[j+len(keySeq):]
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	v, err := strconv.ParseUint(string(s[:n]), 10, 64)
	if err != nil {
		return nil, 0, false
	}
	return e[:k], v, true
}

// stateOf reads a channel event's uuid and state.ts (µs): the PBX's time
// of the event that put the channel in its current state.
func stateOf(m []byte) (uuid []byte, ts int64, ok bool) {
	i := bytes.Index(m, keyUUID)
	if i < 0 {
		return nil, 0, false
	}
	uuid = m[i+len(keyUUID):]
	k := bytes.IndexByte(uuid, '"')
	if k < 0 {
		return nil, 0, false
	}
	uuid = uuid[:k]
	j := bytes.Index(m, keyState)
	if j < 0 {
		return nil, 0, false
	}
	st := m[j:]
	t := bytes.Index(st, keyTS)
	if t < 0 {
		return nil, 0, false
	}
	v := st[t+len(keyTS):]
	n := 0
	for n < len(v) && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	ts, err := strconv.ParseInt(string(v[:n]), 10, 64)
	if err != nil || ts <= 0 {
		return nil, 0, false
	}
	return uuid, ts, true
}

func (c *feedClient) handle(m []byte, now time.Time) {
	if !bytes.HasPrefix(m, prefixType) {
		return
	}
	if c.onPBX != nil && isPBXMessage(m) {
		c.onPBX(m, now)
	}
	rest := m[len(prefixType):]
	k := bytes.IndexByte(rest, '"')
	if k < 0 {
		return
	}
	switch string(rest[:k]) {
	case "info_event":
		c.st.deliveries.Add(1)
		c.st.bytes.Add(int64(len(m)))
		epoch, seq, ok := envelope(m)
		if !ok {
			return
		}
		if !c.have || string(epoch) != c.epoch {
			// An event of another epoch without a snapshot: count it as a
			// gap of unknown size and follow it.
			if c.have {
				c.st.lost.Add(1)
			}
			c.epoch, c.seq, c.have = string(epoch), seq, true
			c.pos.Store(seq)
			c.ready.Store(true)
		} else {
			switch {
			case seq <= c.seq:
				c.st.dups.Add(1)
				return
			case seq > c.seq+1 && c.kind.fullView():
				c.st.lost.Add(int64(seq - c.seq - 1))
			}
			c.seq = seq
			c.pos.Store(seq)
		}
		if bytes.HasPrefix(m, chanEvent) {
			c.sample(m, now)
		}
	case "initial_info":
		if epoch, seq, ok := envelope(m); ok {
			c.epoch, c.seq, c.have = string(epoch), seq, true
			c.pos.Store(seq)
			c.ready.Store(true)
		}
	case "system_msg":
		i := bytes.Index(m, keyMsg)
		if i >= 0 && bytes.HasPrefix(m[i+len(keyMsg):], []byte(`resync"`)) {
			c.st.resyncs.Add(1)
		}
	}
}

// sample records the latency of each channel state change: from the
// PBX's event time (state.ts) to now. Events that change something else
// (hold flag, tags…) carry an older state.ts and are not samples.
func (c *feedClient) sample(m []byte, now time.Time) {
	uuid, ts, ok := stateOf(m)
	if !ok {
		return
	}
	if bytes.Contains(m[:min(len(m), 80)], evRemoved) {
		delete(c.states, string(uuid))
	} else {
		if last, seen := c.states[string(uuid)]; seen && ts <= last {
			return
		}
		if len(c.states) > 20000 {
			clear(c.states)
		}
		c.states[string(uuid)] = ts
	}
	if !c.st.recording.Load() {
		return
	}
	d := max(now.UnixMicro()-ts, 0)
	c.st.hist.add(d)
	if len(c.samples) < c.maxSamp {
		c.samples = append(c.samples, int32(min(d, 1<<31-1)))
	}
}

// histogram is a lock-free log-linear histogram of µs values (4 buckets
// per power of two, about 19% resolution), for the progress line.
type histogram struct {
	b [160]atomic.Int64
}

func histIndex(us int64) int {
	if us < 4 {
		return int(max(us, 0))
	}
	lg := 63
	for us>>uint(lg) == 0 {
		lg--
	}
	sub := int((us >> uint(lg-2)) & 3)
	return min(4*(lg-1)+sub, 159)
}

func histValue(i int) int64 {
	if i < 4 {
		return int64(i)
	}
	lg := i/4 + 1
	sub := int64(i % 4)
	return (4 + sub + 1) << uint(lg-2) // bucket upper bound
}

func (h *histogram) add(us int64) { h.b[histIndex(us)].Add(1) }

// snapshot returns the bucket counts.
func (h *histogram) snapshot() (out [160]int64) {
	for i := range h.b {
		out[i] = h.b[i].Load()
	}
	return out
}

// histQuantile returns the upper bound of the bucket holding quantile q of
// the counts d (0 when empty).
func histQuantile(d [160]int64, q float64) int64 {
	var n int64
	for _, v := range d {
		n += v
	}
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n-1)) + 1
	var acc int64
	for i, v := range d {
		acc += v
		if acc >= rank {
			return histValue(i)
		}
	}
	return histValue(len(d) - 1)
}

// clientSet runs a group of clients, each in a goroutine it owns.
type clientSet struct {
	clients []*feedClient
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// start runs every client until stop (or ctx) ends them.
func (s *clientSet) start(ctx context.Context) {
	cctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	for _, c := range s.clients {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); c.run(cctx) }()
	}
}

// stop closes every client and waits for them.
func (s *clientSet) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// samples merges the latency samples of all clients (after stop).
func (s *clientSet) samples() []int32 {
	var out []int32
	for _, c := range s.clients {
		out = append(out, c.samples...)
	}
	return out
}
