package ari

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/fasthttp/websocket"
)

// BenchmarkDecodeEvent decodes the recorded fixture events round-robin
// (all kinds, in their recorded proportions), and a few kinds alone.
func BenchmarkDecodeEvent(b *testing.B) {
	lines := fixtureEvents(b)
	run := func(b *testing.B, msgs [][]byte) {
		var total int
		for _, m := range msgs {
			total += len(m)
		}
		b.SetBytes(int64(total / len(msgs)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := DecodeEvent(msgs[i%len(msgs)]); err != nil {
				b.Fatal(err)
			}
		}
	}
	var all [][]byte
	byKind := map[string][][]byte{}
	for _, l := range lines {
		all = append(all, l.Data)
		k, _ := scanType(l.Data)
		byKind[k] = append(byKind[k], l.Data)
	}
	b.Run("fixtures", func(b *testing.B) { run(b, all) })
	// The same messages through encoding/json only, for comparison.
	b.Run("fixtures-encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := decodeEvent(all[i%len(all)], false); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, k := range []string{"ChannelVarset", "Dial", "DeviceStateChanged", "BridgeAttendedTransfer"} {
		b.Run(k, func(b *testing.B) { run(b, byKind[k]) })
	}
	b.Run("unknown", func(b *testing.B) {
		run(b, [][]byte{[]byte(`{"type":"FutureEvent","application":"cti","timestamp":"2026-11-23T14:07:34.258+0000","asterisk_id":"02:fc:00:00:00:01","thing":{"id":"x"}}`)})
	})
}

// BenchmarkEventStream measures a message through a loopback events socket:
// server write, client read, decode, queue, Next.
func BenchmarkEventStream(b *testing.B) {
	lines := fixtureEvents(b)
	start := make(chan int, 1)
	srv := newWSServer(b, false, func(conn *websocket.Conn) {
		n := <-start
		for i := 0; i < n; i++ {
			if err := conn.WriteMessage(websocket.TextMessage, lines[i%len(lines)].Data); err != nil {
				return
			}
		}
		drain(conn)
	})
	c := newTestClient(b, srv.URL, func(cfg *Config) { cfg.EventBufferEvents = 1 << 20; cfg.EventBufferBytes = 1 << 30 })
	s, err := c.Events(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	start <- b.N
	for i := 0; i < b.N; i++ {
		if _, err := s.Next(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventStreamDo measures one REST-over-WebSocket round trip
// (Do: encode, write, server answer, read, route, decode) on loopback.
func BenchmarkEventStreamDo(b *testing.B) {
	info := `{"system":{"version":"22.10.1","entity_id":"02:fc:00:00:00:01"}}`
	srv := newWSServer(b, false, func(conn *websocket.Conn) {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var req RESTRequest
			if err := json.Unmarshal(data, &req); err != nil {
				return
			}
			resp, _ := json.Marshal(RESTResponse{
				EventBase:     EventBase{MessageBase: MessageBase{Type: "RESTResponse"}, Application: "cti"},
				TransactionID: req.TransactionID, RequestID: req.RequestID, StatusCode: 200, ReasonPhrase: "OK",
				URI: req.URI, MessageBody: &info,
			})
			if conn.WriteMessage(websocket.TextMessage, resp) != nil {
				return
			}
		}
	})
	c := newTestClient(b, srv.URL, nil)
	s, err := c.Events(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var in AsteriskInfo
		if err := s.Do(ctx, "GET", "asterisk/info", nil, &in); err != nil {
			b.Fatal(err)
		}
	}
}
