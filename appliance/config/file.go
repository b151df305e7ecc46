package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Marshal returns c as JSON with a // comment above every field, taken from
// the field's `help` tag. Load reads it back.
func (c Config) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Postroom configuration. This is JSON with // comments: every line that\n")
	b.WriteString("// starts with // is ignored. Fields you leave out take their default value.\n")
	b.WriteString("// Check your changes with: postroom -check (or just start postroom).\n")
	if err := writeStruct(&b, reflect.ValueOf(c), ""); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// writeStruct writes v as a JSON object; nested structs recurse, every
// other value is written by encoding/json.
func writeStruct(b *bytes.Buffer, v reflect.Value, indent string) error {
	t := v.Type()
	inner := indent + "  "
	b.WriteString("{\n")
	var fields []int
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() && t.Field(i).Tag.Get("json") != "-" {
			fields = append(fields, i)
		}
	}
	for n, i := range fields {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		help := f.Tag.Get("help")
		if help == "" {
			return fmt.Errorf("config field %s has no help tag", f.Name)
		}
		for _, line := range wrap(help, 76-len(inner)) {
			b.WriteString(inner + "// " + line + "\n")
		}
		key, _ := json.Marshal(name)
		b.WriteString(inner)
		b.Write(key)
		b.WriteString(": ")
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && !implementsMarshaler(fv) {
			if err := writeStruct(b, fv, inner); err != nil {
				return err
			}
		} else {
			val, err := json.Marshal(fv.Interface())
			if err != nil {
				return fmt.Errorf("config field %s: %w", f.Name, err)
			}
			b.Write(val)
		}
		if n < len(fields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(indent + "}")
	return nil
}

func implementsMarshaler(v reflect.Value) bool {
	_, ok := v.Interface().(json.Marshaler)
	return ok
}

// wrap breaks s into lines of at most width characters at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
