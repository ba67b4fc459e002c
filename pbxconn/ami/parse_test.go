package ami

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// result is one ReadMessage outcome: fields or an error.
type result struct {
	fields []Field
	err    error
}

// readResults reads stream until a fatal error, recording each outcome.
func readResults(stream string, cfg ReaderConfig) ([]result, *Reader) {
	r := NewReader(strings.NewReader(stream), cfg)
	var out []result
	for i := 0; i < 1000; i++ {
		m, err := r.ReadMessage()
		if err != nil {
			out = append(out, result{err: err})
			if !Recoverable(err) {
				break
			}
			continue
		}
		out = append(out, result{fields: m.Fields})
	}
	return out, r
}

func f(kv ...string) []Field {
	var out []Field
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Field{kv[i], kv[i+1]})
	}
	return out
}

func TestReadMessage(t *testing.T) {
	small := ReaderConfig{MaxLineBytes: 16, MaxFrameBytes: 48, MaxFields: 3}
	tests := []struct {
		name   string
		in     string
		cfg    ReaderConfig
		want   []result
		banner string
	}{
		{name: "crlf", in: "Event: A\r\nX: 1\r\n\r\n",
			want: []result{{fields: f("Event", "A", "X", "1")}, {err: io.EOF}}},
		{name: "bare lf", in: "Event: A\nX: 1\n\n",
			want: []result{{fields: f("Event", "A", "X", "1")}, {err: io.EOF}}},
		{name: "banner then frame", in: "Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n",
			banner: "Asterisk Call Manager/11.0.0",
			want:   []result{{fields: f("Response", "Success")}, {err: io.EOF}}},
		{name: "banner only first line", in: "E: 1\r\n\r\nAsterisk Call Manager/1\r\n\r\n",
			want: []result{{fields: f("E", "1")}, {err: &ParseError{3, ErrMalformedLine}}, {err: io.EOF}}},
		{name: "values keep blanks and colons", in: "A: \r\nB:  x \r\nC:y\r\nD: a: b\r\n\r\n",
			want: []result{{fields: f("A", "", "B", " x ", "C", "y", "D", "a: b")}, {err: io.EOF}}},
		{name: "blank lines between frames", in: "\r\n\r\nA: 1\r\n\r\n\r\n\nB: 2\r\n\r\n",
			want: []result{{fields: f("A", "1")}, {fields: f("B", "2")}, {err: io.EOF}}},
		{name: "repeated keys kept in order", in: "Variable: a=1\r\nVariable: b=2\r\n\r\n",
			want: []result{{fields: f("Variable", "a=1", "Variable", "b=2")}, {err: io.EOF}}},
		{name: "malformed line skips its frame", in: "A: 1\r\ngarbage\r\nB: 2\r\n\r\nC: 3\r\n\r\n",
			want: []result{{err: &ParseError{2, ErrMalformedLine}}, {fields: f("C", "3")}, {err: io.EOF}}},
		{name: "empty key is malformed", in: ": x\r\n\r\nC: 3\r\n\r\n",
			want: []result{{err: &ParseError{1, ErrMalformedLine}}, {fields: f("C", "3")}, {err: io.EOF}}},
		{name: "eof inside frame", in: "A: 1\r\nB: 2\r\n",
			want: []result{{err: io.ErrUnexpectedEOF}}},
		{name: "eof inside line", in: "A: 1\r\nB: 2",
			want: []result{{err: io.ErrUnexpectedEOF}}},
		{name: "line too long", cfg: small, in: "A: 1\r\nB: 0123456789abcdef\r\nC: 1\r\n\r\nD: 4\r\n\r\n",
			want: []result{{err: &ParseError{2, ErrLineTooLong}}, {fields: f("D", "4")}, {err: io.EOF}}},
		{name: "line too long beyond buffer", cfg: small, in: "A: " + strings.Repeat("x", 10000) + "\r\n\r\nD: 4\r\n\r\n",
			want: []result{{err: &ParseError{1, ErrLineTooLong}}, {fields: f("D", "4")}, {err: io.EOF}}},
		{name: "line longer than the read buffer", in: "A: " + strings.Repeat("x", 6000) + "\r\n\r\n",
			want: []result{{fields: f("A", strings.Repeat("x", 6000))}, {err: io.EOF}}},
		{name: "too many fields", cfg: small, in: "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\nF: 6\r\n\r\n",
			want: []result{{err: &ParseError{4, ErrFrameTooLarge}}, {fields: f("F", "6")}, {err: io.EOF}}},
		{name: "frame too large", cfg: ReaderConfig{MaxFrameBytes: 20},
			in:   "A: 123456\r\nB: 123456\r\nC: 123456\r\n\r\nF: 6\r\n\r\n",
			want: []result{{err: &ParseError{2, ErrFrameTooLarge}}, {fields: f("F", "6")}, {err: io.EOF}}},
		{name: "legacy command output",
			in: "Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\nName: not a header\n\nline: two\r\n--END COMMAND--\r\n\r\nE: 1\r\n\r\n",
			want: []result{{fields: f("Response", "Follows", "Privilege", "Command", "ActionID", "7",
				"Name", "not a header")}, {err: &ParseError{7, ErrMalformedLine}}, {fields: f("E", "1")}, {err: io.EOF}}},
		{name: "legacy command output raw lines",
			in: "Response: Follows\r\nActionID: 7\r\nNo such command 'x'\n\nSee: help\n--END COMMAND--\r\n\r\n",
			want: []result{{fields: f("Response", "Follows", "ActionID", "7", "Output", "No such command 'x'",
				"Output", "", "Output", "See: help")}, {err: io.EOF}}},
		{name: "legacy marker glued to last line",
			in:   "Response: Follows\r\nPrivilege: Command\r\nuptime 5s--END COMMAND--\r\n\r\n",
			want: []result{{fields: f("Response", "Follows", "Privilege", "Command", "Output", "uptime 5s")}, {err: io.EOF}}},
		{name: "legacy text after marker is malformed",
			in:   "Response: Follows\r\nx\r\n--END COMMAND--\r\nA: 1\r\n\r\nB: 2\r\n\r\n",
			want: []result{{err: &ParseError{4, ErrMalformedLine}}, {fields: f("B", "2")}, {err: io.EOF}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := readResults(tt.in, tt.cfg)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d results %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i].fields, tt.want[i].fields) {
					t.Errorf("result %d: fields %q, want %q", i, got[i].fields, tt.want[i].fields)
				}
				if !sameErr(got[i].err, tt.want[i].err) {
					t.Errorf("result %d: err %v, want %v", i, got[i].err, tt.want[i].err)
				}
			}
			if r.Banner() != tt.banner {
				t.Errorf("banner %q, want %q", r.Banner(), tt.banner)
			}
		})
	}
}

