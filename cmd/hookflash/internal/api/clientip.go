package api

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientIP is the address a request comes from, for login throttling and
// the audit log. The peer address is used unless the peer is a trusted
// proxy (Config.TrustedProxies, e.g. the cluster's ingress): then
// X-Forwarded-For is walked from the right, skipping trusted hops, and the
// first untrusted address is the client. Taking the leftmost entry, as
// fiber's ProxyHeader does, would let any client choose its own address
// and so its own rate-limit bucket.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer := c.Context().RemoteIP().String()
	if len(s.cfg.TrustedProxies) == 0 {
		return peer
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !s.trusted(addr) {
		return peer
	}
	hops := strings.Split(c.Get(fiber.HeaderXForwardedFor), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			// A garbled hop: stop trusting the header beyond it.
			return addr.String()
		}
		addr = a.Unmap()
		if !s.trusted(addr) {
			return addr.String()
		}
	}
	return addr.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
