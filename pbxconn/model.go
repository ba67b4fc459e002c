package pbxconn

import (
	"strings"
	"time"
)

// Element names the kind of a live-model element (DESIGN §3). The string is
// the "element" field of the public protocol.
type Element string

// The element kinds of the live model.
const (
	ElemChannel       Element = "channel"
	ElemQueuedChannel Element = "queued_channel"
	ElemParkedChannel Element = "parked_channel"
	ElemUser          Element = "user"
	ElemGroup         Element = "group"
	ElemGroupMember   Element = "group_member"
	ElemTerminal      Element = "terminal"
	ElemPBX           Element = "pbx"
)

// Elements lists every element kind in the order initial_info sends them.
var Elements = []Element{ElemPBX, ElemTerminal, ElemUser, ElemGroup, ElemGroupMember, ElemChannel, ElemQueuedChannel, ElemParkedChannel}

// Op is what happened to an element: the "event" field of an info_event.
type Op string

// The three element operations.
const (
	OpAdded   Op = "added"
	OpUpdated Op = "updated"
	OpRemoved Op = "removed"
)

// Diff is one change of one element, as the normalizer emits it and the hub
// publishes it.
//
// Data points to the element's full value after the change (*Channel,
// *Group, ...); for OpRemoved it is the element's last value. A Data value is
// never modified after it has been emitted, so it may be shared and encoded
// concurrently. Audience lists the user ids a channel event concerns (own
// leg, other leg, target), sorted and without duplicates; it is nil for
// elements without a per-user audience. Fence is the connector's fencing
// epoch, stamped by the Connector (zero from a bare Normalizer).
type Diff struct {
	Element  Element
	Op       Op
	Key      string
	Data     any
	Audience []string
	TS       time.Time
	Fence    uint64
}

// KeySep separates the PBX id from the PBX-local id in element keys. A PBX id
// never contains it.
const KeySep = ":"

// Key builds the tenant-unique key of a PBX-scoped element: the PBX id, KeySep,
// then the PBX-local id (a channel's Asterisk uniqueid, a queue name, ...).
func Key(pbxID, local string) string { return pbxID + KeySep + local }

// SplitKey undoes Key. ok is false when key has no PBX prefix.
func SplitKey(key string) (pbxID, local string, ok bool) {
	return strings.Cut(key, KeySep)
}

// Channel state names (DESIGN §3).
const (
	StateRinging    = "ringing"
	StateCalling    = "calling"
	StateBridged    = "bridged"
	StateHold       = "hold"
	StateQueue      = "queue"
	StatePark       = "park"
	StateIVR        = "ivr"
	StateVoicemail  = "voicemail"
	StateConference = "conference"
	StateHangup     = "hangup"
)

// ChannelState is a channel's current state: its name (one of the State*
// constants), when it was entered (µs since the epoch) and state-specific data.
type ChannelState struct {
	Name string    `json:"name"`
	TS   int64     `json:"ts"`
	Data StateData `json:"data,omitzero"`
}

// StateData carries the state-specific details; only the fields that apply
// to the state are set.
type StateData struct {
	GroupID    string `json:"group_id,omitempty"`    // queue: the group key
	Slot       string `json:"slot,omitempty"`        // park: the parking space
	Lot        string `json:"lot,omitempty"`         // park: the parking lot
	Room       string `json:"room_id,omitempty"`     // conference: the room (ConfBridge name or bridge id)
	App        string `json:"app,omitempty"`         // ivr/voicemail: the dialplan application
	TargetType string `json:"target_type,omitempty"` // calling: user, group or pstn
	TargetID   string `json:"target_id,omitempty"`   // calling: user id or group key
	Address    string `json:"address,omitempty"`     // calling: the number or dial string called
	Cause      int    `json:"cause,omitempty"`       // hangup: the Q.850 cause
}

// Target is the internal target of an inbound channel: the user or group it
// is calling or was delivered to.
type Target struct {
	Type    string `json:"type"` // "user" or "group"
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
}

