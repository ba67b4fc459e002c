package pbxsim

import (
	"strings"
	"sync"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// Call-control actions a CTI server sends that the recorded flows do not
// contain: MuteAudio, MixMonitor/StopMixMonitor with their events,
// PlayDTMF, and Originate of a ChanSpy application. They act on any live
// channel and leave the flow that owns it untouched.

// ctiState is the per-PBX truth of those actions.
type ctiState struct {
	mu        sync.Mutex        // guards the fields below
	muted     map[string]bool   // channel name -> muted (MuteAudio Direction in/all)
	recording map[string]bool   // channel name -> MixMonitor running
	dtmf      map[string]string // channel name -> digits played
	spies     []Spy             // ChanSpy originates, in order
}

// ctiStates maps *PBX to its *ctiState (kept beside PBX so the engine's
// struct stays as it is).
var ctiStates sync.Map

func (p *PBX) cti() *ctiState {
	if s, ok := ctiStates.Load(p); ok {
		return s.(*ctiState)
	}
	s, _ := ctiStates.LoadOrStore(p, &ctiState{muted: map[string]bool{}, recording: map[string]bool{}, dtmf: map[string]string{}})
	return s.(*ctiState)
}

// Spy is an Originate of ChanSpy: Endpoint listens to the channels whose
// name starts with Target, with ChanSpy Options.
type Spy struct {
	Endpoint, Target, Options, ChannelID string
}

// Muted reports whether channel name's inbound audio is muted (MuteAudio).
func (p *PBX) Muted(name string) bool {
	s := p.cti()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.muted[name]
}

// Recording reports whether a MixMonitor runs on channel name.
func (p *PBX) Recording(name string) bool {
	s := p.cti()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recording[name]
}

// DTMFPlayed returns the digits PlayDTMF played on channel name, in order.
func (p *PBX) DTMFPlayed(name string) string {
	s := p.cti()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dtmf[name]
}

// Spies returns the ChanSpy originates received, in order.
func (p *PBX) Spies() []Spy {
	s := p.cti()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Spy(nil), s.spies...)
}

// ctiAction runs the actions above; ok is false for any other action.
func (p *PBX) ctiAction(action, id string, m *ami.Message) (frames [][]byte, ok bool) {
	s := p.cti()
	name := m.Get("Channel")
	switch action {
	case "muteaudio":
		dir, state := strings.ToLower(m.Get("Direction")), strings.ToLower(m.Get("State"))
		if dir != "in" && dir != "out" && dir != "all" || state != "on" && state != "off" {
			return amiErr(id, "Invalid direction or state specified"), true
		}
		if err := p.channelMustExist(name); err != nil {
			return amiErr(id, "No such channel"), true
		}
		if dir != "out" {
			s.mu.Lock()
			s.muted[name] = state == "on"
			s.mu.Unlock()
		}
		return amiOK(id, "Audio muting changed"), true
	case "playdtmf":
		d := m.Get("Digit")
		if d == "" {
			return amiErr(id, "No digit specified"), true
		}
		if err := p.channelMustExist(name); err != nil {
			return amiErr(id, "No such channel"), true
		}
		s.mu.Lock()
		s.dtmf[name] += d
		s.mu.Unlock()
		return amiOK(id, "DTMF successfully queued"), true
	case "mixmonitor", "stopmixmonitor":
		start := action == "mixmonitor"
		p.mu.Lock()
		uid := p.chanByName(name)
		ac := p.amiChans[uid]
		if uid == "" || ac == nil {
			p.mu.Unlock()
			return amiErr(id, "No such channel"), true
		}
		s.mu.Lock()
		was := s.recording[name]
		s.recording[name] = start
		s.mu.Unlock()
		if !start && !was {
			p.mu.Unlock()
			return amiErr(id, "Could not stop MixMonitor"), true
		}
		if start != was {
			ev := "MixMonitorStop"
			if start {
				ev = "MixMonitorStart"
			}
			p.emitAMI(ev, "call,all", append([]ami.Field(nil), ac.base...)...)
		}
		p.mu.Unlock()
		if start {
			return amiOK(id, ""), true
		}
		return amiOK(id, "MixMonitor stopped"), true
	case "originate":
		if !strings.EqualFold(m.Get("Application"), "ChanSpy") {
			return nil, false
		}
		if name == "" {
			return amiErr(id, "Channel not specified"), true
		}
		target, opts, _ := strings.Cut(m.Get("Data"), ",")
		s.mu.Lock()
		s.spies = append(s.spies, Spy{Endpoint: name, Target: target, Options: opts, ChannelID: m.Get("ChannelId")})
		s.mu.Unlock()
		return amiOK(id, "Originate successfully queued"), true
	}
	return nil, false
}