func sameErr(got, want error) bool {
	var gp, wp *ParseError
	if errors.As(want, &wp) {
		return errors.As(got, &gp) && *gp == *wp
	}
	return got == want
}

func TestReadBanner(t *testing.T) {
	r := NewReader(strings.NewReader("Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n"), ReaderConfig{})
	b, err := r.ReadBanner()
	if err != nil || b != "Asterisk Call Manager/11.0.0" {
		t.Fatalf("ReadBanner = %q, %v", b, err)
	}
	m, err := r.ReadMessage()
	if err != nil || m.Get("response") != "Success" {
		t.Fatalf("ReadMessage = %v, %v", m, err)
	}
	for _, in := range []string{"HTTP/1.1 400 Bad Request\r\n", "SSH-2.0-OpenSSH\r\n"} {
		r := NewReader(strings.NewReader(in), ReaderConfig{})
		if _, err := r.ReadBanner(); !errors.Is(err, ErrBadBanner) {
			t.Errorf("ReadBanner(%q) err = %v, want ErrBadBanner", in, err)
		}
	}
	r = NewReader(strings.NewReader(""), ReaderConfig{})
	if _, err := r.ReadBanner(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadBanner on empty stream err = %v", err)
	}
}

// TestReaderBoundedMemory feeds megabytes of hostile input (no newlines; no
// blank lines) and checks the reader keeps returning errors without storing it.
func TestReaderBoundedMemory(t *testing.T) {
	tests := map[string]io.Reader{
		"no newline": io.LimitReader(repeatReader('x'), 8<<20),
		"no blank line": io.MultiReader(io.LimitReader(repeatReaderOf("K: vvvvvvvvvvvvvvvvvvvvv\r\n"), 8<<20),
			strings.NewReader("\r\n")),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewReader(in, ReaderConfig{})
			var recoverable int
			for {
				_, err := r.ReadMessage()
				if err == nil {
					t.Fatal("hostile input produced a frame")
				}
				if !Recoverable(err) {
					break
				}
				recoverable++
				if cap(r.buf) > 2*DefaultMaxFrameBytes {
					t.Fatalf("frame buffer grew to %d", cap(r.buf))
				}
			}
			if recoverable == 0 {
				t.Fatal("no size error reported")
			}
		})
	}
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func repeatReaderOf(s string) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		n := 0
		for n < len(p) {
			n += copy(p[n:], s)
		}
		return n, nil
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestAppendMessage(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string
		err  bool
	}{
		{name: "plain", m: Message{f("Action", "Ping", "ActionID", "1")}, want: "Action: Ping\r\nActionID: 1\r\n\r\n"},
		{name: "empty value", m: Message{f("Action", "Status", "Channel", "")}, want: "Action: Status\r\nChannel: \r\n\r\n"},
		{name: "follows", m: Message{f("Response", "Follows", "Output", "a", "ActionID", "2", "Output", "")},
			want: "Response: Follows\r\nActionID: 2\r\na\r\n\r\n--END COMMAND--\r\n\r\n"},
		{name: "value injection", m: Message{f("Action", "Originate", "CallerID", "x\r\nAction: Logoff")}, err: true},
		{name: "bare lf injection", m: Message{f("Action", "Originate", "CallerID", "x\nAction: Logoff")}, err: true},
		{name: "key with colon", m: Message{f("Action: x", "y")}, err: true},
		{name: "empty key", m: Message{f("", "y")}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendMessage([]byte("pre"), &tt.m)
			if tt.err {
				if !errors.Is(err, ErrInvalidField) || string(got) != "pre" {
					t.Fatalf("got %q, %v; want ErrInvalidField and dst unchanged", got, err)
				}
				return
			}
			if err != nil || string(got) != "pre"+tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			// And it parses back to the same fields (Follows: canonical order).
			back, err := NewReader(bytes.NewReader(got[3:]), ReaderConfig{}).ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if tt.name != "follows" && !reflect.DeepEqual(back.Fields, tt.m.Fields) {
				t.Fatalf("parsed back %q", back.Fields)
			}
		})
	}
}

// TestLineLimitBoundary checks the line limit exactly, with lines shorter
// and longer than the read buffer, CRLF and bare LF.
func TestLineLimitBoundary(t *testing.T) {
	const limit = 40
	for _, bufSize := range []int{16, 4096} {
		for _, eol := range []string{"\r\n", "\n"} {
			for _, n := range []int{limit - 1, limit, limit + 1, 3 * limit} {
				line := "K: " + strings.Repeat("v", n-3)
				r := newReaderSize(strings.NewReader(line+eol+eol+"Z: 1"+eol+eol), ReaderConfig{MaxLineBytes: limit}, bufSize)
				m, err := r.ReadMessage()
				if n <= limit {
					if err != nil || m.Fields[0].Value != line[3:] {
						t.Fatalf("buf %d eol %q len %d: %v", bufSize, eol, n, err)
					}
				} else if !errors.Is(err, ErrLineTooLong) {
					t.Fatalf("buf %d eol %q len %d: err %v, want ErrLineTooLong", bufSize, eol, n, err)
				}
				if m, err := r.ReadMessage(); err != nil || m.Get("Z") != "1" {
					t.Fatalf("buf %d eol %q len %d: next frame %v, %v", bufSize, eol, n, m, err)
				}
			}
		}
	}
}
