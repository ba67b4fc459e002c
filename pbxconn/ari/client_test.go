package ari

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testUser = "hookflash"
	testPass = "s3cret"
)

// recorded is one request seen by the fake ARI server.
type recorded struct {
	Method, Path, RawQuery, Body string
}

// ariServer is a loopback HTTP server answering like ARI: Basic auth,
// routes from a table, the requests it saw recorded.
type ariServer struct {
	*httptest.Server
	mu     sync.Mutex // guards reqs
	reqs   []recorded
	conns  atomic.Int64 // TCP connections accepted
	routes map[string]http.HandlerFunc
}

func newARIServer(t *testing.T, routes map[string]http.HandlerFunc) *ariServer {
	t.Helper()
	s := &ariServer{routes: routes}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *ariServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(body)})
	s.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPass {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message":"Authentication required"}`)
		return
	}
	h, ok := s.routes[r.Method+" "+r.URL.EscapedPath()]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"Resource not found"}`)
		return
	}
	h(w, r)
}

func (s *ariServer) last(t *testing.T) recorded {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("server saw no request")
	}
	return s.reqs[len(s.reqs)-1]
}

func jsonReply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func fixtureFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newTestClient(t testing.TB, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: url + "/ari", Username: testUser, Password: testPass, Application: "cti"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{}, "URL is required"},
		{"bad scheme", Config{URL: "ftp://x/ari"}, "scheme"},
		{"no host", Config{URL: "http:///ari"}, "no host"},
		{"credentials in url", Config{URL: "http://u:p@127.0.0.1/ari"}, "credentials"},
		{"bad ca", Config{URL: "https://127.0.0.1/ari", CAPEM: []byte("nope")}, "no PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "u:p") {
				t.Fatalf("error leaks credentials: %v", err)
			}
		})
	}
}

func TestRESTListDecodesFixtures(t *testing.T) {
	chans := fixtureFile(t, "rest-during-queue-call-channels.json")
	bridges := fixtureFile(t, "rest-during-queue-call-bridges.json")
	endpoints := fixtureFile(t, "rest-during-queue-call-endpoints.json")
	devs := fixtureFile(t, "rest-during-queue-call-deviceStates.json")
	info := fixtureFile(t, "rest-during-queue-call-asterisk-info.json")
	apps := fixtureFile(t, "rest-during-stasis-bridge-applications.json")
	srv := newARIServer(t, map[string]http.HandlerFunc{
		"GET /ari/channels":      jsonReply(200, chans),
		"GET /ari/bridges":       jsonReply(200, bridges),
		"GET /ari/endpoints":     jsonReply(200, endpoints),
		"GET /ari/deviceStates":  jsonReply(200, devs),
		"GET /ari/asterisk/info": jsonReply(200, info),
		"GET /ari/applications":  jsonReply(200, apps),
	})
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()

	check := func(name, fixture string, got any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		assertSameJSON(t, name, []byte(fixture), out)
	}
	ch, err := c.Channels().List(ctx)
	check("channels", chans, ch, err)
	if len(ch) == 0 || ch[0].ID == "" || ch[0].CreationTime.IsZero() {
		t.Fatalf("channels not decoded: %+v", ch)
	}
	br, err := c.Bridges().List(ctx)
	check("bridges", bridges, br, err)
	ep, err := c.Endpoints().List(ctx)
	check("endpoints", endpoints, ep, err)
	ds, err := c.DeviceStates().List(ctx)
	check("deviceStates", devs, ds, err)
	in, err := c.Asterisk().Info(ctx)
	check("info", info, in, err)
	if in.System == nil || in.System.Version != "22.10.1" {
		t.Fatalf("info.system = %+v", in.System)
	}
	ap, err := c.Applications().List(ctx)
	check("applications", apps, ap, err)
}

func TestRESTErrors(t *testing.T) {
	srv := newARIServer(t, map[string]http.HandlerFunc{
		"DELETE /ari/channels/gone":          jsonReply(404, `{"message":"Channel not found"}`),
		"POST /ari/channels/x/hold":          jsonReply(409, `{"message":"Channel not in Stasis application"}`),
		"POST /ari/channels/x/answer":        jsonReply(412, `{"message":"Channel in invalid state"}`),
		"POST /ari/bridges/b/addChannel":     jsonReply(422, `{"message":"Channel not in Stasis application"}`),
		"GET /ari/channels/html":             jsonReply(502, "<html>bad gateway</html>"),
		"GET /ari/channels/badjson":          jsonReply(200, `{"id": 5`),
		"GET /ari/channels/empty":            jsonReply(200, ``),
		"GET /ari/channels/wrongtype":        jsonReply(200, `{"id": 5}`),
		"PUT /ari/deviceStates/PJSIP%2F1001": jsonReply(409, `{"message":"Uncontrolled device specified"}`),
		"GET /ari/channels/huge": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"id":"`+strings.Repeat("x", 2048)+`"}`)
		},
	})
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxResponseBytes = 1024 })
	ctx := context.Background()

	for _, tc := range []struct {
		name     string
		call     func() error
		sentinel error
		status   int
		message  string
	}{
		{"not found", func() error { return c.Channels().Hangup(ctx, "gone", HangupBusy) }, ErrNotFound, 404, "Channel not found"},
		{"not in stasis", func() error { return c.Channels().Hold(ctx, "x") }, ErrConflict, 409, "Channel not in Stasis application"},
		{"invalid state", func() error { return c.Channels().Answer(ctx, "x") }, ErrPreconditionFailed, 412, "Channel in invalid state"},
		{"unprocessable", func() error { return c.Bridges().AddChannel(ctx, "b", []string{"c1"}, AddChannelOptions{}) }, ErrUnprocessable, 422, "Channel not in Stasis application"},
		{"non-json error", func() error { _, err := c.Channels().Get(ctx, "html"); return err }, ErrServer, 502, "<html>bad gateway</html>"},
		{"uncontrolled device", func() error { return c.DeviceStates().Update(ctx, "PJSIP/1001", DeviceStateBusy) }, ErrConflict, 409, "Uncontrolled device specified"},
		{"unknown route", func() error { _, err := c.Applications().Get(ctx, "nope"); return err }, ErrNotFound, 404, "Resource not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if !errors.Is(err, tc.sentinel) || ae.Status != tc.status || ae.Message != tc.message || ae.Op == "" {
				t.Fatalf("err = %#v, want status %d message %q matching %v", ae, tc.status, tc.message, tc.sentinel)
			}
			if errors.Is(err, ErrUnauthorized) {
				t.Fatal("matches an unrelated sentinel")
			}
		})
	}
	for _, tc := range []struct {
		id, want string
	}{
		{"badjson", "decode response"},
		{"empty", "empty body"},
		{"wrongtype", "decode response"},
		{"huge", "larger than 1024 bytes"},
	} {
		t.Run("body "+tc.id, func(t *testing.T) {
			_, err := c.Channels().Get(ctx, tc.id)
			var ae *Error
			if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a decode error containing %q", err, tc.want)
			}
		})
	}
}

