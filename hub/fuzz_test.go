package hub

import (
	"context"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzInboundMessage feeds arbitrary client frames to a session: every
// input gets exactly one reply (an error or a response) and never a panic.
func FuzzInboundMessage(f *testing.F) {
	mp, _ := msgpack.Marshal(map[string]any{"id": 1, "request": "ping"})
	for _, seed := range []string{
		`{"id":"15","request":"ping"}`, `{"id":15,"request":"hangup","channel":"x"}`, `{not json`,
		`[1,2,3]`, `{"request":null}`, `{"id":{"a":1},"request":"echo"}`, string(mp),
		"\xdf\xff\xff\xff\xff", "\x81\xa2id\xdd\xff\xff\xff\xff",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	h, err := NewHub(Config{Broker: NewMemoryBroker(MemoryBrokerConfig{}), SendQueueBytes: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame string, binary bool) {
		enc := EncodingJSON
		typ := textMessage
		if binary {
			enc, typ = EncodingMsgpack, binaryMessage
		}
		s := newSession(h, nil, SessionOptions{Tenant: "acme", Filter: testFilter{all: true}, Encoding: enc,
			OnRequest: func(ctx context.Context, s *Session, req Request) (any, error) {
				return map[string]any{"raw": len(req.Raw)}, nil
			}})
		s.handle(typ, []byte(frame))
		s.mu.Lock()
		n := len(s.queue)
		s.mu.Unlock()
		if n != 1 {
			t.Fatalf("%q got %d replies", frame, n)
		}
	})
}

func TestCheckMsgpack(t *testing.T) {
	valid := []any{
		map[string]any{"id": "1", "request": "hangup", "channel": "abc"},
		map[string]any{"n": int64(-5), "u": uint64(1 << 40), "f": 1.5, "f32": float32(2.5), "b": []byte("xyz"), "nil": nil, "t": true},
		map[string]any{"nested": []any{[]any{map[string]any{"deep": []any{1, 2, 3}}}}, "long": string(make([]byte, 70000))},
	}
	for _, v := range valid {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMsgpack(b); err != nil {
			t.Errorf("rejected valid %T: %v", v, err)
		}
	}
	for _, bad := range []string{"", "\xc1", "\xdf\xff\xff\xff\xff", "\x92\x01", "\x81\xa2id", "\x01\x02", "\xdb\xff\xff\xff\xff",
		string(append(make([]byte, 0), []byte("\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x01")...))} {
		if checkMsgpack([]byte(bad)) == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