// Channel is the `channel` element: one Asterisk channel. Timestamps are µs
// since the epoch, zero when not (yet) known.
type Channel struct {
	UUID            string       `json:"uuid"`
	PBXID           string       `json:"pbx_id"`
	Name            string       `json:"name"`
	Terminal        string       `json:"terminal,omitempty"`
	Direction       string       `json:"direction"`     // inbound (offered to the PBX) or outbound (offered by it)
	PeerLocation    string       `json:"peer_location"` // internal (a user's terminal) or external
	CallingName     string       `json:"calling_name"`
	CallingNumber   string       `json:"calling_number"`
	CalledNumber    string       `json:"called_number"`
	OfferTimestamp  int64        `json:"offer_timestamp"`
	AnswerTimestamp int64        `json:"answer_timestamp,omitempty"`
	HangupTimestamp int64        `json:"hangup_timestamp,omitempty"`
	OtherUUID       string       `json:"other_uuid,omitempty"`
	UserID          string       `json:"user_id,omitempty"`
	GroupID         string       `json:"group_id,omitempty"`
	State           ChannelState `json:"state"`
	Target          Target       `json:"target,omitzero"`
	Hold            bool         `json:"hold"`
	Muted           bool         `json:"muted"`
	Recording       bool         `json:"recording"`
	Tags            []string     `json:"tags,omitempty"`
	LinkedID        string       `json:"linkedid,omitempty"`
}

func (c *Channel) equal(o *Channel) bool {
	if len(c.Tags) != len(o.Tags) {
		return false
	}
	for i := range c.Tags {
		if c.Tags[i] != o.Tags[i] {
			return false
		}
	}
	return channelCoreOf(c) == channelCoreOf(o)
}

// channelCore is Channel without its slice field, so it can be compared with ==.
type channelCore struct {
	UUID, PBXID, Name, Terminal, Direction, PeerLocation string
	CallingName, CallingNumber, CalledNumber             string
	Offer, Answer, Hangup                                int64
	OtherUUID, UserID, GroupID                           string
	State                                                ChannelState
	Target                                               Target
	Hold, Muted, Recording                               bool
	LinkedID                                             string
}

func channelCoreOf(c *Channel) channelCore {
	return channelCore{c.UUID, c.PBXID, c.Name, c.Terminal, c.Direction, c.PeerLocation,
		c.CallingName, c.CallingNumber, c.CalledNumber,
		c.OfferTimestamp, c.AnswerTimestamp, c.HangupTimestamp,
		c.OtherUUID, c.UserID, c.GroupID, c.State, c.Target, c.Hold, c.Muted, c.Recording, c.LinkedID}
}

// QueuedChannel is the `queued_channel` element: a caller waiting in a queue.
type QueuedChannel struct {
	UUID       string       `json:"uuid"` // the channel's key
	GroupID    string       `json:"group_id"`
	Position   int          `json:"position"`
	PeerNumber string       `json:"peer_number"`
	PeerName   string       `json:"peer_name,omitempty"`
	JoinedTS   int64        `json:"joined_ts"`
	State      ChannelState `json:"state"`
}

// ParkedChannel is the `parked_channel` element: a channel in a parking space.
type ParkedChannel struct {
	UUID         string       `json:"uuid"` // the parked channel's key
	Slot         string       `json:"slot"`
	Lot          string       `json:"lot"`
	ParkerUserID string       `json:"parker_user_id,omitempty"`
	ParkerDial   string       `json:"parker_dial,omitempty"`
	PeerNumber   string       `json:"peer_number"`
	PeerName     string       `json:"peer_name,omitempty"`
	TimeoutTS    int64        `json:"timeout_ts,omitempty"`
	State        ChannelState `json:"state"`
}

// Presence values of a user, derived from its terminals and channels.
const (
	PresenceOnline  = "online"
	PresenceOffline = "offline"
	PresenceBusy    = "busy"
	PresenceRinging = "ringing"
	PresenceDND     = "dnd"
)

