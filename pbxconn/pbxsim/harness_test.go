package pbxsim

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/hookflash/hookflash/pbxconn/ami"
)

const fixtureDir = "../../../shared/fixtures/asterisk-22"

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Skipf("fixture %s not available: %v", name, err)
	}
	return b
}

// simHarness is a PBX plus a real ARI WebSocket and a real AMI session
// recording everything the PBX sends.
type simHarness struct {
	t   *testing.T
	pbx *PBX

	noPin bool // pin is a no-op: flows are chosen round robin

	mu  sync.Mutex
	ari [][]byte
	ami []ami.Message
	wg  sync.WaitGroup
}

func startSim(t *testing.T, cfg Config) *simHarness {
	t.Helper()
	if cfg.Speed == 0 {
		cfg.Speed = math.Inf(1)
	}
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &simHarness{t: t, pbx: p}
	t.Cleanup(func() {
		p.Close()
		h.wg.Wait()
	})
	return h
}

// listen connects the recording sockets and waits until both are live.
func (h *simHarness) listen() {
	h.t.Helper()
	user, pass := h.pbx.ARICredentials()
	hdr := http.Header{}
	hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	ws, _, err := websocket.DefaultDialer.Dial(h.pbx.ARIEventsURL("cti"), hdr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { ws.Close() })
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.ari = append(h.ari, b)
			h.mu.Unlock()
		}
	}()
	conn, r := h.amiLogin(true)
	h.t.Cleanup(func() { conn.Close() })
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			m, err := readFrame(r)
			if err != nil {
				return
			}
			h.mu.Lock()
			h.ami = append(h.ami, m)
			h.mu.Unlock()
		}
	}()
	waitFor(h.t, "subscribers", func() bool { s := h.pbx.Stats(); return s.ARIClients == 1 && s.AMIClients == 1 })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // generous: CI machines are loaded
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// amiLogin opens an AMI session and logs in.
func (h *simHarness) amiLogin(events bool) (net.Conn, *bufio.Reader) {
	h.t.Helper()
	conn, err := net.Dial("tcp", h.pbx.AMIAddr())
	if err != nil {
		h.t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	banner, err := r.ReadString('\n')
	if err != nil || banner != amiBanner {
		h.t.Fatalf("banner %q: %v", banner, err)
	}
	ev := "off"
	if events {
		ev = "on"
	}
	user, secret := h.pbx.AMICredentials()
	fmt.Fprintf(conn, "Action: Login\r\nActionID: login-1\r\nUsername: %s\r\nSecret: %s\r\nEvents: %s\r\n\r\n", user, secret, ev)
	m, err := readFrame(r)
	if err != nil || m.Get("Response") != "Success" {
		h.t.Fatalf("login: %v %v", m, err)
	}
	return conn, r
}

// amiDo runs one action in a short helper session, as the recorder did,
// and returns the frames answering it (through the EventList's end).
func (h *simHarness) amiDo(action string, kv ...string) []ami.Message {
	h.t.Helper()
	conn, r := h.amiLogin(false)
	defer conn.Close()
	var b strings.Builder
	b.WriteString("Action: " + action + "\r\nActionID: act-1\r\n")
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i] + ": " + kv[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		h.t.Fatal(err)
	}
	var out []ami.Message
	for {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := readFrame(r)
		if err != nil {
			h.t.Fatalf("%s: %v", action, err)
		}
		out = append(out, m)
		if m.Get("EventList") == "start" {
			continue
		}
		if m.Has("Response") && len(out) == 1 {
			return out
		}
		if m.Get("EventList") == "Complete" {
			return out
		}
	}
}

// rest performs an ARI request and returns status and body.
func (h *simHarness) rest(method, path string, q url.Values) (int, []byte) {
	h.t.Helper()
	u := h.pbx.ARIURL() + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.SetBasicAuth(h.pbx.ARICredentials())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// originate is ARI POST /channels; it returns the new channel's id.
func (h *simHarness) originate(endpoint, ext string) string {
	h.t.Helper()
	st, b := h.rest("POST", "/channels", url.Values{"endpoint": {endpoint}, "extension": {ext}, "context": {"default"}})
	if st != 200 {
		h.t.Fatalf("originate %s -> %s: %d %s", endpoint, ext, st, b)
	}
	var c struct{ ID string }
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		h.t.Fatalf("originate response %s: %v", b, err)
	}
	return c.ID
}

func (h *simHarness) hangup(id, reason string) {
	h.t.Helper()
	q := url.Values{}
	if reason != "" {
		q.Set("reason", reason)
	}
	if st, b := h.rest("DELETE", "/channels/"+id, q); st != 204 {
		h.t.Fatalf("DELETE %s: %d %s", id, st, b)
	}
}

// channel finds a live channel whose name starts with prefix and ends with suffix.
func (h *simHarness) channel(prefix, suffix string) Channel {
	h.t.Helper()
	var found Channel
	for _, c := range h.pbx.Channels() {
		if strings.HasPrefix(c.Name, prefix) && strings.HasSuffix(c.Name, suffix) {
			found = c
		}
	}
	if found.ID == "" {
		h.t.Fatalf("no channel %s…%s among %v", prefix, suffix, h.pbx.Channels())
	}
	return found
}

func (h *simHarness) streams() ([][]byte, []ami.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.ari...), append([]ami.Message(nil), h.ami...)
}

func jsonIDT(t *testing.T, b []byte) string {
	t.Helper()
	var v struct{ ID string }
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		t.Fatalf("no id in %s: %v", b, err)
	}
	return v.ID
}

// pin pins the flow the scenario recorded, unless the harness runs unpinned.
func (h *simHarness) pin(name string) {
	h.t.Helper()
	if h.noPin {
		return
	}
	if err := h.pbx.PinFlow(name); err != nil {
		h.t.Fatal(err)
	}
}
