package pbxsim

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// Config describes one simulated PBX. Zero values take the documented
// defaults, which are those of the recorded Asterisk.
type Config struct {
	// Name labels the PBX in logs and tables. Default "pbx".
	Name string
	// ARIAddr and AMIAddr are the listen addresses. Default "127.0.0.1:0".
	ARIAddr, AMIAddr string
	// ARIUser/ARIPassword are the ARI Basic-auth credentials. Default cti/ctipass.
	ARIUser, ARIPassword string
	// AMIUser/AMISecret are the AMI login. Default cti/ctipass.
	AMIUser, AMISecret string
	// App is the Stasis application the recorded flows name. Default "cti".
	App string
	// EntityID is the asterisk_id of ARI events. Default "02:fc:00:00:00:01".
	EntityID string
	// Speed plays recorded flows this many times faster than recorded.
	// 0 means 1 (real time); math.Inf(1) emits each phase at once, in the
	// call that triggered it (what the conformance tests use).
	Speed float64
	// ParkingTimeout, if set, replaces the parking lot's timeout (120 s,
	// divided by a finite Speed) after which a parked call raises
	// ParkedCallTimeOut and is hung up.
	ParkingTimeout time.Duration
	// SendQueueBytes bounds each client connection's send queue; a client
	// that lets it fill is disconnected, as Asterisk does. Default 4 MiB.
	SendQueueBytes int
	// Logger receives connection-level logs. Default: discard.
	Logger *slog.Logger
}

