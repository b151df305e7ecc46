package config

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// checkFields reads the (comment-free) file once against the shape of
// Config and reports every field it cannot take: a name that is no field
// (with the nearest real name when one is close), or a value of the wrong
// type. Each error names the line and the whole path ("panel.page_time"),
// so a person editing a long file finds the place; and all of them are
// reported at once, because encoding/json stops at the first unknown field
// and a person would fix one typo per restart.
//
// It only reports: the decoding itself stays with encoding/json, which
// gives the same values this walk accepted.
func checkFields(clean []byte) []error {
	dec := json.NewDecoder(bytes.NewReader(clean))
	w := fieldWalker{dec: dec, src: clean}
	if err := w.value(reflect.TypeOf(Config{}), ""); err != nil {
		// A syntax error: decode reports it with its line.
		return nil
	}
	return w.errs
}

type fieldWalker struct {
	dec  *json.Decoder
	src  []byte
	errs []error
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
var jsonUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// walkable is a struct that encoding/json fills field by field (one with
// its own UnmarshalJSON decides for itself).
func walkable(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	p := reflect.PointerTo(t)
	return !p.Implements(jsonUnmarshaler) && !p.Implements(textUnmarshaler)
}

// value checks the next JSON value against t. It returns an error only for
// malformed JSON; problems with the content go to w.errs.
func (w *fieldWalker) value(t reflect.Type, path string) error {
	start := w.dec.InputOffset()
	if !walkable(t) {
		var raw json.RawMessage
		if err := w.dec.Decode(&raw); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			w.errs = append(w.errs, fmt.Errorf("line %d: %s: %s", w.line(start), path, typeProblem(err, raw, t)))
		}
		return nil
	}
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	if tok == nil { // null leaves the defaults, as encoding/json does
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		w.errs = append(w.errs, fmt.Errorf("line %d: %s: expected an object {...}", w.line(start), orTop(path)))
		return w.skipRest(tok)
	}
	fields := jsonFields(t)
	for w.dec.More() {
		kt, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		at := w.dec.InputOffset()
		name := join(path, key)
		f, ok := fields[key]
		if !ok {
			f, ok = fields[strings.ToLower(key)] // encoding/json matches names without case
		}
		if !ok {
			msg := fmt.Sprintf("line %d: unknown field %q", w.line(at), name)
			if near := nearest(key, fields); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", join(path, near))
			}
			w.errs = append(w.errs, errors.New(msg))
			var skip json.RawMessage
			if err := w.dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		if err := w.value(f.Type, name); err != nil {
			return err
		}
	}
	_, err = w.dec.Token() // '}'
	return err
}

// skipRest consumes the rest of a value whose first token was tok.
func (w *fieldWalker) skipRest(tok json.Token) error {
	d, ok := tok.(json.Delim)
	if !ok || (d != '{' && d != '[') {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := w.dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func (w *fieldWalker) line(off int64) int {
	// InputOffset stands just after a key or before a value's leading
	// space; the line of the next non-space byte is the one a person sees.
	for off < int64(len(w.src)) && strings.IndexByte(" \t\r\n:", w.src[off]) >= 0 {
		off++
	}
	return lineOf(w.src, off)
}

// typeProblem says in words what is wrong with raw for a field of type t.
func typeProblem(err error, raw json.RawMessage, t reflect.Type) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("expected %s, found a JSON %s (%s)", kindWord(t), te.Value, bytes.TrimSpace(raw))
	}
	return err.Error() // a type's own UnmarshalJSON (e.g. Duration) words it itself
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string in quotes"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list [...]"
	case reflect.Map, reflect.Struct:
		return "an object {...}"
	}
	return t.String()
}

// jsonFields maps a struct's JSON names (and their lower-case forms) to
// its fields, as encoding/json names them.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
		if _, taken := out[strings.ToLower(name)]; !taken {
			out[strings.ToLower(name)] = f
		}
	}
	return out
}

// nearest returns the field name closest to key when it is close enough
// to be a typo: at most a third of its letters differ.
func nearest(key string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names) // a stable answer when two are as close
	best, bestD := "", len(key)/3+1
	for _, n := range names {
		if d := editDistance(strings.ToLower(key), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	// Report the name as spelt in the tag, not its lower-case alias.
	if f := fields[best]; f.Tag.Get("json") != "" {
		best, _, _ = strings.Cut(f.Tag.Get("json"), ",")
	}
	return best
}

// editDistance is Levenshtein's distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}
