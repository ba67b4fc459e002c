package ami

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Parser defaults.
const (
	DefaultMaxLineBytes  = 8 << 10
	DefaultMaxFrameBytes = 64 << 10
	DefaultMaxFields     = 1024
)

// BannerPrefix starts the line Asterisk sends when a manager session opens,
// e.g. "Asterisk Call Manager/11.0.0".
const BannerPrefix = "Asterisk Call Manager"

// maxFrameCap is the largest MaxFrameBytes honoured.
const maxFrameCap = 1 << 30

// Scratch buffers larger than these are dropped after the frame.
const (
	retainBytes  = 8 << 10
	retainFields = 256
)

// endCommand ends the raw output of a legacy "Response: Follows" frame.
const endCommand = "--END COMMAND--"

// ReaderConfig bounds what a Reader accepts. Zero fields take the defaults.
type ReaderConfig struct {
	// MaxLineBytes is the longest line accepted, terminator excluded
	// (default DefaultMaxLineBytes, 8 KiB).
	MaxLineBytes int
	// MaxFrameBytes is the largest frame accepted, counted in wire bytes
	// including line terminators (default DefaultMaxFrameBytes, 64 KiB; at
	// most 1 GiB).
	MaxFrameBytes int
	// MaxFields is the most fields one frame may have (default DefaultMaxFields).
	MaxFields int
}

func (c *ReaderConfig) fill() {
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxFrameBytes > maxFrameCap {
		c.MaxFrameBytes = maxFrameCap // field offsets are int32
	}
	if c.MaxFields <= 0 {
		c.MaxFields = DefaultMaxFields
	}
}

// Reader parses AMI frames from a byte stream.
//
// Grammar. A frame is a run of "Key: Value" lines ended by a blank line. Lines
// end in CRLF or a bare LF; one trailing CR is removed. The key is everything
// before the first ':' and must not be empty; exactly one space after the
// colon is removed, the rest of the line (leading or trailing blanks
// included) is the value, so "Key:value" and "Key: value" parse alike.
// Blank lines between frames are skipped. If the first line of the stream
// starts with BannerPrefix and has no ':' it is the banner, kept for Banner
// and not a frame.
//
// A legacy "Response: Follows" frame (Asterisk before 14 answering Command)
// has its header lines parsed as usual; from the first line that is not a
// "Key: Value" line with a key other than Output, every line (blank ones
// too) is raw command output, returned as a field keyed "Output" with the
// line as value, until a line ending in "--END COMMAND--" (text before the
// marker is one more line, header or output by the same rule). Only a blank
// line may follow the marker. (After an error inside such a frame, the
// skip ends at its first blank line, which may be inside the output; the
// lines after it then fail as frames of their own until the stream is back
// in step.)
//
// Round trip. AppendMessage writes a parsed frame back as the same bytes
// whenever the input was canonical: CRLF, one space after each colon, as
// Asterisk writes. The banner is not a frame: write Banner() + "\r\n".
//
// Errors. A line with no key is ErrMalformedLine; a line over MaxLineBytes is
// ErrLineTooLong; a frame over MaxFrameBytes or MaxFields is
// ErrFrameTooLarge. These come as a *ParseError and are recoverable: the
// rest of the frame is discarded without being stored, and the next call
// returns the following frame. Memory use is bounded by the limits whatever
// the input. EOF between frames is io.EOF; EOF inside a frame is
// io.ErrUnexpectedEOF; other read errors are returned as they are.
//
// Allocation. Each message costs three allocations: the Message, its Fields
// and one string holding the frame's keys and values, which every Field
// slices. Keeping any field of a message keeps that string alive.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	br        *bufio.Reader
	maxLine   int
	maxFrame  int
	maxFields int

	buf   []byte // keys and values of the frame being read
	spans []span // one per field, offsets into buf

	line      int64  // lines read so far
	started   bool   // the first line has been read (banner decided)
	banner    string // the banner line, if any
	skip      bool   // discard up to the end of the current frame first
	lastBytes int    // wire bytes of the last frame returned
	lineWire  int    // wire bytes of the last line read
	partial   bool   // the rest of a too-long line is still unread
}

