// Package pbxconn holds one Connector per PBX: it keeps the PBX's ARI and AMI
// sessions, normalizes their events into the live element model (channels,
// queued and parked channels, users, groups and members, terminals, the pbx
// itself), resyncs after every reconnect, and publishes element diffs. The
// Supervisor decides, across replicas, which connectors this replica runs.
//
// # The element model
//
// Elements follow DESIGN §3 (model.go). Keys are unique within a tenant
// across its PBXes: a PBX-scoped element's key is the PBX id, ":", then the
// PBX-local id — the Asterisk uniqueid for channel, queued_channel and
// parked_channel (uuid equals the key), the queue name for group,
// "queue/interface" for group_member, the device ("PJSIP/1001") for
// terminal. A user's key is its id alone; the pbx element's key is the PBX
// id. Timestamps are µs since the epoch.
//
// # The normalizer
//
// Normalizer consumes ARI events (typed, from package ari) and AMI events
// (ami.Message) of one PBX in any interleaving, keeps the raw state it
// learns (channels, bridges, dial links, queues, parked calls, terminals)
// and the last value it emitted for every element, and after each event
// emits a Diff only for elements whose value really changed. Both protocols
// report channels; either alone suffices, and a late event from one never
// resurrects a channel the other destroyed (tombstones), and only creation
// events or snapshots create channels. Queues, members and parking come from
// AMI only; bridges, transfers, holds and device states from whichever
// reports them first. Channel states are derived from these facts in a fixed
// priority: hangup, park, queue, hold, conference, bridged, voicemail,
// ringing/calling before answer, ivr. A channel maps to a user through its
// device ("PJSIP/1001-0000001a" → "PJSIP/1001", "Local/1003@agents-…;1" →
// "Local/1003@agents") and the tenant's Directory; its audience is its own
// user, the user at the other end (followed through Local channel pairs)
// and its target user. Only users and terminals this PBX has are published
// (an endpoint it lists, or an assigned device whose state it reported);
// a user with terminals on two PBXes of a tenant is published by both, the
// last one to change winning.
//
// Group statistics reproduce Asterisk's own counters (completed calls,
// abandoned, the exponential hold and talk averages, service level), so a
// resync from QueueStatus agrees with what the events built.
//
// Resync replaces the raw state with a Snapshot and emits the exact diff
// against what was emitted: removals for ghosts, updates for changes,
// nothing for unchanged elements. Forget marks a diff whose publish failed
// so the next resync repairs it; Seed loads what a previous owner published.
//
// # The connector
//
// Connector.Run owns one Normalizer and, per session, one ARI events stream
// (polled with Ready/Poll beside the AMI event channel, in Run's goroutine)
// and one AMI client. Events already waiting are drained together and their
// diffs published as one batch (PublishBatch).
// Each session goes connecting → syncing → live; a failure marks the pbx
// element down and reconnects after a full-jitter exponential backoff.
// Every session starts with a resync, as does a Reload or a second
// FullyBooted. Diffs are published in order from Run's goroutine; a publish
// refused with ErrFenced stops Run.
package pbxconn
