package pbxsim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// OriginateRequest is an originate as ARI POST /channels or AMI Originate
// carries it.
type OriginateRequest struct {
	// Endpoint is what is called first, e.g. "Local/9001@customers" (a
	// simulated customer) or "Local/1003@agents" (a simulated agent).
	Endpoint string
	// Extension and Context are where the answered endpoint is sent
	// (context "default" of the recorded dialplan: 10XX agents/phones,
	// 1099 never answers, 8000/8001 queues, 701-720 parked-call pickup,
	// 7000 ConfBridge). Ignored when App is set.
	Extension, Context string
	// App sends the channel into this Stasis application instead.
	App string
	// CallerName, if set, replaces the simulated customer's caller name
	// ("Customer 9001") in every event of the call; RunTraffic puts its
	// latency stamp here.
	CallerName string
}

// Originate starts the call flow the simulated dialplan runs for req and
// returns the ARI channel object of the originated channel. Which recorded
// flow plays follows the dialplan and the engine's state: a queue with no
// available member plays the abandon flow, customers 98XX hang up after 8 s,
// an extension whose PJSIP endpoint is registered is dialled over PJSIP.
func (p *PBX) Originate(req OriginateRequest) (json.RawMessage, error) {
	num, ctx, ok := localNumber(req.Endpoint)
	if !ok {
		return nil, fmt.Errorf("%w: endpoint %q is not a simulated Local channel", ErrBadRequest, req.Endpoint)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	// the first channel the flow creates now is the originated one; its
	// object is captured as it evolves (the flow may destroy it at once).
	p.capture = &capture{}
	defer func() { p.capture = nil }()
	if _, err := p.originateLocked(num, ctx, req); err != nil {
		return nil, err
	}
	if p.capture.obj == nil {
		return nil, fmt.Errorf("%w: flow created no channel", ErrNoFlow)
	}
	return p.capture.obj, nil
}

// capture follows the first channel created during an originate.
type capture struct {
	id  string
	obj json.RawMessage
}

func (p *PBX) originateLocked(num, ctx string, req OriginateRequest) (*instance, error) {
	binds := map[string]string{}
	cont := func(kind, ext string, key string) (*instance, error) {
		for _, in := range p.instances() {
			if ext == "pickup" && in.binds["space"] != req.Extension {
				continue
			}
			if sc, ok := p.findNext(in, kind, -1, ext); ok {
				if ext == "pickup" {
					in.pickedUp = true
				}
				in.binds[key] = num
				in.mark = p.usedSlots(in)
				p.continueFlow(in, sc)
				return in, nil
			}
		}
		return nil, fmt.Errorf("%w: nothing waits for an originate to %s", ErrNoFlow, ext)
	}
	start := func(name string) (*instance, error) {
		binds["cust"] = num
		binds["custname"] = "Customer " + num
		if req.CallerName != "" {
			binds["custname"] = req.CallerName
		}
		return p.startFlow(name, binds)
	}
	if req.App != "" {
		if ctx == "customers" {
			return start("hold-ari")
		}
		return cont(trigOriginate, "stasis", "agent")
	}
	ext := req.Extension
	if ctx != "customers" && !isParkSpace(ext) && ext != "7000" {
		return nil, fmt.Errorf("%w: only simulated customers (Local/9XXX@customers) place calls to %s", ErrNoFlow, ext)
	}
	if q := p.queueByExt(ext); q != nil {
		if q.name != "support" {
			return nil, fmt.Errorf("%w: queue %s has no recorded call flow (only support, 8000)", ErrNoFlow, q.name)
		}
		if !q.available() {
			return start("queue-abandon")
		}
		return start("queue")
	}
	switch {
	case isParkSpace(ext):
		return cont(trigOriginate, "pickup", "picker")
	case ext == "7000":
		if in, err := cont(trigOriginate, "conf", "agent"); err == nil {
			return in, nil
		}
		return start("confbridge")
	case ext == "1099":
		return start("hangup-ringing")
	case len(ext) == 4 && strings.HasPrefix(ext, "10"):
		binds["agent"] = ext
		if ctx == "customers" && strings.HasPrefix(num, "98") {
			return start("hangup-self")
		}
		if e := p.endpoint(ext); e != nil && e.online {
			return start("register")
		}
		return start("park")
	}
	return nil, fmt.Errorf("%w: extension %q@%s", ErrNoFlow, ext, req.Context)
}

func isParkSpace(ext string) bool {
	return len(ext) == 3 && ext >= "701" && ext <= "720"
}

func (p *PBX) queueByExt(ext string) *queue {
	for _, q := range p.queues {
		if q.ext == ext {
			return q
		}
	}
	return nil
}

func (p *PBX) endpoint(res string) *endpoint {
	for _, e := range p.endpoints {
		if e.resource == res {
			return e
		}
	}
	return nil
}

// instances lists running flows, oldest first. Caller holds p.mu.
func (p *PBX) instances() []*instance {
	seen := map[*instance]bool{}
	var out []*instance
	for _, in := range p.byUID {
		if !seen[in] {
			seen[in] = true
			out = append(out, in)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].id < out[j-1].id; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (p *PBX) usedSlots(in *instance) int {
	n := 0
	for i, u := range in.uids {
		if u != "" {
			n = i + 1
		}
	}
	return n
}

// chanByName resolves a channel name to its uniqueid. Caller holds p.mu.
func (p *PBX) chanByName(name string) string {
	for id, c := range p.ariChans {
		if c.name == name {
			return id
		}
	}
	for id, c := range p.amiChans {
		for _, f := range c.base {
			if f.Key == "Channel" && f.Value == name {
				return id
			}
		}
	}
	return ""
}

func (p *PBX) exists(id string) bool {
	return p.ariChans[id] != nil || p.amiChans[id] != nil
}

// act continues the flow owning channel id with an action of kind, or
// reports false when no flow continues that way.
func (p *PBX) act(id, kind, ext string, binds map[string]string) bool {
	in := p.byUID[id]
	if in == nil {
		return false
	}
	sc, ok := p.findNext(in, kind, in.slotOf(id), ext)
	if !ok {
		return false
	}
	for k, v := range binds {
		in.binds[k] = v
	}
	if kind == trigPark || (kind == trigBlindXfer && ext == "park") {
		space := p.freeSpace()
		if space == "" {
			return false
		}
		in.binds["space"] = space
	}
	in.mark = p.usedSlots(in)
	p.continueFlow(in, sc)
	return true
}

// freeSpace returns the lowest free parking space of lot 701-720, or "".
// A space is taken while a call is parked in it or a flow has parked a
// call there that was not picked up yet. Caller holds p.mu.
func (p *PBX) freeSpace() string {
	used := map[string]bool{}
	for _, pc := range p.parked {
		used[pc.space] = true
	}
	for _, in := range p.instances() {
		if s := in.binds["space"]; s != "" && !in.pickedUp && in.next < len(in.sc.phases) {
			used[s] = true
		}
	}
	for n := 701; n <= 720; n++ {
		if s := strconv.Itoa(n); !used[s] {
			return s
		}
	}
	return ""
}

// Hangup hangs up channel id (ARI DELETE /channels/{id}); reason is ARI's
// reason ("normal", "busy", …). A flow that recorded this hangup plays its
// recording; any other channel is hung up by the engine (with its bridge
// peers' legs, queue and parking state).
func (p *PBX) Hangup(id, reason string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exists(id) {
		return ErrNoChannel
	}
	if p.act(id, trigHangup, "", nil) {
		return nil
	}
	p.hangupNative(id, causeOf(reason))
	return nil
}

// HangupByName is AMI Hangup of the channel called name.
func (p *PBX) HangupByName(name string, cause int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.chanByName(name)
	if id == "" {
		return ErrNoChannel
	}
	if p.act(id, trigAMIHangup, "", nil) || p.act(id, trigHangup, "", nil) {
		return nil
	}
	if cause == 0 {
		cause = 16
	}
	p.hangupNative(id, cause)
	return nil
}

func causeOf(reason string) int {
	switch reason {
	case "busy":
		return 17
	case "congestion":
		return 34
	case "no_answer":
		return 19
	case "rejected":
		return 21
	case "unallocated":
		return 1
	case "failure":
		return 38
	}
	return 16
}

// flowAction runs an AMI call-control action on channel name.
func (p *PBX) flowAction(name, kind, ext string, binds map[string]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.chanByName(name)
	if id == "" {
		return ErrNoChannel
	}
	if !p.act(id, kind, ext, binds) {
		return fmt.Errorf("%w: %s of %s", ErrNoFlow, kind, name)
	}
	return nil
}

// Park parks channel name in the default lot (AMI Park).
func (p *PBX) Park(name string) error { return p.flowAction(name, trigPark, "", nil) }

// BlindTransfer transfers the peer of channel name to exten (AMI
// BlindTransfer); exten 700 parks it.
func (p *PBX) BlindTransfer(name, exten string) error {
	class := "ext"
	if exten == "700" {
		class = "park"
	}
	return p.flowAction(name, trigBlindXfer, class, map[string]string{"xfer": exten})
}

// Atxfer starts an attended transfer of channel name's peer to exten; the
// transfer completes when the transferer hangs up.
func (p *PBX) Atxfer(name, exten string) error {
	return p.flowAction(name, trigAtxfer, "ext", map[string]string{"xfer": exten})
}

// Redirect sends channel name to exten (AMI Redirect).
func (p *PBX) Redirect(name, exten string) error {
	class := "ext"
	p.mu.Lock()
	if q := p.queueByExt(exten); q != nil && q.name == "support" {
		class = "queue"
	}
	p.mu.Unlock()
	return p.flowAction(name, trigRedirect, class, nil)
}

// confAction plays the next mute/unmute phase of a conference flow.
func (p *PBX) confAction(conf, kind string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, in := range p.instances() {
		if sc, ok := p.findNext(in, kind, -1, ""); ok {
			p.continueFlow(in, sc)
			return nil
		}
	}
	return p.confNative(conf, kind == trigConfMute)
}

// SIPCallWithHold plays the recorded SIP call: endpoint 1001 calls 1003,
// holds, unholds and hangs up (hold-sip).
func (p *PBX) SIPCallWithHold() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.startFlow("hold-sip", map[string]string{})
	return err
}

// stasisOp runs a channel operation that needs a Stasis channel.
func (p *PBX) stasisOp(id, kind, ext string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exists(id) {
		return ErrNoChannel
	}
	if !p.stasis[id] {
		return errNotInStasis
	}
	class := ""
	if q := p.queueByExt(ext); kind == trigContinue && q != nil && q.name == "support" {
		class = "queue"
	}
	p.act(id, kind, class, nil)
	return nil
}

// bridgeOp runs an ARI bridge operation; create returns the bridge object.
func (p *PBX) bridgeOp(id, kind string) (json.RawMessage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, in := range p.instances() {
		owns := id == ""
		for _, b := range in.brs {
			if b == id {
				owns = true
			}
		}
		if !owns {
			continue
		}
		if sc, ok := p.findNext(in, kind, -1, ""); ok {
			p.continueFlow(in, sc)
			if kind == trigBridgeNew && len(in.brs) > 0 {
				if b := p.ariBridges[in.brs[len(in.brs)-1]]; b != nil {
					return append(json.RawMessage(nil), b.obj...), nil
				}
			}
			return nil, nil
		}
	}
	if id != "" && p.ariBridges[id] == nil {
		return nil, ErrNotFound
	}
	if kind == trigBridgeMOH || kind == trigBridgeOff {
		return nil, nil
	}
	return nil, fmt.Errorf("%w: bridge %s", ErrNoFlow, kind)
}
