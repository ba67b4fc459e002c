// Command gen generates the ARI model and event types of package ari from
// Asterisk's Swagger 1.1 definitions (the copy under apidocs/, taken from
// the recorded Asterisk 22 fixtures).
//
// Usage (from package ari, via go:generate):
//
//	go run ./internal/gen -docs internal/gen/apidocs -out .
//
// It writes models_gen.go (every non-event model) and events_gen.go (one
// type per event kind plus the kind → type table used by DecodeEvent), and
// for each of them a fast decoder (fastdecode_*_gen.go; see fastjson.go).
//
// Mapping rules, chosen so that decoding and re-encoding loses nothing:
//   - required properties are plain values, always encoded;
//   - optional scalars and models are pointers with omitzero, so a present
//     empty value ("" or 0) survives a round trip and an absent one stays absent;
//   - optional lists and objects are slices/maps with omitzero (nil = absent,
//     empty = present and empty);
//   - Date is ari.Time; object is map[string]any except the string-valued
//     variable maps listed in stringMaps.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// docFiles are the Swagger declarations whose models are generated, in order.
var docFiles = []string{
	"asterisk.json", "endpoints.json", "channels.json", "bridges.json",
	"recordings.json", "sounds.json", "playbacks.json", "deviceStates.json",
	"mailboxes.json", "applications.json", "events.json",
}

// baseModels are written by hand in event.go (MessageBase, EventBase).
var baseModels = map[string]bool{"Message": true, "Event": true}

// stringMaps are "object" properties Asterisk always fills with string
// values (channel, bridge and message variables).
var stringMaps = map[string]bool{
	"Channel.channelvars":   true,
	"Bridge.bridgevars":     true,
	"Variables.variables":   true,
	"TextMessage.variables": true,
}

// fieldNames overrides the mechanical CamelCase of property names that are
// several words run together.
var fieldNames = map[string]string{
	"tenantid":     "TenantID",
	"channelvars":  "ChannelVars",
	"bridgevars":   "BridgeVars",
	"creationtime": "CreationTime",
	"accountcode":  "AccountCode",
	"musicclass":   "MusicClass",
	"dialstring":   "DialString",
	"dialstatus":   "DialStatus",
	"eventname":    "EventName",
	"userevent":    "UserEvent",
	"setid":        "SetID",
	"txcount":      "TxCount",
	"rxcount":      "RxCount",
	"txjitter":     "TxJitter",
	"rxjitter":     "RxJitter",
	"txploss":      "TxPloss",
	"rxploss":      "RxPloss",
	"maxrtt":       "MaxRTT",
	"minrtt":       "MinRTT",
	"normdevrtt":   "NormDevRTT",
	"stdevrtt":     "StdevRTT",
	"txoctetcount": "TxOctetCount",
	"rxoctetcount": "RxOctetCount",
}

var initialisms = map[string]string{
	"id": "ID", "ids": "IDs", "uri": "URI", "url": "URL", "rtt": "RTT",
	"ssrc": "SSRC", "usec": "Usec", "ms": "MS", "txt": "Txt", "rdnis": "RDNIS",
	"aor": "AOR",
}

type property struct {
	Name            string
	Type            string `json:"type"`
	Required        bool   `json:"required"`
	Description     string `json:"description"`
	AllowableValues struct {
		ValueType string   `json:"valueType"`
		Values    []string `json:"values"`
	} `json:"allowableValues"`
}

type model struct {
	Name        string
	Description string
	SubTypes    []string
	Props       []property
}

// orderedObject decodes a JSON object keeping its key order.
type orderedObject struct {
	Keys []string
	Vals []json.RawMessage
}

func (o *orderedObject) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("expected object")
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		o.Keys = append(o.Keys, k.(string))
		o.Vals = append(o.Vals, v)
	}
	return nil
}

type rawModel struct {
	ID          string        `json:"id"`
	Description string        `json:"description"`
	SubTypes    []string      `json:"subTypes"`
	Properties  orderedObject `json:"properties"`
}

type declaration struct {
	Models orderedObject `json:"models"`
}

