package ari

import (
	"reflect"
	"time"
	"unicode/utf8"
)

// fastDecoder is a cursor over one JSON message for the generated fast
// decoders (fastdecode_*_gen.go). It handles only the plain subset of JSON
// that Asterisk sends: objects whose keys are exactly the Swagger property
// names, each at most once; strings without escapes; integers; booleans;
// string lists and string maps. On anything else (escapes, null, floats,
// unknown or repeated keys, free-form objects, malformed input) a method
// returns false and DecodeEvent decodes the message with encoding/json
// instead, so the fast path never changes a result, only its cost. The
// differential fuzz target checks exactly that.
type fastDecoder struct {
	data []byte
	i    int
}

func (d *fastDecoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume skips whitespace and then c, reporting whether c was there.
func (d *fastDecoder) consume(c byte) bool {
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only whitespace remains.
func (d *fastDecoder) end() bool {
	d.ws()
	return d.i == len(d.data)
}

// raw returns the bytes of a plain string (no escapes, no control
// characters, valid UTF-8) without its quotes, aliasing data.
func (d *fastDecoder) raw() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.i
	ascii := true
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			s := d.data[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
		d.i++
	}
	return nil, false
}

// key reads an object key and the colon after it.
func (d *fastDecoder) key() ([]byte, bool) {
	k, ok := d.raw()
	if !ok || !d.consume(':') {
		return nil, false
	}
	return k, true
}

// next is called after a member's value: it consumes ',' (reporting more
// members) or '}' (reporting done).
func (d *fastDecoder) next() (more, ok bool) {
	if d.consume(',') {
		return true, true
	}
	return false, d.consume('}')
}

// open consumes '{' and reports whether the object has members (false with
// ok for "{}").
func (d *fastDecoder) open() (members, ok bool) {
	if !d.consume('{') {
		return false, false
	}
	if d.consume('}') {
		return false, true
	}
	return true, true
}

func (d *fastDecoder) str(dst *string) bool {
	s, ok := d.raw()
	if ok {
		*dst = string(s)
	}
	return ok
}

func (d *fastDecoder) strPtr(dst **string) bool {
	var s string
	if !d.str(&s) {
		return false
	}
	*dst = &s
	return true
}

// enum reads a plain string, taking the constant from intern when the
// value is one of the property's allowed values (no allocation).
func (d *fastDecoder) enum(dst *string, intern func([]byte) (string, bool)) bool {
	s, ok := d.raw()
	if !ok {
		return false
	}
	if v, known := intern(s); known {
		*dst = v
	} else {
		*dst = string(s)
	}
	return true
}

func (d *fastDecoder) enumPtr(dst **string, intern func([]byte) (string, bool)) bool {
	var s string
	if !d.enum(&s, intern) {
		return false
	}
	*dst = &s
	return true
}

// integer reads a JSON integer (no fraction or exponent) that fits in
// [-2^63+1, 2^63-1].
func (d *fastDecoder) integer() (int64, bool) {
	d.ws()
	neg := false
	if d.i < len(d.data) && d.data[d.i] == '-' {
		neg = true
		d.i++
	}
	start := d.i
	var n int64
	for d.i < len(d.data) {
		c := d.data[d.i]
		if c < '0' || c > '9' {
			break
		}
		if n > (1<<63-1-9)/10 {
			return 0, false // may overflow: let encoding/json decide
		}
		n = n*10 + int64(c-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || (digits > 1 && d.data[start] == '0') {
		return 0, false
	}
	if d.i < len(d.data) {
		switch d.data[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

func (d *fastDecoder) int(dst *int) bool {
	n, ok := d.integer()
	if ok {
		*dst = int(n)
	}
	return ok
}

func (d *fastDecoder) intPtr(dst **int) bool {
	n, ok := d.integer()
	if ok {
		v := int(n)
		*dst = &v
	}
	return ok
}

func (d *fastDecoder) int64(dst *int64) bool {
	n, ok := d.integer()
	if ok {
		*dst = n
	}
	return ok
}

func (d *fastDecoder) int64Ptr(dst **int64) bool {
	n, ok := d.integer()
	if ok {
		*dst = &n
	}
	return ok
}

func (d *fastDecoder) lit(s string) bool {
	d.ws()
	if len(d.data)-d.i < len(s) || string(d.data[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *fastDecoder) bool(dst *bool) bool {
	switch {
	case d.lit("true"):
		*dst = true
	case d.lit("false"):
		*dst = false
	default:
		return false
	}
	return true
}

func (d *fastDecoder) boolPtr(dst **bool) bool {
	var b bool
	if !d.bool(&b) {
		return false
	}
	*dst = &b
	return true
}

func (d *fastDecoder) time(dst *Time) bool {
	s, ok := d.raw()
	if !ok {
		return false
	}
	if len(s) == 0 {
		dst.Time = time.Time{}
		return true
	}
	t, err := ParseTime(string(s))
	if err != nil {
		return false
	}
	dst.Time = t
	return true
}

func (d *fastDecoder) timePtr(dst **Time) bool {
	var t Time
	if !d.time(&t) {
		return false
	}
	*dst = &t
	return true
}

// strs reads a list of strings; an empty list yields an empty, non-nil
// slice, as encoding/json does.
func (d *fastDecoder) strs(dst *[]string) bool {
	if !d.consume('[') {
		return false
	}
	out := []string{}
	if d.consume(']') {
		*dst = out
		return true
	}
	for {
		var s string
		if !d.str(&s) {
			return false
		}
		out = append(out, s)
		if d.consume(',') {
			continue
		}
		if !d.consume(']') {
			return false
		}
		*dst = out
		return true
	}
}

// strMap reads an object of string values; keys must be plain and unique.
func (d *fastDecoder) strMap(dst *map[string]string) bool {
	members, ok := d.open()
	if !ok {
		return false
	}
	out := map[string]string{}
	for members {
		k, ok := d.key()
		if !ok {
			return false
		}
		if _, dup := out[string(k)]; dup {
			return false
		}
		var v string
		if !d.str(&v) {
			return false
		}
		out[string(k)] = v
		if members, ok = d.next(); !ok {
			return false
		}
	}
	*dst = out
	return true
}

// object reads a JSON object, calling member for each key with the decoder
// positioned at the value; member decodes the value or reports false.
func (d *fastDecoder) object(member func(key []byte) bool) bool {
	members, ok := d.open()
	for ok && members {
		var k []byte
		if k, ok = d.key(); !ok || !member(k) {
			return false
		}
		members, ok = d.next()
	}
	return ok
}

// list reads a JSON array, calling elem for each element.
func (d *fastDecoder) list(elem func() bool) bool {
	if !d.consume('[') {
		return false
	}
	if d.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume(']')
	}
}

// once marks field bit in seen, reporting false if it was already set (a
// repeated key, which encoding/json resolves by merging).
func once(seen *uint64, bit uint) bool {
	if *seen&(1<<bit) != 0 {
		return false
	}
	*seen |= 1 << bit
	return true
}

// fastDecodeInto decodes a REST response body into out with the generated
// fast decoders when out is one of the model types (or a list of them) and
// the body is in the plain subset; it reports false otherwise, leaving out
// zero for encoding/json to fill.
func fastDecodeInto(out any, data []byte) bool {
	switch v := out.(type) {
	case *[]Channel:
		return fastList(data, v)
	case *[]Bridge:
		return fastList(data, v)
	case *[]Endpoint:
		return fastList(data, v)
	case *[]DeviceState:
		return fastList(data, v)
	case *[]Application:
		return fastList(data, v)
	case fastDecodable:
		d := fastDecoder{data: data}
		if v.fastDecode(&d) && d.end() {
			return true
		}
		reflect.ValueOf(out).Elem().SetZero() // discard what the fast path filled in
	}
	return false
}

// fastList decodes a JSON array of T; an empty array yields an empty,
// non-nil slice, as encoding/json does. dst is untouched on failure.
func fastList[T any, P interface {
	*T
	fastDecodable
}](data []byte, dst *[]T) bool {
	d := fastDecoder{data: data}
	out := []T{}
	ok := d.list(func() bool {
		var zero T
		out = append(out, zero)
		return P(&out[len(out)-1]).fastDecode(&d)
	})
	if !ok || !d.end() {
		return false
	}
	*dst = out
	return true
}
