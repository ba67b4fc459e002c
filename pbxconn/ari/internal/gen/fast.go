package main

import (
	"fmt"
	"io"
	"strings"
)

// writeFast writes the fast decoder of model m (see package ari's
// fastjson.go): a method that decodes the plain JSON subset Asterisk sends
// and reports false on anything else, so DecodeEvent falls back to
// encoding/json. base is "Event", "Message" or "" as in writeStruct.
func writeFast(w, enums io.Writer, m model, base string, byName map[string]*model) error {
	type member struct{ key, code string }
	var members []member
	bit := 0
	add := func(key, code string) {
		members = append(members, member{key, fmt.Sprintf("return once(&seen, %d) && %s", bit, code)})
		bit++
	}
	switch base {
	case "Event":
		add("type", "d.str(&v.Type)")
		add("asterisk_id", "d.str(&v.AsteriskID)")
		add("application", "d.str(&v.Application)")
		add("timestamp", "d.time(&v.Timestamp)")
	case "Message":
		add("type", "d.str(&v.Type)")
		add("asterisk_id", "d.str(&v.AsteriskID)")
	}
	for _, p := range m.Props {
		gt, err := goType(m.Name, p, byName)
		if err != nil {
			return err
		}
		f := "v." + fieldName(p.Name)
		var code, enum string
		if p.AllowableValues.ValueType == "LIST" && len(p.AllowableValues.Values) > 0 {
			enum = "enum" + m.Name + fieldName(p.Name)
			writeEnum(enums, enum, m.Name+"."+p.Name, p.AllowableValues.Values)
		}
		switch {
		case gt == "string" && enum != "":
			code = "d.enum(&" + f + ", " + enum + ")"
		case gt == "*string" && enum != "":
			code = "d.enumPtr(&" + f + ", " + enum + ")"
		case gt == "string":
			code = "d.str(&" + f + ")"
		case gt == "*string":
			code = "d.strPtr(&" + f + ")"
		default:
			code = fastCode(gt, f)
		}
		if code == "" {
			switch {
			case strings.HasPrefix(gt, "[]"):
				elem := gt[2:]
				code = fmt.Sprintf("d.list(func() bool { %s = append(%s, %s{}); return %s[len(%s)-1].fastDecode(d) })", f, f, elem, f, f)
				members = append(members, member{p.Name, fmt.Sprintf("%s = []%s{}\n\t\t\treturn once(&seen, %d) && %s", f, elem, bit, code)})
				bit++
				continue
			case strings.HasPrefix(gt, "*"):
				members = append(members, member{p.Name, fmt.Sprintf("%s = new(%s)\n\t\t\treturn once(&seen, %d) && %s.fastDecode(d)", f, gt[1:], bit, f)})
				bit++
				continue
			default:
				code = f + ".fastDecode(d)"
			}
		}
		add(p.Name, code)
	}
	if bit > 64 {
		return fmt.Errorf("%s: %d members do not fit the 64-bit seen mask", m.Name, bit)
	}
	fmt.Fprintf(w, "func (v *%s) fastDecode(d *fastDecoder) bool {\n", m.Name)
	if len(members) == 0 {
		fmt.Fprintln(w, "\treturn d.object(func([]byte) bool { return false })")
		fmt.Fprintln(w, "}")
		fmt.Fprintln(w)
		return nil
	}
	fmt.Fprintln(w, "\tvar seen uint64")
	fmt.Fprintln(w, "\treturn d.object(func(k []byte) bool {")
	fmt.Fprintln(w, "\t\tswitch string(k) {")
	for _, mb := range members {
		fmt.Fprintf(w, "\t\tcase %q:\n\t\t\t%s\n", mb.key, mb.code)
	}
	fmt.Fprintln(w, "\t\t}")
	fmt.Fprintln(w, "\t\treturn false")
	fmt.Fprintln(w, "\t})")
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w)
	return nil
}

// fastCode returns the fast decoder call for scalar and string-collection
// Go types, "false" for types left to encoding/json, or "" for models.
func fastCode(gt, f string) string {
	switch gt {
	case "int":
		return "d.int(&" + f + ")"
	case "*int":
		return "d.intPtr(&" + f + ")"
	case "int64":
		return "d.int64(&" + f + ")"
	case "*int64":
		return "d.int64Ptr(&" + f + ")"
	case "bool":
		return "d.bool(&" + f + ")"
	case "*bool":
		return "d.boolPtr(&" + f + ")"
	case "Time":
		return "d.time(&" + f + ")"
	case "*Time":
		return "d.timePtr(&" + f + ")"
	case "[]string":
		return "d.strs(&" + f + ")"
	case "map[string]string":
		return "d.strMap(&" + f + ")"
	case "float64", "*float64", "map[string]any", "[]map[string]any":
		return "false // left to encoding/json"
	}
	return ""
}

// writeEnum writes a function returning the constant string for each of a
// property's allowed values, so decoding them allocates nothing.
func writeEnum(w io.Writer, name, prop string, values []string) {
	fmt.Fprintf(w, "// %s returns the constant for an allowed value of %s.\n", name, prop)
	fmt.Fprintf(w, "func %s(b []byte) (string, bool) {\n\tswitch string(b) {\n", name)
	for _, v := range values {
		fmt.Fprintf(w, "\tcase %q:\n\t\treturn %q, true\n", v, v)
	}
	fmt.Fprintln(w, "\t}")
	fmt.Fprintln(w, "\treturn \"\", false")
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w)
}