func (c *Config) fill() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Name, "pbx")
	def(&c.ARIAddr, "127.0.0.1:0")
	def(&c.AMIAddr, "127.0.0.1:0")
	def(&c.ARIUser, "cti")
	def(&c.ARIPassword, "ctipass")
	def(&c.AMIUser, "cti")
	def(&c.AMISecret, "ctipass")
	def(&c.App, "cti")
	def(&c.EntityID, "02:fc:00:00:00:01")
	if c.Speed <= 0 || math.IsNaN(c.Speed) {
		c.Speed = 1
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 4 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// PBX is one simulated Asterisk. All methods are safe for concurrent use.
type PBX struct {
	cfg     Config
	log     *slog.Logger
	speed   float64
	scripts map[string]*script
	order   []string // script names, stable

	ariLn   net.Listener
	amiLn   net.Listener
	httpSrv *http.Server
	wg      sync.WaitGroup // accept loops and connection goroutines

	stallUntil atomic.Int64 // unix nanos; writers pause until then
	// filterSnap is a copy of filters the writers read without p.mu.
	filterSnap atomic.Pointer[map[string]*appFilter]

	mu sync.Mutex // guards everything below
	// engine
	closed        bool
	startup       time.Time
	queue         pendingHeap
	timer         *time.Timer
	seq           uint64
	nextInst      int
	rr            int
	pinned        map[string]string
	byUID         map[string]*instance
	uidCounter    uint64
	chanCounter   uint64
	parkingBridge string
	parkingExists bool
	// truth
	stateSeq    uint64
	ariChans    map[string]*ariChan
	ariBridges  map[string]*ariBridge
	amiChans    map[string]*amiChan
	queues      map[string]*queue
	queueOrder  []string
	parked      []*parkedCall
	confs       []*confMember
	devices     map[string]string
	deviceOrder []string
	stasisDevs  map[string]string
	stasisOrder []string
	endpoints   []*endpoint
	stasis      map[string]bool // channel ids inside a Stasis application
	capture     *capture        // set during Originate
	scratch     []ami.Field     // foldAMI's reusable parse space
	// subscribers
	filters    map[string]*appFilter
	ariConns   map[*ariConn]struct{}
	amiConns   map[*amiConn]struct{} // logged in
	amiPending map[*amiConn]struct{} // not yet logged in
}

// Start listens on the configured addresses and serves ARI and AMI until
// Close. ctx bounds only the start-up.
func Start(ctx context.Context, cfg Config) (*PBX, error) {
	cfg.fill()
	scripts, err := loadScripts()
	if err != nil {
		return nil, err
	}
	p := &PBX{cfg: cfg, log: cfg.Logger.With("pbx", cfg.Name), speed: cfg.Speed, scripts: scripts,
		pinned: map[string]string{}, ariConns: map[*ariConn]struct{}{}, amiConns: map[*amiConn]struct{}{},
		amiPending: map[*amiConn]struct{}{}}
	for _, name := range []string{"queue", "queue-abandon", "park", "park-xfer", "transfer-blind", "transfer-redirect",
		"transfer-attended", "hangup-self", "hangup-busy", "hangup-ringing", "register", "confbridge", "hold-sip", "hold-ari"} {
		if scripts[name] != nil {
			p.order = append(p.order, name)
		}
	}
	p.reset()
	var lc net.ListenConfig
	p.ariLn, err = lc.Listen(ctx, "tcp", cfg.ARIAddr)
	if err != nil {
		return nil, fmt.Errorf("pbxsim %s ari listen: %w", cfg.Name, err)
	}
	p.amiLn, err = lc.Listen(ctx, "tcp", cfg.AMIAddr)
	if err != nil {
		p.ariLn.Close()
		return nil, fmt.Errorf("pbxsim %s ami listen: %w", cfg.Name, err)
	}
	p.httpSrv = &http.Server{Handler: p.ariHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		_ = p.httpSrv.Serve(p.ariLn)
	}()
	go func() {
		defer p.wg.Done()
		p.acceptAMI()
	}()
	return p, nil
}

// reset puts the engine in its just-booted state. Caller holds p.mu or owns p.
func (p *PBX) reset() {
	p.startup = p.now()
	p.queue = nil
	if p.timer != nil {
		p.timer.Stop()
	}
	p.byUID = map[string]*instance{}
	p.parkingBridge, p.parkingExists = "", false
	p.ariChans = map[string]*ariChan{}
	p.ariBridges = map[string]*ariBridge{}
	p.amiChans = map[string]*amiChan{}
	for _, pc := range p.parked {
		if pc.timer != nil {
			pc.timer.Stop()
		}
	}
	p.parked, p.confs = nil, nil
	p.devices, p.deviceOrder = map[string]string{}, nil
	p.stasisDevs, p.stasisOrder = map[string]string{}, nil
	p.stasis = map[string]bool{}
	login := p.startup.Unix()
	mk := func(name, iface string) *queueMember {
		return &queueMember{name: name, iface: iface, stateIface: iface, loginTime: login, status: 1}
	}
	sip := mk("SIP Agent 1002", "PJSIP/1002")
	sip.status = 5
	p.queues = map[string]*queue{
		"support": {name: "support", strategy: "ringall", ext: "8000", members: []*queueMember{mk("Agent 1001", "Local/1001@agents/n"), mk("Agent 1002", "Local/1002@agents/n"), mk("Agent 1003", "Local/1003@agents/n")}},
		"sales":   {name: "sales", strategy: "rrmemory", ext: "8001", members: []*queueMember{mk("Agent 1004", "Local/1004@agents/n"), mk("Agent 1005", "Local/1005@agents/n"), sip}},
	}
	p.queueOrder = []string{"support", "sales"}
	p.endpoints = nil
	for _, r := range []string{"1001", "1002", "1003", "1004", "1005", "1006"} {
		p.endpoints = append(p.endpoints, &endpoint{resource: r, online: r == "1006"})
	}
	// device states as the recorded PBX lists them when idle
	for _, d := range [][2]string{
		{"Queue:sales_pause_PJSIP/1002", "NOT_INUSE"}, {"Queue:support_avail", "NOT_INUSE"},
		{"Queue:support", "NOT_INUSE"}, {"Queue:support_pause_Local/1003@agents/n", "NOT_INUSE"},
		{"PJSIP/1001", "UNAVAILABLE"}, {"PJSIP/1002", "UNAVAILABLE"}, {"PJSIP/1003", "UNAVAILABLE"},
		{"PJSIP/1004", "UNAVAILABLE"}, {"PJSIP/1005", "UNAVAILABLE"}, {"PJSIP/1006", "NOT_INUSE"},
		{"Queue:sales_pause_Local/1005@agents/n", "NOT_INUSE"}, {"Queue:sales_avail", "INUSE"},
		{"Queue:sales_pause_Local/1004@agents/n", "NOT_INUSE"}, {"Queue:support_pause_Local/1002@agents/n", "NOT_INUSE"},
		{"Queue:support_pause_Local/1001@agents/n", "NOT_INUSE"},
	} {
		p.setDevice(d[0], d[1])
	}
}

// Close stops the listeners, drops every client and waits for every
// goroutine of the PBX. It is idempotent.
func (p *PBX) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	for _, pc := range p.parked {
		if pc.timer != nil {
			pc.timer.Stop()
		}
	}
	p.mu.Unlock()
	_ = p.amiLn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = p.httpSrv.Shutdown(ctx)
	cancel()
	p.DropARI()
	p.DropAMI()
	p.wg.Wait()
	return nil
}

