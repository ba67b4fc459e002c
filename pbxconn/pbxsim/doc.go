// Package pbxsim is a simulated Asterisk 22 for tests, the demo and the
// bench harness. Each PBX serves ARI (REST under /ari and the events
// WebSocket /ari/events?app=X&subscribeAll=true, Basic auth) and AMI (TCP,
// banner "Asterisk Call Manager/11.0.0", plain or MD5-challenge login) on
// its own loopback ports, and what it sends is shaped exactly like the real
// traffic recorded in ../shared/fixtures/asterisk-22.
//
// # Engine
//
// Asterisk's event streams are the interleaving of several threads; the six
// recordings of the same "customer calls agent" set-up differ in the order
// of 95 to 121 of their 135 events. No hand-written model reproduces that,
// so the engine plays the recordings themselves as call-flow scripts:
//
//   - internal/scriptgen (run by go generate) cuts every recorded scenario
//     into phases at the moments an action was taken, merges its ARI and
//     AMI events by time and replaces every run-specific value with a
//     placeholder: uniqueids, channel-name counters, bridge ids, times
//     (relative to the phase start), the application, the entity id, and
//     the numbers bound by the actions (customer, agent, transfer target,
//     picking-up agent, parking space). The result is scripts/scripts.json,
//     embedded in the package.
//   - An action (ARI originate/DELETE/hold/continue/bridges, AMI Originate,
//     Hangup, Park, BlindTransfer, Atxfer, Redirect, ConfbridgeMute, …)
//     starts a flow or plays the next phase of the flow that owns the
//     channel. Which flow follows the recorded dialplan and the engine's
//     state: queue 8000 with no available member plays the abandon flow,
//     customers 98XX hang up by themselves, 1099 never answers, an
//     extension whose PJSIP endpoint is registered is dialled over PJSIP,
//     701-720 pick up the call parked there, 7000 is the conference.
//     Flows that share a beginning (a customer calling an agent continues
//     as park, park by transfer, blind/attended transfer, redirect or busy
//     hangup) are offered round robin and may switch into one another
//     until their first action; PinFlow fixes the choice.
//   - Rendering allocates fresh ids (uniqueid "<unix>.<counter>", Local
//     counters, UUIDs) on first use and stamps times from the PBX clock.
//   - State-driven events are built by engine code with the recorded field
//     order: QueuePause/QueueAdd/QueueRemove (QueueMemberPause/Added/
//     Removed, Queue:…_pause_… and Queue:…_avail device states), SIP
//     registration (PeerStatus, ContactStatus, QueueMemberStatus, device
//     state; ARI PeerStatusChange/ContactStatusChange), ARI device states,
//     ConfBridge mute outside a flow, parking timeouts, OriginateResponse
//     after an Async AMI Originate (shaped after ami-docs: no recording has
//     one), SuccessfulAuth for every AMI login,
//     FullyBooted, and the hangup of any channel no flow recorded a hangup
//     for (ChannelHangupRequest/LeftBridge/Destroyed, SoftHangupRequest,
//     BridgeLeave/Destroy, QueueCallerAbandon/Leave, ParkedCallGiveUp).
//
// One engine feeds both interfaces, so they always agree. The truth is the
// fold of the emitted events: ARI channel and bridge objects (what GET
// /channels and /bridges return), the AMI view of channels (CoreShowChannels,
// Status), queues with members and callers (QueueStatus, QueueSummary),
// parked calls (ParkedCalls), conferences, device states, endpoints.
// Channels, Parked, QueueCallers, QueueMembers, Endpoints, Bridges and Legs
// return snapshots of it for tests.
//
// # Driving it
//
// Over the wire, as a CTI server would: ARI POST /channels (originate;
// endpoint Local/9XXX@customers, or Local/10XX@agents for a pickup of
// 701-720, a join of 7000 or with app= into Stasis), DELETE /channels/{id},
// the Stasis operations and bridges of the hold-ari flow, PUT/DELETE
// /deviceStates; AMI Originate, Hangup, Park, BlindTransfer (Exten 700
// parks), Atxfer (completed when the transferer hangs up), Redirect,
// QueuePause/QueueAdd/QueueRemove, ConfbridgeMute/Unmute and the list
// actions. From Go, the same through PBX methods (Originate, Hangup, Park,
// BlindTransfer, Atxfer, Redirect, QueuePause, QueueAdd, QueueRemove,
// SetDeviceState), plus what only a phone can do: Register/Unregister a
// PJSIP endpoint and SIPCallWithHold. Example shows the smallest session.
//
// Known limits: flows ring the recorded agents (queue support rings
// 1001-1003; transfers go where the action says with the recorded agent
// behaviour). Only queue support (8000) has a recorded flow, so calls to
// sales (8001) are refused with ErrNoFlow, as are calls placed by anything
// but a simulated customer. A parked call that times out raises
// ParkedCallTimeOut (built from its ParkedCall) and is hung up: the
// simulated dialplan has no comeback target and no recording shows one.
// The only SIP call is the recorded one (1001 calls 1003, holds, unholds).
// ARI operations on Stasis channels that the recorded flow does not contain
// answer 204 and raise nothing (as hold does on Local channels).
//
// The events WebSocket behaves as with subscribeAll=true whatever the query
// says: every client gets every event, with its own application name.
//
// # Timing
//
// Config.Speed scales the recorded delays inside a phase (1 = real time);
// math.Inf(1) plays every phase inside the call that triggered it, which the
// conformance tests use. Pending steps of all flows of a PBX sit in one heap
// behind one timer: an idle PBX runs no goroutine beyond its two accept
// loops. An action on a flow first emits that flow's pending steps, so a
// fast client never sees events out of order.
//
// # Latency stamps
//
// Every event carries the time the engine emitted it: AMI "Timestamp"
// (epoch seconds with microseconds) and ARI "timestamp" (milliseconds); at
// any finite Speed these are the scheduled emission times. Generated calls
// can also carry a stamp through the whole pipeline: with
// TrafficConfig.StampCallerName the customer's caller name is
// "Customer <number> @<unix microseconds>" (the time the call was placed),
// in ARI caller/connected names and AMI CallerIDName/ConnectedLineName, so
// a benchmark reads it back from the channel element's calling_name with
// ParseStamp. Generated calls use customer numbers 9000-9789.
//
// # Many PBXes, traffic, faults
//
// NewCluster starts N PBXes, one port pair each (fixed base ports or free
// ones), optionally with distinct credentials; RunTraffic places calls of
// every kind (queue, direct, blind and attended transfer, park and pickup)
// at a given rate. Faults: DropARI, DropAMI, StallWrites(d), Restart (all
// channels gone without events, sockets dropped, FullyBooted with a fresh
// uptime on the next login), MalformedARI (a broken JSON frame) and
// MalformedAMI (garbage lines). cmd/pbxsim exposes all of it with flags and
// an HTTP control endpoint.
//
// # Concurrency
//
// PBX.mu guards the engine and its state; events are rendered, folded and
// queued under it, so every client sees one order. Each client connection
// has a bounded byte queue (Config.SendQueueBytes) drained by its own
// writer goroutine; a client that lets it fill is disconnected, as Asterisk
// drops readers that fall behind. Connection goroutines are owned by the
// PBX and Close waits for them; the flow and parking timers run their
// callbacks under PBX.mu and do nothing once the PBX is closed. Lock order:
// PBX.mu, then a connection's outQueue.mu or amiConn.fmu; never the
// reverse.
package pbxsim