func TestRESTUnauthorized(t *testing.T) {
	srv := newARIServer(t, nil)
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Password = "wrong" })
	_, err := c.Channels().List(context.Background())
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("err = %v, want ErrUnauthorized without the password", err)
	}
}

func TestRESTRequests(t *testing.T) {
	chanJSON := `{"id":"chan-1","name":"PJSIP/1001-00000001","state":"Down","protocol_id":"","caller":{"name":"","number":""},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"default","exten":"s","priority":1,"app_name":"","app_data":""},"creationtime":"2026-11-23T14:07:34.258+0000","language":"en"}`
	appJSON := `{"name":"cti","channel_ids":[],"bridge_ids":[],"endpoint_ids":[],"device_names":[],"events_allowed":[{"type":"StasisStart"}],"events_disallowed":[]}`
	bridgeJSON := `{"id":"br-1","technology":"simple_bridge","bridge_type":"mixing","bridge_class":"stasis","creator":"Stasis","name":"conf","channels":[],"creationtime":"2026-11-23T14:07:34.258+0000","video_mode":"none"}`
	srv := newARIServer(t, map[string]http.HandlerFunc{
		"POST /ari/channels":                         jsonReply(200, chanJSON),
		"POST /ari/channels/chan-1":                  jsonReply(200, chanJSON),
		"DELETE /ari/channels/chan-1":                jsonReply(204, ""),
		"POST /ari/channels/chan-1/dtmf":             jsonReply(204, ""),
		"POST /ari/channels/chan-1/mute":             jsonReply(204, ""),
		"DELETE /ari/channels/chan-1/mute":           jsonReply(204, ""),
		"POST /ari/channels/chan-1/redirect":         jsonReply(204, ""),
		"POST /ari/channels/chan-1/snoop":            jsonReply(200, chanJSON),
		"POST /ari/channels/chan-1/continue":         jsonReply(204, ""),
		"GET /ari/channels/chan-1/variable":          jsonReply(200, `{"value":"1001"}`),
		"POST /ari/channels/chan-1/variable":         jsonReply(204, ""),
		"PUT /ari/applications/cti/eventFilter":      jsonReply(200, appJSON),
		"POST /ari/applications/cti/subscription":    jsonReply(200, appJSON),
		"POST /ari/bridges/br-1":                     jsonReply(200, bridgeJSON),
		"POST /ari/bridges/br-1/addChannel":          jsonReply(204, ""),
		"DELETE /ari/bridges/br-1":                   jsonReply(204, ""),
		"PUT /ari/deviceStates/Stasis:agent-1001":    jsonReply(204, ""),
		"GET /ari/endpoints/PJSIP/1001":              jsonReply(200, `{"technology":"PJSIP","resource":"1001","state":"online","channel_ids":[]}`),
		"GET /ari/asterisk/ping":                     jsonReply(200, `{"asterisk_id":"02:fc:00:00:00:01","ping":"pong","timestamp":"2026-11-23T14:07:34.258+0000"}`),
		"GET /ari/asterisk/variable":                 jsonReply(200, `{"value":"42"}`),
		"DELETE /ari/applications/cti/subscription":  jsonReply(200, appJSON),
		"GET /ari/bridges/br-1":                      jsonReply(200, bridgeJSON),
		"POST /ari/bridges/br-1/removeChannel":       jsonReply(204, ""),
		"POST /ari/channels/chan-1/ring":             jsonReply(204, ""),
		"DELETE /ari/channels/chan-1/ring":           jsonReply(204, ""),
		"DELETE /ari/channels/chan-1/hold":           jsonReply(204, ""),
		"POST /ari/channels/chan-1/moh":              jsonReply(204, ""),
		"DELETE /ari/channels/chan-1/moh":            jsonReply(204, ""),
		"POST /ari/channels/chan-1/move":             jsonReply(204, ""),
		"POST /ari/channels/chan-1/snoop/snoop-1":    jsonReply(200, chanJSON),
		"POST /ari/channels/chan-1/dial":             jsonReply(204, ""),
		"GET /ari/deviceStates/Stasis:agent-1001":    jsonReply(200, `{"name":"Stasis:agent-1001","state":"INUSE"}`),
		"DELETE /ari/deviceStates/Stasis:agent-1001": jsonReply(204, ""),
		"GET /ari/endpoints/PJSIP":                   jsonReply(200, `[{"technology":"PJSIP","resource":"1001","state":"online","channel_ids":[]}]`),
	})
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		call func() error
		want recorded
	}{
		{"originate", func() error {
			ch, err := c.Channels().Originate(ctx, OriginateRequest{Endpoint: "Local/9001@customers", Extension: "8000", Context: "queues", Priority: 1,
				CallerID: "Customer <+15550009001>", Timeout: 30, Variables: map[string]string{"CDR(source)": "cti"}})
			if err == nil && ch.ID != "chan-1" {
				t.Errorf("channel id %q", ch.ID)
			}
			return err
		}, recorded{"POST", "/ari/channels", "callerId=Customer+%3C%2B15550009001%3E&context=queues&endpoint=Local%2F9001%40customers&extension=8000&priority=1&timeout=30", `{"variables":{"CDR(source)":"cti"}}`}},
		{"originate with id", func() error {
			_, err := c.Channels().OriginateWithID(ctx, "chan-1", OriginateRequest{Endpoint: "PJSIP/1001", App: "cti", AppArgs: "a,b", ChannelID: "ignored"})
			return err
		}, recorded{"POST", "/ari/channels/chan-1", "app=cti&appArgs=a%2Cb&endpoint=PJSIP%2F1001", ""}},
		{"hangup reason", func() error { return c.Channels().Hangup(ctx, "chan-1", HangupBusy) },
			recorded{"DELETE", "/ari/channels/chan-1", "reason=busy", ""}},
		{"hangup code", func() error { return c.Channels().HangupWithCode(ctx, "chan-1", 17) },
			recorded{"DELETE", "/ari/channels/chan-1", "reason_code=17", ""}},
		{"dtmf", func() error { return c.Channels().SendDTMF(ctx, "chan-1", "12#", DTMFOptions{Duration: 120}) },
			recorded{"POST", "/ari/channels/chan-1/dtmf", "dtmf=12%23&duration=120", ""}},
		{"mute", func() error { return c.Channels().Mute(ctx, "chan-1", DirectionIn) },
			recorded{"POST", "/ari/channels/chan-1/mute", "direction=in", ""}},
		{"unmute", func() error { return c.Channels().Unmute(ctx, "chan-1", "") },
			recorded{"DELETE", "/ari/channels/chan-1/mute", "", ""}},
		{"redirect", func() error { return c.Channels().Redirect(ctx, "chan-1", "PJSIP/1002") },
			recorded{"POST", "/ari/channels/chan-1/redirect", "endpoint=PJSIP%2F1002", ""}},
		{"snoop", func() error {
			_, err := c.Channels().Snoop(ctx, "chan-1", SnoopRequest{Spy: DirectionBoth, Whisper: DirectionOut, App: "cti"})
			return err
		}, recorded{"POST", "/ari/channels/chan-1/snoop", "app=cti&spy=both&whisper=out", ""}},
		{"continue", func() error {
			return c.Channels().Continue(ctx, "chan-1", ContinueRequest{Context: "agents", Extension: "1001", Priority: 1})
		},
			recorded{"POST", "/ari/channels/chan-1/continue", "context=agents&extension=1001&priority=1", ""}},
		{"get variable", func() error {
			v, err := c.Channels().GetVariable(ctx, "chan-1", "CALLERID(num)")
			if err == nil && v != "1001" {
				t.Errorf("value %q", v)
			}
			return err
		}, recorded{"GET", "/ari/channels/chan-1/variable", "variable=CALLERID%28num%29", ""}},
		{"set variable", func() error { return c.Channels().SetVariable(ctx, "chan-1", "X", "y z") },
			recorded{"POST", "/ari/channels/chan-1/variable", "value=y+z&variable=X", ""}},
		{"event filter", func() error {
			a, err := c.Applications().SetEventFilter(ctx, "cti", EventFilter{Allowed: []string{"StasisStart", "StasisEnd"}, Disallowed: []string{}})
			if err == nil && (len(a.EventsAllowed) != 1 || a.Name != "cti") {
				t.Errorf("application %+v", a)
			}
			return err
		}, recorded{"PUT", "/ari/applications/cti/eventFilter", "", `{"allowed":[{"type":"StasisStart"},{"type":"StasisEnd"}],"disallowed":[]}`}},
		{"subscribe", func() error {
			_, err := c.Applications().Subscribe(ctx, "cti", "endpoint:PJSIP", "deviceState:Stasis:agent-1001")
			return err
		}, recorded{"POST", "/ari/applications/cti/subscription", "eventSource=endpoint%3APJSIP%2CdeviceState%3AStasis%3Aagent-1001", ""}},
		{"bridge create with id", func() error {
			b, err := c.Bridges().Create(ctx, BridgeRequest{ID: "br-1", Type: "mixing", Name: "conf"})
			if err == nil && b.BridgeType != "mixing" {
				t.Errorf("bridge %+v", b)
			}
			return err
		}, recorded{"POST", "/ari/bridges/br-1", "name=conf&type=mixing", ""}},
		{"bridge add", func() error {
			return c.Bridges().AddChannel(ctx, "br-1", []string{"c1", "c2"}, AddChannelOptions{Role: "participant", Mute: true})
		}, recorded{"POST", "/ari/bridges/br-1/addChannel", "channel=c1%2Cc2&mute=true&role=participant", ""}},
		{"bridge destroy", func() error { return c.Bridges().Destroy(ctx, "br-1") },
			recorded{"DELETE", "/ari/bridges/br-1", "", ""}},
		{"device state", func() error { return c.DeviceStates().Update(ctx, "Stasis:agent-1001", DeviceStateInUse) },
			recorded{"PUT", "/ari/deviceStates/Stasis:agent-1001", "deviceState=INUSE", ""}},
		{"endpoint", func() error {
			e, err := c.Endpoints().Get(ctx, "PJSIP", "1001")
			if err == nil && (e.State == nil || *e.State != "online") {
				t.Errorf("endpoint %+v", e)
			}
			return err
		}, recorded{"GET", "/ari/endpoints/PJSIP/1001", "", ""}},
		{"ping", func() error {
			p, err := c.Asterisk().Ping(ctx)
			if err == nil && p.Ping != "pong" {
				t.Errorf("ping %+v", p)
			}
			return err
		}, recorded{"GET", "/ari/asterisk/ping", "", ""}},
		{"global variable", func() error {
			v, err := c.Asterisk().GetVariable(ctx, "X")
			if err == nil && v != "42" {
				t.Errorf("value %q", v)
			}
			return err
		}, recorded{"GET", "/ari/asterisk/variable", "variable=X", ""}},
		{"unsubscribe", func() error { _, err := c.Applications().Unsubscribe(ctx, "cti", "channel:1.1"); return err },
			recorded{"DELETE", "/ari/applications/cti/subscription", "eventSource=channel%3A1.1", ""}},
		{"bridge get", func() error {
			b, err := c.Bridges().Get(ctx, "br-1")
			if err == nil && (b.VideoMode == nil || *b.VideoMode != "none") {
				t.Errorf("bridge %+v", b)
			}
			return err
		}, recorded{"GET", "/ari/bridges/br-1", "", ""}},
		{"bridge remove", func() error { return c.Bridges().RemoveChannel(ctx, "br-1", []string{"c1"}) },
			recorded{"POST", "/ari/bridges/br-1/removeChannel", "channel=c1", ""}},
		{"ring", func() error { return c.Channels().Ring(ctx, "chan-1") }, recorded{"POST", "/ari/channels/chan-1/ring", "", ""}},
		{"stop ring", func() error { return c.Channels().StopRing(ctx, "chan-1") }, recorded{"DELETE", "/ari/channels/chan-1/ring", "", ""}},
		{"unhold", func() error { return c.Channels().Unhold(ctx, "chan-1") }, recorded{"DELETE", "/ari/channels/chan-1/hold", "", ""}},
		{"moh", func() error { return c.Channels().StartMOH(ctx, "chan-1", "jazz") }, recorded{"POST", "/ari/channels/chan-1/moh", "mohClass=jazz", ""}},
		{"stop moh", func() error { return c.Channels().StopMOH(ctx, "chan-1") }, recorded{"DELETE", "/ari/channels/chan-1/moh", "", ""}},
		{"move", func() error { return c.Channels().Move(ctx, "chan-1", "other", "x") }, recorded{"POST", "/ari/channels/chan-1/move", "app=other&appArgs=x", ""}},
		{"snoop with id", func() error {
			_, err := c.Channels().SnoopWithID(ctx, "chan-1", "snoop-1", SnoopRequest{Spy: DirectionIn, App: "cti"})
			return err
		}, recorded{"POST", "/ari/channels/chan-1/snoop/snoop-1", "app=cti&spy=in", ""}},
		{"dial", func() error { return c.Channels().Dial(ctx, "chan-1", "chan-0", 20) }, recorded{"POST", "/ari/channels/chan-1/dial", "caller=chan-0&timeout=20", ""}},
		{"device state get", func() error {
			d, err := c.DeviceStates().Get(ctx, "Stasis:agent-1001")
			if err == nil && d.State != DeviceStateInUse {
				t.Errorf("device %+v", d)
			}
			return err
		}, recorded{"GET", "/ari/deviceStates/Stasis:agent-1001", "", ""}},
		{"device state delete", func() error { return c.DeviceStates().Delete(ctx, "Stasis:agent-1001") },
			recorded{"DELETE", "/ari/deviceStates/Stasis:agent-1001", "", ""}},
		{"endpoints by tech", func() error {
			e, err := c.Endpoints().ListByTech(ctx, "PJSIP")
			if err == nil && len(e) != 1 {
				t.Errorf("endpoints %+v", e)
			}
			return err
		}, recorded{"GET", "/ari/endpoints/PJSIP", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			if got := srv.last(t); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("request\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}

	t.Run("empty id rejected locally", func(t *testing.T) {
		if err := c.Channels().Answer(ctx, ""); err == nil || !strings.Contains(err.Error(), "empty path parameter") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("id is path-escaped", func(t *testing.T) {
		err := c.Channels().Answer(ctx, "../bridges/x?y")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		if got := srv.last(t).Path; got != "/ari/channels/..%2Fbridges%2Fx%3Fy/answer" {
			t.Fatalf("path %q", got)
		}
	})
}

func TestRESTReusesConnections(t *testing.T) {
	srv := newARIServer(t, map[string]http.HandlerFunc{
		"GET /ari/channels":         jsonReply(200, `[]`),
		"DELETE /ari/channels/gone": jsonReply(404, `{"message":"Channel not found"}`),
	})
	c := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		if _, err := c.Channels().List(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Channels().Hangup(ctx, "gone", ""); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d TCP connections for 50 sequential calls, want 1 (keep-alive)", n)
	}
}

func TestRESTContext(t *testing.T) {
	release := make(chan struct{})
	srv := newARIServer(t, map[string]http.HandlerFunc{
		"GET /ari/channels": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			jsonReply(200, `[]`)(w, r)
		},
	})
	defer close(release)
	c := newTestClient(t, srv.URL, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Channels().List(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}

	c2 := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RequestTimeout = 50 * time.Millisecond })
	if _, err := c2.Channels().List(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RequestTimeout: err = %v, want context.DeadlineExceeded", err)
	}
}

func TestRESTDoesNotFollowRedirects(t *testing.T) {
	other := newARIServer(t, map[string]http.HandlerFunc{"GET /ari/channels": jsonReply(200, `[]`)})
	srv := newARIServer(t, map[string]http.HandlerFunc{
		"GET /ari/channels": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/ari/channels", http.StatusFound)
		},
	})
	c := newTestClient(t, srv.URL, nil)
	_, err := c.Channels().List(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusFound {
		t.Fatalf("err = %v, want *Error with status 302", err)
	}
	other.mu.Lock()
	defer other.mu.Unlock()
	if len(other.reqs) != 0 {
		t.Fatal("the redirect was followed")
	}
}
