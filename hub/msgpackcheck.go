package hub

import (
	"encoding/binary"
	"errors"
)

// maxMsgpackDepth bounds the nesting of an inbound MessagePack request.
const maxMsgpackDepth = 32

var errBadMsgpack = errors.New("malformed MessagePack")

// checkMsgpack verifies that b is exactly one well-formed MessagePack value
// whose declared lengths fit in b and whose nesting is bounded, so that
// decoding hostile input cannot allocate or loop by its claimed sizes.
func checkMsgpack(b []byte) error {
	// stack holds, per open container, how many values are still due.
	stack := make([]int, 0, 8)
	stack = append(stack, 1)
	i := 0
	for len(stack) > 0 {
		if stack[len(stack)-1] == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		stack[len(stack)-1]--
		if i >= len(b) {
			return errBadMsgpack
		}
		c := b[i]
		i++
		var skip, items int // bytes of payload to skip, child values to read
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			items = 2 * int(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			items = int(c & 0x0f)
		case c >= 0xa0 && c <= 0xbf:
			skip = int(c & 0x1f)
		case c == 0xca:
			skip = 4
		case c == 0xcb:
			skip = 8
		case c == 0xcc || c == 0xd0:
			skip = 1
		case c == 0xcd || c == 0xd1:
			skip = 2
		case c == 0xce || c == 0xd2:
			skip = 4
		case c == 0xcf || c == 0xd3:
			skip = 8
		case c >= 0xd4 && c <= 0xd8:
			skip = 1 + 1<<(c-0xd4)
		case c == 0xc4 || c == 0xd9:
			n, ok := readLen(b, &i, 1)
			if !ok {
				return errBadMsgpack
			}
			skip = n
		case c == 0xc5 || c == 0xda:
			n, ok := readLen(b, &i, 2)
			if !ok {
				return errBadMsgpack
			}
			skip = n
		case c == 0xc6 || c == 0xdb:
			n, ok := readLen(b, &i, 4)
			if !ok {
				return errBadMsgpack
			}
			skip = n
		case c == 0xc7 || c == 0xc8 || c == 0xc9:
			w := map[byte]int{0xc7: 1, 0xc8: 2, 0xc9: 4}[c]
			n, ok := readLen(b, &i, w)
			if !ok {
				return errBadMsgpack
			}
			skip = n + 1
		case c == 0xdc || c == 0xdd:
			n, ok := readLen(b, &i, 2<<(c-0xdc))
			if !ok {
				return errBadMsgpack
			}
			items = n
		case c == 0xde || c == 0xdf:
			n, ok := readLen(b, &i, 2<<(c-0xde))
			if !ok || n > len(b) {
				return errBadMsgpack
			}
			items = 2 * n
		default: // 0xc1, never used
			return errBadMsgpack
		}
		if skip > len(b)-i {
			return errBadMsgpack
		}
		i += skip
		if items > 0 {
			// Every value takes at least one byte.
			if items > len(b)-i || len(stack) >= maxMsgpackDepth {
				return errBadMsgpack
			}
			stack = append(stack, items)
		}
	}
	if i != len(b) {
		return errBadMsgpack
	}
	return nil
}

// readLen reads a big-endian length of w bytes at *i.
func readLen(b []byte, i *int, w int) (int, bool) {
	if len(b)-*i < w {
		return 0, false
	}
	var n uint64
	switch w {
	case 1:
		n = uint64(b[*i])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[*i:]))
	case 4:
		n = uint64(binary.BigEndian.Uint32(b[*i:]))
	}
	*i += w
	if n > uint64(len(b)) {
		return 0, false
	}
	return int(n), true
}