// span locates one field in Reader.buf; ks < 0 means the key "Output".
type span struct{ ks, ke, vs, ve int32 }

// NewReader returns a Reader over r with the limits of cfg.
func NewReader(r io.Reader, cfg ReaderConfig) *Reader {
	return newReaderSize(r, cfg, readBufferSize)
}

// readBufferSize is the bufio buffer of a Reader. Lines longer than it (up
// to MaxLineBytes) are gathered in a separate buffer, so an idle client does
// not carry MaxLineBytes of buffer.
const readBufferSize = 4096

func newReaderSize(r io.Reader, cfg ReaderConfig, size int) *Reader {
	cfg.fill()
	return &Reader{
		br:        bufio.NewReaderSize(r, size),
		maxLine:   cfg.MaxLineBytes,
		maxFrame:  cfg.MaxFrameBytes,
		maxFields: cfg.MaxFields,
	}
}

// Banner returns the banner line read at the start of the stream, without
// its terminator, or "" if there was none (or none read yet).
func (r *Reader) Banner() string { return r.banner }

// FrameBytes returns the wire size of the last frame ReadMessage returned.
func (r *Reader) FrameBytes() int { return r.lastBytes }

// ReadBanner reads the first line of the stream and returns it, or
// ErrBadBanner if it does not start with BannerPrefix. Called after the
// first line was already read, it returns the banner seen then (or
// ErrBadBanner if there was none).
func (r *Reader) ReadBanner() (string, error) {
	if r.started {
		if r.banner == "" {
			return "", ErrBadBanner
		}
		return r.banner, nil
	}
	line, err := r.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	r.started = true
	if !bytes.HasPrefix(line, []byte(BannerPrefix)) {
		return "", ErrBadBanner
	}
	r.banner = string(line)
	return r.banner, nil
}

// parse modes within one frame.
const (
	modeFields     = iota // ordinary Key: Value lines
	modeFollowsHdr        // "Response: Follows" seen, output not begun
	modeFollowsOut        // raw command output
	modeFollowsEnd        // after --END COMMAND--: only a blank line
)

