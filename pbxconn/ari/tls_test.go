package ari

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// testCA returns a fresh CA's PEM and a server certificate it signed for
// 127.0.0.1.
func testCA(t *testing.T) (caPEM []byte, server tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test PBX CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "pbx.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTLSWithCustomCA(t *testing.T) {
	caPEM, cert := testCA(t)
	lines := fixtureEvents(t)[:5]
	srv := newWSServer(t, true, func(conn *websocket.Conn) {
		sendLines(conn, lines)
		drain(conn)
	})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case makes handshakes fail on purpose
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()

	t.Run("trusted", func(t *testing.T) {
		c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.CAPEM = caPEM })
		// REST over https: the route does not exist, so ARI-style 404 proves
		// the TLS handshake and request went through.
		if _, err := c.Channels().Get(context.Background(), "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("REST over TLS: %v", err)
		}
		s, err := c.Events(context.Background())
		if err != nil {
			t.Fatalf("wss: %v", err)
		}
		defer s.Close()
		for range lines {
			if _, err := nextWithin(t, s, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		c := newTestClient(t, srv.URL, nil) // system roots do not know the test CA
		_, err := c.Channels().List(context.Background())
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("REST: %v, want x509.UnknownAuthorityError", err)
		}
		if _, err := c.Events(context.Background()); !errors.As(err, &ua) {
			t.Fatalf("wss: %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("custom http client", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.HTTPClient = hc; cfg.TLS = &tls.Config{RootCAs: pool} })
		if _, err := c.Channels().Get(context.Background(), "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("REST with Config.HTTPClient: %v", err)
		}
	})
}
