package pbxsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// frameB builds a list item: Event, optional ActionID right after it (head)
// or at the end (tail), and fields.
type listItem struct {
	event    string
	fields   []ami.Field
	idAtTail bool
}

func (it listItem) bytes(id string) []byte {
	var b strings.Builder
	b.WriteString("Event: " + it.event + "\r\n")
	if id != "" && !it.idAtTail {
		b.WriteString("ActionID: " + id + "\r\n")
	}
	for _, f := range it.fields {
		b.WriteString(f.Key + ": " + f.Value + "\r\n")
	}
	if id != "" && it.idAtTail {
		b.WriteString("ActionID: " + id + "\r\n")
	}
	return []byte(b.String())
}

// eventList frames an EventList response: start, items, Complete.
func eventList(id, startMsg, complete string, items []listItem, extra ...ami.Field) [][]byte {
	out := [][]byte{response("Success", id, ami.Field{Key: "EventList", Value: "start"}, msg(startMsg))}
	for _, it := range items {
		out = append(out, it.bytes(id))
	}
	tail := append([]ami.Field{{Key: "EventList", Value: "Complete"}, {Key: "ListItems", Value: strconv.Itoa(len(items))}}, extra...)
	out = append(out, listItem{event: complete, fields: tail}.bytes(id))
	return out
}

func amiErr(id, text string) [][]byte { return [][]byte{response("Error", id, msg(text))} }
func amiOK(id, text string) [][]byte  { return [][]byte{response("Success", id, msg(text))} }

// maxFilters bounds a session's Filter lines (each is run on every event).
const maxFilters = 64

