package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Kind says what a bus Message invalidates.
type Kind string

const (
	// KindPolicy: the policy of Tenant changed ("" = every tenant). Every
	// replica reloads it and recompiles the scopes of open connections.
	KindPolicy Kind = "policy"
	// KindToken: API token ID of Tenant was revoked or changed; sockets
	// using it close.
	KindToken Kind = "token"
	// KindSession: session ID (Session.ID, never the secret) ended; its
	// sockets close.
	KindSession Kind = "session"
	// KindUser: user ID of Tenant was disabled, deleted or changed role;
	// its sockets close or rescope.
	KindUser Kind = "user"
	// KindResync is delivered locally (never published) after the bus lost
	// its connection and got it back: messages may have been missed, so
	// subscribers must re-check everything they hold.
	KindResync Kind = "resync"
)

// Message is one invalidation carried to every replica.
type Message struct {
	Kind   Kind   `json:"kind"`
	Tenant string `json:"tenant,omitempty"`
	ID     string `json:"id,omitempty"`
	// Origin names the publishing Watcher, which ignores its own
	// messages (casbin's contract: other instances reload). Empty for
	// other publishers.
	Origin string `json:"origin,omitempty"`
}

// maxMessageLen bounds an encoded message; longer ones are refused.
const maxMessageLen = 1024

func (m Message) validate() error {
	switch m.Kind {
	case KindPolicy, KindToken, KindSession, KindUser:
	default:
		return fmt.Errorf("authz: bus message kind %q cannot be published", m.Kind)
	}
	if len(m.Tenant)+len(m.ID)+len(m.Origin) > maxMessageLen-64 {
		return fmt.Errorf("authz: bus message too long")
	}
	return nil
}

// decodeMessage parses a received payload, rejecting unknown kinds.
func decodeMessage(b []byte) (Message, error) {
	var m Message
	if len(b) > maxMessageLen {
		return m, fmt.Errorf("authz: bus message of %d bytes", len(b))
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("authz: decode bus message: %w", err)
	}
	if err := m.validate(); err != nil {
		return m, err
	}
	return m, nil
}

// Bus carries identity and policy invalidations to every replica,
// including the publishing one. Implementations: MemoryBus (single node)
// and RedisBus (pub/sub); both pass one conformance suite. Safe for
// concurrent use.
type Bus interface {
	// Publish sends m to every subscriber on every replica. Delivery is at
	// most once; a replica that may have missed messages gets KindResync.
	Publish(ctx context.Context, m Message) error
	// Subscribe calls h for every message from now on until cancel is
	// called. h runs on the bus's delivery goroutine (MemoryBus: the
	// publisher's), one message at a time in order: it must not block for
	// long; it may Publish. cancel is idempotent; h is not called for
	// messages delivered after cancel returned.
	Subscribe(h func(Message)) (cancel func(), err error)
	// Close stops delivery; Publish and Subscribe then fail with
	// ErrBusClosed.
	Close() error
}

// handlers is the subscriber registry shared by both buses.
type handlers struct {
	mu     sync.Mutex // guards the fields below
	next   int
	hs     map[int]func(Message)
	closed bool
}

func (r *handlers) add(h func(Message)) (func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrBusClosed
	}
	if r.hs == nil {
		r.hs = map[int]func(Message){}
	}
	id := r.next
	r.next++
	r.hs[id] = h
	return func() {
		r.mu.Lock()
		delete(r.hs, id)
		r.mu.Unlock()
	}, nil
}

// deliver calls every current handler with m, in subscription order.
func (r *handlers) deliver(m Message) {
	r.mu.Lock()
	ids := make([]int, 0, len(r.hs))
	for id := range r.hs {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		r.mu.Lock()
		h, ok := r.hs[id]
		r.mu.Unlock()
		if ok {
			h(m)
		}
	}
}

func (r *handlers) close() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.closed
	r.closed = true
	r.hs = nil
	return !was
}

func (r *handlers) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// MemoryBus delivers messages within one process: the single-node Bus.
// Publish delivers synchronously before it returns.
type MemoryBus struct {
	hs handlers
}

var _ Bus = (*MemoryBus)(nil)

// NewMemoryBus returns an open MemoryBus.
func NewMemoryBus() *MemoryBus { return &MemoryBus{} }

// Publish delivers m to every subscriber before returning.
func (b *MemoryBus) Publish(_ context.Context, m Message) error {
	if b.hs.isClosed() {
		return ErrBusClosed
	}
	if err := m.validate(); err != nil {
		return err
	}
	b.hs.deliver(m)
	return nil
}

// Subscribe registers h; see Bus.
func (b *MemoryBus) Subscribe(h func(Message)) (func(), error) { return b.hs.add(h) }

// Close stops delivery.
func (b *MemoryBus) Close() error {
	b.hs.close()
	return nil
}
