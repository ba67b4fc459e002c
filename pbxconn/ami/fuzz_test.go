package ami

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary streams to the Reader. It must never panic, never
// hold more than its limits, and every frame it returns must re-encode (or be
// refused with ErrInvalidField, for values holding a lone CR) to bytes that
// parse back to the same fields. Seeds: every fixture stream whole and every
// frame of it alone.
func FuzzParse(f *testing.F) {
	for _, file := range fixtureFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, sec := range splitSections(data) {
			f.Add(sec.body)
			for _, frame := range bytes.SplitAfter(sec.body, []byte("\r\n\r\n")) {
				if len(frame) > 0 {
					f.Add(frame)
				}
			}
		}
	}
	f.Add([]byte("Response: Follows\r\nPrivilege: Command\r\nOutput: x\nline\n\n--END COMMAND--\r\n\r\n"))
	f.Add([]byte("Response: Follows\r\nFoo: x--END COMMAND--\r\n\r\n"))
	f.Add([]byte("Response: Follows\nOutput: a: b\nplain\n--END COMMAND--\nA: 1\n\n"))
	f.Add([]byte("Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n"))
	f.Add([]byte("A: 1\nbad\n\nB:\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Default limits, and small ones with a buffer smaller than a line
		// so long lines take the gathering path.
		for _, cfg := range []ReaderConfig{{}, {MaxLineBytes: 40, MaxFrameBytes: 96, MaxFields: 4}} {
			size := readBufferSize
			if cfg.MaxLineBytes > 0 {
				size = 16
			}
			r := newReaderSize(bytes.NewReader(data), cfg, size)
			cfg.fill()
			for i := 0; ; i++ {
				if i > len(data)+1 {
					t.Fatalf("%d results from %d bytes: not making progress", i, len(data))
				}
				m, err := r.ReadMessage()
				if err != nil {
					if Recoverable(err) {
						continue
					}
					if err != io.EOF && err != io.ErrUnexpectedEOF {
						t.Fatalf("unexpected error %v", err)
					}
					break
				}
				if len(m.Fields) == 0 || len(m.Fields) > cfg.MaxFields {
					t.Fatalf("frame with %d fields", len(m.Fields))
				}
				if r.FrameBytes() > cfg.MaxFrameBytes {
					t.Fatalf("frame of %d bytes passed the limit %d", r.FrameBytes(), cfg.MaxFrameBytes)
				}
				checkReencode(t, m)
			}
		}
	})
}

func checkReencode(t *testing.T, m *Message) {
	t.Helper()
	enc, err := AppendMessage(nil, m)
	if err != nil {
		if !errors.Is(err, ErrInvalidField) {
			t.Fatalf("encode: %v", err)
		}
		return
	}
	back, err := NewReader(bytes.NewReader(enc), ReaderConfig{MaxLineBytes: len(enc), MaxFrameBytes: len(enc), MaxFields: len(m.Fields)}).ReadMessage()
	if err != nil {
		t.Fatalf("re-parse of %q: %v", enc, err)
	}
	if !reflect.DeepEqual(back.Fields, m.Fields) {
		t.Fatalf("round trip changed fields:\n got %q\nwant %q\nwire %q", back.Fields, m.Fields, enc)
	}
}
