package ami

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// malformedLogEvery rate-limits the log of skipped frames.
const malformedLogEvery = 10 * time.Second

// readLoop parses frames until the connection fails. It never blocks on a
// consumer: every frame is dispatched under c.mu without waiting.
func (c *Client) readLoop() {
	defer c.wg.Done()
	var lastLog time.Time
	var skipped uint64
	for {
		m, err := c.rd.ReadMessage()
		if err != nil {
			if Recoverable(err) {
				c.st[stMalformed].Add(1)
				skipped++
				if now := time.Now(); now.Sub(lastLog) >= malformedLogEvery {
					c.log.Warn("ami frame skipped", "err", err, "skipped", skipped)
					lastLog, skipped = now, 0
				}
				continue
			}
			if c.quit.Load() && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)) {
				err = ErrClosed
			} else {
				err = fmt.Errorf("ami read: %w", err)
			}
			c.fail(err)
			return
		}
		size := c.rd.FrameBytes()
		c.st[stFrames].Add(1)
		c.st[stBytes].Add(uint64(size))
		if err := c.dispatch(m, size); err != nil {
			c.fail(err)
			return
		}
	}
}

// dispatch routes one frame: a response to its call, an event carrying the
// ActionID of a pending list to that list, any other event to the queue.
// It returns ErrSlowConsumer when the queue is full.
func (c *Client) dispatch(m *Message, size int) error {
	isResponse := strings.EqualFold(m.Fields[0].Key, "Response")
	if !isResponse && !m.Has("Event") {
		c.st[stUnmatched].Add(1)
		return nil
	}
	id := m.Get("ActionID")
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.pending[id]
	if id == "" {
		cl = nil
	}
	if isResponse {
		if cl == nil || cl.resp != nil {
			c.st[stUnmatched].Add(1)
			return nil
		}
		c.onResponse(id, cl, m)
		return nil
	}
	if cl != nil && cl.list && cl.resp != nil && cl.complete == nil {
		c.onListEvent(id, cl, m, size)
		return nil
	}
	// The queue is charged wireSize, which pump can recompute on the way out.
	qsize := m.wireSize()
	if len(c.queue)-c.qhead >= c.cfg.EventBuffer || c.qbytes+qsize > c.cfg.EventBufferBytes {
		return fmt.Errorf("%w: %d events, %d bytes queued", ErrSlowConsumer, len(c.queue)-c.qhead, c.qbytes)
	}
	if c.qhead > 0 && c.qhead >= len(c.queue)/2 {
		// Compact: the backing array never outgrows twice the live queue.
		n := copy(c.queue, c.queue[c.qhead:])
		clear(c.queue[n:])
		c.queue, c.qhead = c.queue[:n], 0
	}
	c.queue = append(c.queue, m)
	c.qbytes += qsize
	c.st[stEvents].Add(1)
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

// onResponse settles cl with response m. Called with c.mu held.
func (c *Client) onResponse(id string, cl *call, m *Message) {
	resp := &Response{Message: *m}
	cl.resp = resp
	status := resp.Status()
	if cl.list && strings.EqualFold(status, "Success") && strings.EqualFold(m.Get("EventList"), "start") {
		return // the list follows
	}
	delete(c.pending, id)
	if cl.abandoned {
		c.st[stDiscarded].Add(1)
		return
	}
	if strings.EqualFold(status, "Error") {
		cl.err = &Error{Action: cl.action, Message: m.Get("Message")}
	}
	c.finish(cl)
}

// onListEvent adds event m to list call cl. Called with c.mu held.
func (c *Client) onListEvent(id string, cl *call, m *Message, size int) {
	last := strings.EqualFold(m.Get("EventList"), "Complete")
	if last {
		delete(c.pending, id)
	}
	if cl.abandoned || cl.finished {
		c.st[stDiscarded].Add(1)
		return
	}
	if last {
		cl.complete = m
		c.finish(cl)
		return
	}
	cl.bytes += size
	if cl.bytes > c.cfg.MaxListBytes {
		cl.items = nil
		cl.err = fmt.Errorf("ami %s: %w (over %d bytes)", cl.action, ErrListTooLarge, c.cfg.MaxListBytes)
		c.finish(cl) // stays pending to swallow the rest
		return
	}
	cl.items = append(cl.items, m)
}

// finish closes cl.done once. Called with c.mu held.
func (c *Client) finish(cl *call) {
	if !cl.finished {
		cl.finished = true
		close(cl.done)
	}
}

// pump hands queued events to the consumer of Events, one at a time. After
// a failure it delivers what was queued and closes Events; after Close it
// stops at once.
func (c *Client) pump() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		c.mu.Lock()
		var m *Message
		if c.qhead < len(c.queue) {
			m = c.queue[c.qhead]
			c.queue[c.qhead] = nil
			c.qhead++
			c.qbytes -= m.wireSize()
		}
		failed := c.err != nil
		c.mu.Unlock()
		if m == nil {
			if failed {
				return
			}
			select {
			case <-c.notify:
			case <-c.done:
			case <-c.closing:
				return
			}
			continue
		}
		select {
		case c.events <- m:
		case <-c.closing:
			return
		}
	}
}

// writeLoop sends queued frames, coalescing whatever is queued into one
// write, and runs the keepalive: a Ping every PingInterval whose answer must
// come within PingTimeout.
func (c *Client) writeLoop() {
	defer c.wg.Done()
	bw := bufio.NewWriterSize(c.conn, 2048)
	var timer *time.Timer
	var tick <-chan time.Time
	if c.cfg.PingInterval > 0 {
		timer = time.NewTimer(c.cfg.PingInterval)
		defer timer.Stop()
		tick = timer.C
	}
	var pingDone <-chan struct{} // the outstanding ping's call, nil if none
	for {
		select {
		case frame := <-c.out:
			if err := c.write(bw, frame); err != nil {
				c.fail(err)
				return
			}
		case <-pingDone:
			pingDone = nil
			timer.Reset(c.cfg.PingInterval)
		case <-tick:
			if pingDone != nil {
				c.fail(fmt.Errorf("%w: no answer in %v", ErrPingTimeout, c.cfg.PingTimeout))
				return
			}
			cl, frame, err := c.startPing()
			if err != nil {
				return // the client has failed
			}
			if err := c.write(bw, frame); err != nil {
				c.fail(err)
				return
			}
			pingDone = cl.done
			timer.Reset(c.cfg.PingTimeout)
		case <-c.done:
			return
		}
	}
}

// startPing registers a keepalive Ping call.
func (c *Client) startPing() (*call, []byte, error) {
	id := c.newID()
	frame, _ := encodeAction(Message{Fields: []Field{{"Action", "Ping"}}}, id)
	cl := &call{id: id, action: "Ping", done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, nil, c.err
	}
	c.pending[id] = cl
	return cl, frame, nil
}

// write buffers frame and whatever else is queued, then flushes, all under
// one write deadline.
func (c *Client) write(bw *bufio.Writer, frame []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	bw.Write(frame)
	for more := true; more; {
		select {
		case f := <-c.out:
			bw.Write(f)
		default:
			more = false
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("ami write: %w", err)
	}
	return nil
}
