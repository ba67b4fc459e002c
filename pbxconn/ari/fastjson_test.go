package ari

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fastDecodes reports whether the fast decoder alone accepts data.
func fastDecodes(data []byte) (Event, bool) {
	kind, err := scanType(data)
	if err != nil {
		return nil, false
	}
	ev := newEvent(kind)
	if ev == nil {
		return nil, false
	}
	d := fastDecoder{data: data}
	return ev, ev.(fastDecodable).fastDecode(&d) && d.end() && ev.GetType() == kind
}

// TestFastPathMatchesEncodingJSON checks, on every recorded message, that
// the fast decoder takes it and yields exactly what encoding/json does.
func TestFastPathMatchesEncodingJSON(t *testing.T) {
	fast, fallback := 0, 0
	for _, l := range fixtureEvents(t) {
		slow, err := decodeEvent(l.Data, false)
		if err != nil {
			t.Fatalf("%s:%d: %v", l.File, l.Line, err)
		}
		ev, ok := fastDecodes(l.Data)
		if !ok {
			fallback++
			if !strings.Contains(string(l.Data), `\`) {
				t.Errorf("%s:%d: fast path declined a message without escapes: %s", l.File, l.Line, l.Data)
			}
			continue
		}
		fast++
		if !reflect.DeepEqual(ev, slow) {
			a, _ := json.Marshal(ev)
			b, _ := json.Marshal(slow)
			t.Fatalf("%s:%d: fast and encoding/json differ\nfast %s\njson %s", l.File, l.Line, a, b)
		}
	}
	t.Logf("fast path: %d messages, fallback: %d (escaped strings)", fast, fallback)
	if fast == 0 {
		t.Fatal("fast path never taken")
	}
}

// TestFastPathREST checks the fast REST decoding against encoding/json on
// every recorded snapshot.
func TestFastPathREST(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtureDir(t), "rest-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]func() (any, any){
		"channels":      func() (any, any) { return new([]Channel), new([]Channel) },
		"bridges":       func() (any, any) { return new([]Bridge), new([]Bridge) },
		"endpoints":     func() (any, any) { return new([]Endpoint), new([]Endpoint) },
		"deviceStates":  func() (any, any) { return new([]DeviceState), new([]DeviceState) },
		"asterisk-info": func() (any, any) { return new(AsteriskInfo), new(AsteriskInfo) },
		"applications":  func() (any, any) { return new([]Application), new([]Application) },
	}
	accepted := 0
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		var mk func() (any, any)
		for suffix, m := range models {
			if strings.HasSuffix(base, "-"+suffix) {
				mk = m
			}
		}
		if mk == nil {
			t.Fatalf("%s: no model", base)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fast, slow := mk()
		if err := json.Unmarshal(data, slow); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if !fastDecodeInto(fast, data) {
			if !strings.HasSuffix(base, "-applications") || string(data) == "[]" {
				t.Errorf("%s: fast path declined", base) // only free-form event filters may decline
			}
			continue
		}
		accepted++
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%s: fast and encoding/json differ", base)
		}
	}
	if accepted < 40 {
		t.Fatalf("fast path took only %d snapshots", accepted)
	}
}

// TestRESTFallbackStartsClean checks that a response the fast path gives
// up on halfway is decoded by encoding/json from scratch.
func TestRESTFallbackStartsClean(t *testing.T) {
	srv := newARIServer(t, map[string]http.HandlerFunc{
		"GET /ari/channels/x": jsonReply(200, `{"id":"x","language":"en","name":"Customer \"VIP\"","caller":{"name":"é","number":"1"}}`),
		"GET /ari/channels":   jsonReply(200, `[{"id":"a","name":"n"},{"id":"b","name":"tab\there"}]`),
	})
	c := newTestClient(t, srv.URL, nil)
	ch, err := c.Channels().Get(context.Background(), "x")
	if err != nil || ch.ID != "x" || ch.Name != `Customer "VIP"` || ch.Language != "en" || ch.Caller.Name != "é" {
		t.Fatalf("get: %+v, %v", ch, err)
	}
	list, err := c.Channels().List(context.Background())
	if err != nil || len(list) != 2 || list[0].Name != "n" || list[1].Name != "tab\there" {
		t.Fatalf("list: %+v, %v", list, err)
	}
}
