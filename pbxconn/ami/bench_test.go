package ami

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// benchStreams returns the recorded event streams (ami-<scenario>.txt,
// banners removed) and the recorded resync responses (ami-actions-*.txt,
// annotations removed), each concatenated into one stream.
func benchStreams(b *testing.B) (events, actions []byte) {
	b.Helper()
	for _, file := range fixtureFiles(b) {
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(file), "ami-actions-") {
			for _, sec := range splitSections(data) {
				actions = append(actions, sec.body...)
			}
			continue
		}
		if bytes.HasPrefix(data, []byte(BannerPrefix)) {
			data = data[bytes.IndexByte(data, '\n')+1:]
		}
		events = append(events, data...)
	}
	return events, actions
}

// BenchmarkParse parses whole fixture streams; one op is one stream. It
// reports frames/s and ns/frame besides ns/op, B/s and allocs/op.
func BenchmarkParse(b *testing.B) {
	events, actions := benchStreams(b)
	for _, s := range []struct {
		name string
		data []byte
	}{{"events", events}, {"actions", actions}} {
		b.Run(s.name, func(b *testing.B) {
			frames := countFrames(b, s.data)
			br := bytes.NewReader(s.data)
			b.SetBytes(int64(len(s.data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				br.Reset(s.data)
				r := NewReader(br, ReaderConfig{})
				for {
					_, err := r.ReadMessage()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			total := float64(frames) * float64(b.N)
			b.ReportMetric(total/b.Elapsed().Seconds(), "frames/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/frame")
			b.ReportMetric(float64(frames), "frames/op")
		})
	}
}

func countFrames(b *testing.B, data []byte) int {
	b.Helper()
	r := NewReader(bytes.NewReader(data), ReaderConfig{})
	n := 0
	for {
		_, err := r.ReadMessage()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkAppendMessage encodes a typical Originate action.
func BenchmarkAppendMessage(b *testing.B) {
	m := Message{Fields: f("Action", "Originate", "ActionID", "hf-42", "Channel", "PJSIP/1001",
		"Context", "from-internal", "Exten", "0123456789", "Priority", "1", "CallerID", "Agent 1001 <1001>",
		"Async", "true", "Variable", "HF_TENANT=acme", "Variable", "HF_CALL=0f1e2d3c")}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendMessage(buf[:0], &m)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkClientEvents measures events through a live client over loopback
// TCP: the fake manager writes the recorded event streams (about 2,200
// events a batch) while at most two batches are unconsumed, and the benchmark
// takes events from Events. One op is one event.
func BenchmarkClientEvents(b *testing.B) {
	events, _ := benchStreams(b)
	// Only frames with an Event field reach Events; the recorded streams
	// also hold the helper sessions' login responses and Goodbyes.
	_, msgs := parseAll(b, "events", events)
	frames := 0
	for _, m := range msgs {
		if m.Has("Event") {
			frames++
		}
	}
	fake := newFakeAMI(b, nil)
	cfg := fake.config()
	cfg.PingInterval = -1
	cfg.EventBuffer = 4 * frames
	cfg.EventBufferBytes = 8 * len(events)
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	<-c.Events() // FullyBooted
	s := fake.conn(0)
	text := string(events)
	credit := make(chan struct{}, 2) // one token per batch the consumer may lag
	credit <- struct{}{}
	credit <- struct{}{}
	stop := make(chan struct{})
	done := make(chan error, 1)
	b.SetBytes(int64(len(events) / frames))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for sent := 0; sent < b.N; sent += frames {
			select {
			case <-credit:
			case <-stop:
				done <- nil
				return
			}
			if err := s.send(text); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 1; i <= b.N; i++ {
		select {
		case _, ok := <-c.Events():
			if !ok {
				b.Fatal(c.Err())
			}
		case <-time.After(10 * time.Second):
			b.Fatal("stalled")
		}
		if i%frames == 0 {
			credit <- struct{}{}
		}
	}
	b.StopTimer()
	close(stop)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDo measures one action round trip (Ping) over loopback TCP.
func BenchmarkDo(b *testing.B) {
	fake := newFakeAMI(b, nil)
	cfg := fake.config()
	cfg.PingInterval = -1
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ping := Message{Fields: f("Action", "Ping")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Do(context.Background(), ping); err != nil {
			b.Fatal(fmt.Errorf("ping: %w", err))
		}
	}
}

// BenchmarkIdleClientMemory reports the heap and stack one idle, logged-in
// Client holds (B/client), with its three goroutines and buffers. The fake
// manager runs in this process, so its per-session memory is measured first
// with bare sockets that log in by hand, and subtracted.
func BenchmarkIdleClientMemory(b *testing.B) {
	const n = 200
	fake := newFakeAMI(b, nil)
	measure := func(open func() io.Closer) float64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]io.Closer, n)
		for i := range conns {
			conns[i] = open()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		for _, c := range conns {
			c.Close()
		}
		used := int64(after.HeapInuse+after.StackInuse) - int64(before.HeapInuse+before.StackInuse)
		return float64(used) / n
	}
	bare := measure(func() io.Closer {
		conn, err := net.Dial("tcp", fake.addr())
		if err != nil {
			b.Fatal(err)
		}
		conn.Write([]byte("Action: Login\r\nActionID: 1\r\nUsername: cti\r\nSecret: s3cret\r\nEvents: on\r\n\r\n"))
		var got []byte
		buf := make([]byte, 512)
		for !bytes.Contains(got, []byte("Fully Booted\r\n\r\n")) {
			k, err := conn.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			got = append(got, buf[:k]...)
		}
		return conn
	})
	cfg := fake.config()
	full := measure(func() io.Closer {
		c, err := Dial(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		<-c.Events() // FullyBooted: the session is as settled as the bare one
		return c
	})
	for b.Loop() {
	}
	b.ReportMetric(full-bare, "B/client")
	b.ReportMetric(bare, "B/fake-session")
}