// amiAction runs one action of a logged-in session and returns its frames.
func (p *PBX) amiAction(c *amiConn, action, id string, m *ami.Message) [][]byte {
	flowErr := func(err error, ok string) [][]byte {
		switch {
		case err == nil:
			return amiOK(id, ok)
		case errors.Is(err, ErrNoChannel):
			return amiErr(id, "No such channel")
		case errors.Is(err, ErrNotFound):
			return amiErr(id, "Not found")
		default:
			return amiErr(id, err.Error())
		}
	}
	if fr, ok := p.ctiAction(action, id, m); ok { // amiactions_cti.go
		return fr
	}
	switch action {
	case "ping":
		return [][]byte{pong(id, p.now())}
	case "events":
		mask := strings.ToLower(m.Get("EventMask"))
		on := mask != "off" && mask != "" && mask != "no" && mask != "false"
		c.events.Store(on)
		v := "Off"
		if on {
			v = "On"
		}
		return [][]byte{response("Success", id, ami.Field{Key: "Events", Value: v})}
	case "filter":
		f := m.Get("Filter")
		if f == "" {
			return amiErr(id, "Filter Required")
		}
		neg := strings.HasPrefix(f, "!")
		re, err := regexp.Compile(strings.TrimPrefix(f, "!"))
		if err != nil {
			return amiErr(id, "Invalid Filter")
		}
		c.fmu.Lock()
		if len(c.allow)+len(c.disallw) >= maxFilters {
			c.fmu.Unlock()
			return amiErr(id, "Too many filters")
		}
		if neg {
			c.disallw = append(c.disallw, re)
		} else {
			c.allow = append(c.allow, re)
		}
		c.fmu.Unlock()
		return amiOK(id, "Filter Added Successfully")
	case "originate":
		ch := m.Get("Channel")
		if ch == "" {
			return amiErr(id, "Channel not specified")
		}
		req := OriginateRequest{Endpoint: ch, Extension: m.Get("Exten"), Context: m.Get("Context"), App: m.Get("Application")}
		if isTrue(m.Get("Async")) {
			// queued first, the outcome follows as an event (Failure included)
			c.send(response("Success", id, msg("Originate successfully queued")))
			obj, err := p.Originate(req)
			p.originateResponse(id, m, jsonID(obj), err)
			return nil
		}
		_, err := p.Originate(req)
		if err != nil {
			return amiErr(id, "Originate failed")
		}
		return amiOK(id, "Originate successfully queued")
	case "hangup":
		cause, _ := strconv.Atoi(m.Get("Cause"))
		return flowErr(p.HangupByName(m.Get("Channel"), cause), "Channel Hungup")
	case "redirect":
		return flowErr(p.Redirect(m.Get("Channel"), m.Get("Exten")), "Redirect successful")
	case "blindtransfer":
		return flowErr(p.BlindTransfer(m.Get("Channel"), m.Get("Exten")), "Transfer succeeded")
	case "atxfer":
		return flowErr(p.Atxfer(m.Get("Channel"), m.Get("Exten")), "Atxfer successfully queued")
	case "park":
		return flowErr(p.Park(m.Get("Channel")), "Park successful")
	case "playdtmf":
		if m.Get("Digit") == "" {
			return amiErr(id, "No digit specified")
		}
		return flowErr(p.channelMustExist(m.Get("Channel")), "DTMF successfully queued")
	case "mixmonitor":
		return flowErr(p.channelMustExist(m.Get("Channel")), "")
	case "stopmixmonitor":
		return flowErr(p.channelMustExist(m.Get("Channel")), "MixMonitor stopped")
	case "setvar":
		if m.Get("Variable") == "" {
			return amiErr(id, "No variable specified")
		}
		if ch := m.Get("Channel"); ch != "" {
			if err := p.channelMustExist(ch); err != nil {
				return flowErr(err, "")
			}
		}
		return amiOK(id, "Variable Set")
	case "getvar":
		if ch := m.Get("Channel"); ch != "" {
			if err := p.channelMustExist(ch); err != nil {
				return flowErr(err, "")
			}
		}
		return [][]byte{response("Success", id, ami.Field{Key: "Variable", Value: m.Get("Variable")}, ami.Field{Key: "Value", Value: ""})}
	case "queuepause":
		paused := isTrue(m.Get("Paused"))
		ok := "Interface unpaused successfully"
		if paused {
			ok = "Interface paused successfully"
		}
		if err := p.QueuePause(m.Get("Queue"), m.Get("Interface"), paused, m.Get("Reason")); err != nil {
			return amiErr(id, "Interface not found")
		}
		return amiOK(id, ok)
	case "queueadd":
		pen, _ := strconv.Atoi(m.Get("Penalty"))
		if err := p.QueueAdd(m.Get("Queue"), m.Get("Interface"), m.Get("MemberName"), pen, isTrue(m.Get("Paused"))); err != nil {
			if errors.Is(err, ErrNotFound) {
				return amiErr(id, "Unable to add interface to queue: No such queue")
			}
			return amiErr(id, "Unable to add interface: Already there")
		}
		return amiOK(id, "Added interface to queue")
	case "queueremove":
		if err := p.QueueRemove(m.Get("Queue"), m.Get("Interface")); err != nil {
			return amiErr(id, "Unable to remove interface: Not there")
		}
		return amiOK(id, "Removed interface from queue")
	case "confbridgemute", "confbridgeunmute":
		kind, ok := trigConfMute, "User muted"
		if action == "confbridgeunmute" {
			kind, ok = trigConfUnmut, "User unmuted"
		}
		if err := p.confAction(m.Get("Conference"), kind); err != nil {
			return amiErr(id, "No Conference by that name found.")
		}
		return amiOK(id, ok)
	case "queuestatus":
		return p.amiQueueStatus(id, m.Get("Queue"))
	case "queuesummary":
		return p.amiQueueSummary(id, m.Get("Queue"))
	case "coreshowchannels":
		return p.amiCoreShowChannels(id)
	case "status":
		return p.amiStatus(id)
	case "parkedcalls":
		return p.amiParkedCalls(id)
	case "bridgelist":
		return p.amiBridgeList(id)
	case "devicestatelist":
		return p.amiDeviceStateList(id)
	case "pjsipshowendpoints":
		return p.amiEndpoints(id)
	case "confbridgelist":
		return p.amiConfbridgeList(id, m.Get("Conference"))
	case "extensionstatelist":
		return p.amiExtensionStates(id)
	case "coresettings":
		return [][]byte{response("Success", id, []ami.Field{
			{Key: "AMIversion", Value: "11.0.0"}, {Key: "AsteriskVersion", Value: "22.10.1"}, {Key: "SystemName", Value: ""},
			{Key: "CoreMaxCalls", Value: "0"}, {Key: "CoreMaxLoadAvg", Value: "0.000000"}, {Key: "CoreRunUser", Value: ""},
			{Key: "CoreRunGroup", Value: ""}, {Key: "CoreMaxFilehandles", Value: "0"}, {Key: "CoreRealTimeEnabled", Value: "No"},
			{Key: "CoreCDRenabled", Value: "No"}, {Key: "CoreHTTPenabled", Value: "No"}, {Key: "SoundsSearchCustomDir", Value: "No"}}...)}
	case "corestatus":
		p.mu.Lock()
		st := p.startup.UTC()
		calls := len(p.amiChans)
		processed := p.uidCounter
		p.mu.Unlock()
		return [][]byte{response("Success", id, []ami.Field{
			{Key: "CoreStartupDate", Value: st.Format("2006-01-02")}, {Key: "CoreStartupTime", Value: st.Format("15:04:05")},
			{Key: "CoreReloadDate", Value: st.Format("2006-01-02")}, {Key: "CoreReloadTime", Value: st.Format("15:04:05")},
			{Key: "CoreCurrentCalls", Value: strconv.Itoa(calls)}, {Key: "CoreProcessedCalls", Value: strconv.FormatUint(processed, 10)}}...)}
	}
	return amiErr(id, "Invalid/unknown command")
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "yes", "1", "on", "y", "t":
		return true
	}
	return false
}