// ReadMessage returns the next frame. See Reader for the grammar and errors.
func (r *Reader) ReadMessage() (*Message, error) {
	if r.skip {
		if err := r.discardFrame(); err != nil {
			return nil, err
		}
	}
	r.buf = r.buf[:0]
	r.spans = r.spans[:0]
	size := 0
	mode := modeFields
	for {
		line, err := r.readLine()
		inFrame := len(r.spans) > 0 || mode != modeFields
		if err != nil {
			if errors.Is(err, ErrLineTooLong) {
				r.skip = true
				return nil, &ParseError{Line: r.line, Err: ErrLineTooLong}
			}
			if err == io.EOF && inFrame {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if !r.started {
			r.started = true
			if bytes.HasPrefix(line, []byte(BannerPrefix)) && bytes.IndexByte(line, ':') < 0 {
				r.banner = string(line)
				continue
			}
		}
		size += r.lineWire
		if size > r.maxFrame {
			r.skip = len(line) > 0
			return nil, &ParseError{Line: r.line, Err: ErrFrameTooLarge}
		}
		if mode == modeFollowsOut || mode == modeFollowsHdr {
			if bytes.HasSuffix(line, []byte(endCommand)) {
				rest := line[:len(line)-len(endCommand)]
				if len(rest) > 0 && !(mode == modeFollowsHdr && r.addHeader(rest)) {
					r.addOutput(rest)
				}
				mode = modeFollowsEnd
			} else if mode == modeFollowsOut || (len(line) > 0 && !r.addHeader(line)) {
				r.addOutput(line)
				mode = modeFollowsOut
			} else if len(line) == 0 {
				return r.finish(size), nil
			}
			if len(r.spans) > r.maxFields {
				r.skip = true
				return nil, &ParseError{Line: r.line, Err: ErrFrameTooLarge}
			}
			continue
		}
		if len(line) == 0 {
			if !inFrame {
				size = 0
				continue // blank lines between frames
			}
			return r.finish(size), nil
		}
		if mode == modeFollowsEnd {
			r.skip = true
			return nil, &ParseError{Line: r.line, Err: ErrMalformedLine}
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			r.skip = true
			return nil, &ParseError{Line: r.line, Err: ErrMalformedLine}
		}
		if len(r.spans) == r.maxFields {
			r.skip = true
			return nil, &ParseError{Line: r.line, Err: ErrFrameTooLarge}
		}
		r.addField(line, colon)
		if len(r.spans) == 1 && isFollows(line, colon) {
			mode = modeFollowsHdr
		}
	}
}

// isFollows reports whether line is "Response: Follows".
func isFollows(line []byte, colon int) bool {
	return bytes.EqualFold(line[:colon], []byte("Response")) &&
		bytes.EqualFold(trimValue(line[colon+1:]), []byte("Follows"))
}

// trimValue removes the one space that separates key and value.
func trimValue(v []byte) []byte {
	if len(v) > 0 && v[0] == ' ' {
		return v[1:]
	}
	return v
}

// addField stores line as a field whose key ends at colon.
func (r *Reader) addField(line []byte, colon int) {
	ks := len(r.buf)
	r.buf = append(r.buf, line[:colon]...)
	vs := len(r.buf)
	r.buf = append(r.buf, trimValue(line[colon+1:])...)
	r.spans = append(r.spans, span{int32(ks), int32(vs), int32(vs), int32(len(r.buf))})
}

// addHeader stores line as a header of a Follows frame if it is a
// "Key: Value" line whose key is not Output, and reports whether it did.
func (r *Reader) addHeader(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || bytes.EqualFold(line[:colon], []byte("Output")) {
		return false
	}
	r.addField(line, colon)
	return true
}

// addOutput stores line as raw command output.
func (r *Reader) addOutput(line []byte) {
	vs := len(r.buf)
	r.buf = append(r.buf, line...)
	r.spans = append(r.spans, span{-1, -1, int32(vs), int32(len(r.buf))})
}

// finish builds the message from buf and spans.
func (r *Reader) finish(size int) *Message {
	r.lastBytes = size
	s := string(r.buf)
	fields := make([]Field, len(r.spans))
	for i, sp := range r.spans {
		if sp.ks < 0 {
			fields[i].Key = "Output"
		} else {
			fields[i].Key = s[sp.ks:sp.ke]
		}
		fields[i].Value = s[sp.vs:sp.ve]
	}
	// Do not pin the buffers of an unusually large frame between frames:
	// an idle client should cost little memory.
	if cap(r.buf) > retainBytes {
		r.buf = nil
	}
	if cap(r.spans) > retainFields {
		r.spans = nil
	}
	return &Message{Fields: fields}
}

// readLine returns the next line without its terminator. The slice is valid
// until the next read. A line longer than maxLine is reported as
// ErrLineTooLong as soon as that is known; its rest is discarded by the next
// call. An unterminated last line is io.ErrUnexpectedEOF.
func (r *Reader) readLine() ([]byte, error) {
	if r.partial {
		// Finish consuming the too-long line reported last time.
		_, err := r.br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			_, err = r.br.ReadSlice('\n')
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		r.partial = false
	}
	b, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Longer than the buffer: gather it, up to the line limit (+1 for
		// the CR, +1 for the LF).
		long := append([]byte(nil), b...)
		for err == bufio.ErrBufferFull {
			if len(long) > r.maxLine+1 {
				r.line++
				r.partial = true
				return nil, ErrLineTooLong
			}
			b, err = r.br.ReadSlice('\n')
			long = append(long, b...)
		}
		b = long
	}
	if err != nil {
		if err == io.EOF && len(b) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	r.line++
	r.lineWire = len(b)
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if len(b) > r.maxLine {
		return nil, ErrLineTooLong
	}
	return b, nil
}

// discardFrame skips lines up to and including the blank line that ends the
// current frame, storing nothing.
func (r *Reader) discardFrame() error {
	for {
		line, err := r.readLine()
		if errors.Is(err, ErrLineTooLong) {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			r.skip = false
			return nil
		}
	}
}
