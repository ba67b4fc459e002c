package ari

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"
)

// TestEveryEventKindHasAType checks EventKinds against the Swagger: every
// subtype of Message and Event in events.json decodes into its own type.
func TestEveryEventKindHasAType(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtureDir(t), "api-docs", "events.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Models map[string]struct {
			SubTypes []string `json:"subTypes"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range doc.Models["Message"].SubTypes {
		if s != "Event" {
			want = append(want, s)
		}
	}
	want = append(want, doc.Models["Event"].SubTypes...)
	sort.Strings(want)
	if got := EventKinds(); !reflect.DeepEqual(want, got) {
		t.Fatalf("EventKinds = %v\nSwagger     = %v", got, want)
	}
	for _, k := range want {
		msg := `{"type":"` + k + `","application":"cti","timestamp":"2026-11-23T14:07:34.258+0000","asterisk_id":"02:fc:00:00:00:01"}`
		ev, err := DecodeEvent([]byte(msg))
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if name := reflect.TypeOf(ev).Elem().Name(); name != k || ev.GetType() != k || ev.GetAsteriskID() != "02:fc:00:00:00:01" {
			t.Errorf("%s decoded as %s (%q)", k, name, ev.GetType())
		}
	}
}

func TestDecodeEventEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      string // kind, or "" for an error
		unknown   bool
	}{
		{"type not first", `{"channel":{"id":"1","caller":{"name":"a}\"b","number":""}},"type":"ChannelStateChange","application":"cti","timestamp":""}`, "ChannelStateChange", false},
		{"escaped key and value", `{"ty\u0070e":"Dial\u0020x"}`, "Dial x", true},
		{"whitespace", " \n{ \"type\" : \"StasisEnd\" , \"channel\" : { } } ", "StasisEnd", false},
		{"unknown kind", `{"type":"Brand New","x":[{"y":"]"}]}`, "Brand New", true},
		{"unknown kind, odd base field", `{"type":"Brand New","timestamp":5}`, "Brand New", true},
		{"conflicting type keys", `{"type":"Dial","type":"StasisEnd"}`, "", false},
		{"no type", `{"application":"cti"}`, "", false},
		{"type not string", `{"type":["Dial"]}`, "", false},
		{"not an object", `["type","Dial"]`, "", false},
		{"empty", ``, "", false},
		{"truncated", `{"type":"Dial","peer":{`, "", false},
		{"unknown kind truncated", `{"type":"Brand New","x":`, "", false},
		{"wrong field type", `{"type":"ChannelDestroyed","cause":"16"}`, "", false},
		{"bad timestamp", `{"type":"StasisEnd","timestamp":"23/11/2026"}`, "", false},
		{"trailing garbage", `{"type":"StasisEnd"} x`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tc.msg))
			if tc.want == "" {
				if err == nil || !errors.Is(err, ErrMalformedEvent) || ev != nil {
					t.Fatalf("DecodeEvent = %v, %v; want ErrMalformedEvent", ev, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, unknown := ev.(*UnknownEvent)
			if ev.GetType() != tc.want || unknown != tc.unknown {
				t.Fatalf("got %T %q, want %q (unknown %v)", ev, ev.GetType(), tc.want, tc.unknown)
			}
		})
	}
}

func TestTime(t *testing.T) {
	want := time.Date(2026, 11, 23, 14, 7, 34, 258e6, time.UTC)
	for _, tc := range []struct {
		in      string
		want    time.Time
		encoded string
	}{
		{`"2026-11-23T14:07:34.258+0000"`, want, `"2026-11-23T14:07:34.258+0000"`},
		{`"2026-11-23T15:07:34.258+0100"`, want, `"2026-11-23T15:07:34.258+0100"`},
		{`"2026-11-23T14:07:34.258Z"`, want, `"2026-11-23T14:07:34.258+0000"`},
		{`"2026-11-23T14:07:34.258+00:00"`, want, `"2026-11-23T14:07:34.258+0000"`},
		{`"2026-11-23T14:07:34.258123+0000"`, want.Add(123 * time.Microsecond), `"2026-11-23T14:07:34.258+0000"`},
		{`"2026-11-23T14:07:34+0000"`, want.Truncate(time.Second), `"2026-11-23T14:07:34.000+0000"`},
		{`""`, time.Time{}, `""`},
		{`null`, time.Time{}, `""`},
	} {
		var tm Time
		if err := json.Unmarshal([]byte(tc.in), &tm); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if !tm.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.in, tm.Time, tc.want)
		}
		out, err := json.Marshal(tm)
		if err != nil || string(out) != tc.encoded {
			t.Errorf("%s: encoded %s (%v), want %s", tc.in, out, err, tc.encoded)
		}
	}
	for _, bad := range []string{`5`, `"yesterday"`, `"2026-13-01T00:00:00+0000"`, `{}`, `"`} {
		var tm Time
		if err := json.Unmarshal([]byte(bad), &tm); err == nil {
			t.Errorf("%s: accepted as %v", bad, tm.Time)
		}
	}
}
