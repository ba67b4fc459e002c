package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Broker = (*RedisBroker)(nil)

// RedisBrokerConfig configures a RedisBroker.
type RedisBrokerConfig struct {
	// Client is the Redis (or Redis Cluster) client. Required. The broker
	// does not close it.
	Client redis.UniversalClient
	// Prefix starts every key and channel name (default "hf").
	Prefix string
	// HistoryLen bounds each tenant's history stream, approximately
	// (XADD MAXLEN ~; default 10000).
	HistoryLen int
	// HistoryAge bounds it in time (default 10m).
	HistoryAge time.Duration
	// Log receives subscription trouble (default: discard).
	Log *slog.Logger
}

// RedisBroker is the cluster Broker. Every publish is one Lua script (see
// publishScript); every replica subscribes, on one pub/sub connection, to
// the channels of the tenants it has local subscribers for, keeps a mirror
// of those tenants' state, and delivers events in seq order, recovering
// missed ones from the history stream.
type RedisBroker struct {
	cfg  RedisBrokerConfig
	keys keys
	log  *slog.Logger
	ps   *redis.PubSub // Subscribe/Unsubscribe from any goroutine; Receive only from run

	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	// subMu serialises (un)subscribing a channel with the change of
	// tenants that caused it, so SUBSCRIBE and UNSUBSCRIBE of one channel
	// reach Redis in the order the map changed. Lock order: subMu, then mu.
	subMu sync.Mutex

	mu      sync.Mutex              // guards the fields below and every redisTenant's fields
	tenants map[string]*redisTenant // by channel name
	nextSub uint64
	closed  bool
	// interrupted counts tenants with interrupted set.
	interrupted int
}

// redisTenant is a subscribed tenant. Its fields are guarded by
// RedisBroker.mu; only the run goroutine changes epoch, seq and mirror.
type redisTenant struct {
	t       Tenant
	channel string
	subs    map[uint64]func(*Event, error)
	hs      []func(*Event, error) // values of subs, rebuilt on change

	ready   chan struct{} // closed once the mirror is first loaded (or failed)
	initErr error         // why the first load failed, read after ready
	live    bool          // mirror loaded and consistent with seq
	// confirmed: the current pub/sub connection confirmed the subscription.
	confirmed bool
	// interrupted: delivery was interrupted; recover before delivering.
	interrupted bool
	epoch       string
	seq         uint64
	mirror      map[string]*Event
}

