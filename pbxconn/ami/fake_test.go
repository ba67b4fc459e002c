package ami

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAMI is a small Asterisk manager on 127.0.0.1 for tests: it sends the
// banner, handles Challenge/Login (plain and MD5), Ping, Filter and Logoff
// like Asterisk 22, answers list actions by replaying recorded responses
// with the caller's ActionID, and lets a test take over any action.
type fakeAMI struct {
	t      testing.TB
	ln     net.Listener
	user   string
	secret string
	// lists maps a lower-cased action name to a recorded response text
	// whose frames carry "ActionID: act-1". Set before the first dial.
	lists map[string]string
	// interleave, when set, is sent before every frame of a list reply, as
	// Asterisk interleaves unrelated events with list responses.
	interleave string
	// handle, if set, sees every action first and reports whether it
	// answered it. Set before the first dial.
	handle  func(s *fakeConn, a *Message) bool
	closing chan struct{} // closed when the test ends
	noPong  atomic.Bool   // stop answering Ping
	pings   atomic.Int32  // Pings received

	mu      sync.Mutex // guards the fields below
	conns   []*fakeConn
	actions []*Message
	wg      sync.WaitGroup
}

// fakeConn is one manager session of a fakeAMI.
type fakeConn struct {
	f      *fakeAMI
	c      net.Conn
	wmu    sync.Mutex // serializes writes
	authed bool       // owned by the session goroutine
}

const fakeChallenge = "840415273"

// newFakeAMI starts a fake manager; tlsCfg, if not nil, serves TLS.
func newFakeAMI(t testing.TB, tlsCfg *tls.Config) *fakeAMI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	f := &fakeAMI{t: t, ln: ln, user: "cti", secret: "s3cret", lists: map[string]string{},
		closing: make(chan struct{})}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeAMI) addr() string { return f.ln.Addr().String() }

func (f *fakeAMI) config() Config {
	return Config{Addr: f.addr(), Username: f.user, Secret: f.secret, Events: true}
}

func (f *fakeAMI) close() {
	close(f.closing)
	f.ln.Close()
	f.mu.Lock()
	for _, s := range f.conns {
		s.c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// received returns the actions received so far.
func (f *fakeAMI) received() []*Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Message(nil), f.actions...)
}

// conn returns the i-th accepted session, waiting for it.
func (f *fakeAMI) conn(i int) *fakeConn {
	f.t.Helper()
	var s *fakeConn
	waitFor(f.t, "session accepted", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.conns) > i {
			s = f.conns[i]
		}
		return s != nil
	})
	return s
}

func (f *fakeAMI) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		s := &fakeConn{f: f, c: c}
		f.mu.Lock()
		f.conns = append(f.conns, s)
		f.wg.Add(1)
		f.mu.Unlock()
		go s.serve()
	}
}

// send writes raw text to the session.
func (s *fakeConn) send(text string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.c.Write([]byte(text))
	return err
}

// after runs fn on its own goroutine after d; close waits for it.
func (s *fakeConn) after(d time.Duration, fn func()) {
	s.f.wg.Add(1)
	time.AfterFunc(d, func() {
		defer s.f.wg.Done()
		fn()
	})
}

