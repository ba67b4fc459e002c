package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Mask hides a phone number (nethcti privacy): every character but the last
// keepLast is replaced by maskChar ("x" when empty). keepLast < 0 counts as
// 0; a number no longer than keepLast is returned unchanged. Works on runes.
func Mask(number string, keepLast int, maskChar string) string {
	if maskChar == "" {
		maskChar = "x"
	}
	keepLast = max(keepLast, 0)
	n := utf8.RuneCountInString(number)
	if n <= keepLast {
		return number
	}
	hide := n - keepLast
	var b strings.Builder
	b.Grow(hide*len(maskChar) + len(number))
	for i := range number {
		if hide == 0 {
			b.WriteString(number[i:])
			break
		}
		b.WriteString(maskChar)
		hide--
	}
	return b.String()
}

// DefaultMaskedFields are the element fields holding phone numbers.
// calling_name stays clear (it is a display name).
var DefaultMaskedFields = []string{
	"calling_number", "called_number", "connected_number", "peer_number", "address", "from", "to",
}

// MaskerConfig configures a Masker; it is the tenant's privacy rule.
type MaskerConfig struct {
	// Fields whose values are masked, at any depth of the JSON. Default
	// DefaultMaskedFields.
	Fields []string
	// KeepLast digits stay visible (0 masks all).
	KeepLast int
	// MaskChar replaces hidden characters. Default "x".
	MaskChar string
}

// Masker masks the number fields of element JSON. Immutable after
// NewMasker; safe for concurrent use. The hub calls it once per event for
// the masked variant.
type Masker struct {
	fields   map[string]struct{}
	keepLast int
	maskChar string
	// maskLit is maskChar as JSON string content (escaped).
	maskLit []byte
}

// NewMasker returns a masker for one privacy rule.
func NewMasker(cfg MaskerConfig) *Masker {
	if cfg.Fields == nil {
		cfg.Fields = DefaultMaskedFields
	}
	if cfg.MaskChar == "" {
		cfg.MaskChar = "x"
	}
	lit := appendJSONString(nil, cfg.MaskChar)
	m := &Masker{fields: make(map[string]struct{}, len(cfg.Fields)), keepLast: max(cfg.KeepLast, 0),
		maskChar: cfg.MaskChar, maskLit: lit[1 : len(lit)-1]}
	for _, f := range cfg.Fields {
		m.fields[f] = struct{}{}
	}
	return m
}

// MaskString masks one number with the masker's rule.
func (m *Masker) MaskString(s string) string { return Mask(s, m.keepLast, m.maskChar) }

// maxMaskDepth bounds JSON nesting.
const maxMaskDepth = 64

// errMaskSyntax is wrapped with the offset of malformed input.
var errMaskSyntax = errors.New("authz: mask: malformed JSON")

// AppendMasked appends src (one JSON value) to dst with the string and
// number values of the masker's fields masked, at any depth (inside arrays
// too). A masked number becomes a string. Everything else is copied byte
// for byte. Malformed JSON returns an error and dst unchanged.
func (m *Masker) AppendMasked(dst, src []byte) ([]byte, error) {
	j := maskScanner{m: m, src: src, dst: dst}
	j.ws()
	if err := j.value(false, 0); err != nil {
		return dst, err
	}
	j.ws()
	if j.pos != len(src) {
		return dst, j.fail("trailing data")
	}
	return j.dst, nil
}

// MaskJSON returns a masked copy of src.
func (m *Masker) MaskJSON(src []byte) ([]byte, error) {
	return m.AppendMasked(make([]byte, 0, len(src)+16), src)
}

type maskScanner struct {
	m   *Masker
	src []byte
	pos int
	dst []byte
}

func (j *maskScanner) fail(why string) error {
	return fmt.Errorf("%w at offset %d: %s", errMaskSyntax, j.pos, why)
}

// ws copies whitespace.
func (j *maskScanner) ws() {
	start := j.pos
	for j.pos < len(j.src) {
		switch j.src[j.pos] {
		case ' ', '\t', '\n', '\r':
			j.pos++
			continue
		}
		break
	}
	j.dst = append(j.dst, j.src[start:j.pos]...)
}

func (j *maskScanner) value(mask bool, depth int) error {
	if j.pos >= len(j.src) {
		return j.fail("unexpected end")
	}
	switch c := j.src[j.pos]; {
	case c == '{':
		return j.object(depth + 1)
	case c == '[':
		return j.array(mask, depth+1)
	case c == '"':
		start := j.pos
		end, escaped, err := j.stringEnd()
		if err != nil {
			return err
		}
		if !mask {
			j.dst = append(j.dst, j.src[start:end]...)
			return nil
		}
		if escaped {
			var s string
			if err := json.Unmarshal(j.src[start:end], &s); err != nil {
				return j.fail("bad string escape")
			}
			j.dst = appendJSONString(j.dst, j.m.MaskString(s))
			return nil
		}
		j.dst = j.m.appendMaskedRaw(j.dst, j.src[start+1:end-1])
		return nil
	case c == '-' || c >= '0' && c <= '9':
		start := j.pos
		if err := j.number(); err != nil {
			return err
		}
		if mask {
			j.dst = j.m.appendMaskedRaw(j.dst, j.src[start:j.pos])
		} else {
			j.dst = append(j.dst, j.src[start:j.pos]...)
		}
		return nil
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(j.src)-j.pos >= len(lit) && string(j.src[j.pos:j.pos+len(lit)]) == lit {
				j.dst = append(j.dst, lit...)
				j.pos += len(lit)
				return nil
			}
		}
		return j.fail("unexpected character")
	}
}

