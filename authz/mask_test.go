package authz

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		keep int
		ch   string
		want string
	}{
		{"0312341234", 3, "x", "xxxxxxx234"},
		{"+390721405516", 4, "*", "*********5516"},
		{"1001", 3, "", "x001"},
		{"12", 3, "x", "12"},
		{"", 3, "x", ""},
		{"0312341234", 0, "x", "xxxxxxxxxx"},
		{"0312341234", -2, "#", "##########"},
		{"日本123", 2, "x", "xxx23"},
		{"555", 3, "x", "555"},
	}
	for _, tt := range tests {
		if got := Mask(tt.in, tt.keep, tt.ch); got != tt.want {
			t.Errorf("Mask(%q, %d, %q) = %q, want %q", tt.in, tt.keep, tt.ch, got, tt.want)
		}
	}
}

const sampleChannel = `{"uuid":"5714495a-b8a1-4fff-8420-78648863ecd1","pbx_id":"pbx1","direction":"inbound",
 "peer_location":"external","calling_name":"0312341234","calling_number":"0312341234","called_number":"10001111",
 "offer_timestamp":1546839040024071,"answer_timestamp":null,"user_id":"u1","group_id":null,
 "state":{"ts":1546839040035125,"name":"calling","data":{"target_location":"int","target_type":"group","group_id":10001111}},
 "other_info":{"type":"end_user","address":"0312341234","offer_timestamp":1546839040024071},
 "tags":["monitoring_required"],"hold":false,"muted":false,"recording":false,"linkedid":"1546839040.12"}`

func TestMaskerJSON(t *testing.T) {
	t.Parallel()
	m := NewMasker(MaskerConfig{KeepLast: 3})
	out, err := m.MaskJSON([]byte(sampleChannel))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("masked output is not JSON: %v\n%s", err, out)
	}
	if got["calling_number"] != "xxxxxxx234" || got["called_number"] != "xxxxx111" {
		t.Fatalf("numbers not masked: %v %v", got["calling_number"], got["called_number"])
	}
	if got["calling_name"] != "0312341234" {
		t.Fatalf("calling_name changed: %v", got["calling_name"])
	}
	if oi := got["other_info"].(map[string]any); oi["address"] != "xxxxxxx234" {
		t.Fatalf("nested address not masked: %v", oi["address"])
	}
	// Everything else is byte-identical: unmask the three fields and compare.
	want := strings.NewReplacer(`"calling_number":"0312341234"`, `"calling_number":"xxxxxxx234"`,
		`"called_number":"10001111"`, `"called_number":"xxxxx111"`,
		`"address":"0312341234"`, `"address":"xxxxxxx234"`).Replace(sampleChannel)
	if string(out) != want {
		t.Fatalf("masked output differs beyond the number fields:\n%s\nwant\n%s", out, want)
	}

	cases := []struct{ in, want string }{
		{`{"peer_number":1234567}`, `{"peer_number":"xxxx567"}`},
		{`{"peer_number":"12\"34\u00e95"}`, `{"peer_number":"xxxx4\u00e95"}`},
		{`{"peer\u005fnumber":"123456"}`, `{"peer\u005fnumber":"xxx456"}`},
		{`[{"to":["5551234","5559876"]},{"from":null}]`, `[{"to":["xxxx234","xxxx876"]},{"from":null}]`},
		{`{"called_number":{"to":"999888"}}`, `{"called_number":{"to":"xxx888"}}`},
		{` {} `, ` {} `},
		{`"0312341234"`, `"0312341234"`},
	}
	for _, c := range cases {
		out, err := m.MaskJSON([]byte(c.in))
		if err != nil {
			t.Errorf("MaskJSON(%s): %v", c.in, err)
			continue
		}
		var a, b any
		if json.Unmarshal(out, &a) != nil || json.Unmarshal([]byte(c.want), &b) != nil {
			t.Errorf("MaskJSON(%s) = %s: not JSON", c.in, out)
			continue
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("MaskJSON(%s) = %s, want %s", c.in, out, c.want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":}`, `{"a":1,}`, `[1 2]`, `{"a" 1}`, `nul`, `{"a":"x`, "{\"a\":\"\x01\"}",
		`{"calling_number":"\q"}`, `01`, `1.`, `{} {}`, strings.Repeat("[", 100) + strings.Repeat("]", 100)} {
		if out, err := m.MaskJSON([]byte(bad)); err == nil {
			t.Errorf("MaskJSON(%q) accepted: %s", bad, out)
		}
	}
	custom := NewMasker(MaskerConfig{Fields: []string{"calling_name"}, KeepLast: 0, MaskChar: "*"})
	out, _ = custom.MaskJSON([]byte(`{"calling_name":"Bob","calling_number":"123"}`))
	if string(out) != `{"calling_name":"***","calling_number":"123"}` {
		t.Fatalf("custom fields: %s", out)
	}
}

// FuzzMaskJSON: valid JSON always masks to valid JSON; invalid JSON is
// refused; nothing panics.
func FuzzMaskJSON(f *testing.F) {
	for _, s := range []string{sampleChannel, `{"to":[1,"2",{"from":3}]}`, `"x"`, `[]`, `{"address":"\ud800"}`, `{"a":1e5}`} {
		f.Add([]byte(s))
	}
	m := NewMasker(MaskerConfig{KeepLast: 2, MaskChar: "\"\\"})
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := m.MaskJSON(src)
		if json.Valid(src) != (err == nil) {
			t.Fatalf("json.Valid=%v but MaskJSON err=%v for %q", json.Valid(src), err, src)
		}
		if err == nil && !json.Valid(out) {
			t.Fatalf("masked output invalid: %q -> %q", src, out)
		}
	})
}

func BenchmarkMaskJSON(b *testing.B) {
	m := NewMasker(MaskerConfig{KeepLast: 3})
	src := []byte(sampleChannel)
	buf := make([]byte, 0, 2*len(src))
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		var err error
		if buf, err = m.AppendMasked(buf[:0], src); err != nil {
			b.Fatal(err)
		}
	}
}
