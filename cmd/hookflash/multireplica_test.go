package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// procReplica is one `hookflash serve` process.
type procReplica struct {
	base string
	cmd  *exec.Cmd
	out  *strings.Builder
}

var buildOnce sync.Once
var builtBinary, buildErr = "", error(nil)

func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookflash-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBinary = filepath.Join(dir, "hookflash")
		out, err := exec.Command("go", "build", "-o", builtBinary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBinary
}

func startProc(t *testing.T, bin, addr, id, dbURL, redisURL string) *procReplica {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"HOOKFLASH_LISTEN="+addr, "HOOKFLASH_DATABASE_URL="+dbURL, "HOOKFLASH_REDIS_URL="+redisURL,
		"HOOKFLASH_SECRET_KEY="+strings.Repeat("5a", 32), "HOOKFLASH_ADMIN_TOKEN="+testAdminToken,
		"HOOKFLASH_REPLICA_ID="+id, "HOOKFLASH_LOGIN_RATE=100000", "HOOKFLASH_LEASE_TTL=3s", "HOOKFLASH_LOG_LEVEL=warn", "HOOKFLASH_SHUTDOWN_GRACE=5s")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, &lockedWriter{w: out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &procReplica{base: "http://" + addr, cmd: cmd, out: out}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if res, err := httpGet(p.base + "/readyz"); err == nil && res == 200 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("replica %s not ready in 20s:\n%s", id, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *procReplica) stop() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func httpGet(url string) (int, error) {
	c := &httpClientShort
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// feedClient follows one principal's feed across reconnects, checking that
// seq only ever grows by one within an epoch and recording what it saw.
type feedClient struct {
	name, token, query string
	bases              []string // replicas to try, in order

	mu      sync.Mutex
	epoch   string
	seq     uint64
	events  map[uint64]feedEvent // seq -> event
	errs    []string
	resyncs int
}

type feedEvent struct {
	Element, Event, Key string
}

type wireMsg struct {
	Type    string          `json:"type"`
	Element string          `json:"element"`
	Event   string          `json:"event"`
	Msg     string          `json:"msg"`
	ID      string          `json:"id"`
	Result  string          `json:"result"`
	Error   string          `json:"error"`
	Epoch   string          `json:"epoch"`
	Seq     uint64          `json:"seq"`
	Data    json.RawMessage `json:"data"`
}

func (f *feedClient) failf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) < 20 {
		f.errs = append(f.errs, fmt.Sprintf(format, args...))
	}
}

// run connects (and reconnects with since, rotating replicas) until ctx ends.
func (f *feedClient) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		base := f.bases[i%len(f.bases)]
		f.mu.Lock()
		q := f.query
		if f.epoch != "" {
			q += fmt.Sprintf("&since=%s:%d", f.epoch, f.seq)
		}
		f.mu.Unlock()
		c, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL(base, f.token, strings.TrimPrefix(q, "&")), nil)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		f.read(c)
		stop()
		c.Close()
	}
}

func (f *feedClient) read(c *websocket.Conn) {
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m wireMsg
			if json.Unmarshal([]byte(line), &m) != nil {
				f.failf("unreadable message %q", line)
				continue
			}
			f.handle(&m)
		}
	}
}

func (f *feedClient) handle(m *wireMsg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch m.Type {
	case "initial_info":
		// A fresh snapshot: positions restart from its seq.
		if m.Epoch != f.epoch && f.epoch != "" {
			f.resyncs++
		}
		f.epoch, f.seq = m.Epoch, m.Seq
	case "system_msg":
		if m.Msg == "resync" {
			f.resyncs++
		}
	case "info_event":
		if m.Epoch != f.epoch {
			if len(f.errs) < 20 {
				f.errs = append(f.errs, fmt.Sprintf("event of epoch %s while in %s", m.Epoch, f.epoch))
			}
			return
		}
		if m.Seq <= f.seq {
			if len(f.errs) < 20 {
				f.errs = append(f.errs, fmt.Sprintf("duplicate or old seq %d after %d", m.Seq, f.seq))
			}
			return
		}
		var d struct {
			UUID string `json:"uuid"`
			ID   string `json:"id"`
		}
		_ = json.Unmarshal(m.Data, &d)
		f.events[m.Seq] = feedEvent{Element: m.Element, Event: m.Event, Key: d.UUID + d.ID}
		f.seq = m.Seq
	}
}

