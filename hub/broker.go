package hub

import (
	"context"
)

// Broker stores each tenant's live state and bounded history and carries
// published events to every replica that subscribes to the tenant.
// Implementations: MemoryBroker (single node) and RedisBroker; both pass the
// conformance suite in broker_test.go. Methods are safe for concurrent use.
type Broker interface {
	// Publish atomically checks ev.Fence, applies ev to the tenant's state
	// (OpRemoved deletes the key), appends it to the history, assigns
	// ev.Epoch and ev.Seq, and delivers it to subscribers of ev.Tenant.
	// It returns ErrStaleFence when a newer fence was issued for ev.PBX and
	// ErrInvalidEvent for a malformed event. The caller must not modify
	// ev.Data or ev.Audience afterwards: subscribers may share them.
	// When the assigned ev.Epoch differs from the one the publisher saw
	// before, the tenant's state was reset (e.g. Redis lost it) and holds
	// only what was published since: publishers should republish the full
	// state of their PBX.
	Publish(ctx context.Context, ev *Event) error
	// PublishBatch publishes evs in order, each exactly as Publish would,
	// in as few round trips to the backing store as it can (one for
	// RedisBroker): a publisher with several events ready does not wait
	// one round trip per event. It returns how many leading events were
	// published; when that is less than len(evs), err says why the next
	// one was not (ErrStaleFence, ErrInvalidEvent, a transport error) and
	// the events after it were not applied, except on a transport error
	// or for events of another PBX than the failed one (so a batch should
	// hold one PBX's events).
	PublishBatch(ctx context.Context, evs []*Event) (int, error)
	// NextFence issues a new, strictly greater fencing epoch for a PBX of a
	// tenant; events fenced with older epochs are rejected from then on.
	NextFence(ctx context.Context, t Tenant, pbx string) (uint64, error)
	// Snapshot returns the tenant's current state and the seq it reflects.
	// A snapshot taken after Subscribe returned reflects at least every
	// event delivered to that subscription so far, so a subscriber that
	// skips delivered events with Seq <= Snapshot.Seq sees no gap and no
	// duplicate.
	Snapshot(ctx context.Context, t Tenant) (*Snapshot, error)
	// Since returns the events of t after seq in epoch, in order. ok is false
	// when the history no longer reaches back that far or the epoch is not
	// the current one: the caller must resync from a Snapshot.
	Since(ctx context.Context, t Tenant, epoch string, seq uint64) (evs []Event, ok bool, err error)
	// Subscribe delivers every event of t published after it returns, in
	// seq order, to h until the returned cancel func is called (cancel is
	// idempotent and waits for no in-flight delivery). h runs on the
	// broker's delivery goroutine (the publisher's, for MemoryBroker) and
	// must not block or Publish; it may call Snapshot and Since. It must
	// treat the event as read-only (it is shared by all handlers). Besides
	// events, h
	// is called with a nil event and:
	//   - ErrBrokerDown when delivery was interrupted;
	//   - nil when delivery resumed after ErrBrokerDown with every missed
	//     event recovered from history (and already delivered);
	//   - ErrGap when events were missed beyond history or the epoch
	//     changed: the subscriber must resync from a Snapshot.
	Subscribe(ctx context.Context, t Tenant, h func(ev *Event, err error)) (cancel func(), err error)
	// Ping reports whether the backing store answers.
	Ping(ctx context.Context) error
	// Close stops delivery and releases resources; subscriptions end.
	Close() error
}
