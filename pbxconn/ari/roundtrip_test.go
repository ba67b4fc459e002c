package ari

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestEventRoundTrip decodes every recorded events-socket message into its
// typed event and checks that re-encoding it yields the same JSON (as a
// generic value): no field is lost, renamed or retyped.
func TestEventRoundTrip(t *testing.T) {
	kinds := map[string]int{}
	for _, fl := range fixtureEvents(t) {
		ev, err := DecodeEvent(fl.Data)
		if err != nil {
			t.Errorf("%s:%d: %v", fl.File, fl.Line, err)
			continue
		}
		if u, ok := ev.(*UnknownEvent); ok {
			t.Errorf("%s:%d: kind %q decoded as unknown", fl.File, fl.Line, u.Type)
			continue
		}
		kinds[ev.GetType()]++
		if ev.GetTimestamp().IsZero() || ev.GetApplication() == "" || ev.GetAsteriskID() == "" {
			t.Errorf("%s:%d: base fields not decoded: %q %q %v", fl.File, fl.Line, ev.GetApplication(), ev.GetAsteriskID(), ev.GetTimestamp())
		}
		out, err := json.Marshal(ev)
		if err != nil {
			t.Errorf("%s:%d: marshal: %v", fl.File, fl.Line, err)
			continue
		}
		assertSameJSON(t, fl.File+":"+itoa(fl.Line), fl.Data, out)
	}
	t.Logf("decoded kinds: %v", kinds)
}

// TestRESTFixturesRoundTrip decodes every recorded REST snapshot into its
// model and checks the re-encoding is the same JSON.
func TestRESTFixturesRoundTrip(t *testing.T) {
	dir := fixtureDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "rest-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	decoders := map[string]func() any{
		"channels":      func() any { return new([]Channel) },
		"bridges":       func() any { return new([]Bridge) },
		"endpoints":     func() any { return new([]Endpoint) },
		"deviceStates":  func() any { return new([]DeviceState) },
		"asterisk-info": func() any { return new(AsteriskInfo) },
		"applications":  func() any { return new([]Application) },
	}
	seen := 0
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		var mk func() any
		for suffix, d := range decoders {
			if strings.HasSuffix(base, "-"+suffix) {
				mk = d
			}
		}
		if mk == nil {
			t.Errorf("%s: no model for this fixture", base)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := mk()
		if err := json.Unmarshal(data, v); err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		assertSameJSON(t, base, data, out)
		seen++
	}
	if seen < 40 {
		t.Fatalf("only %d REST fixtures checked", seen)
	}
}

func assertSameJSON(t *testing.T, name string, want, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: fixture: %v", name, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: re-encoded: %v", name, err)
	}
	if !reflect.DeepEqual(w, g) {
		t.Errorf("%s: round trip differs\n want %s\n  got %s", name, want, got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
