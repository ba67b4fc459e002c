package ami

import "strings"

// Field is one "Key: Value" line of an AMI frame.
type Field struct {
	Key   string
	Value string
}

// Message is one AMI frame (an event, a response, or an action), its fields
// in wire order. Keys keep their case; lookups are case-insensitive, as in
// Asterisk. A key may repeat (e.g. Variable:), Get returns the first.
type Message struct {
	Fields []Field
}

// Get returns the value of the first field named key (case-insensitive), or "".
func (m *Message) Get(key string) string {
	for i := range m.Fields {
		if strings.EqualFold(m.Fields[i].Key, key) {
			return m.Fields[i].Value
		}
	}
	return ""
}

// Has reports whether a field named key is present.
func (m *Message) Has(key string) bool {
	for i := range m.Fields {
		if strings.EqualFold(m.Fields[i].Key, key) {
			return true
		}
	}
	return false
}

// All returns every value of fields named key, in order.
func (m *Message) All(key string) []string {
	var out []string
	for i := range m.Fields {
		if strings.EqualFold(m.Fields[i].Key, key) {
			out = append(out, m.Fields[i].Value)
		}
	}
	return out
}

// Add appends a field.
func (m *Message) Add(key, value string) { m.Fields = append(m.Fields, Field{key, value}) }

// Event returns the event name ("" if the frame is not an event).
func (m *Message) Event() string { return m.Get("Event") }