// appendMaskedRaw appends raw (string content without escapes, or a number
// literal) masked, as a JSON string. The kept tail is copied as is: it
// holds no quote, backslash or control character.
func (m *Masker) appendMaskedRaw(dst, raw []byte) []byte {
	dst = append(dst, '"')
	hide := utf8.RuneCount(raw) - m.keepLast
	i := 0
	for ; hide > 0; hide-- {
		_, size := utf8.DecodeRune(raw[i:])
		i += size
		dst = append(dst, m.maskLit...)
	}
	dst = append(dst, raw[i:]...)
	return append(dst, '"')
}

// stringEnd scans the string at pos and returns the offset after its
// closing quote, and whether it holds escapes.
func (j *maskScanner) stringEnd() (int, bool, error) {
	escaped := false
	i := j.pos + 1
	for i < len(j.src) {
		switch c := j.src[i]; {
		case c == '"':
			j.pos = i + 1
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(j.src) {
				j.pos = len(j.src)
				return 0, false, j.fail("unterminated string")
			}
			switch j.src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(j.src) || !isHex4(j.src[i+2:i+6]) {
					j.pos = i
					return 0, false, j.fail("bad \\u escape")
				}
				i += 6
			default:
				j.pos = i
				return 0, false, j.fail("bad escape")
			}
		case c < 0x20:
			j.pos = i
			return 0, false, j.fail("control character in string")
		default:
			i++
		}
	}
	j.pos = len(j.src)
	return 0, false, j.fail("unterminated string")
}

// number scans a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (j *maskScanner) number() error {
	s, i := j.src, j.pos
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		j.pos = i
		return j.fail("bad number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			j.pos = i
			return j.fail("bad number fraction")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			j.pos = i
			return j.fail("bad number exponent")
		}
	}
	j.pos = i
	return nil
}

func (j *maskScanner) object(depth int) error {
	if depth > maxMaskDepth {
		return j.fail("nested too deep")
	}
	j.dst = append(j.dst, '{')
	j.pos++
	j.ws()
	if j.pos < len(j.src) && j.src[j.pos] == '}' {
		j.dst = append(j.dst, '}')
		j.pos++
		return nil
	}
	for {
		if j.pos >= len(j.src) || j.src[j.pos] != '"' {
			return j.fail("expected a key")
		}
		start := j.pos
		end, escaped, err := j.stringEnd()
		if err != nil {
			return err
		}
		j.dst = append(j.dst, j.src[start:end]...)
		var mask bool
		if escaped {
			var k string
			if json.Unmarshal(j.src[start:end], &k) != nil {
				return j.fail("bad key escape")
			}
			_, mask = j.m.fields[k]
		} else {
			_, mask = j.m.fields[string(j.src[start+1:end-1])]
		}
		j.ws()
		if j.pos >= len(j.src) || j.src[j.pos] != ':' {
			return j.fail("expected ':'")
		}
		j.dst = append(j.dst, ':')
		j.pos++
		j.ws()
		if err := j.value(mask, depth); err != nil {
			return err
		}
		j.ws()
		if j.pos >= len(j.src) {
			return j.fail("unterminated object")
		}
		switch j.src[j.pos] {
		case ',':
			j.dst = append(j.dst, ',')
			j.pos++
			j.ws()
		case '}':
			j.dst = append(j.dst, '}')
			j.pos++
			return nil
		default:
			return j.fail("expected ',' or '}'")
		}
	}
}

func (j *maskScanner) array(mask bool, depth int) error {
	if depth > maxMaskDepth {
		return j.fail("nested too deep")
	}
	j.dst = append(j.dst, '[')
	j.pos++
	j.ws()
	if j.pos < len(j.src) && j.src[j.pos] == ']' {
		j.dst = append(j.dst, ']')
		j.pos++
		return nil
	}
	for {
		if err := j.value(mask, depth); err != nil {
			return err
		}
		j.ws()
		if j.pos >= len(j.src) {
			return j.fail("unterminated array")
		}
		switch j.src[j.pos] {
		case ',':
			j.dst = append(j.dst, ',')
			j.pos++
			j.ws()
		case ']':
			j.dst = append(j.dst, ']')
			j.pos++
			return nil
		default:
			return j.fail("expected ',' or ']'")
		}
	}
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
