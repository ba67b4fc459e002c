package ami

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDir holds the recorded Asterisk 22 traffic.
const fixtureDir = "../../../shared/fixtures/asterisk-22"

// fixtureFiles returns every ami-*.txt fixture, or skips when they are absent.
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "ami-*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("no AMI fixtures under %s", fixtureDir)
	}
	return files
}

// section is one AMI byte stream inside a fixture file. The ami-actions-*
// files are several streams, each after an annotation line "=== Action\n"
// that the recorder added and that is not AMI; the other files are one
// stream starting with the banner.
type section struct {
	header string // the annotation line including its "\n", or ""
	body   []byte
}

func splitSections(data []byte) []section {
	if !bytes.HasPrefix(data, []byte("=== ")) {
		return []section{{body: data}}
	}
	var out []section
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		header := string(data[:nl+1])
		data = data[nl+1:]
		next := bytes.Index(data, []byte("\n=== "))
		var body []byte
		if next < 0 {
			body, data = data, nil
		} else {
			body, data = data[:next+1], data[next+1:]
		}
		out = append(out, section{header: header, body: body})
	}
	return out
}

// parseAll reads every frame of stream, failing the test on any error.
func parseAll(t testing.TB, name string, stream []byte) (*Reader, []*Message) {
	t.Helper()
	r := NewReader(bytes.NewReader(stream), ReaderConfig{})
	var msgs []*Message
	for {
		m, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			return r, msgs
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", name, len(msgs)+1, err)
		}
		msgs = append(msgs, m)
	}
}

// TestRoundTripFixtures parses every recorded AMI stream completely and
// re-encodes it: the bytes must equal the input. The banner is not a frame;
// it comes back from Reader.Banner and is written as "banner\r\n" before the
// frames. The "=== Action" annotation lines of the ami-actions files are
// split off before parsing and put back between streams.
func TestRoundTripFixtures(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			frames, fields := 0, 0
			for _, sec := range splitSections(data) {
				out.WriteString(sec.header)
				r, msgs := parseAll(t, file, sec.body)
				if b := r.Banner(); b != "" {
					out.WriteString(b + "\r\n")
				}
				for _, m := range msgs {
					if err := WriteMessage(&out, m); err != nil {
						t.Fatalf("encode %v: %v", m.Fields, err)
					}
					fields += len(m.Fields)
				}
				frames += len(msgs)
				// Independent count: frames are the blank lines that end a run
				// of non-blank lines.
				if want := bytes.Count(sec.body, []byte("\r\n\r\n")); want != len(msgs) {
					t.Errorf("%s: %d frames parsed, %d blank-line terminators", sec.header, len(msgs), want)
				}
			}
			if !bytes.Equal(out.Bytes(), data) {
				i := 0
				for i < len(data) && i < out.Len() && data[i] == out.Bytes()[i] {
					i++
				}
				t.Fatalf("re-encoding differs at byte %d: got %q want %q", i,
					clip(out.Bytes()[i:]), clip(data[i:]))
			}
			if lines := strings.Count(string(data), ": "); lines < fields {
				t.Fatalf("%d fields but only %d \": \" in the input", fields, lines)
			}
			t.Logf("%d frames, %d fields, %d bytes", frames, fields, len(data))
			if frames == 0 {
				t.Fatal("no frames")
			}
		})
	}
}

func clip(b []byte) []byte {
	if len(b) > 60 {
		return b[:60]
	}
	return b
}

// TestFixtureBanner checks the banner of event-stream fixtures is reported
// and not returned as a frame.
func TestFixtureBanner(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtureDir, "ami-queue.txt"))
	if err != nil {
		t.Skip(err)
	}
	r, msgs := parseAll(t, "ami-queue.txt", data)
	if got := r.Banner(); got != "Asterisk Call Manager/11.0.0" {
		t.Fatalf("banner %q", got)
	}
	first := msgs[0]
	if first.Get("Response") != "Success" || first.Get("ActionID") != "login-1" {
		t.Fatalf("first frame %v", first.Fields)
	}
	last := msgs[len(msgs)-1]
	if last.Get("Response") != "Goodbye" {
		t.Fatalf("last frame %v", last.Fields)
	}
	events := map[string]int{}
	for _, m := range msgs {
		events[m.Event()]++
	}
	for _, name := range []string{"QueueCallerJoin", "AgentCalled", "AgentConnect", "AgentComplete", "QueueCallerLeave"} {
		if events[name] == 0 {
			t.Errorf("no %s event parsed", name)
		}
	}
}
