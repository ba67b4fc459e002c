package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// amiProxy forwards TCP connections to one simulated PBX's AMI port and
// counts how many are open at once. A connector holds one AMI session, so
// more than one open at any moment means two connectors ran for the same
// PBX — the failover scenario's "never two live connectors" check, seen
// from the PBX's side.
type amiProxy struct {
	ln      net.Listener
	backend string

	mu     sync.Mutex // guards the fields below
	conns  map[net.Conn]struct{}
	active int
	peak   int
	total  int
	closed bool

	wg sync.WaitGroup // accept loop and pipe goroutines
}

func newAMIProxy(backend string) (*amiProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ami proxy listen: %w", err)
	}
	p := &amiProxy{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *amiProxy) addr() string { return p.ln.Addr().String() }

func (p *amiProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.DialTimeout("tcp", p.backend, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			b.Close()
			return
		}
		p.conns[c], p.conns[b] = struct{}{}, struct{}{}
		p.active++
		p.total++
		p.peak = max(p.peak, p.active)
		p.mu.Unlock()
		p.wg.Add(1)
		go p.pipe(c, b)
	}
}

// pipe copies both ways until either side closes, then closes both.
func (p *amiProxy) pipe(c, b net.Conn) {
	defer p.wg.Done()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(b, c)
	go cp(c, b)
	<-done
	c.Close()
	b.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, b)
	p.active--
	p.mu.Unlock()
}

// counts returns the sessions open now, the most ever open at once and
// the number accepted.
func (p *amiProxy) counts() (active, peak, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active, p.peak, p.total
}

// close stops accepting, closes every session and waits.
func (p *amiProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
