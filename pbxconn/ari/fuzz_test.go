package ari

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeEvent feeds DecodeEvent arbitrary messages, seeded with every
// recorded fixture line. It must never panic; it must agree exactly with
// plain encoding/json decoding (the fast decoder is an optimisation, never a
// change of result); whatever it accepts must
// re-encode, and the re-encoding must decode to the same type and encode
// identically again (a fixed point).
func FuzzDecodeEvent(f *testing.F) {
	for _, l := range fixtureEvents(f) {
		f.Add(l.Data)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `"type"`, `{"type":5}`, `{"type":"ChannelCreated"}`,
		`{"type":"ChannelCreated","channel":null}`, `{"type":"Dial","peer":{"creationtime":""}}`,
		`{"a":{"b":["}"]},"type":"Future\u0045vent"}`, `{"type":"ChannelVarset","type":"Dial"}`,
		`{"type":"StasisStart","timestamp":"2026-11-23T14:07:34Z","args":["a"],"channel":{}}`,
		`{"type":"ChannelUserevent","userevent":{"x":[1,{"y":null}]},"eventname":"e"}`,
		`{"type` + "\xff" + `":1}`,
		`{"type":"ChannelVarset","variable":"x","value":"\u00e9","application":"cti","timestamp":""}`,
		`{"type":"ChannelDestroyed","cause":016}`,
		`{"type":"ChannelDestroyed","cause":-0,"cause_txt":"","channel":{"caller":{}}}`,
		`{"type":"ChannelDestroyed","cause":9223372036854775807}`,
		`{"type":"ChannelDestroyed","cause":1e2}`,
		`{"type":"Dial","peer":{"channelvars":{"a":"1","a":"2"}}}`,
		`{"type":"Dial","peer":{"id":"a"},"peer":{"name":"b"}}`,
		`{"type":"StasisStart","args":[],"channel":{"id":"x"}}`,
		`{"type":"StasisStart","args":null}`,
		`{"type":"ChannelHold","Channel":{"id":"x"}}`,
		`{"type":"BridgeMerged","bridge":{"channels":["a","b"]}} `,
		"{\"type\":\"Dial\",\"dialstring\":\"\xff\"}",
		"{\"type\":\"Dial\",\"dialstring\":\"h\u00e9\u00e9\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		ev, err := DecodeEvent(data)
		if !bytes.Equal(orig, data) {
			t.Fatal("DecodeEvent modified its input")
		}
		// Differential: the fast decoder must never change a result.
		slow, serr := decodeEvent(data, false)
		if (err == nil) != (serr == nil) {
			t.Fatalf("fast path err %v, encoding/json err %v", err, serr)
		}
		if err == nil && !reflect.DeepEqual(ev, slow) {
			t.Fatalf("fast path and encoding/json differ on %q:\n%#v\n%#v", data, ev, slow)
		}
		if err != nil {
			if ev != nil {
				t.Fatalf("error %v with non-nil event %T", err, ev)
			}
			return
		}
		kind, serr := scanType(data)
		if serr != nil || ev.GetType() != kind {
			t.Fatalf("accepted %q as %q (scan %q, %v)", data, ev.GetType(), kind, serr)
		}
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("re-encode %T: %v", ev, err)
		}
		if u, ok := ev.(*UnknownEvent); ok {
			if u.Err != nil || !bytes.Equal(u.Raw, data) {
				t.Fatalf("unknown event %+v does not keep the raw input", u)
			}
			return
		}
		ev2, err := DecodeEvent(out)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		if reflect.TypeOf(ev2) != reflect.TypeOf(ev) {
			t.Fatalf("re-decoded as %T, want %T", ev2, ev)
		}
		out2, err := json.Marshal(ev2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("not a fixed point:\n%s\n%s", out, out2)
		}
	})
}

// FuzzFastREST checks the fast REST decoding against encoding/json on
// arbitrary bodies, seeded with the recorded snapshots: whenever the fast
// path accepts a body, encoding/json must accept it and agree.
func FuzzFastREST(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir(f), "rest-*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	targets := []func() (any, any){
		func() (any, any) { return new([]Channel), new([]Channel) },
		func() (any, any) { return new([]Bridge), new([]Bridge) },
		func() (any, any) { return new([]Endpoint), new([]Endpoint) },
		func() (any, any) { return new([]DeviceState), new([]DeviceState) },
		func() (any, any) { return new(AsteriskInfo), new(AsteriskInfo) },
		func() (any, any) { return new(Channel), new(Channel) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mk := range targets {
			fast, slow := mk()
			if !fastDecodeInto(fast, data) {
				if !reflect.ValueOf(fast).Elem().IsZero() {
					t.Fatalf("declined but left %T filled in", fast)
				}
				continue
			}
			if err := json.Unmarshal(data, slow); err != nil {
				t.Fatalf("fast path accepted %q as %T, encoding/json: %v", data, fast, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%T differs on %q", fast, data)
			}
		}
	})
}