func main() {
	docs := flag.String("docs", "internal/gen/apidocs", "directory of the ARI Swagger JSON files")
	out := flag.String("out", ".", "output directory (package ari)")
	flag.Parse()
	if err := run(*docs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(docs, out string) error {
	var models []model
	byName := map[string]*model{}
	for _, f := range docFiles {
		b, err := os.ReadFile(filepath.Join(docs, f))
		if err != nil {
			return err
		}
		var d declaration
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for i, name := range d.Models.Keys {
			var rm rawModel
			if err := json.Unmarshal(d.Models.Vals[i], &rm); err != nil {
				return fmt.Errorf("%s %s: %w", f, name, err)
			}
			m := model{Name: name, Description: rm.Description, SubTypes: rm.SubTypes}
			for j, pn := range rm.Properties.Keys {
				var p property
				if err := json.Unmarshal(rm.Properties.Vals[j], &p); err != nil {
					return fmt.Errorf("%s %s.%s: %w", f, name, pn, err)
				}
				p.Name = pn
				m.Props = append(m.Props, p)
			}
			if _, dup := byName[name]; dup {
				return fmt.Errorf("model %s declared twice", name)
			}
			models = append(models, m)
			byName[name] = &models[len(models)-1]
		}
	}
	// byName pointers into models are stable only after the slice stops growing.
	for i := range models {
		byName[models[i].Name] = &models[i]
	}
	msg, ev := byName["Message"], byName["Event"]
	if msg == nil || ev == nil {
		return errors.New("events.json lacks Message or Event")
	}
	kinds := map[string]string{} // kind → base ("Event" or "Message")
	for _, s := range msg.SubTypes {
		if s != "Event" {
			kinds[s] = "Message"
		}
	}
	for _, s := range ev.SubTypes {
		kinds[s] = "Event"
	}
	for k := range kinds {
		if byName[k] == nil {
			return fmt.Errorf("event kind %s has no model", k)
		}
	}

	var mb, eb, fmb, feb, fcb, enb bytes.Buffer
	header(&enb)
	header(&mb)
	header(&eb)
	header(&fmb)
	header(&feb)
	header(&fcb)
	fmt.Fprintln(&eb, `import "time"`)
	fmt.Fprintln(&eb)
	var kindList []string
	for _, m := range models {
		if baseModels[m.Name] {
			continue
		}
		if base, ok := kinds[m.Name]; ok {
			kindList = append(kindList, m.Name)
			if err := writeStruct(&eb, m, base, byName); err != nil {
				return err
			}
			fw := &feb // the Channel* kinds get a file of their own, to keep files short
			if strings.HasPrefix(m.Name, "Channel") {
				fw = &fcb
			}
			if err := writeFast(fw, &enb, m, base, byName); err != nil {
				return err
			}
			continue
		}
		if err := writeStruct(&mb, m, "", byName); err != nil {
			return err
		}
		if err := writeFast(&fmb, &enb, m, "", byName); err != nil {
			return err
		}
	}
	sort.Strings(kindList)
	writeKinds(&eb, kindList)
	if err := emit(filepath.Join(out, "models_gen.go"), mb.Bytes()); err != nil {
		return err
	}
	if err := emit(filepath.Join(out, "events_gen.go"), eb.Bytes()); err != nil {
		return err
	}
	if err := emit(filepath.Join(out, "fastdecode_models_gen.go"), fmb.Bytes()); err != nil {
		return err
	}
	if err := emit(filepath.Join(out, "fastdecode_enums_gen.go"), enb.Bytes()); err != nil {
		return err
	}
	if err := emit(filepath.Join(out, "fastdecode_channel_events_gen.go"), fcb.Bytes()); err != nil {
		return err
	}
	return emit(filepath.Join(out, "fastdecode_events_gen.go"), feb.Bytes())
}

func header(w io.Writer) {
	fmt.Fprintln(w, "// Code generated by ./internal/gen from Asterisk's ARI Swagger definitions. DO NOT EDIT.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "package ari")
	fmt.Fprintln(w)
}

func emit(path string, src []byte) error {
	formatted, err := format.Source(src)
	if err != nil {
		return fmt.Errorf("format %s: %w\n%s", path, err, src)
	}
	return os.WriteFile(path, formatted, 0o644)
}

func writeStruct(w io.Writer, m model, base string, byName map[string]*model) error {
	comment(w, "", m.Name+" is the ARI model "+m.Name+". "+m.Description)
	fmt.Fprintf(w, "type %s struct {\n", m.Name)
	switch base {
	case "Event":
		fmt.Fprintln(w, "\tEventBase")
	case "Message":
		fmt.Fprintln(w, "\tMessageBase")
	}
	for _, p := range m.Props {
		gt, err := goType(m.Name, p, byName)
		if err != nil {
			return err
		}
		if p.Description != "" {
			comment(w, "\t", p.Description)
		}
		tag := p.Name
		if !p.Required {
			tag += ",omitzero"
		}
		fmt.Fprintf(w, "\t%s %s `json:%q`\n", fieldName(p.Name), gt, tag)
	}
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w)
	if base == "Message" {
		// Messages that are not events carry no application or timestamp.
		fmt.Fprintf(w, "// GetApplication returns \"\": a %s is not addressed to an application.\n", m.Name)
		fmt.Fprintf(w, "func (*%s) GetApplication() string { return \"\" }\n\n", m.Name)
		fmt.Fprintf(w, "// GetTimestamp returns the zero time: a %s carries no timestamp.\n", m.Name)
		fmt.Fprintf(w, "func (*%s) GetTimestamp() time.Time { return time.Time{} }\n\n", m.Name)
	}
	return nil
}

func goType(owner string, p property, byName map[string]*model) (string, error) {
	t := p.Type
	if strings.HasPrefix(t, "List[") && strings.HasSuffix(t, "]") {
		elem := t[5 : len(t)-1]
		et, err := elemType(owner, p.Name, elem, byName)
		if err != nil {
			return "", err
		}
		return "[]" + et, nil
	}
	if t == "object" {
		if stringMaps[owner+"."+p.Name] {
			return "map[string]string", nil
		}
		return "map[string]any", nil
	}
	et, err := elemType(owner, p.Name, t, byName)
	if err != nil {
		return "", err
	}
	if !p.Required {
		et = "*" + et
	}
	return et, nil
}

func elemType(owner, prop, t string, byName map[string]*model) (string, error) {
	switch t {
	case "string":
		return "string", nil
	case "int":
		return "int", nil
	case "long":
		return "int64", nil
	case "double":
		return "float64", nil
	case "boolean":
		return "bool", nil
	case "Date":
		return "Time", nil
	case "object":
		return "map[string]any", nil
	}
	if m := byName[t]; m != nil && !baseModels[t] {
		return t, nil
	}
	return "", fmt.Errorf("%s.%s: unknown type %q", owner, prop, t)
}

func fieldName(s string) string {
	if n, ok := fieldNames[s]; ok {
		return n
	}
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part == "" {
			continue
		}
		if n, ok := initialisms[part]; ok {
			b.WriteString(n)
			continue
		}
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// comment writes text as a // comment wrapped near 90 columns.
func comment(w io.Writer, indent, text string) {
	words := strings.Fields(text)
	line := indent + "//"
	for _, word := range words {
		if len(line)+1+len(word) > 90 && line != indent+"//" {
			fmt.Fprintln(w, line)
			line = indent + "//"
		}
		line += " " + word
	}
	fmt.Fprintln(w, line)
}

func writeKinds(w io.Writer, kinds []string) {
	fmt.Fprintln(w, "// EventKinds returns every message kind of events.json that DecodeEvent")
	fmt.Fprintln(w, "// decodes into a typed value, sorted, in a new slice.")
	fmt.Fprintln(w, "func EventKinds() []string {")
	fmt.Fprintln(w, "\treturn []string{")
	for _, k := range kinds {
		fmt.Fprintf(w, "\t\t%q,\n", k)
	}
	fmt.Fprintln(w, "\t}")
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "// newEvent returns a new zero value of the type for kind, or nil when the")
	fmt.Fprintln(w, "// kind is not one of EventKinds.")
	fmt.Fprintln(w, "func newEvent(kind string) Event {")
	fmt.Fprintln(w, "\tswitch kind {")
	for _, k := range kinds {
		fmt.Fprintf(w, "\tcase %q:\n\t\treturn new(%s)\n", k, k)
	}
	fmt.Fprintln(w, "\t}")
	fmt.Fprintln(w, "\treturn nil")
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "// Compile-time checks that every kind implements Event.")
	fmt.Fprintln(w, "var (")
	for _, k := range kinds {
		fmt.Fprintf(w, "\t_ Event = (*%s)(nil)\n", k)
	}
	fmt.Fprintln(w, ")")
}
