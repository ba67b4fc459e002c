package pbxsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// ariConn is one events WebSocket. Its writer goroutine drains q; its reader
// goroutine discards client frames and notices the close. serve returns only
// after both have exited.
type ariConn struct {
	app  string
	q    *outQueue
	done chan struct{} // closed by kill
	once sync.Once

	mu sync.Mutex      // guards ws
	ws *websocket.Conn // nil until the upgrade completes
}

func (c *ariConn) kill() {
	c.once.Do(func() {
		close(c.done)
		c.mu.Lock()
		if c.ws != nil {
			_ = c.ws.Close()
		}
		c.mu.Unlock()
	})
}

// attach sets the upgraded socket; false (and the socket closed) when the
// connection was killed meanwhile.
func (c *ariConn) attach(ws *websocket.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		_ = ws.Close()
		return false
	default:
	}
	c.ws = ws
	return true
}

// appFilter is an application's event filter (PUT eventFilter).
type appFilter struct {
	allowed, disallowed []string
}

var upgrader = websocket.Upgrader{
	ReadBufferSize: 4096, WriteBufferSize: 16384,
	CheckOrigin: func(*http.Request) bool { return true },
}

func (p *PBX) ariEvents(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if app == "" {
		ariError(w, http.StatusBadRequest, "Missing required param app")
		return
	}
	// Subscribe before the upgrade answers: as with Asterisk, whatever
	// happens once the client holds its 101 reaches it (queued until the
	// writer starts), so "connect, then originate" never misses events.
	c := &ariConn{app: strings.Split(app, ",")[0], q: newOutQueue(p.cfg.SendQueueBytes), done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		ariError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	p.ariConns[c] = struct{}{}
	p.mu.Unlock()
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil || !c.attach(ws) {
		c.kill()
		p.mu.Lock()
		delete(p.ariConns, c)
		p.mu.Unlock()
		return // the upgrader answered the client
	}
	p.wg.Add(1)
	defer p.wg.Done()
	var inner sync.WaitGroup
	inner.Add(1)
	go func() {
		defer inner.Done()
		defer c.kill()
		ws.SetReadLimit(1 << 16)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	p.ariWriter(c)
	c.kill()
	p.mu.Lock()
	delete(p.ariConns, c)
	p.mu.Unlock()
	inner.Wait()
}

func (p *PBX) ariWriter(c *ariConn) {
	for {
		select {
		case <-c.done:
			return
		case <-c.q.wake:
		}
		p.stall(c.done)
		frames, done, overflow := c.q.take()
		if overflow { // publish already logged and killed the connection
			return
		}
		for _, f := range frames {
			if !p.ariAllowed(c.app, f) {
				continue
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
				return
			}
		}
		if done {
			return
		}
	}
}

// eventType extracts the "type" of a rendered ARI event.
func eventType(b []byte) string {
	i := bytes.Index(b, []byte(`"type":"`))
	if i < 0 {
		return ""
	}
	rest := b[i+8:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

func (p *PBX) ariAllowed(app string, ev []byte) bool {
	var f *appFilter
	if m := p.filterSnap.Load(); m != nil {
		f = (*m)[app]
	}
	if f == nil {
		return true
	}
	t := eventType(ev)
	if len(f.allowed) > 0 {
		ok := false
		for _, a := range f.allowed {
			if a == t {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	for _, d := range f.disallowed {
		if d == t {
			return false
		}
	}
	return true
}

type ariApp struct {
	Name             string              `json:"name"`
	ChannelIDs       []string            `json:"channel_ids"`
	BridgeIDs        []string            `json:"bridge_ids"`
	EndpointIDs      []string            `json:"endpoint_ids"`
	DeviceNames      []string            `json:"device_names"`
	EventsAllowed    []map[string]string `json:"events_allowed"`
	EventsDisallowed []map[string]string `json:"events_disallowed"`
}

// apps lists the applications with a connected socket. Caller holds p.mu.
func (p *PBX) apps() []ariApp {
	seen := map[string]bool{}
	var out []ariApp
	for c := range p.ariConns {
		if seen[c.app] {
			continue
		}
		seen[c.app] = true
		a := ariApp{Name: c.app, ChannelIDs: []string{"__AST_CHANNEL_ALL_TOPIC"}, BridgeIDs: []string{"__AST_BRIDGE_ALL_TOPIC"},
			EndpointIDs: []string{"__AST_ENDPOINT_ALL_TOPIC"}, DeviceNames: []string{"__AST_DEVICE_STATE_ALL_TOPIC"},
			EventsAllowed: []map[string]string{}, EventsDisallowed: []map[string]string{}}
		if f := p.filters[c.app]; f != nil {
			for _, t := range f.allowed {
				a.EventsAllowed = append(a.EventsAllowed, map[string]string{"type": t})
			}
			for _, t := range f.disallowed {
				a.EventsDisallowed = append(a.EventsDisallowed, map[string]string{"type": t})
			}
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if out == nil {
		out = []ariApp{}
	}
	return out
}

func (p *PBX) ariApplications(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	out := p.apps()
	p.mu.Unlock()
	ariJSON(w, out)
}

func (p *PBX) ariApplication(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.apps() {
		if a.Name == r.PathValue("app") {
			ariJSON(w, a)
			return
		}
	}
	ariError(w, http.StatusNotFound, "Application not found")
}

func (p *PBX) ariEventFilter(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	var body struct {
		Allowed    []struct{ Type string } `json:"allowed"`
		Disallowed []struct{ Type string } `json:"disallowed"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			ariError(w, http.StatusBadRequest, "Invalid JSON body")
			return
		}
	}
	p.mu.Lock()
	found := false
	for c := range p.ariConns {
		if c.app == app {
			found = true
		}
	}
	if !found {
		p.mu.Unlock()
		ariError(w, http.StatusNotFound, "Application not found")
		return
	}
	f := &appFilter{}
	for _, a := range body.Allowed {
		f.allowed = append(f.allowed, a.Type)
	}
	for _, d := range body.Disallowed {
		f.disallowed = append(f.disallowed, d.Type)
	}
	if p.filters == nil {
		p.filters = map[string]*appFilter{}
	}
	if len(f.allowed) == 0 && len(f.disallowed) == 0 {
		delete(p.filters, app)
	} else {
		p.filters[app] = f
	}
	snap := make(map[string]*appFilter, len(p.filters))
	for k, v := range p.filters {
		snap[k] = v
	}
	p.filterSnap.Store(&snap)
	var out ariApp
	for _, a := range p.apps() {
		if a.Name == app {
			out = a
		}
	}
	p.mu.Unlock()
	ariJSON(w, out)
}