func (p *PBX) channelMustExist(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name == "" || p.chanByName(name) == "" {
		return ErrNoChannel
	}
	return nil
}

func fieldVal(fs []ami.Field, k string) string {
	for _, f := range fs {
		if f.Key == k {
			return f.Value
		}
	}
	return ""
}

func (p *PBX) amiQueueStatus(id, only string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var items []listItem
	now := p.now()
	for _, qn := range p.queueOrder {
		q := p.queues[qn]
		if only != "" && only != q.name {
			continue
		}
		items = append(items, listItem{event: "QueueParams", idAtTail: true, fields: []ami.Field{
			{Key: "Queue", Value: q.name}, {Key: "Max", Value: "0"}, {Key: "Strategy", Value: q.strategy},
			{Key: "Calls", Value: strconv.Itoa(len(q.callers))}, {Key: "Holdtime", Value: strconv.Itoa(q.holdtime)},
			{Key: "TalkTime", Value: strconv.Itoa(q.talktime)}, {Key: "Completed", Value: strconv.Itoa(q.completed)},
			{Key: "Abandoned", Value: strconv.Itoa(q.abandoned)}, {Key: "ServiceLevel", Value: "0"},
			{Key: "ServicelevelPerf", Value: "0.0"}, {Key: "ServicelevelPerf2", Value: "0.0"}, {Key: "Weight", Value: "0"}}})
		for _, mb := range q.members {
			f := memberFields(q, mb)
			// QueueMember names the member Name and Location, and has no Ringinuse.
			out := []ami.Field{{Key: "Queue", Value: q.name}, {Key: "Name", Value: mb.name}, {Key: "Location", Value: mb.iface}}
			for _, x := range f[3:] {
				if x.Key != "Ringinuse" {
					out = append(out, x)
				}
			}
			items = append(items, listItem{event: "QueueMember", idAtTail: true, fields: out})
		}
		for i, cl := range q.callers {
			items = append(items, listItem{event: "QueueEntry", idAtTail: true, fields: []ami.Field{
				{Key: "Queue", Value: q.name}, {Key: "Position", Value: strconv.Itoa(i + 1)},
				{Key: "Channel", Value: cl.channel}, {Key: "Uniqueid", Value: cl.uid},
				{Key: "CallerIDNum", Value: fieldVal(cl.base, "CallerIDNum")}, {Key: "CallerIDName", Value: fieldVal(cl.base, "CallerIDName")},
				{Key: "ConnectedLineNum", Value: fieldVal(cl.base, "ConnectedLineNum")}, {Key: "ConnectedLineName", Value: fieldVal(cl.base, "ConnectedLineName")},
				{Key: "Wait", Value: strconv.Itoa(int(now.Sub(cl.joined).Seconds()))}, {Key: "Priority", Value: "0"}}})
		}
	}
	return eventList(id, "Queue status will follow", "QueueStatusComplete", items)
}

func (p *PBX) amiQueueSummary(id, only string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var items []listItem
	now := p.now()
	for _, qn := range p.queueOrder {
		q := p.queues[qn]
		if only != "" && only != q.name {
			continue
		}
		logged, avail, longest := 0, 0, 0
		for _, mb := range q.members {
			if mb.status != 5 {
				logged++
				if !mb.paused && !mb.inCall && mb.status == 1 {
					avail++
				}
			}
		}
		for _, cl := range q.callers {
			if w := int(now.Sub(cl.joined).Seconds()); w > longest {
				longest = w
			}
		}
		items = append(items, listItem{event: "QueueSummary", idAtTail: true, fields: []ami.Field{
			{Key: "Queue", Value: q.name}, {Key: "LoggedIn", Value: strconv.Itoa(logged)}, {Key: "Available", Value: strconv.Itoa(avail)},
			{Key: "Callers", Value: strconv.Itoa(len(q.callers))}, {Key: "HoldTime", Value: strconv.Itoa(q.holdtime)},
			{Key: "TalkTime", Value: strconv.Itoa(q.talktime)}, {Key: "LongestHoldTime", Value: strconv.Itoa(longest)}}})
	}
	return eventList(id, "Queue summary will follow", "QueueSummaryComplete", items)
}

