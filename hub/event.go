package hub

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Tenant names a tenant inside the hub. The hub is a leaf package and does
// not import package tenant; cmd converts tenant.ID to Tenant. Redis keys are
// built from it only by the key functions in keys.go.
type Tenant string

// Op is what happened to an element.
type Op string

const (
	OpAdded   Op = "added"
	OpUpdated Op = "updated"
	OpRemoved Op = "removed"
)

// Event is one element change of one tenant: the unit that is published,
// stored in the tenant's state and history, and fanned out to sockets.
//
// The publisher fills everything but Epoch and Seq, which Publish assigns.
// Data is the element as JSON (clear numbers; masking is applied at fan-out).
// For OpRemoved, Data holds at least the element's identity.
type Event struct {
	Tenant  Tenant `json:"-"`
	Element string `json:"element"` // channel, queued_channel, parked_channel, user, group, group_member, terminal, pbx
	Op      Op     `json:"op"`
	// Key identifies the element within the tenant and element kind; it is
	// the state hash field. Publishers make it unique across PBXes
	// (e.g. "<pbx_id>/<uuid>").
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data"`
	// Audience lists the user ids a channel-like event concerns (own leg,
	// other leg, target). Empty means "no user in particular": such an
	// event is visible only to scopes that see the whole tenant.
	Audience []string `json:"aud,omitempty"`
	PBX      string   `json:"pbx,omitempty"`
	// Fence is the fencing epoch of the publishing connector's lease on PBX.
	// Publish rejects an event whose Fence is lower than the newest epoch
	// issued for that PBX (ErrStaleFence). Zero skips the check (events not
	// tied to a PBX lease).
	Fence uint64 `json:"fence,omitempty"`
	// TS is when the PBX produced the event, µs since the Unix epoch; used
	// for end-to-end latency.
	TS int64 `json:"ts,omitempty"`

	// Epoch and Seq are assigned by Publish. Seq is gap-free per tenant
	// within one Epoch; Epoch changes when a tenant's history is reset
	// (for example when Redis lost it), which makes clients resync.
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// Snapshot is a consistent copy of one tenant's state: every live element
// and the Seq of the last event it reflects.
type Snapshot struct {
	Epoch    string
	Seq      uint64
	Elements []Event // Op is OpAdded for each; ordered by Element then Key
}

// validate reports ErrInvalidEvent for an event that cannot be stored.
func (ev *Event) validate() error {
	switch {
	case ev == nil:
		return fmt.Errorf("%w: nil event", ErrInvalidEvent)
	case ev.Tenant == "":
		return fmt.Errorf("%w: no tenant", ErrInvalidEvent)
	case ev.Element == "" || strings.ContainsAny(ev.Element, "\x00\n"):
		return fmt.Errorf("%w: bad element %q", ErrInvalidEvent, ev.Element)
	case ev.Key == "":
		return fmt.Errorf("%w: no key", ErrInvalidEvent)
	case ev.Op != OpAdded && ev.Op != OpUpdated && ev.Op != OpRemoved:
		return fmt.Errorf("%w: unknown op %q", ErrInvalidEvent, ev.Op)
	case len(ev.Data) == 0 || !json.Valid(ev.Data):
		return fmt.Errorf("%w: data is not valid JSON", ErrInvalidEvent)
	}
	return nil
}

// field is the state hash field of the event: element and key, separated
// by a NUL so that no key can forge another element's field.
func (ev *Event) field() string { return ev.Element + "\x00" + ev.Key }

// wireEvent is the stored and published form of an Event: everything but
// Tenant, Epoch and Seq, which the storage location and the broker supply.
type wireEvent struct {
	Element  string          `json:"element"`
	Op       Op              `json:"op"`
	Key      string          `json:"key"`
	Data     json.RawMessage `json:"data"`
	Audience []string        `json:"aud,omitempty"`
	PBX      string          `json:"pbx,omitempty"`
	Fence    uint64          `json:"fence,omitempty"`
	TS       int64           `json:"ts,omitempty"`
}

func marshalWire(ev *Event) ([]byte, error) {
	b, err := json.Marshal(wireEvent{
		Element: ev.Element, Op: ev.Op, Key: ev.Key, Data: ev.Data,
		Audience: ev.Audience, PBX: ev.PBX, Fence: ev.Fence, TS: ev.TS,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return b, nil
}

func unmarshalWire(t Tenant, epoch string, seq uint64, b []byte) (Event, error) {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return Event{}, fmt.Errorf("hub: decode stored event: %w", err)
	}
	return Event{
		Tenant: t, Element: w.Element, Op: w.Op, Key: w.Key, Data: w.Data,
		Audience: w.Audience, PBX: w.PBX, Fence: w.Fence, TS: w.TS,
		Epoch: epoch, Seq: seq,
	}, nil
}

// sortElements orders snapshot elements by Element then Key.
func sortElements(evs []Event) {
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].Element != evs[j].Element {
			return evs[i].Element < evs[j].Element
		}
		return evs[i].Key < evs[j].Key
	})
}
