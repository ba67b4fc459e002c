package pbxsim

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/hookflash/hookflash/pbxconn/ami"
)

func amiDial(t *testing.T, p *PBX) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", p.AMIAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := bufio.NewReader(conn)
	if b, err := r.ReadString('\n'); err != nil || b != amiBanner {
		t.Fatalf("banner %q %v", b, err)
	}
	return conn, r
}

func amiSend(t *testing.T, conn net.Conn, r *bufio.Reader, frame string) ami.Message {
	t.Helper()
	if _, err := io.WriteString(conn, frame+"\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		m, err := readFrame(r)
		if err != nil {
			t.Fatalf("reading answer to %q: %v", frame, err)
		}
		if m.Has("Response") && !m.Has("Event") { // OriginateResponse has a Response field
			return m
		}
	}
}

func TestAMIProtocol(t *testing.T) {
	h := startSim(t, Config{})
	p := h.pbx

	t.Run("md5 login", func(t *testing.T) {
		conn, r := amiDial(t, p)
		ch := amiSend(t, conn, r, "Action: Challenge\r\nAuthType: MD5\r\nActionID: c1\r\n")
		if ch.Get("Response") != "Success" || ch.Get("Challenge") == "" || ch.Get("ActionID") != "c1" {
			t.Fatalf("challenge: %+v", ch)
		}
		sum := md5.Sum([]byte(ch.Get("Challenge") + "ctipass"))
		m := amiSend(t, conn, r, "Action: Login\r\nAuthType: MD5\r\nUsername: cti\r\nKey: "+hex.EncodeToString(sum[:])+"\r\n")
		if m.Get("Message") != "Authentication accepted" {
			t.Fatalf("md5 login: %+v", m)
		}
		ev, err := readFrame(r)
		if err != nil || ev.Get("Event") != "FullyBooted" {
			t.Fatalf("want FullyBooted, got %+v %v", ev, err)
		}
	})
	t.Run("bad secret closes", func(t *testing.T) {
		conn, r := amiDial(t, p)
		m := amiSend(t, conn, r, "Action: Login\r\nUsername: cti\r\nSecret: wrong\r\n")
		if m.Get("Response") != "Error" || m.Get("Message") != "Authentication failed" {
			t.Fatalf("bad login: %+v", m)
		}
		if _, err := readFrame(r); err == nil {
			t.Fatal("connection still open after a failed login")
		}
	})
	t.Run("before login", func(t *testing.T) {
		conn, r := amiDial(t, p)
		if m := amiSend(t, conn, r, "Action: CoreShowChannels\r\n"); m.Get("Message") != "Permission denied" {
			t.Fatalf("got %+v", m)
		}
		if m := amiSend(t, conn, r, "Action: Ping\r\nActionID: p\r\n"); m.Get("Ping") != "Pong" || m.Get("Timestamp") == "" {
			t.Fatalf("ping: %+v", m)
		}
	})
	t.Run("oversize line", func(t *testing.T) {
		conn, r := amiDial(t, p)
		if _, err := io.WriteString(conn, "Action: Login\r\nUsername: "+strings.Repeat("x", 20000)+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		m, err := readFrame(r)
		if err != nil || m.Get("Response") != "Error" {
			t.Fatalf("want an error response, got %+v %v", m, err)
		}
		if _, err := readFrame(r); err == nil {
			t.Fatal("connection still open after an oversize line")
		}
	})
	t.Run("actions", func(t *testing.T) {
		conn, r := h.amiLogin(false)
		defer conn.Close()
		for _, tc := range []struct{ frame, key, want string }{
			{"Action: Nope\r\nActionID: 1\r\n", "Message", "Invalid/unknown command"},
			{"Action: Hangup\r\nChannel: Local/none@x-00000000;1\r\n", "Message", "No such channel"},
			{"Action: Park\r\nChannel: nope\r\n", "Message", "No such channel"},
			{"Action: QueuePause\r\nInterface: Local/4242@agents/n\r\nPaused: true\r\n", "Response", "Error"},
			{"Action: QueueRemove\r\nQueue: support\r\nInterface: Local/1001@agents/n\r\n", "Response", "Error"},
			{"Action: Filter\r\nOperation: Add\r\nFilter: (\r\n", "Message", "Invalid Filter"},
			{"Action: Events\r\nEventMask: on\r\n", "Events", "On"},
			{"Action: CoreSettings\r\n", "AsteriskVersion", "22.10.1"},
			{"Action: Getvar\r\nVariable: X\r\n", "Variable", "X"},
			{"Action: ConfbridgeMute\r\nConference: 7000\r\nChannel: all\r\n", "Response", "Error"},
			{"Action: Logoff\r\n", "Response", "Goodbye"},
		} {
			if m := amiSend(t, conn, r, tc.frame); m.Get(tc.key) != tc.want {
				t.Errorf("%q: %s = %q, want %q (%+v)", tc.frame, tc.key, m.Get(tc.key), tc.want, m)
			}
		}
	})
	t.Run("async originate", func(t *testing.T) {
		conn, r := h.amiLogin(true)
		defer conn.Close()
		if m := amiSend(t, conn, r, "Action: Originate\r\nActionID: o1\r\nChannel: Local/9005@customers\r\nExten: 1001\r\nContext: default\r\nAsync: true\r\n"); m.Get("Message") != "Originate successfully queued" {
			t.Fatalf("originate: %+v", m)
		}
		waitFor(t, "OriginateResponse", func() bool {
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			m, err := readFrame(r)
			if err != nil {
				t.Fatal(err)
			}
			if m.Get("Event") != "OriginateResponse" {
				return false
			}
			if m.Get("ActionID") != "o1" || m.Get("Response") != "Success" || !strings.Contains(m.Get("Uniqueid"), ".") {
				t.Fatalf("OriginateResponse %+v", m)
			}
			return true
		})
	})
	t.Run("filter and events off", func(t *testing.T) {
		filtered, fr := h.amiLogin(true)
		defer filtered.Close()
		amiSend(t, filtered, fr, "Action: Filter\r\nOperation: Add\r\nFilter: Event: Hangup\r\n")
		quiet, qr := h.amiLogin(false)
		defer quiet.Close()
		id := h.originate("Local/9001@customers", "1001")
		h.hangup(id, "")
		_ = filtered.SetReadDeadline(time.Now().Add(3 * time.Second))
		for i := 0; i < 4; i++ { // both Local halves of customer and agent
			m, err := readFrame(fr)
			if err != nil {
				t.Fatal(err)
			}
			if m.Get("Event") != "Hangup" {
				t.Fatalf("filter let %s through", m.Get("Event"))
			}
		}
		if m := amiSend(t, quiet, qr, "Action: Ping\r\n"); m.Get("Ping") != "Pong" {
			t.Fatalf("events-off session received %+v before its Pong", m)
		}
	})
}

func TestARIProtocol(t *testing.T) {
	h := startSim(t, Config{})
	get := func(user, pass, path string) (int, []byte) {
		req, _ := http.NewRequest("GET", h.pbx.ARIURL()+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if st, _ := get("", "", "/channels"); st != 401 {
		t.Errorf("no auth: %d", st)
	}
	if st, _ := get("cti", "nope", "/channels"); st != 401 {
		t.Errorf("bad password: %d", st)
	}
	if st, b := get("cti", "ctipass", "/channels?api_key=x"); st != 200 || string(b) != "[]" {
		t.Errorf("channels: %d %s", st, b)
	}
	st, b := h.rest("GET", "/channels/1.1", nil)
	if st != 404 || string(b) != `{"message":"Channel not found"}` {
		t.Errorf("missing channel: %d %s", st, b)
	}
	if st, b := h.rest("POST", "/channels", nil); st != 400 || !bytes.Contains(b, []byte(`"message"`)) {
		t.Errorf("originate without endpoint: %d %s", st, b)
	}
	if st, _ := h.rest("POST", "/channels", url.Values{"endpoint": {"PJSIP/1001"}, "extension": {"1002"}}); st != 400 {
		t.Errorf("originate from a PJSIP endpoint: %d", st)
	}
	id := h.originate("Local/9001@customers", "1001")
	if st, b := h.rest("POST", "/channels/"+id+"/hold", nil); st != 409 {
		t.Errorf("hold outside Stasis: %d %s", st, b)
	}
	if st, _ := h.rest("DELETE", "/channels/"+id, url.Values{"reason": {"bogus"}}); st != 400 {
		t.Errorf("bad reason: %d", st)
	}
	if st, _ := h.rest("PUT", "/deviceStates/PJSIP:1001", url.Values{"deviceState": {"INUSE"}}); st != 400 {
		t.Errorf("non-Stasis device: %d", st)
	}
	if st, _ := h.rest("DELETE", "/deviceStates/Stasis:none", nil); st != 404 {
		t.Errorf("delete missing device: %d", st)
	}
	if st, _ := h.rest("PUT", "/applications/cti/eventFilter", nil); st != 404 {
		t.Errorf("filter of an app without socket: %d", st)
	}

	// an events socket with an eventFilter sees only the allowed kinds
	h.listen()
	req, _ := http.NewRequest("PUT", h.pbx.ARIURL()+"/applications/cti/eventFilter",
		strings.NewReader(`{"allowed":[{"type":"ChannelDestroyed"}]}`))
	req.SetBasicAuth("cti", "ctipass")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var app struct {
		Name          string              `json:"name"`
		EventsAllowed []map[string]string `json:"events_allowed"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &app) != nil || app.Name != "cti" || len(app.EventsAllowed) != 1 {
		t.Fatalf("eventFilter: %d %s", resp.StatusCode, body)
	}
	h.hangup(id, "")
	waitFor(t, "destroyed events", func() bool { a, _ := h.streams(); return len(a) >= 4 })
	a, _ := h.streams()
	for _, b := range a {
		if eventType(b) != "ChannelDestroyed" {
			t.Fatalf("filtered socket received %s", eventType(b))
		}
	}
}

func TestFaults(t *testing.T) {
	t.Run("drop and restart", func(t *testing.T) {
		h := startSim(t, Config{})
		h.originate("Local/9001@customers", "1001")
		user, pass := h.pbx.ARICredentials()
		hdr := http.Header{"Authorization": {basicAuth(user, pass)}}
		ws, _, err := websocket.DefaultDialer.Dial(h.pbx.ARIEventsURL("cti"), hdr)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		conn, r := h.amiLogin(true)
		defer conn.Close()
		waitFor(t, "clients", func() bool { s := h.pbx.Stats(); return s.ARIClients == 1 && s.AMIClients == 1 })
		h.pbx.Restart()
		_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, _, err := ws.ReadMessage(); err == nil {
			t.Fatal("ARI socket survived a restart")
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			if _, err := readFrame(r); err != nil {
				break
			}
		}
		if n := len(h.pbx.Channels()); n != 0 {
			t.Fatalf("%d channels after restart", n)
		}
		if st, b := h.rest("GET", "/channels", nil); st != 200 || string(b) != "[]" {
			t.Fatalf("REST after restart: %d %s", st, b)
		}
		c2, r2 := amiDial(t, h.pbx)
		amiSend(t, c2, r2, "Action: Login\r\nUsername: cti\r\nSecret: ctipass\r\n")
		m, err := readFrame(r2)
		if err != nil || m.Get("Event") != "FullyBooted" || m.Get("Uptime") != "0" {
			t.Fatalf("after restart want FullyBooted with Uptime 0, got %+v %v", m, err)
		}
		if h.pbx.DropAMI() != 1 {
			t.Fatal("DropAMI did not count the session")
		}
	})
	t.Run("malformed frames", func(t *testing.T) {
		h := startSim(t, Config{})
		h.listen()
		h.pbx.MalformedARI()
		h.pbx.MalformedAMI()
		waitFor(t, "broken ARI frame", func() bool {
			a, _ := h.streams()
			return len(a) == 1 && !json.Valid(a[0])
		})
		// the AMI reader skipped the garbage and the session still works
		h.originate("Local/9001@customers", "1001")
		waitFor(t, "events after garbage", func() bool { _, m := h.streams(); return len(normAMI(m)) > 10 })
	})
	t.Run("stall and slow consumer", func(t *testing.T) {
		h := startSim(t, Config{SendQueueBytes: 64 << 10})
		h.listen()
		h.pbx.StallWrites(time.Second)
		h.originate("Local/9001@customers", "1001")
		time.Sleep(200 * time.Millisecond)
		if a, _ := h.streams(); len(a) != 0 {
			t.Fatalf("%d events delivered during a stall", len(a))
		}
		waitFor(t, "events after the stall", func() bool { a, _ := h.streams(); return len(a) > 0 })
		// a stalled client whose queue overflows is dropped
		h.pbx.StallWrites(5 * time.Second)
		for i := 0; i < 10; i++ {
			h.originate(fmt.Sprintf("Local/91%02d@customers", i), "1001")
		}
		waitFor(t, "slow clients dropped", func() bool { s := h.pbx.Stats(); return s.ARIClients == 0 && s.AMIClients == 0 })
	})
}

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// The originate answer is the new channel as Asterisk returns it: Down,
// with its caller id and the AppDial2 placeholder application.
func TestOriginateAnswer(t *testing.T) {
	h := startSim(t, Config{})
	st, b := h.rest("POST", "/channels", url.Values{"endpoint": {"Local/9001@customers"}, "extension": {"8000"}, "context": {"default"}})
	if st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	var c struct {
		Name, State string
		Caller      struct{ Name, Number string }
		Dialplan    struct {
			AppName string `json:"app_name"`
		}
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.State != "Down" || c.Caller.Name != "Customer 9001" || c.Caller.Number != "+15550009001" ||
		c.Dialplan.AppName != "AppDial2" || !strings.HasSuffix(c.Name, ";1") {
		t.Fatalf("originate answer %s", b)
	}
	rec := fixture(t, "actions-queue.log")
	line := bytes.Split(rec, []byte("\n"))[1]
	rs, _, err := jsonShape(line)
	if err != nil {
		t.Fatal(err)
	}
	gs, _, _ := jsonShape(b)
	if rs != gs {
		t.Fatalf("shape %s, recorded %s", gs, rs)
	}
}

func TestOriginateRefusals(t *testing.T) {
	h := startSim(t, Config{})
	for _, tc := range []struct{ ep, ext string }{
		{"Local/9001@customers", "8001"}, // sales: no recorded flow
		{"Local/1003@agents", "1001"},    // agents do not place calls
		{"Local/9001@customers", "555"},  // no such extension
		{"Local/9001@customers", "705"},  // nobody parked there
	} {
		st, b := h.rest("POST", "/channels", url.Values{"endpoint": {tc.ep}, "extension": {tc.ext}})
		if st != 400 || !bytes.Contains(b, []byte(`"message"`)) {
			t.Errorf("%s -> %s: %d %s", tc.ep, tc.ext, st, b)
		}
	}
	if n := len(h.pbx.Channels()); n != 0 {
		t.Fatalf("refused originates left %d channels", n)
	}
}

func TestSnoop(t *testing.T) {
	h := startSim(t, Config{})
	h.listen()
	id := h.originate("Local/9001@customers", "1001")
	if st, _ := h.rest("POST", "/channels/"+id+"/snoop", url.Values{"spy": {"both"}}); st != 400 {
		t.Fatalf("snoop without app: %d", st)
	}
	if st, _ := h.rest("POST", "/channels/nope/snoop", url.Values{"app": {"cti"}}); st != 404 {
		t.Fatalf("snoop of a missing channel: %d", st)
	}
	st, b := h.rest("POST", "/channels/"+id+"/snoop", url.Values{"app": {"cti"}, "spy": {"both"}})
	if st != 200 {
		t.Fatalf("snoop: %d %s", st, b)
	}
	snoop := jsonIDT(t, b)
	rs, _, _ := jsonShape(fixture(t, "rest-during-queue-call-channels.json"))
	gs, _, _ := jsonShape(append(append([]byte("["), b...), ']'))
	if rs[:strings.Index(rs, "},{")+1] != gs[:len(gs)-1] {
		t.Fatalf("snoop channel shape %s", gs)
	}
	// in Stasis, so Stasis operations work; it hangs up like any channel
	if st, _ := h.rest("POST", "/channels/"+snoop+"/hold", nil); st != 204 {
		t.Fatalf("hold of the snoop channel: %d", st)
	}
	h.hangup(snoop, "")
	waitFor(t, "snoop events", func() bool {
		a, _ := h.streams()
		var kinds []string
		for _, e := range a {
			if bytes.Contains(e, []byte(snoop)) {
				kinds = append(kinds, eventType(e))
			}
		}
		return strings.Join(kinds, ",") == "ChannelCreated,StasisStart,ChannelHangupRequest,StasisEnd,ChannelDestroyed"
	})
}
