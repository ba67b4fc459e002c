package pbxconn

import (
	"github.com/hookflash/hookflash/pbxconn/ari"
)

// HandleARI applies one ARI event and appends the resulting diffs to dst.
// Event kinds it does not use (and *ari.UnknownEvent) are ignored; it never
// fails.
func (n *Normalizer) HandleARI(dst []Diff, ev ari.Event) []Diff {
	if ev == nil {
		return dst
	}
	n.ts = ev.GetTimestamp()
	if n.ts.IsZero() {
		n.ts = n.now()
	}
	n.applyARI(ev)
	return n.flush(dst)
}

func ariChan(ch *ari.Channel) chanInfo {
	return chanInfo{
		id:         ch.ID,
		name:       ch.Name,
		state:      ch.State,
		callerNum:  ch.Caller.Number,
		callerName: ch.Caller.Name,
		connNum:    ch.Connected.Number,
		connName:   ch.Connected.Name,
		context:    ch.Dialplan.Context,
		exten:      ch.Dialplan.Exten,
		app:        ch.Dialplan.AppName,
		appData:    ch.Dialplan.AppData,
		created:    ch.CreationTime.Time,
	}
}

// ariUpsert applies the channel object every channel event carries.
func (n *Normalizer) ariUpsert(ch *ari.Channel, creating bool) *chanRec {
	if ch == nil {
		return nil
	}
	ci := ariChan(ch)
	return n.upsertChan(&ci, creating)
}

func (n *Normalizer) applyARI(ev ari.Event) {
	switch e := ev.(type) {
	case *ari.ChannelCreated:
		n.ariUpsert(&e.Channel, true)
	case *ari.ChannelStateChange:
		n.ariUpsert(&e.Channel, false)
	case *ari.ChannelCallerId:
		n.ariUpsert(&e.Channel, false)
	case *ari.ChannelConnectedLine:
		n.ariUpsert(&e.Channel, false)
	case *ari.ChannelDialplan:
		ci := ariChan(&e.Channel)
		ci.app, ci.appData = e.DialplanApp, e.DialplanAppData
		n.upsertChan(&ci, false)
	case *ari.StasisStart:
		n.ariUpsert(&e.Channel, false)
	case *ari.StasisEnd:
		n.ariUpsert(&e.Channel, false)
	case *ari.ChannelHangupRequest:
		// Soft requests count too: an ARI DELETE and a completed attended
		// transfer raise only soft ones (a redirect raises none).
		if c := n.ariUpsert(&e.Channel, false); c != nil && !c.hangupReq {
			c.hangupReq = true
			if e.Cause != nil {
				c.cause = *e.Cause
			}
			n.touchChan(c)
		}
	case *ari.ChannelDestroyed:
		if c := n.chans[e.Channel.ID]; c != nil {
			n.destroyChan(c, e.Cause)
		} else {
			n.tomb.add(e.Channel.ID)
		}
	case *ari.ChannelEnteredBridge:
		if c := n.ariUpsert(e.Channel, false); c != nil {
			n.enterBridge(c, e.Bridge.ID, e.Bridge.Technology, e.Bridge.BridgeClass, e.Bridge.Name)
		}
	case *ari.ChannelLeftBridge:
		if c := n.ariUpsert(&e.Channel, false); c != nil {
			n.leaveBridge(c, e.Bridge.ID)
		}
	case *ari.BridgeCreated:
		n.bridge(e.Bridge.ID, e.Bridge.Technology, e.Bridge.BridgeClass, e.Bridge.Name)
	case *ari.BridgeDestroyed:
		n.destroyBridge(e.Bridge.ID)
	case *ari.BridgeMerged:
		n.mergeBridge(e.BridgeFrom.ID, e.Bridge.ID)
	case *ari.ChannelHold:
		if c := n.ariUpsert(&e.Channel, false); c != nil {
			n.setHold(c, true)
		}
	case *ari.ChannelUnhold:
		if c := n.ariUpsert(&e.Channel, false); c != nil {
			n.setHold(c, false)
		}
	case *ari.Dial:
		peer := n.ariUpsert(&e.Peer, false)
		caller := n.ariUpsert(e.Caller, false)
		if e.DialStatus == "" {
			ds := ""
			if e.DialString != nil {
				ds = *e.DialString
			}
			n.dialBegin(caller, peer, ds)
		} else {
			n.dialEnd(caller, peer, e.DialStatus)
		}
	case *ari.BridgeBlindTransfer:
		if e.Transferee != nil {
			n.blindTransfer(e.Transferee.ID, e.Exten)
		}
	case *ari.BridgeAttendedTransfer:
		if e.Result == "Success" && e.Transferee != nil && e.TransferTarget != nil {
			n.attendedTransfer(e.Transferee.ID, e.TransferTarget.ID)
		}
	case *ari.DeviceStateChanged:
		n.setDeviceState(e.DeviceState.Name, e.DeviceState.State)
	case *ari.PeerStatusChange:
		n.peerStatus(e.Endpoint.Technology+"/"+e.Endpoint.Resource, e.Peer.PeerStatus)
	case *ari.ContactStatusChange:
		if e.Endpoint.Technology == "PJSIP" {
			n.contactStatus(e.Endpoint.Resource, e.ContactInfo.URI, e.ContactInfo.ContactStatus, "")
		}
	case *ari.EndpointStateChange:
		n.ariEndpoint(&e.Endpoint)
	}
}

// ariEndpoint applies an ARI endpoint object (event or snapshot).
func (n *Normalizer) ariEndpoint(ep *ari.Endpoint) {
	if ep.Technology == "" || ep.Resource == "" {
		return
	}
	t := n.term(ep.Technology + "/" + ep.Resource)
	t.endpoint = true
	if ep.State != nil {
		switch *ep.State {
		case "online":
			t.peerUp, t.peerKnown = true, true
		case "offline":
			t.peerUp, t.peerKnown = false, true
		}
	}
}
