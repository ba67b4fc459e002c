// Package hub carries element events from connectors to WebSocket clients.
//
// A Broker (memory or Redis) keeps each tenant's state, a bounded history of
// its events and a per-tenant gap-free sequence number, and delivers events to
// every replica that has subscribers for the tenant. On each replica the Hub
// subscribes to a tenant only while local connections want it, filters every
// event through each connection's Filter (a precomputed scope, never a policy
// engine call), encodes each event once per variant (JSON or MessagePack,
// clear or masked numbers) and hands the shared bytes to each connection's
// bounded writer.
//
// # Publishing (RedisBroker)
//
// One Lua script per event checks the PBX's fencing epoch, creates the
// tenant's epoch if it has none, increments its seq, updates the state
// hash, appends to the history stream (entry id "<seq>-0", trimmed by
// length and age) and PUBLISHes "<epoch>\n<seq>\n<event>". All keys of a
// tenant share the hash tag {tenant}. If Redis loses a tenant's keys the
// next publish or snapshot creates a new epoch and every subscriber is
// told ErrGap, so clients resync.
//
// # Subscribing
//
// Each RedisBroker holds one pub/sub connection and one delivery goroutine
// (run). A tenant's channel is subscribed while it has handlers; once the
// subscription is confirmed the tenant's state is loaded into a mirror and
// every later message with the next seq is applied to the mirror and handed
// to the handlers. A message whose seq skips ahead makes run read the
// missing range from the history; a dropped connection makes it tell
// handlers ErrBrokerDown, and after resubscribing, recover the missed events
// from the history and tell them nil (resumed), or reload and tell them
// ErrGap when the history no longer reaches back.
//
// # Sessions
//
// Hub.Serve runs a session on the caller's goroutine, which becomes its
// writer (and performs resyncs), plus one reader goroutine; Serve returns
// only after both loops have exited. A session is added to its tenant's fan-out list before
// the snapshot is read; events that arrive before the snapshot has been
// queued are parked and afterwards only those with a seq above the
// snapshot's are queued, which gives no gap and no duplicate. The fan-out
// never blocks: a full queue closes the session with CloseSlowConsumer.
//
// # Goroutines
//
//   - RedisBroker.run: one per RedisBroker; stopped and awaited by Close.
//   - Hub registry watch and refresh: one each per Hub; stopped and
//     awaited by Shutdown.
//   - Session reader: one per session; awaited by Serve, whose own
//     goroutine is the session's writer.
//
// # Metrics
//
// hookflash_hub_connections, hookflash_hub_events_in_total,
// hookflash_hub_messages_out_total, hookflash_hub_slow_consumer_closes_total,
// hookflash_hub_throttled_messages_total, hookflash_hub_resyncs_total,
// hookflash_hub_connections_rejected_total{reason}, and the latency
// histograms hookflash_hub_event_latency_seconds (Event.TS to fan-out, per
// event) and hookflash_hub_delivery_latency_seconds (Event.TS to the socket
// write, per delivery). No label carries a tenant.
//
// # Lock order
//
//  1. RedisBroker.subMu before RedisBroker.mu. The run goroutine takes
//     subMu only while holding no other lock.
//  2. memTenant.mu before memTenant.deliver: Publish takes deliver while
//     holding mu and releases mu before calling handlers, so handlers run
//     in seq order yet may call Snapshot and Since.
//  3. A broker delivering (memTenant.deliver held, or the Redis run
//     goroutine holding nothing) calls the Hub fan-out, which takes
//     Session.mu.
//  4. Hub.mu and Session.mu are never held together, and neither is held
//     while calling the Broker, the Registry or the network.
package hub
