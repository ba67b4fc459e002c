package pbxsim

import "time"

// Faults injected on command. Each returns at once; the effect on clients
// is asynchronous (sockets close, writers pause).

// DropARI closes every ARI events WebSocket without a close frame, as a
// crashed or unreachable Asterisk would. REST keeps working.
func (p *PBX) DropARI() int {
	p.mu.Lock()
	conns := make([]*ariConn, 0, len(p.ariConns))
	for c := range p.ariConns {
		conns = append(conns, c)
		delete(p.ariConns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	return len(conns)
}

// DropAMI closes every AMI session.
func (p *PBX) DropAMI() int {
	p.mu.Lock()
	conns := make([]*amiConn, 0, len(p.amiConns)+len(p.amiPending))
	for c := range p.amiConns {
		conns = append(conns, c)
		delete(p.amiConns, c)
	}
	for c := range p.amiPending {
		conns = append(conns, c)
		delete(p.amiPending, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	return len(conns)
}

// StallWrites makes every ARI and AMI writer of the PBX pause for d (events
// keep queuing; a queue that overflows its byte bound drops its client).
func (p *PBX) StallWrites(d time.Duration) {
	p.stallUntil.Store(time.Now().Add(d).UnixNano())
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.ariConns {
		c.q.signal()
	}
	for c := range p.amiConns {
		c.q.signal()
	}
}

// Restart simulates an Asterisk restart: every channel, bridge, queue caller
// and parked call is gone without events, uptime restarts, queue members
// and registrations return to the configuration, all ARI sockets and AMI
// sessions are dropped. Clients that log in again get FullyBooted.
func (p *PBX) Restart() {
	p.mu.Lock()
	p.reset()
	p.mu.Unlock()
	p.DropARI()
	p.DropAMI()
}

// MalformedARI sends a frame of broken JSON to every ARI events socket.
func (p *PBX) MalformedARI() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.ariConns {
		c.q.push([]byte(`{"type":"ChannelCreated","timestamp":"2026-11-23T14:07:34.258+0000","channel":{"id":`))
	}
}

// MalformedAMI sends garbage lines (no colon, binary, an over-long line
// prefix) followed by a truncated event to every AMI session with events on.
func (p *PBX) MalformedAMI() {
	p.mu.Lock()
	defer p.mu.Unlock()
	junk := []byte("this is not an AMI line\r\n\x00\x01\x02\xff\r\nEvent: Newchannel\r\nChannel\r\n: no key\r\n\r\n")
	for c := range p.amiConns {
		if c.events.Load() {
			c.q.push(junk)
		}
	}
}
