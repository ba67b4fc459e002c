package pbxsim

import (
	"bufio"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

const (
	amiBanner   = "Asterisk Call Manager/11.0.0\r\n"
	amiMaxLine  = 8 << 10
	amiMaxFrame = 64 << 10
)

// amiConn is one AMI session: a reader goroutine parsing actions and a
// writer goroutine draining q. serveAMI returns after both exit.
type amiConn struct {
	conn   net.Conn
	q      *outQueue
	done   chan struct{}
	once   sync.Once
	id     uint64
	events atomic.Bool // Events: on

	fmu     sync.Mutex // guards the filters
	allow   []*regexp.Regexp
	disallw []*regexp.Regexp
}

var amiSessionIDs atomic.Uint64

// send queues one frame, adding the blank line that ends it.
func (c *amiConn) send(b []byte) bool {
	return c.q.push(append(b[:len(b):len(b)], '\r', '\n'))
}

func (c *amiConn) kill() {
	c.once.Do(func() {
		close(c.done)
		_ = c.conn.Close()
	})
}

// wantsEvent applies Events on/off and the session's Filter lines.
func (c *amiConn) wantsEvent(b []byte) bool {
	if !c.events.Load() {
		return false
	}
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if len(c.allow) == 0 && len(c.disallw) == 0 {
		return true
	}
	s := string(b)
	ok := len(c.allow) == 0
	for _, re := range c.allow {
		if re.MatchString(s) {
			ok = true
			break
		}
	}
	for _, re := range c.disallw {
		if re.MatchString(s) {
			return false
		}
	}
	return ok
}

func (p *PBX) acceptAMI() {
	for {
		conn, err := p.amiLn.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		c := &amiConn{conn: conn, q: newOutQueue(p.cfg.SendQueueBytes), done: make(chan struct{}), id: amiSessionIDs.Add(1)}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serveAMI(c)
		}()
	}
}

func (p *PBX) serveAMI(c *amiConn) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = c.conn.Close()
		return
	}
	p.amiPending[c] = struct{}{}
	p.mu.Unlock()
	c.q.push([]byte(amiBanner))
	var inner sync.WaitGroup
	inner.Add(1)
	go func() {
		defer inner.Done()
		defer c.kill()
		p.amiWriter(c)
	}()
	p.amiReader(c)
	c.q.close()
	// give the writer a moment to flush a Goodbye, then tear down.
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	c.kill()
	inner.Wait()
	p.mu.Lock()
	delete(p.amiConns, c)
	delete(p.amiPending, c)
	p.mu.Unlock()
}

func (p *PBX) amiWriter(c *amiConn) {
	w := bufio.NewWriterSize(c.conn, 32<<10)
	for {
		frames, done, overflow := c.q.take()
		if overflow { // publish already logged and killed the connection
			return
		}
		if len(frames) > 0 {
			p.stall(c.done)
			_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			for _, f := range frames {
				if _, err := w.Write(f); err != nil {
					return
				}
			}
			if err := w.Flush(); err != nil {
				return
			}
		}
		if done {
			return
		}
		select {
		case <-c.done:
			return
		case <-c.q.wake:
		}
	}
}

// readFrame reads one action (lines up to a blank line) with size limits.
func readFrame(r *bufio.Reader) (ami.Message, error) {
	var m ami.Message
	size := 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return m, fmt.Errorf("ami line longer than %d bytes", amiMaxLine)
		}
		if err != nil {
			return m, err
		}
		size += len(line)
		if size > amiMaxFrame {
			return m, fmt.Errorf("ami frame larger than %d bytes", amiMaxFrame)
		}
		s := strings.TrimRight(string(line), "\r\n")
		if s == "" {
			if len(m.Fields) == 0 {
				continue
			}
			return m, nil
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok {
			continue
		}
		m.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
}

// response builds a response frame: Response, ActionID (if any), then fields.
func response(status, actionID string, fields ...ami.Field) []byte {
	var b strings.Builder
	b.WriteString("Response: ")
	b.WriteString(status)
	b.WriteString("\r\n")
	if actionID != "" {
		b.WriteString("ActionID: " + actionID + "\r\n")
	}
	for _, f := range fields {
		b.WriteString(f.Key + ": " + f.Value + "\r\n")
	}
	return []byte(b.String())
}

func msg(s string) ami.Field { return ami.Field{Key: "Message", Value: s} }

