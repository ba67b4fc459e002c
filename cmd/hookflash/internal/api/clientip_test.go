package api

import (
	"io"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestClientIP(t *testing.T) {
	// fiber's app.Test connects from 0.0.0.0; in the trusted cases that
	// peer plays the ingress.
	peerTrusted := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32"), netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name    string
		trusted []netip.Prefix
		xff     string
		want    string
	}{
		{"no trusted proxies: header ignored", nil, "203.0.113.9", "0.0.0.0"},
		{"untrusted peer: header ignored", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "203.0.113.9", "0.0.0.0"},
		{"trusted peer, one hop", peerTrusted, "203.0.113.9", "203.0.113.9"},
		{"client-forged leftmost entry is not believed", peerTrusted, "1.2.3.4, 203.0.113.9", "203.0.113.9"},
		{"trusted hops are skipped", peerTrusted, "203.0.113.9, 10.1.2.3", "203.0.113.9"},
		{"garbled hop stops the walk", peerTrusted, "203.0.113.9, not-an-ip, 10.1.2.3", "10.1.2.3"},
		{"no header: the peer", peerTrusted, "", "0.0.0.0"},
		{"ipv6 client", peerTrusted, "2001:db8::1", "2001:db8::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{TrustedProxies: tc.trusted}}
			app := fiber.New()
			app.Get("/", func(c *fiber.Ctx) error { return c.SendString(s.clientIP(c)) })
			req := httptest.NewRequest("GET", "/", nil)
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tc.want {
				t.Fatalf("client ip = %q, want %q", b, tc.want)
			}
		})
	}
}
