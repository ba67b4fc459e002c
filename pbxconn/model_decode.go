package pbxconn

import (
	"encoding/json"
	"fmt"
)

// DecodeElement decodes the JSON of one element of kind e into its typed
// value (*Channel, *Group, ...), as a Diff's Data holds it. It is how
// previously published state (e.g. the hub's state hash) is handed back to
// a Connector through ConnectorConfig.LoadState.
func DecodeElement(e Element, data []byte) (any, error) {
	var v any
	switch e {
	case ElemChannel:
		v = new(Channel)
	case ElemQueuedChannel:
		v = new(QueuedChannel)
	case ElemParkedChannel:
		v = new(ParkedChannel)
	case ElemUser:
		v = new(User)
	case ElemGroup:
		v = new(Group)
	case ElemGroupMember:
		v = new(GroupMember)
	case ElemTerminal:
		v = new(Terminal)
	case ElemPBX:
		v = new(PBX)
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrBadElement, e)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadElement, e, err)
	}
	return v, nil
}

// Seed tells the normalizer what clients were last told about this PBX
// (for instance by a previous owner of the PBX, read back from the hub), so
// that the next Resync diffs against it: elements that no longer exist are
// removed, unchanged ones are not re-sent. Only elements whose key belongs
// to this PBX (or users) are taken; Data must be the typed pointer
// DecodeElement returns. Call it before the first Resync.
func (n *Normalizer) Seed(state []Diff) {
	for _, d := range state {
		if d.Element != ElemUser {
			if pbx, _, ok := SplitKey(d.Key); !ok || pbx != n.pbx {
				continue
			}
		}
		switch v := d.Data.(type) {
		case *Channel:
			n.outChan.last[d.Key] = v
		case *QueuedChannel:
			n.outQueued.last[d.Key] = v
		case *ParkedChannel:
			n.outParked.last[d.Key] = v
		case *User:
			n.outUser.last[d.Key] = v
		case *Group:
			n.outGroup.last[d.Key] = v
		case *GroupMember:
			n.outMember.last[d.Key] = v
		case *Terminal:
			n.outTerm.last[d.Key] = v
		}
	}
}