// Name returns the configured name.
func (p *PBX) Name() string { return p.cfg.Name }

// ARIURL returns the base URL of the ARI ("http://127.0.0.1:port/ari").
func (p *PBX) ARIURL() string { return "http://" + p.ariLn.Addr().String() + "/ari" }

// ARIEventsURL returns the events WebSocket URL for app, without credentials.
func (p *PBX) ARIEventsURL(app string) string {
	return "ws://" + p.ariLn.Addr().String() + "/ari/events?app=" + app + "&subscribeAll=true"
}

// AMIAddr returns the AMI host:port.
func (p *PBX) AMIAddr() string { return p.amiLn.Addr().String() }

// ARICredentials returns the ARI user and password.
func (p *PBX) ARICredentials() (user, password string) { return p.cfg.ARIUser, p.cfg.ARIPassword }

// AMICredentials returns the AMI user and secret.
func (p *PBX) AMICredentials() (user, secret string) { return p.cfg.AMIUser, p.cfg.AMISecret }

// PinFlow makes originates that could start several recorded flows with the
// same beginning (a customer calling an agent) always play the named one
// ("park", "transfer-blind", ...), so its events come in exactly the
// recorded interleaving. An empty name restores round-robin.
func (p *PBX) PinFlow(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name == "" {
		p.pinned = map[string]string{}
		return nil
	}
	sc := p.scripts[name]
	if sc == nil {
		return fmt.Errorf("%w: flow %q", ErrNotFound, name)
	}
	p.pinned[sc.phases[0].trigger+"/"+sc.phases[0].ext] = name
	return nil
}

func (p *PBX) now() time.Time { return time.Now() }

// publishARI hands one event to every ARI subscriber; render gives the
// bytes for a subscriber's application. Caller holds p.mu.
func (p *PBX) publishARI(render func(app string) []byte) {
	for c := range p.ariConns {
		if !c.q.push(render(c.app)) {
			// too slow: Asterisk drops such a reader at once
			delete(p.ariConns, c)
			c.kill()
			p.log.Warn("ari client too slow, disconnected", "app", c.app)
		}
	}
}

// publishAMI hands one frame to every AMI session with events on.
// b is the wire frame, blank line included.
func (p *PBX) publishAMI(b []byte) {
	for c := range p.amiConns {
		if !c.wantsEvent(b) {
			continue
		}
		if !c.q.push(b) {
			delete(p.amiConns, c)
			c.kill()
			p.log.Warn("ami client too slow, disconnected")
		}
	}
}

// stall blocks a writer while a write stall fault is active.
func (p *PBX) stall(done <-chan struct{}) {
	for {
		until := p.stallUntil.Load()
		d := time.Until(time.Unix(0, until))
		if until == 0 || d <= 0 {
			return
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			return
		}
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
