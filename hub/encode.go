package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Encoding is the wire encoding of a session's server messages.
type Encoding uint8

const (
	// EncodingJSON sends text frames of JSON (the default).
	EncodingJSON Encoding = iota
	// EncodingMsgpack sends binary frames of MessagePack with the same
	// message shapes (element data converted from JSON).
	EncodingMsgpack
)

// ParseEncoding maps the `encoding` query parameter to an Encoding; ""
// means JSON.
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(s) {
	case "", "json":
		return EncodingJSON, nil
	case "msgpack", "messagepack":
		return EncodingMsgpack, nil
	}
	return 0, fmt.Errorf("%w: unknown encoding %q", ErrBadOptions, s)
}

func (e Encoding) String() string {
	if e == EncodingMsgpack {
		return "msgpack"
	}
	return "json"
}

// frameType is the WebSocket opcode of a message in this encoding.
func (e Encoding) frameType() int {
	if e == EncodingMsgpack {
		return binaryMessage
	}
	return textMessage
}

// WebSocket opcodes (RFC 6455), the values gorilla-style Conns use.
const (
	textMessage   = 1
	binaryMessage = 2
	closeMessage  = 8
	pingMessage   = 9
)

// variant indexes the four encodings of one event.
type variant uint8

func variantOf(e Encoding, masked bool) variant {
	v := variant(e) * 2
	if masked {
		v++
	}
	return v
}

// outEvent is one event on its way to this replica's sessions. Each variant
// is encoded at most once, on first use, and the same bytes go to every
// session wanting that variant.
type outEvent struct {
	ev   *Event
	mask func(Tenant, string, []byte) []byte
	once [4]sync.Once
	b    [4][]byte
}

func (o *outEvent) bytes(v variant) []byte {
	o.once[v].Do(func() {
		data := []byte(o.ev.Data)
		if v%2 == 1 && o.mask != nil {
			data = safeMask(o.mask, o.ev.Tenant, o.ev.Element, data)
		}
		b, err := encodeInfoEvent(Encoding(v/2), o.ev, data)
		if err != nil {
			// Publish validated the JSON; a Mask that breaks it is a bug
			// upstream. Never fall back to clear data: send an empty object.
			b, _ = encodeInfoEvent(Encoding(v/2), o.ev, []byte(`{}`))
		}
		o.b[v] = b
	})
	return o.b[v]
}

// Message shapes. Field order is the documented one.
type infoEventMsg struct {
	Type    string `json:"type" msgpack:"type"`
	Element string `json:"element" msgpack:"element"`
	Event   Op     `json:"event" msgpack:"event"`
	Data    any    `json:"data" msgpack:"data"`
	Epoch   string `json:"epoch" msgpack:"epoch"`
	Seq     uint64 `json:"seq" msgpack:"seq"`
}

type initialInfoMsg struct {
	Type    string `json:"type" msgpack:"type"`
	Element string `json:"element" msgpack:"element"`
	Data    []any  `json:"data" msgpack:"data"`
	Epoch   string `json:"epoch" msgpack:"epoch"`
	Seq     uint64 `json:"seq" msgpack:"seq"`
}

type systemMsg struct {
	Type string `json:"type" msgpack:"type"`
	Msg  string `json:"msg" msgpack:"msg"`
}

type responseMsg struct {
	Type   string `json:"type" msgpack:"type"`
	ID     string `json:"id" msgpack:"id"`
	Result string `json:"result" msgpack:"result"`
	Error  string `json:"error,omitempty" msgpack:"error,omitempty"`
	Data   any    `json:"data,omitempty" msgpack:"data,omitempty"`
}

type errorMsg struct {
	Type  string `json:"type" msgpack:"type"`
	Error string `json:"error" msgpack:"error"`
}

// elementData turns element JSON into the value to embed: the raw JSON
// itself for JSON, a decoded value for MessagePack.
func elementData(e Encoding, data []byte) (any, error) {
	if e == EncodingJSON {
		if !json.Valid(data) {
			return nil, fmt.Errorf("hub: element data is not JSON")
		}
		return json.RawMessage(data), nil
	}
	return jsonToValue(data)
}

// jsonToValue decodes JSON keeping integers integral.
func jsonToValue(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("hub: element data: %w", err)
	}
	return numbersToNative(v), nil
}

func numbersToNative(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToNative(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToNative(e)
		}
	}
	return v
}

func encodeMsg(e Encoding, m any) ([]byte, error) {
	if e == EncodingMsgpack {
		return msgpack.Marshal(m)
	}
	return json.Marshal(m)
}

func encodeInfoEvent(e Encoding, ev *Event, data []byte) ([]byte, error) {
	d, err := elementData(e, data)
	if err != nil {
		return nil, err
	}
	return encodeMsg(e, infoEventMsg{Type: "info_event", Element: ev.Element, Event: ev.Op, Data: d, Epoch: ev.Epoch, Seq: ev.Seq})
}

// encodeSystem encodes a system_msg; msg is one of the Sys* constants.
func encodeSystem(e Encoding, msg string) []byte {
	b, _ := encodeMsg(e, systemMsg{Type: "system_msg", Msg: msg})
	return b
}

func encodeError(e Encoding, text string) []byte {
	b, _ := encodeMsg(e, errorMsg{Type: "error", Error: text})
	return b
}

func encodeResponse(e Encoding, id string, data any, rerr error) []byte {
	m := responseMsg{Type: "response", ID: id, Result: "success", Data: data}
	if rerr != nil {
		m.Result, m.Error, m.Data = "error", rerr.Error(), nil
	}
	b, err := encodeMsg(e, m)
	if err != nil {
		m.Result, m.Error, m.Data = "error", "response not encodable", nil
		b, _ = encodeMsg(e, m)
	}
	return b
}

// safeMask runs a Mask, turning a panic into an empty element (never the
// clear data) so that a bad privacy rule cannot take the fan-out down.
func safeMask(mask func(Tenant, string, []byte) []byte, t Tenant, element string, data []byte) (out []byte) {
	defer func() {
		if recover() != nil {
			out = []byte(`{}`)
		}
	}()
	return mask(t, element, data)
}

// cost estimates the memory an outEvent holds in the replay cache: the
// event and, typically, one encoding of it.
func (o *outEvent) cost() int {
	return 2*len(o.ev.Data) + 16*len(o.ev.Audience) + len(o.ev.Key) + 320
}