// User is the `user` element. Its key is the user id alone (users are
// tenant-wide); presence reflects the terminals this PBX knows.
type User struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	MainExtension string `json:"main_extension,omitempty"`
	Presence      string `json:"presence"`
	DND           bool   `json:"dnd"`
	Fwd           string `json:"fwd,omitempty"`
	Avatar        string `json:"avatar,omitempty"`
	Email         string `json:"email,omitempty"`
	Role          string `json:"role,omitempty"`
}

// Group is the `group` element: an Asterisk queue with live statistics.
// Answered counts completed answered calls and the averages are Asterisk's
// own exponential averages, so they agree with QueueStatus at every resync.
// LongestWaitS is computed when the element changes for another reason and
// is not itself a change (it grows with the clock).
type Group struct {
	ID              string  `json:"id"` // the group key
	PBXID           string  `json:"pbx_id"`
	Name            string  `json:"name"`
	Strategy        string  `json:"strategy,omitempty"`
	Waiting         int     `json:"waiting"`
	LongestWaitS    int64   `json:"longest_wait_s"`
	OldestJoinedTS  int64   `json:"oldest_joined_ts,omitempty"`
	Answered        int     `json:"answered"`
	Abandoned       int     `json:"abandoned"`
	ServiceLevelS   int     `json:"service_level_s"`
	ServiceLevelPct float64 `json:"service_level_pct"`
	AvgHoldS        int     `json:"avg_hold_s"`
	AvgTalkS        int     `json:"avg_talk_s"`
	LoggedIn        int     `json:"logged_in"`
	Available       int     `json:"available"`
}

func (g *Group) equal(o *Group) bool {
	a, b := *g, *o
	a.LongestWaitS, b.LongestWaitS = 0, 0
	return a == b
}

// GroupMember is the `group_member` element: one member (interface) of a queue.
type GroupMember struct {
	ID          string `json:"id"` // group key + "/" + interface
	GroupID     string `json:"group_id"`
	UserID      string `json:"user_id,omitempty"`
	Interface   string `json:"interface"`
	Name        string `json:"name,omitempty"`
	Membership  string `json:"membership,omitempty"` // static, dynamic, realtime
	LoginStatus string `json:"login_status"`         // logged_in (a logged-out member is removed)
	Status      string `json:"status"`               // the member's device status (not_inuse, inuse, ringing, unavailable, ...)
	InCall      bool   `json:"in_call"`
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pause_reason,omitempty"`
	CallsTaken  int    `json:"calls_taken"`
	LastCallTS  int64  `json:"last_call_ts,omitempty"`
	Penalty     int    `json:"penalty"`
}

// Terminal types.
const (
	TerminalPhone  = "phone"
	TerminalWebRTC = "webrtc"
	TerminalTrunk  = "trunk"
)

// Terminal is the `terminal` element: a device (PJSIP endpoint, or any device
// the tenant assigned to a user, e.g. Local/1001@agents).
type Terminal struct {
	ID          string `json:"id"` // PBX key + device, e.g. "pbx1:PJSIP/1001"
	PBXID       string `json:"pbx_id"`
	Device      string `json:"device"` // e.g. "PJSIP/1001"
	AssocUserID string `json:"assoc_user_id,omitempty"`
	Type        string `json:"type"`
	UserAgent   string `json:"user_agent,omitempty"`
	Registered  bool   `json:"registered"`
	DeviceState string `json:"device_state"` // lower-case Asterisk device state: not_inuse, inuse, busy, ringing, ringinuse, onhold, unavailable, invalid, unknown
}

// PBX status values.
const (
	PBXConnecting = "connecting"
	PBXSyncing    = "syncing"
	PBXLive       = "live"
	PBXDown       = "down"
)

// PBX is the `pbx` element: a connector's view of its PBX. Key: the PBX id.
type PBX struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	LastError string `json:"last_error,omitempty"`
	Since     int64  `json:"since"` // µs since the epoch when Status was entered
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