func (p *PBX) amiReader(c *amiConn) {
	r := bufio.NewReaderSize(c.conn, amiMaxLine)
	authed := false
	challenge := ""
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Minute))
		m, err := readFrame(r)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && err.Error() != "EOF" {
				c.send(response("Error", "", msg(err.Error())))
			}
			return
		}
		id := m.Get("ActionID")
		action := strings.ToLower(m.Get("Action"))
		if action == "" {
			c.send(response("Error", id, msg("Missing action in request")))
			continue
		}
		if !authed {
			switch action {
			case "challenge":
				if !strings.EqualFold(m.Get("AuthType"), "md5") {
					c.send(response("Error", id, msg("Must specify AuthType")))
					continue
				}
				var nb [8]byte
				_, _ = rand.Read(nb[:])
				challenge = strconv.FormatUint(uint64(nb[0])<<24|uint64(nb[1])<<16|uint64(nb[2])<<8|uint64(nb[3]), 10)
				c.send(response("Success", id, ami.Field{Key: "Challenge", Value: challenge}))
			case "login":
				if !p.amiCheckLogin(m, challenge) {
					c.send(response("Error", id, msg("Authentication failed")))
					return
				}
				authed = true
				if ev := strings.ToLower(m.Get("Events")); ev != "off" && ev != "no" && ev != "false" {
					c.events.Store(true)
				}
				c.send(response("Success", id, msg("Authentication accepted")))
				p.mu.Lock()
				up := strconv.Itoa(int(p.now().Sub(p.startup).Seconds()))
				if c.events.Load() {
					c.send([]byte("Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: " + up + "\r\nLastReload: " + up + "\r\nStatus: Fully Booted\r\n"))
				}
				delete(p.amiPending, c)
				p.amiConns[c] = struct{}{}
				p.successfulAuth(c, m.Has("Key"))
				p.mu.Unlock()
			case "logoff":
				c.send(response("Goodbye", id, msg("Thanks for all the fish.")))
				return
			case "ping":
				c.send(pong(id, p.now()))
			default:
				c.send(response("Error", id, msg("Permission denied")))
			}
			continue
		}
		if action == "logoff" {
			c.send(response("Goodbye", id, msg("Thanks for all the fish.")))
			return
		}
		for _, f := range p.amiAction(c, action, id, &m) {
			c.send(f)
		}
	}
}

func pong(id string, now time.Time) []byte {
	b := appendEpoch(append(response("Success", id, ami.Field{Key: "Ping", Value: "Pong"}), "Timestamp: "...), now)
	return append(b, '\r', '\n')
}

func (p *PBX) amiCheckLogin(m ami.Message, challenge string) bool {
	user := m.Get("Username")
	if subtle.ConstantTimeCompare([]byte(user), []byte(p.cfg.AMIUser)) != 1 {
		return false
	}
	if key := m.Get("Key"); key != "" {
		if challenge == "" {
			return false
		}
		sum := md5.Sum([]byte(challenge + p.cfg.AMISecret))
		return subtle.ConstantTimeCompare([]byte(strings.ToLower(key)), []byte(hex.EncodeToString(sum[:]))) == 1
	}
	return subtle.ConstantTimeCompare([]byte(m.Get("Secret")), []byte(p.cfg.AMISecret)) == 1
}

// successfulAuth raises the security event every AMI login causes. Caller
// holds p.mu.
func (p *PBX) successfulAuth(c *amiConn, md5 bool) {
	now := p.now().UTC()
	tv := now.Format(isoLayout)
	using := "0" // what Asterisk 22 reports for AMI logins, plain or MD5
	_ = md5
	local, remote := c.conn.LocalAddr().String(), c.conn.RemoteAddr().String()
	addr := func(a string) string {
		h, port, _ := net.SplitHostPort(a)
		return "IPV4/TCP/" + h + "/" + port
	}
	b := appendEpoch([]byte("Event: SuccessfulAuth\r\nPrivilege: security,all\r\nTimestamp: "), now)
	b = append(b, "\r\nEventTV: "+tv+"\r\nSeverity: Informational\r\nService: AMI\r\nEventVersion: 1\r\nAccountID: "+p.cfg.AMIUser+
		"\r\nSessionID: 0x"+strconv.FormatUint(0x7fec00000000+c.id*0x10, 16)+"\r\nLocalAddress: "+addr(local)+
		"\r\nRemoteAddress: "+addr(remote)+"\r\nUsingPassword: "+using+"\r\nSessionTV: "+tv+"\r\n"...)
	p.publishAMI(append(b, '\r', '\n'))
}
