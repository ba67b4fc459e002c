package pbxsim

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"
)

// Snapshots of the engine's truth, for tests: what the PBX holds right now.
// Each call copies under the lock; the results are the caller's.

// Channel is a live channel as ARI describes it.
type Channel struct {
	ID, Name, State                string
	CallerName, CallerNumber       string
	ConnectedName, ConnectedNumber string
	Context, Exten                 string
	Priority                       int
	App, AppData                   string
	BridgeID                       string
	Linkedid                       string
	Created                        time.Time
}

// Channels returns the live channels, oldest first.
func (p *PBX) Channels() []Channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := make([]*ariChan, 0, len(p.ariChans))
	for _, c := range p.ariChans {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	out := make([]Channel, 0, len(list))
	for _, c := range list {
		var o struct {
			State  string `json:"state"`
			Caller struct {
				Name   string `json:"name"`
				Number string `json:"number"`
			} `json:"caller"`
			Connected struct {
				Name   string `json:"name"`
				Number string `json:"number"`
			} `json:"connected"`
			Dialplan struct {
				Context  string `json:"context"`
				Exten    string `json:"exten"`
				Priority int    `json:"priority"`
				App      string `json:"app_name"`
				AppData  string `json:"app_data"`
			} `json:"dialplan"`
		}
		_ = json.Unmarshal(c.obj, &o)
		ch := Channel{ID: c.id, Name: c.name, State: o.State, CallerName: o.Caller.Name, CallerNumber: o.Caller.Number,
			ConnectedName: o.Connected.Name, ConnectedNumber: o.Connected.Number, Context: o.Dialplan.Context,
			Exten: o.Dialplan.Exten, Priority: o.Dialplan.Priority, App: o.Dialplan.App, AppData: o.Dialplan.AppData, Created: c.created}
		if ac := p.amiChans[c.id]; ac != nil {
			ch.BridgeID = ac.bridgeID
			ch.Linkedid = fieldVal(ac.base, "Linkedid")
		}
		out = append(out, ch)
	}
	return out
}

// Parked is a call waiting in a parking space.
type Parked struct {
	Lot, Space, UniqueID, Channel, CallerNumber string
	Since                                       time.Time
	Timeout                                     time.Duration
}

// Parked returns the parked calls in parking order.
func (p *PBX) Parked() []Parked {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Parked, 0, len(p.parked))
	for _, pc := range p.parked {
		out = append(out, Parked{Lot: pc.lot, Space: pc.space, UniqueID: pc.uid, Channel: pc.ch, CallerNumber: pc.num,
			Since: pc.since, Timeout: time.Duration(pc.tmo) * time.Second})
	}
	return out
}

// QueueCaller is a caller waiting in a queue.
type QueueCaller struct {
	Queue        string
	Position     int
	UniqueID     string
	Channel      string
	CallerNumber string
	Joined       time.Time
}

// QueueCallers returns the callers waiting in every queue.
func (p *PBX) QueueCallers() []QueueCaller {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []QueueCaller
	for _, qn := range p.queueOrder {
		for i, c := range p.queues[qn].callers {
			out = append(out, QueueCaller{Queue: qn, Position: i + 1, UniqueID: c.uid, Channel: c.channel,
				CallerNumber: fieldVal(c.base, "CallerIDNum"), Joined: c.joined})
		}
	}
	return out
}

// QueueMember is a queue member's state.
type QueueMember struct {
	Queue, Name, Interface string
	Dynamic                bool
	Paused                 bool
	PausedReason           string
	Status                 int // AMI device status: 1 not in use, 2 in use, 5 unavailable, 6 ringing
	CallsTaken             int
}

// QueueMembers returns every member of every queue.
func (p *PBX) QueueMembers() []QueueMember {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []QueueMember
	for _, qn := range p.queueOrder {
		for _, m := range p.queues[qn].members {
			out = append(out, QueueMember{Queue: qn, Name: m.name, Interface: m.iface, Dynamic: m.dynamic, Paused: m.paused,
				PausedReason: m.reason, Status: m.status, CallsTaken: m.callsTaken})
		}
	}
	return out
}

// Endpoint is a PJSIP endpoint's registration state.
type Endpoint struct {
	Resource string
	Online   bool
	Contact  string
	Channels []string
}

// Endpoints returns the PJSIP endpoints.
func (p *PBX) Endpoints() []Endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Endpoint, 0, len(p.endpoints))
	for _, e := range p.endpoints {
		out = append(out, Endpoint{Resource: e.resource, Online: e.online, Contact: e.contact, Channels: p.endpointJSON(e).ChannelIDs})
	}
	return out
}

// Bridges returns the ids of the live bridges.
func (p *PBX) Bridges() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.ariBridges))
	for id := range p.ariBridges {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Stats counts what the PBX is doing.
type Stats struct {
	Channels, Bridges, Flows, Pending, ARIClients, AMIClients int
}

// Stats returns counters for tables and tests.
func (p *PBX) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Channels: len(p.ariChans), Bridges: len(p.ariBridges), Flows: len(p.instances()), Pending: len(p.queue),
		ARIClients: len(p.ariConns), AMIClients: len(p.amiConns)}
}

func (s Stats) String() string {
	return "channels=" + strconv.Itoa(s.Channels) + " flows=" + strconv.Itoa(s.Flows)
}

// Legs returns the live channels of the call channel id belongs to (every
// channel its flow created), oldest first; just the channel itself when it
// belongs to no flow, nothing when it does not exist.
func (p *PBX) Legs(id string) []Channel {
	all := p.Channels()
	p.mu.Lock()
	in := p.byUID[id]
	var ids map[string]bool
	if in != nil {
		ids = map[string]bool{}
		for _, u := range in.uids {
			ids[u] = true
		}
	}
	p.mu.Unlock()
	var out []Channel
	for _, c := range all {
		if c.ID == id || ids[c.ID] {
			out = append(out, c)
		}
	}
	return out
}

// jsonID extracts "id" from a JSON object ("" if absent).
func jsonID(b []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b, &v)
	return v.ID
}