// NewRedisBroker starts a RedisBroker; Close stops it.
func NewRedisBroker(cfg RedisBrokerConfig) (*RedisBroker, error) {
	if cfg.Client == nil {
		return nil, errors.New("hub: redis broker needs a client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "hf"
	}
	if cfg.HistoryLen <= 0 {
		cfg.HistoryLen = 10000
	}
	if cfg.HistoryAge <= 0 {
		cfg.HistoryAge = 10 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &RedisBroker{
		cfg:     cfg,
		keys:    keys{prefix: cfg.Prefix},
		log:     cfg.Log,
		ps:      cfg.Client.Subscribe(ctx),
		cancel:  cancel,
		done:    make(chan struct{}),
		tenants: make(map[string]*redisTenant),
	}
	go b.run(ctx)
	return b, nil
}

// Publish implements Broker: PublishBatch of one event, one publishScript
// call.
func (b *RedisBroker) Publish(ctx context.Context, ev *Event) error {
	_, err := b.PublishBatch(ctx, []*Event{ev})
	return err
}

// PublishBatch implements Broker. Consecutive events of one tenant, PBX
// and fence go to Redis as one publishScript call (one fence check and one
// Lua invocation for the lot; BenchmarkRedisPublish measures the gain), and
// the calls are pipelined in one round trip. Each call is atomic and they
// run in order, so the result is that of len(evs) Publish calls. A stale
// fence fails its whole call and, the fence key only growing, every later
// one of the same PBX; a batch should therefore hold one PBX's events (a
// connector's), as an event of another PBX after a failed one may have
// been applied although it is not counted.
func (b *RedisBroker) PublishBatch(ctx context.Context, evs []*Event) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	payloads := make([]string, len(evs))
	valid := len(evs)
	var invalid error
	for i, ev := range evs {
		if err := ev.validate(); err != nil {
			valid, invalid = i, err
			break
		}
		p, err := marshalWire(ev)
		if err != nil {
			valid, invalid = i, err
			break
		}
		payloads[i] = string(p)
	}
	// Groups of consecutive events sharing tenant, PBX and fence.
	type group struct{ from, to int }
	var groups []group
	for i := 0; i < valid; {
		j := i + 1
		for j < valid && evs[j].Tenant == evs[i].Tenant && evs[j].PBX == evs[i].PBX && evs[j].Fence == evs[i].Fence {
			j++
		}
		groups = append(groups, group{i, j})
		i = j
	}
	done, next := 0, 0 // events published; first group not yet published
	for loaded := false; next < len(groups); {
		pipe := b.cfg.Client.Pipeline()
		cmds := make([]*redis.Cmd, 0, len(groups)-next)
		for _, g := range groups[next:] {
			first := evs[g.from]
			t := first.Tenant
			args := make([]any, 0, 6+3*(g.to-g.from))
			args = append(args, first.Fence, newEpoch(), b.cfg.HistoryLen, time.Now().UnixMilli(), b.cfg.HistoryAge.Milliseconds(), b.keys.events(t))
			for k := g.from; k < g.to; k++ {
				args = append(args, evs[k].field(), string(evs[k].Op), payloads[k])
			}
			cmds = append(cmds, pipe.EvalSha(ctx, publishScript.Hash(),
				[]string{b.keys.meta(t), b.keys.state(t), b.keys.history(t), b.keys.fence(t, first.PBX)}, args...))
		}
		_, _ = pipe.Exec(ctx) // each command carries its own error
		retry := false
		for _, cmd := range cmds {
			g := groups[next]
			res, err := cmd.Slice()
			if err != nil {
				if !loaded && redis.HasErrorPrefix(err, "NOSCRIPT") {
					// Not loaded yet (or Redis restarted): load it and send
					// this group and the rest again; none of them ran.
					if lerr := publishScript.Load(ctx, b.cfg.Client).Err(); lerr != nil {
						return done, fmt.Errorf("hub: publish %s: load script: %w", evs[g.from].Tenant, lerr)
					}
					loaded, retry = true, true
					break
				}
				if strings.HasPrefix(err.Error(), "HFSTALE") {
					return done, ErrStaleFence
				}
				return done, fmt.Errorf("hub: publish %s: %w", evs[g.from].Tenant, err)
			}
			if len(res) != 2 {
				return done, fmt.Errorf("hub: publish %s: unexpected reply %v", evs[g.from].Tenant, res)
			}
			epoch, _ := res[0].(string)
			last, _ := res[1].(int64)
			first := uint64(last) - uint64(g.to-g.from) + 1
			for k := g.from; k < g.to; k++ {
				evs[k].Epoch, evs[k].Seq = epoch, first+uint64(k-g.from)
			}
			done = g.to
			next++
		}
		if !retry {
			break
		}
	}
	if invalid != nil {
		return done, invalid
	}
	return done, nil
}

// NextFence implements Broker with INCR on the PBX's fence key.
func (b *RedisBroker) NextFence(ctx context.Context, t Tenant, pbx string) (uint64, error) {
	if t == "" {
		return 0, fmt.Errorf("%w: empty tenant", ErrInvalidEvent)
	}
	n, err := b.cfg.Client.Incr(ctx, b.keys.fence(t, pbx)).Uint64()
	if err != nil {
		return 0, fmt.Errorf("hub: next fence %s/%s: %w", t, pbx, err)
	}
	return n, nil
}

// Snapshot implements Broker. For a tenant this replica subscribes to, it
// is served from the mirror, which is consistent with the seq delivered so
// far, even while Redis is unreachable (events after it are recovered and
// delivered once Redis is back, or ErrGap is sent); otherwise it is read
// by snapshotScript.
func (b *RedisBroker) Snapshot(ctx context.Context, t Tenant) (*Snapshot, error) {
	b.mu.Lock()
	rt := b.tenants[b.keys.events(t)]
	if rt != nil && rt.live {
		s := &Snapshot{Epoch: rt.epoch, Seq: rt.seq, Elements: make([]Event, 0, len(rt.mirror))}
		for _, ev := range rt.mirror {
			e := *ev
			e.Op = OpAdded
			s.Elements = append(s.Elements, e)
		}
		b.mu.Unlock()
		sortElements(s.Elements)
		return s, nil
	}
	b.mu.Unlock()
	s, _, err := b.readSnapshot(ctx, t)
	return s, err
}

// readSnapshot runs snapshotScript and also returns the state as a map.
func (b *RedisBroker) readSnapshot(ctx context.Context, t Tenant) (*Snapshot, map[string]*Event, error) {
	if t == "" {
		return nil, nil, fmt.Errorf("%w: empty tenant", ErrInvalidEvent)
	}
	res, err := snapshotScript.Run(ctx, b.cfg.Client,
		[]string{b.keys.meta(t), b.keys.state(t), b.keys.history(t)}, newEpoch()).Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("hub: snapshot %s: %w", t, err)
	}
	if len(res) != 3 {
		return nil, nil, fmt.Errorf("hub: snapshot %s: unexpected reply", t)
	}
	epoch, _ := res[0].(string)
	seq, err := replyUint(res[1])
	if err != nil {
		return nil, nil, fmt.Errorf("hub: snapshot %s: seq: %w", t, err)
	}
	kv, _ := res[2].([]any)
	s := &Snapshot{Epoch: epoch, Seq: seq, Elements: make([]Event, 0, len(kv)/2)}
	m := make(map[string]*Event, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		v, _ := kv[i+1].(string)
		ev, err := unmarshalWire(t, epoch, 0, []byte(v))
		if err != nil {
			b.log.Warn("hub: skipping undecodable state entry", "tenant", t, "err", err)
			continue
		}
		ev.Op = OpAdded
		s.Elements = append(s.Elements, ev)
		e := ev
		m[e.field()] = &e
	}
	sortElements(s.Elements)
	return s, m, nil
}