// TestMultiReplicaFeed: 3 serve processes on one Redis and Postgres, two
// simulated PBXes, clients spread over the replicas. Every full-view client
// sees the same, gap-free seq sequence exactly once and in order; a user sees
// only events of its own calls; all of it across a replica restart with
// resume.
func TestMultiReplicaFeed(t *testing.T) {
	dbURL := testenv.Postgres(t)
	redisURL := testenv.RedisURL(t)
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	bin := buildBinary(t)
	addrs := []string{testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)}
	reps := make([]*procReplica, 3)
	for i := range reps {
		reps[i] = startProc(t, bin, addrs[i], fmt.Sprintf("r%d", i), dbURL, redisURL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A tenant with a user on terminal 1001, two simulated PBXes.
	domain := "multi" + testenv.Random(3) + ".example"
	mustStatus(t, call(t, "POST", reps[0].base+"/api/v1/tenants", testAdminToken, map[string]any{
		"domain": domain, "admin": map[string]any{"username": "boss", "password": "boss-password"}}), 201, "tenant")
	admin := call(t, "POST", reps[1].base+"/api/v1/auth/login", "", map[string]any{"domain": domain, "username": "boss", "password": "boss-password"}).str("token")
	mustStatus(t, call(t, "POST", reps[2].base+"/api/v1/users", admin, map[string]any{
		"username": "alice", "password": "alice-password", "role": "agent", "terminals": []string{"PJSIP/1001", "Local/1001@agents"}}), 201, "user")
	alice := call(t, "POST", reps[0].base+"/api/v1/auth/login", "", map[string]any{"domain": domain, "username": "alice", "password": "alice-password"})

	integ := call(t, "POST", reps[0].base+"/api/v1/tokens", admin, map[string]any{"name": "crm"}).str("secret")
	var sims []*pbxsim.PBX
	for i := 0; i < 2; i++ {
		sim, err := pbxsim.Start(ctx, pbxsim.Config{Name: fmt.Sprintf("sim%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		sims = append(sims, sim)
		au, ap := sim.ARICredentials()
		mu, ms := sim.AMICredentials()
		mustStatus(t, call(t, "POST", reps[i].base+"/api/v1/pbxes", admin, map[string]any{
			"name": sim.Name(), "ari_url": sim.ARIURL(), "ari_user": au, "ari_password": ap, "ari_app": "cti",
			"ami_addr": sim.AMIAddr(), "ami_user": mu, "ami_secret": ms}), 201, "pbx")
	}

	bases := []string{reps[0].base, reps[1].base, reps[2].base}
	clients := []*feedClient{
		{name: "integrator@r0", token: integ, bases: rotate(bases, 0)},
		{name: "integrator@r1", token: integ, bases: rotate(bases, 1)},
		{name: "admin-full@r2", token: admin, query: "&full_events=true", bases: rotate(bases, 2)},
		{name: "alice@r1", token: alice.str("token"), bases: rotate(bases, 1)},
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		c.events = map[uint64]feedEvent{}
		wg.Add(1)
		go func() { defer wg.Done(); c.run(ctx) }()
	}

	// Traffic, with a replica restart in the middle.
	tctx, tcancel := context.WithCancel(ctx)
	var stats pbxsim.TrafficStats
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		_ = pbxsim.RunTraffic(tctx, sims, pbxsim.TrafficConfig{CallsPerSecond: 4, TalkTime: 300 * time.Millisecond, Seed: 7}, &stats)
	}()
	time.Sleep(4 * time.Second)
	reps[1].stop() // graceful: hands its PBXes over, tells clients to reconnect
	reps[1] = startProc(t, bin, addrs[1], "r1b", dbURL, redisURL)
	time.Sleep(4 * time.Second)
	tcancel()
	<-trafficDone
	time.Sleep(3 * time.Second) // let the last events arrive everywhere
	cancel()
	wg.Wait()

	if stats.Completed.Load() == 0 {
		t.Fatalf("no call completed; simulator error: %v", stats.LastError())
	}
	ref := clients[0]
	for _, c := range clients {
		if len(c.errs) > 0 {
			t.Errorf("%s: %s", c.name, strings.Join(c.errs, "; "))
		}
	}
	if len(ref.events) < 20 {
		t.Fatalf("%s saw only %d events", ref.name, len(ref.events))
	}
	// Full-view clients agree event for event.
	for _, c := range clients[1:3] {
		for seq, ev := range ref.events {
			if got, ok := c.events[seq]; ok && got != ev {
				t.Errorf("%s and %s disagree at seq %d: %+v vs %+v", c.name, ref.name, seq, got, ev)
			}
		}
		if missing := missingSeqs(ref, c); len(missing) > 0 {
			t.Errorf("%s missed %d events the reference saw (e.g. seq %v) without a resync", c.name, len(missing), missing[:min(5, len(missing))])
		}
	}
	// Alice sees a subset of the tenant's events: only channels, users and
	// terminals of hers; never another user's channel.
	a := clients[3]
	for seq, ev := range a.events {
		r, ok := ref.events[seq]
		if ok && r.Key != ev.Key {
			t.Errorf("alice's seq %d is %+v, the tenant's is %+v", seq, ev, r)
		}
	}
	countChannels := func(c *feedClient) int {
		n := 0
		for _, ev := range c.events {
			if ev.Element == "channel" {
				n++
			}
		}
		return n
	}
	if ac, rc := countChannels(a), countChannels(ref); ac == 0 || ac >= rc {
		t.Errorf("alice saw %d channel events of the tenant's %d: want some, and fewer than all", ac, rc)
	}
	t.Logf("events: reference %d, alice %d; calls completed %d; resyncs %d/%d/%d/%d",
		len(ref.events), len(a.events), stats.Completed.Load(), clients[0].resyncs, clients[1].resyncs, clients[2].resyncs, clients[3].resyncs)
}

// missingSeqs lists seqs of ref's epoch that c never saw although c was in
// that epoch at that time and did not resync.
func missingSeqs(ref, c *feedClient) []uint64 {
	if c.resyncs > 0 || ref.epoch != c.epoch {
		return nil
	}
	var min uint64 = ^uint64(0)
	for s := range c.events {
		if s < min {
			min = s
		}
	}
	var out []uint64
	for s := range ref.events {
		if s >= min && s <= c.seq {
			if _, ok := c.events[s]; !ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func rotate(s []string, n int) []string {
	return append(append([]string{}, s[n:]...), s[:n]...)
}
