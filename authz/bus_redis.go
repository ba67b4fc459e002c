package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// RedisBusConfig configures a RedisBus.
type RedisBusConfig struct {
	// Client is the Redis client; the caller owns it. Required.
	Client redis.UniversalClient
	// Channel is the pub/sub channel. Default "hookflash:authz". Replicas
	// of one deployment must agree on it.
	Channel string
	// Log receives connection problems. Default: discard.
	Log *slog.Logger
	// Metrics registers the hookflash_authz_bus_* collectors; nil keeps
	// them unregistered.
	Metrics prometheus.Registerer
}

// RedisBus carries messages over Redis pub/sub. One goroutine, owned by the
// bus and stopped by Close, receives and dispatches. When the subscription
// connection drops, go-redis reconnects and resubscribes; the bus then
// delivers KindResync locally, because messages published meanwhile are
// lost.
type RedisBus struct {
	client  redis.UniversalClient
	channel string
	log     *slog.Logger
	ps      *redis.PubSub
	hs      handlers
	metrics *busMetrics

	cancel context.CancelFunc
	done   chan struct{} // closed when the receive goroutine exited

	closeOnce sync.Once
}

var _ Bus = (*RedisBus)(nil)

// NewRedisBus subscribes and returns once Redis confirmed the subscription,
// so messages published after it returns are delivered.
func NewRedisBus(ctx context.Context, cfg RedisBusConfig) (*RedisBus, error) {
	if cfg.Client == nil {
		return nil, errors.New("authz: RedisBusConfig.Client is required")
	}
	if cfg.Channel == "" {
		cfg.Channel = "hookflash:authz"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := newBusMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	ps := cfg.Client.Subscribe(ctx, cfg.Channel)
	if _, err := ps.Receive(ctx); err != nil { // the subscribe confirmation
		_ = ps.Close()
		return nil, fmt.Errorf("authz: subscribe %s: %w", cfg.Channel, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	b := &RedisBus{
		client:  cfg.Client,
		channel: cfg.Channel,
		log:     cfg.Log.With("component", "authz-bus"),
		ps:      ps,
		metrics: m,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go b.run(runCtx)
	return b, nil
}

// run receives until Close. Errors back off from 50 ms to 2 s; the next
// Receive reconnects and resubscribes.
func (b *RedisBus) run(ctx context.Context) {
	defer close(b.done)
	backoff := 50 * time.Millisecond
	for {
		msg, err := b.ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			b.log.Warn("authz bus receive failed; reconnecting", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Only reconnects resubscribe after the confirmation
				// NewRedisBus consumed: messages may have been lost.
				b.log.Info("authz bus resubscribed")
				b.metrics.resyncs.Inc()
				b.hs.deliver(Message{Kind: KindResync})
			}
		case *redis.Message:
			dm, err := decodeMessage([]byte(m.Payload))
			if err != nil {
				b.log.Warn("authz bus dropped a bad message", "err", err)
				b.metrics.dropped.Inc()
				continue
			}
			b.metrics.received.WithLabelValues(string(dm.Kind)).Inc()
			b.hs.deliver(dm)
		}
	}
}

// Publish sends m with PUBLISH.
func (b *RedisBus) Publish(ctx context.Context, m Message) error {
	if b.hs.isClosed() {
		return ErrBusClosed
	}
	if err := m.validate(); err != nil {
		return err
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("authz: encode bus message: %w", err)
	}
	if err := b.client.Publish(ctx, b.channel, payload).Err(); err != nil {
		b.metrics.published.WithLabelValues("error").Inc()
		return fmt.Errorf("authz: publish %s: %w", m.Kind, err)
	}
	b.metrics.published.WithLabelValues("ok").Inc()
	return nil
}

// Subscribe registers h; see Bus.
func (b *RedisBus) Subscribe(h func(Message)) (func(), error) { return b.hs.add(h) }

// Close unsubscribes, stops the receive goroutine and waits for it. The
// Redis client stays open (the caller owns it).
func (b *RedisBus) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.hs.close()
		b.cancel()
		err = b.ps.Close()
		<-b.done
	})
	if err != nil {
		return fmt.Errorf("authz: close bus: %w", err)
	}
	return nil
}