// reply answers action a with "Response: status" and the key/value pairs.
func (s *fakeConn) reply(a *Message, status string, kv ...string) {
	var b strings.Builder
	b.WriteString("Response: " + status + "\r\n")
	if id := a.Get("ActionID"); id != "" {
		b.WriteString("ActionID: " + id + "\r\n")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i] + ": " + kv[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	s.send(b.String())
}

func (s *fakeConn) serve() {
	defer s.f.wg.Done()
	defer s.c.Close()
	if s.send("Asterisk Call Manager/11.0.0\r\n") != nil {
		return
	}
	r := NewReader(s.c, ReaderConfig{})
	for {
		a, err := r.ReadMessage()
		if err != nil {
			if Recoverable(err) {
				continue
			}
			return
		}
		s.f.mu.Lock()
		s.f.actions = append(s.f.actions, a)
		s.f.mu.Unlock()
		if !s.answer(a) {
			return
		}
	}
}

// answer handles one action like Asterisk; false ends the session.
func (s *fakeConn) answer(a *Message) bool {
	name := strings.ToLower(a.Get("Action"))
	if name == "ping" {
		s.f.pings.Add(1)
		if !s.f.noPong.Load() {
			s.reply(a, "Success", "Ping", "Pong", "Timestamp", "1795442852.624603")
		}
		return true
	}
	if s.f.handle != nil && s.f.handle(s, a) {
		return true
	}
	switch name {
	case "challenge":
		s.reply(a, "Success", "Challenge", fakeChallenge)
		return true
	case "login":
		ok := a.Get("Username") == s.f.user
		if strings.EqualFold(a.Get("AuthType"), "md5") {
			sum := md5.Sum([]byte(fakeChallenge + s.f.secret))
			ok = ok && a.Get("Key") == hex.EncodeToString(sum[:])
		} else {
			ok = ok && a.Get("Secret") == s.f.secret
		}
		if !ok {
			s.reply(a, "Error", "Message", "Authentication failed")
			return false
		}
		s.authed = true
		s.reply(a, "Success", "Message", "Authentication accepted")
		s.send("Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 24\r\nLastReload: 24\r\nStatus: Fully Booted\r\n\r\n")
		return true
	case "logoff":
		s.reply(a, "Goodbye", "Message", "Thanks for all the fish.")
		return false
	}
	if !s.authed {
		s.reply(a, "Error", "Message", "Permission denied")
		return true
	}
	switch name {
	case "filter":
		s.reply(a, "Success", "Message", "Filter Added Successfully")
		return true
	}
	if text, ok := s.f.lists[name]; ok {
		s.replay(text, a.Get("ActionID"))
		return true
	}
	s.reply(a, "Error", "Message", "Invalid/unknown command")
	return true
}

// replay sends a recorded response with its ActionID replaced by id.
func (s *fakeConn) replay(text, id string) {
	text = strings.ReplaceAll(text, "ActionID: act-1", "ActionID: "+id)
	if s.f.interleave == "" {
		s.send(text)
		return
	}
	for _, frame := range strings.SplitAfter(text, "\r\n\r\n") {
		if frame != "" {
			s.send(s.f.interleave + frame)
		}
	}
}

// loadActions returns the recorded responses of one ami-actions fixture,
// keyed by lower-cased action name.
func loadActions(t testing.TB, name string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Skip(err)
	}
	out := map[string]string{}
	for _, sec := range splitSections(data) {
		action := strings.TrimSpace(strings.TrimPrefix(sec.header, "=== "))
		out[strings.ToLower(action)] = string(sec.body)
	}
	return out
}

// loadLoggedAction returns the AMI response logged for action in an
// actions-*.log fixture (LF line endings, as logged).
func loadLoggedAction(t testing.TB, file, action string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, file))
	if err != nil {
		t.Skip(err)
	}
	i := bytes.Index(data, []byte(" AMI "+action))
	if i < 0 {
		t.Fatalf("%s: no AMI %s", file, action)
	}
	data = data[i:]
	data = data[bytes.IndexByte(data, '\n')+1:]
	if j := bytes.Index(data, []byte("\n### ")); j >= 0 {
		data = data[:j+1]
	}
	return string(data)
}

// selfSignedTLS returns a server config for 127.0.0.1 and a client config
// trusting it.
func selfSignedTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fake-asterisk"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return server, &tls.Config{RootCAs: pool}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// listenOnce serves text to every connection on 127.0.0.1 and then keeps it
// open and silent until the test ends. It returns the address.
func listenOnce(t testing.TB, text string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			c.Write([]byte(text))
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}
