package pbxsim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

var (
	fuzzOnce sync.Once
	fuzzPBX  *PBX
)

func fuzzSim(t testing.TB) *PBX {
	fuzzOnce.Do(func() {
		p, err := Start(context.Background(), Config{Speed: math.Inf(1)})
		if err != nil {
			t.Fatal(err)
		}
		fuzzPBX = p
	})
	return fuzzPBX
}

// FuzzAMIActions feeds arbitrary bytes to the AMI action parser and runs
// every frame it yields as an action of a logged-in session: no input may
// panic, and every answer is a well-formed response or list.
func FuzzAMIActions(f *testing.F) {
	for _, s := range []string{
		"Action: Originate\r\nChannel: Local/9001@customers\r\nExten: 1001\r\nContext: default\r\n\r\nAction: CoreShowChannels\r\n\r\n",
		"Action: Park\r\nChannel: Local/9001@customers-00000000;1\r\n\r\n",
		"Action: QueuePause\r\nInterface: Local/1001@agents/n\r\nPaused: true\r\nReason: lunch\r\n\r\n",
		"Action: QueueAdd\r\nQueue: support\r\nInterface: Local/1010@agents/n\r\nPenalty: x\r\n\r\n",
		"Action: Filter\r\nFilter: !Event: (\r\n\r\nAction: Events\r\nEventMask: off\r\n\r\n",
		"Action: Hangup\r\nChannel: \r\nCause: -1\r\n\r\n",
		"Action: ConfbridgeMute\r\nConference: 7000\r\n\r\nAction: ParkedCalls\r\n\r\n",
		"\x00\xff: \r\n:\r\nAction:\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p := fuzzSim(t)
		c := &amiConn{q: newOutQueue(1 << 20), done: make(chan struct{})}
		r := bufio.NewReaderSize(bytes.NewReader(in), amiMaxLine)
		for {
			m, err := readFrame(r)
			if err != nil {
				return
			}
			action := strings.ToLower(m.Get("Action"))
			if action == "" || action == "logoff" {
				continue
			}
			for i, fr := range p.amiAction(c, action, "f", &m) {
				if !bytes.HasSuffix(fr, []byte("\r\n")) || (i == 0 && !bytes.HasPrefix(fr, []byte("Response: "))) {
					t.Fatalf("malformed answer %q to %v", fr, m)
				}
			}
		}
	})
}

// FuzzARIRequests sends arbitrary authenticated requests to the ARI
// handler: no panic, and every error carries a JSON {"message"} body.
func FuzzARIRequests(f *testing.F) {
	f.Add("POST", "/ari/channels", "endpoint=Local/9001@customers&extension=8000", "")
	f.Add("DELETE", "/ari/channels/1.1", "reason=busy", "")
	f.Add("POST", "/ari/channels/x/hold", "", "")
	f.Add("PUT", "/ari/deviceStates/Stasis:a", "deviceState=INUSE", "")
	f.Add("PUT", "/ari/applications/cti/eventFilter", "", `{"allowed":[{"type":1}]}`)
	f.Add("POST", "/ari/bridges/abc/addChannel", "channel=a,b", "")
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		p := fuzzSim(t)
		u := &url.URL{Path: path, RawQuery: query}
		req, err := http.NewRequest(method, "http://sim"+u.String(), strings.NewReader(body))
		if err != nil || !strings.HasPrefix(req.URL.Path, "/ari/") || strings.HasSuffix(req.URL.Path, "/events") {
			return
		}
		req.SetBasicAuth(p.ARICredentials())
		rec := httptest.NewRecorder()
		p.ariHandler().ServeHTTP(rec, req)
		if rec.Code >= 400 && rec.Code != http.StatusMethodNotAllowed && rec.Body.Len() > 0 &&
			rec.Header().Get("Content-Type") == "application/json" {
			var e struct{ Message *string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == nil {
				t.Fatalf("%s %s: %d %q", method, u, rec.Code, rec.Body.String())
			}
		}
	})
}
