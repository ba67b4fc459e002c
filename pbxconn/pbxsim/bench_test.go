package pbxsim

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// BenchmarkQueueCall plays one whole queue call (originate into queue
// support, three agents rung, one connects, customer hangs up: about 230
// ARI events and 220 AMI frames) to one ARI socket and one AMI session.
func BenchmarkQueueCall(b *testing.B) {
	p, err := Start(context.Background(), Config{Speed: math.Inf(1), SendQueueBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	th := startBenchSubscribers(b, p)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		obj, err := p.Originate(OriginateRequest{Endpoint: "Local/9" + strconv.Itoa(100+i%800) + "@customers", Extension: "8000"})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Hangup(jsonID(obj), ""); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	events := th()
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// startBenchSubscribers attaches an ARI socket and an AMI session that
// drain everything; the returned func waits for the backlog and returns
// the number of events received.
func startBenchSubscribers(b *testing.B, p *PBX) func() int {
	b.Helper()
	user, pass := p.ARICredentials()
	ws, _, err := websocket.DefaultDialer.Dial(p.ARIEventsURL("cti"), http.Header{"Authorization": {basicAuth(user, pass)}})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := net.Dial("tcp", p.AMIAddr())
	if err != nil {
		b.Fatal(err)
	}
	u, s := p.AMICredentials()
	fmt.Fprintf(conn, "Action: Login\r\nUsername: %s\r\nSecret: %s\r\n\r\n", u, s)
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		r := bufio.NewReaderSize(conn, 64<<10)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) == 2 {
				n.Add(1)
			}
		}
	}()
	for p.Stats().AMIClients != 1 || p.Stats().ARIClients != 1 {
		time.Sleep(time.Millisecond)
	}
	return func() int {
		last := int64(-1)
		for last != n.Load() {
			last = n.Load()
			time.Sleep(50 * time.Millisecond)
		}
		ws.Close()
		conn.Close()
		wg.Wait()
		return int(n.Load())
	}
}