// amiChannelsSorted lists AMI channels newest first, as Asterisk does.
func (p *PBX) amiChannelsSorted() []*amiChan {
	list := make([]*amiChan, 0, len(p.amiChans))
	for _, c := range p.amiChans {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	return list
}

func hms(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

func (p *PBX) amiCoreShowChannels(id string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var items []listItem
	now := p.now()
	for _, c := range p.amiChannelsSorted() {
		f := append([]ami.Field(nil), c.base...)
		f = append(f, ami.Field{Key: "Application", Value: c.app}, ami.Field{Key: "ApplicationData", Value: c.appData},
			ami.Field{Key: "Duration", Value: hms(now.Sub(c.created))}, ami.Field{Key: "BridgeId", Value: c.bridgeID})
		items = append(items, listItem{event: "CoreShowChannel", fields: f})
	}
	return eventList(id, "Channels will follow", "CoreShowChannelsComplete", items)
}

func (p *PBX) amiStatus(id string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var items []listItem
	now := p.now()
	for _, c := range p.amiChannelsSorted() {
		name := fieldVal(c.base, "Channel")
		typ, _, _ := strings.Cut(name, "/")
		f := []ami.Field{{Key: "Privilege", Value: "Call"}}
		f = append(f, c.base...)
		f = append(f, []ami.Field{{Key: "Type", Value: typ}, {Key: "DNID", Value: ""},
			{Key: "EffectiveConnectedLineNum", Value: fieldVal(c.base, "ConnectedLineNum")},
			{Key: "EffectiveConnectedLineName", Value: fieldVal(c.base, "ConnectedLineName")},
			{Key: "TimeToHangup", Value: "0"}, {Key: "BridgeID", Value: c.bridgeID},
			{Key: "Application", Value: c.app}, {Key: "Data", Value: c.appData},
			{Key: "Nativeformats", Value: "(slin192)"}, {Key: "Readformat", Value: "slin192"}, {Key: "Readtrans", Value: ""},
			{Key: "Writeformat", Value: "slin192"}, {Key: "Writetrans", Value: ""}, {Key: "Callgroup", Value: "0"},
			{Key: "Pickupgroup", Value: "0"}, {Key: "Seconds", Value: strconv.Itoa(int(now.Sub(c.created).Seconds()))}}...)
		items = append(items, listItem{event: "Status", idAtTail: true, fields: f})
	}
	return eventList(id, "Channel status will follow", "StatusComplete", items, ami.Field{Key: "Items", Value: strconv.Itoa(len(items))})
}

func (p *PBX) amiParkedCalls(id string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var items []listItem
	now := p.now()
	for _, pc := range p.parked {
		el := int(now.Sub(pc.since).Seconds())
		var f []ami.Field
		for _, x := range pc.fields {
			switch x.Key {
			case "ParkingTimeout":
				x.Value = strconv.Itoa(max(pc.tmo-el, 0))
			case "ParkingDuration":
				x.Value = strconv.Itoa(el)
			}
			f = append(f, x)
		}
		items = append(items, listItem{event: "ParkedCall", idAtTail: true, fields: f})
	}
	return eventList(id, "Parked calls will follow", "ParkedCallsComplete", items, ami.Field{Key: "Total", Value: strconv.Itoa(len(items))})
}

func (p *PBX) amiBridgeList(id string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := make([]*ariBridge, 0, len(p.ariBridges))
	for _, b := range p.ariBridges {
		list = append(list, b)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	var items []listItem
	for _, b := range list {
		var bo bridgeObj
		if json.Unmarshal(b.obj, &bo) != nil {
			continue
		}
		items = append(items, listItem{event: "BridgeListItem", fields: bo.amiFields()})
	}
	return eventList(id, "Bridge listing will follow", "BridgeListComplete", items)
}

func (p *PBX) amiDeviceStateList(id string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var items []listItem
	for _, n := range p.deviceOrder {
		items = append(items, listItem{event: "DeviceStateChange", fields: []ami.Field{{Key: "Device", Value: n}, {Key: "State", Value: p.devices[n]}}})
	}
	return eventList(id, "Device State Changes will follow", "DeviceStateListComplete", items)
}

func (p *PBX) amiEndpoints(id string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var items []listItem
	for _, e := range p.endpoints {
		ej := p.endpointJSON(e)
		state, contacts := "Unavailable", ""
		if e.online {
			state = "Not in use"
			contacts = e.resource + "/" + e.contact + ","
			if len(ej.ChannelIDs) > 0 {
				state = "Busy"
			}
		}
		items = append(items, listItem{event: "EndpointList", fields: []ami.Field{
			{Key: "ObjectType", Value: "endpoint"}, {Key: "ObjectName", Value: e.resource}, {Key: "Transport", Value: ""},
			{Key: "Aor", Value: e.resource}, {Key: "Auths", Value: e.resource}, {Key: "OutboundAuths", Value: ""},
			{Key: "Contacts", Value: contacts}, {Key: "DeviceState", Value: state},
			{Key: "ActiveChannels", Value: strconv.Itoa(len(ej.ChannelIDs))}}})
	}
	return eventList(id, "A listing of Endpoints follows, presented as EndpointList events", "EndpointListComplete", items)
}

func (p *PBX) amiConfbridgeList(id, conf string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var items []listItem
	now := p.now()
	for _, c := range p.confs {
		if conf != "" && c.conf != conf {
			continue
		}
		muted := "No"
		if c.muted {
			muted = "Yes"
		}
		f := []ami.Field{{Key: "Conference", Value: c.conf}, {Key: "Admin", Value: "No"}, {Key: "MarkedUser", Value: "No"},
			{Key: "WaitMarked", Value: "No"}, {Key: "EndMarked", Value: "No"}, {Key: "EndMarkedAny", Value: "No"},
			{Key: "Waiting", Value: "No"}, {Key: "Muted", Value: muted}, {Key: "Talking", Value: "No"},
			{Key: "AnsweredTime", Value: strconv.Itoa(int(now.Sub(c.joined).Seconds()))}}
		f = append(f, c.base...)
		items = append(items, listItem{event: "ConfbridgeList", fields: f})
	}
	if len(items) == 0 {
		return amiErr(id, "No active conferences.")
	}
	return eventList(id, "Confbridge user list will follow", "ConfbridgeListComplete", items)
}

// amiExtensionStates lists the hints of the recorded dialplan: the parking
// spaces 701-720 (park:<space>@parkedcalls), in use while a call is parked.
func (p *PBX) amiExtensionStates(id string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	used := map[string]bool{}
	for _, pc := range p.parked {
		used[pc.space] = true
	}
	var items []listItem
	for n := 701; n <= 720; n++ {
		sp := strconv.Itoa(n)
		st, txt := "0", "Idle"
		if used[sp] {
			st, txt = "1", "InUse"
		}
		items = append(items, listItem{event: "ExtensionStatus", fields: []ami.Field{
			{Key: "Exten", Value: sp}, {Key: "Context", Value: "parkedcalls"}, {Key: "Hint", Value: "park:" + sp + "@parkedcalls"},
			{Key: "Status", Value: st}, {Key: "StatusText", Value: txt}}})
	}
	return eventList(id, "Extension Statuses will follow", "ExtensionStateListComplete", items)
}

// originateResponse raises the OriginateResponse event that follows an
// Async originate (fields as documented in ami-docs; Reason 4 is answered).
func (p *PBX) originateResponse(id string, m *ami.Message, uid string, err error) {
	resp, reason := "Success", "4"
	if err != nil || uid == "" {
		resp, reason, uid = "Failure", "0", "<null>"
	}
	var f []ami.Field
	if id != "" {
		f = append(f, ami.Field{Key: "ActionID", Value: id})
	}
	f = append(f, ami.Field{Key: "Response", Value: resp}, ami.Field{Key: "Channel", Value: m.Get("Channel")},
		ami.Field{Key: "Context", Value: m.Get("Context")}, ami.Field{Key: "Exten", Value: m.Get("Exten")},
		ami.Field{Key: "Application", Value: m.Get("Application")}, ami.Field{Key: "Data", Value: m.Get("Data")},
		ami.Field{Key: "Reason", Value: reason}, ami.Field{Key: "Uniqueid", Value: uid},
		ami.Field{Key: "CallerIDNum", Value: "<unknown>"}, ami.Field{Key: "CallerIDName", Value: "<unknown>"})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emitAMI("OriginateResponse", "call,all", f...)
}