// Since implements Broker with sinceScript.
func (b *RedisBroker) Since(ctx context.Context, t Tenant, epoch string, seq uint64) ([]Event, bool, error) {
	if t == "" {
		return nil, false, fmt.Errorf("%w: empty tenant", ErrInvalidEvent)
	}
	res, err := sinceScript.Run(ctx, b.cfg.Client,
		[]string{b.keys.meta(t), b.keys.history(t)}, epoch, seq).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("hub: since %s: %w", t, err)
	}
	if len(res) == 0 {
		return nil, false, fmt.Errorf("hub: since %s: empty reply", t)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		return nil, false, nil
	}
	if len(res) != 3 {
		return nil, false, fmt.Errorf("hub: since %s: unexpected reply", t)
	}
	cur, err := replyUint(res[1])
	if err != nil {
		return nil, false, fmt.Errorf("hub: since %s: seq: %w", t, err)
	}
	entries, _ := res[2].([]any)
	if uint64(len(entries)) != cur-seq {
		return nil, false, nil // trimmed
	}
	out := make([]Event, 0, len(entries))
	for i, e := range entries {
		ev, err := parseEntry(t, epoch, e)
		if err != nil {
			return nil, false, fmt.Errorf("hub: since %s: %w", t, err)
		}
		if ev.Seq != seq+1+uint64(i) {
			return nil, false, nil
		}
		out = append(out, ev)
	}
	return out, true, nil
}

// parseEntry decodes one XRANGE entry [id, [field, value, ...]].
func parseEntry(t Tenant, epoch string, e any) (Event, error) {
	pair, _ := e.([]any)
	if len(pair) != 2 {
		return Event{}, errors.New("malformed history entry")
	}
	id, _ := pair[0].(string)
	ms, _, _ := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("history entry id %q: %w", id, err)
	}
	var payload string
	switch fv := pair[1].(type) {
	case []any:
		for i := 0; i+1 < len(fv); i += 2 {
			if f, _ := fv[i].(string); f == "e" {
				payload, _ = fv[i+1].(string)
			}
		}
	case map[any]any: // RESP3 may map field/value pairs
		payload, _ = fv["e"].(string)
	}
	if payload == "" {
		return Event{}, fmt.Errorf("history entry %s has no event", id)
	}
	return unmarshalWire(t, epoch, seq, []byte(payload))
}

func replyUint(v any) (uint64, error) {
	switch x := v.(type) {
	case int64:
		return uint64(x), nil
	case string:
		return strconv.ParseUint(x, 10, 64)
	}
	return 0, fmt.Errorf("unexpected %T", v)
}

// Ping implements Broker.
func (b *RedisBroker) Ping(ctx context.Context) error {
	if err := b.cfg.Client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("hub: redis ping: %w", err)
	}
	return nil
}

// Close implements Broker: it stops the delivery goroutine and waits for
// it. Subscriptions end without further handler calls.
func (b *RedisBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	err := b.ps.Close()
	<-b.done
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("hub: close pubsub: %w", err)
	}
	return nil
}

// isTimeout reports a receive timeout, which is not a broken connection.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
