package mimeparse

import (
	"io"
	"strconv"
	"strings"
)

// parseContentType parses an unfolded Content-Type value (RFC 2045 5.1).
// It returns an empty type when the value is unusable, so the caller applies
// the default. boundary is the boundary parameter byte for byte, as delimiter
// lines carry it; params holds it as UTF-8 like every other value, for the
// JSON cache.
func parseContentType(s string) (typ, sub string, params map[string]string, boundary string) {
	t, rest, _ := strings.Cut(s, ";")
	typ, sub, ok := strings.Cut(stripComments(t), "/")
	typ = strings.ToLower(strings.TrimSpace(typ))
	sub = strings.ToLower(strings.TrimSpace(sub))
	if !ok || !isToken(typ) || !isToken(sub) {
		return "", "", nil, ""
	}
	params = parseParams(rest)
	boundary = params["boundary"]
	if boundary != "" {
		params["boundary"] = toUTF8(boundary)
	}
	return typ, sub, params, boundary
}

// parseDisposition parses an unfolded Content-Disposition value (RFC 2183 2).
func parseDisposition(s string) (string, map[string]string) {
	t, rest, _ := strings.Cut(s, ";")
	t = strings.ToLower(strings.TrimSpace(stripComments(t)))
	if !isToken(t) {
		return "", nil
	}
	return t, parseParams(rest)
}

// isToken reports an RFC 2045 5.1 token: US-ASCII printable characters
// other than tspecials.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// segment is one piece of an RFC 2231 parameter.
type segment struct {
	v   string
	ext bool // "name*N*=": charset'language' (first piece only) and %XX
}

// parseParams parses the "; name=value" list after a Content-Type or
// Content-Disposition value. Names are lower-cased; the first of duplicate
// names wins; broken items are skipped rather than spoiling the rest (which
// is why this is not mime.ParseMediaType, which drops every parameter on one
// error). RFC 2231 continuations and charset'language' values are decoded,
// and win over a plain parameter of the same name, which senders add as a
// fallback for old readers.
func parseParams(s string) map[string]string {
	var plain map[string]string
	var ext map[string]map[int]segment
	for s != "" {
		var item string
		item, s = nextParam(s)
		name, val, ok := strings.Cut(item, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			continue
		}
		val = strings.TrimSpace(val)
		if strings.HasPrefix(val, `"`) {
			val = unquote(val)
		}
		if base, suffix, ok := strings.Cut(name, "*"); ok && base != "" {
			// RFC 2231 3 and 4: name*, name*N and name*N*.
			idx, e := -1, true
			if suffix != "" {
				digits, star := strings.CutSuffix(suffix, "*")
				n, err := strconv.Atoi(digits)
				if err != nil || n < 0 || n > 999 || digits[0] == '+' {
					continue
				}
				idx, e = n, star
			}
			if ext == nil {
				ext = make(map[string]map[int]segment)
			}
			if ext[base] == nil {
				ext[base] = make(map[int]segment)
			}
			if _, dup := ext[base][idx]; !dup {
				ext[base][idx] = segment{val, e}
			}
			continue
		}
		if plain == nil {
			plain = make(map[string]string)
		}
		if _, dup := plain[name]; !dup {
			plain[name] = val
		}
	}
	for base, segs := range ext {
		if v, ok := join2231(segs); ok {
			if plain == nil {
				plain = make(map[string]string)
			}
			plain[base] = v
		}
	}
	for k, v := range plain {
		// The boundary must stay byte for byte what delimiter lines
		// carry (parseContentType converts it once it has it); the rest
		// is text for clients.
		if k != "boundary" {
			plain[k] = toUTF8(v)
		}
	}
	return plain
}

// nextParam returns the text up to the next ';' outside a quoted string.
func nextParam(s string) (item, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ';' && !inQuote:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// unquote returns the content of a quoted string (RFC 5322 3.2.4) that
// starts s; a missing closing quote ends it at the end of s.
func unquote(s string) string {
	v, _ := quotedString(s)
	return v
}

// join2231 reassembles an RFC 2231 parameter from its pieces. It reports
// false when there is nothing usable (no piece 0).
func join2231(segs map[int]segment) (string, bool) {
	if s, ok := segs[-1]; ok {
		// "name*=charset'lang'value": a single, unnumbered piece.
		segs = map[int]segment{0: s}
	}
	first, ok := segs[0]
	if !ok {
		return "", false
	}
	var cs string
	var raw strings.Builder
	var data []byte
	// RFC 2231 3: pieces are numbered from 0 without gaps; a gap ends it.
	for i := 0; ; i++ {
		s, ok := segs[i]
		if !ok {
			break
		}
		raw.WriteString(s.v)
		v := s.v
		if i == 0 && first.ext {
			// RFC 2231 4: charset'language'value.
			if c, rest, ok := strings.Cut(v, "'"); ok {
				if _, rest, ok := strings.Cut(rest, "'"); ok {
					cs, v = c, rest
				}
			}
		}
		if s.ext {
			data = percentDecode(data, v)
		} else {
			data = append(data, v...)
		}
	}
	if v, ok := decodeCharset(cs, data); ok {
		return v, true
	}
	return raw.String(), true
}

// percentDecode appends s to dst with %XX escapes decoded; a malformed
// escape is kept as written.
func percentDecode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok := unhex(s[i+1]); ok {
				if l, ok := unhex(s[i+2]); ok {
					dst = append(dst, h<<4|l)
					i += 2
					continue
				}
			}
		}
		dst = append(dst, s[i])
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeCharset converts b from charset cs to UTF-8. An empty charset is
// taken as UTF-8, which US-ASCII is a subset of.
func decodeCharset(cs string, b []byte) (string, bool) {
	switch strings.ToLower(cs) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return toUTF8(string(b)), true
	case "iso-8859-1", "latin1":
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), true
	}
	rd, err := charsetReader(cs, strings.NewReader(string(b)))
	if err != nil {
		return "", false
	}
	// A converted value is at most a few times its input; the limit only
	// guards against a decoder gone wrong.
	out, err := io.ReadAll(io.LimitReader(rd, int64(4*len(b)+16)))
	if err != nil {
		return "", false
	}
	return toUTF8(string(out)), true
}

// stripComments removes RFC 5322 3.2.2 comments, "(...)" possibly nested,
// outside quoted strings.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (inQuote || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
			}
			i++
			continue
		case depth == 0 && c == '"':
			inQuote = !inQuote
		case !inQuote && c == '(':
			depth++
			continue
		case depth > 0 && c == ')':
			depth--
			if depth == 0 {
				b.WriteByte(' ') // a comment separates what it sits between
			}
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}
