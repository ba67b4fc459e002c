package ari

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleStreamMemory reports the memory one idle EventStream costs
// (heap + goroutine stacks, B/stream, of which stack-B/stream; ignore ns/op): streams are dialled to
// an in-process server, minus as many bare TCP sockets upgraded by hand, so
// the server's share cancels out.
func BenchmarkIdleStreamMemory(b *testing.B) {
	const n = 200
	srv := newWSServer(b, false, drain)
	c := newTestClient(b, srv.URL, nil)
	addr := strings.TrimPrefix(srv.URL, "http://")
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass))

	var stacks [3]uint64
	measure := func() uint64 {
		for range 3 {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		stacks[0], stacks[1], stacks[2] = stacks[1], stacks[2], ms.StackInuse
		return ms.HeapInuse + ms.StackInuse
	}
	settle := func(want int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			srv.mu.Lock()
			got := len(srv.conns)
			srv.mu.Unlock()
			if got >= want {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("server has %d connections, want %d", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var perStream, stackPerStream float64
	for i := 0; i < b.N; i++ {
		base := measure()
		bare := make([]net.Conn, 0, n)
		for range n {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(conn, "GET /ari/events?app=cti HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: %s\r\n\r\n", addr, auth)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				b.Fatalf("bare upgrade: %v %v", resp, err)
			}
			bare = append(bare, conn)
		}
		settle(n * (2*i + 1))
		withBare := measure()
		streams := make([]*EventStream, 0, n)
		for range n {
			s, err := c.Events(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			streams = append(streams, s)
		}
		settle(n * (2*i + 2))
		withStreams := measure()
		stackPerStream = float64(int64(stacks[2])-int64(stacks[1])-(int64(stacks[1])-int64(stacks[0]))) / n
		perStream = (float64(withStreams) - float64(withBare) - (float64(withBare) - float64(base))) / n
		for _, s := range streams {
			s.Close()
		}
		for _, conn := range bare {
			conn.Close()
		}
	}
	b.ReportMetric(perStream, "B/stream")
	b.ReportMetric(stackPerStream, "stack-B/stream")
}
