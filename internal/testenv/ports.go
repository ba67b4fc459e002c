package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a loopback address ("127.0.0.1:port") nobody listens on,
// for a server a test starts in another process (which must bind the port
// itself, so the test cannot hand it a listener).
//
// The port is taken below the kernel's ephemeral range: a port from
// `listen :0` is an ephemeral one, and between closing it and the child
// binding it any outgoing connection on the machine (go test runs packages
// in parallel) may take it as its local port. Below the range only another
// explicit bind can. Ports this process handed out are not handed out again.
func FreePort(t testing.TB) string {
	t.Helper()
	low := ephemeralLow()
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 200; i++ {
		p := 20000 + rand.IntN(low-20000)
		if portsGiven[p] {
			continue
		}
		addr := "127.0.0.1:" + strconv.Itoa(p)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = ln.Close()
		portsGiven[p] = true
		return addr
	}
	t.Fatal("testenv: no free port found below the ephemeral range")
	return ""
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// ephemeralLow reads the low end of the kernel's ephemeral port range
// (Linux default 32768); it never returns less than 21000.
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi); err == nil {
			low = lo
		}
	}
	if low < 21000 {
		low = 21000
	}
	return low
}
