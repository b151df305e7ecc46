package mimeparse

import "strings"

// MissingMailbox and MissingDomain stand in for the local part or domain an
// address lacks (as Dovecot does): in an ENVELOPE address an empty host
// means a group marker (RFC 9051 7.5.2), so it must not be left empty.
const (
	MissingMailbox = "MISSING_MAILBOX"
	MissingDomain  = "MISSING_DOMAIN"
)

// word is a phrase or addr-spec piece: an atom or a quoted string.
type word struct {
	s      string
	quoted bool
	space  bool // white space or a comment came before it
}

// mailbox collects the pieces of one address until a separator.
type mailbox struct {
	words    []word
	angle    string
	hasAngle bool
	comment  string
}

// parseAddressList parses an unfolded RFC 5322 3.4 address-list tolerantly:
// it never fails, and keeps what it can of text that is not an address.
// Groups become the ENVELOPE group markers of RFC 9051 7.5.2: an Address
// with the group name as Mailbox and no Host before the members, an empty
// Address after them.
func parseAddressList(s string) []Address {
	if s == "" {
		return nil
	}
	// Sized once: a long list would otherwise leave its doublings behind.
	out := make([]Address, 0, strings.Count(s, ",")+1)
	var m mailbox
	inGroup, marker, space := false, false, false
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
		case c == '"':
			w, n := quotedString(s[i:])
			m.words = append(m.words, word{w, true, space})
			space = false
			i += n
		case c == '(':
			cm, n := comment(s[i:])
			if m.comment == "" {
				m.comment = strings.TrimSpace(cm)
			}
			space = true
			i += n
		case c == '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				j = len(s) - i
			}
			if !m.hasAngle {
				m.angle, m.hasAngle = s[i+1:i+j], true
			}
			space = true
			i += j + 1
		case c == ',':
			out = m.flush(out)
			space = false
			i++
		case c == ';':
			out = m.flush(out)
			if inGroup && marker {
				out = append(out, Address{})
			}
			inGroup, marker, space = false, false, false
			i++
		case c == ':' && !inGroup && !m.hasAngle:
			// RFC 5322 3.4: group = display-name ":" [group-list] ";".
			// A group without a name gets no markers, only its members.
			if name := phrase(m.words); name != "" {
				out = append(out, Address{Mailbox: name})
				marker = true
			}
			inGroup, space = true, false
			m.reset()
			i++
		case c == '>':
			i++
		default:
			// An atom, read permissively (RFC 5322 3.2.3 plus '@', '.'
			// and 8-bit text), so that an addr-spec is one word.
			j := i + 1
			for j < len(s) && strings.IndexByte(" \t\r\n\"(),;:<>", s[j]) < 0 {
				j++
			}
			m.words = append(m.words, word{s[i:j], false, space})
			space = false
			i = j
		}
	}
	out = m.flush(out)
	if inGroup && marker {
		out = append(out, Address{})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// reset empties m, keeping its word slice for the next address.
func (m *mailbox) reset() {
	*m = mailbox{words: m.words[:0]}
}

// flush appends the address collected in m, if any, and resets m.
func (m *mailbox) flush(out []Address) []Address {
	defer m.reset()
	var a Address
	var name []word
	switch {
	case m.hasAngle:
		// RFC 5322 3.4: name-addr = [display-name] angle-addr.
		a = angleAddr(m.angle)
		name = m.words
	case len(m.words) == 0:
		return out
	default:
		// No angle brackets: an addr-spec, maybe with a display name
		// someone forgot to bracket it from.
		k := -1
		for i, w := range m.words {
			if !w.quoted && strings.Contains(w.s, "@") {
				k = i
			}
		}
		if k < 0 {
			if len(m.words) == 1 {
				// A bare local user name, as on a local system.
				a = Address{Mailbox: noNUL(m.words[0].s)}
			} else {
				name = m.words
			}
			break
		}
		// Widen to neighbours written without white space, or joined by
		// '@' or '.' (obs-local-part and obs-domain allow white space
		// around the dots).
		j, e := k, k
		for j > 0 && glued(m.words[j-1], m.words[j]) {
			j--
		}
		for e+1 < len(m.words) && glued(m.words[e], m.words[e+1]) {
			e++
		}
		if j == e && !m.words[j].quoted {
			a = splitAddrSpec(m.words[j].s) // the usual bare addr-spec
		} else {
			var spec strings.Builder
			for _, w := range m.words[j : e+1] {
				if w.quoted {
					spec.WriteString(`"` + w.s + `"`)
				} else {
					spec.WriteString(w.s)
				}
			}
			a = splitAddrSpec(spec.String())
		}
		if j > 0 || e+1 < len(m.words) {
			name = append(append(name, m.words[:j]...), m.words[e+1:]...)
		}
	}
	a.Name = phrase(name)
	if a.Name == "" && m.comment != "" {
		// RFC 822 style "user@host (Full Name)".
		a.Name = noNUL(DecodeHeaderValue(m.comment))
	}
	if a.Mailbox == "" && a.Host == "" && a.Name == "" {
		return out // "<>" or nothing at all
	}
	if a.Mailbox == "" {
		a.Mailbox = MissingMailbox
	}
	if a.Host == "" {
		a.Host = MissingDomain
	}
	return append(out, a)
}

func glued(a, b word) bool {
	return !b.space || strings.HasSuffix(a.s, "@") || strings.HasSuffix(a.s, ".") ||
		strings.HasPrefix(b.s, "@") || strings.HasPrefix(b.s, ".")
}

// phrase is a display name (RFC 5322 3.2.5), RFC 2047 words decoded. Encoded
// words inside quoted strings are decoded too: RFC 2047 5 forbids them there,
// but many mailers write them so.
func phrase(words []word) string {
	if len(words) == 0 {
		return ""
	}
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w.s)
	}
	return noNUL(DecodeHeaderValue(b.String()))
}

// angleAddr parses the inside of "<...>".
func angleAddr(s string) Address {
	s = strings.TrimSpace(stripComments(s))
	// RFC 5322 4.4: obs-route, "@a,@b:" before the address, is kept for
	// the ENVELOPE's at-domain-list (RFC 9051 7.5.2).
	var route string
	if strings.HasPrefix(s, "@") || strings.HasPrefix(s, ",") {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			route, s = obsRoute(s[:i]), s[i+1:]
		}
	}
	a := splitAddrSpec(removeSpace(s))
	a.Route = route
	return a
}

// obsRoute normalises an obs-domain-list ("@a, ,@b" with white space and
// empty elements, RFC 5322 4.4) to "@a,@b".
func obsRoute(s string) string {
	var out []string
	for _, d := range strings.Split(removeSpace(s), ",") {
		if len(d) > 1 && d[0] == '@' {
			out = append(out, noNUL(d))
		}
	}
	return strings.Join(out, ",")
}

// splitAddrSpec splits local-part@domain at the last '@' (a quoted local
// part may hold one too).
func splitAddrSpec(s string) Address {
	local, domain := s, ""
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		local, domain = s[:i], s[i+1:]
	}
	if strings.HasPrefix(local, `"`) {
		local = unquote(local)
	}
	return Address{Mailbox: noNUL(local), Host: noNUL(domain)}
}

// removeSpace drops white space outside quoted strings.
func removeSpace(s string) string {
	if strings.IndexAny(s, " \t") < 0 {
		return s
	}
	var b strings.Builder
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(s):
			b.WriteByte(c)
			i++
			c = s[i]
		case c == '"':
			inQuote = !inQuote
		case (c == ' ' || c == '\t') && !inQuote:
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// quotedString returns the content of the quoted string starting s and the
// bytes it took; an unterminated one runs to the end.
func quotedString(s string) (string, int) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), i + 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), len(s)
}

// comment returns the content of the (possibly nested) comment starting s
// and the bytes it took.
func comment(s string) (string, int) {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
			continue
		case '(':
			depth++
			if depth == 1 {
				continue
			}
		case ')':
			depth--
			if depth == 0 {
				return b.String(), i + 1
			}
		}
		b.WriteByte(s[i])
	}
	return b.String(), len(s)
}

// parseMsgIDs returns the msg-ids (RFC 5322 3.6.4) of an In-Reply-To or
// Message-ID value without their angle brackets. Older mailers wrote
// In-Reply-To as free text around the id, so only bracketed ids count; if
// there are none, bare words that look like ids do, or with first the first
// word of any kind (a Message-ID someone wrote without brackets).
func parseMsgIDs(s string, first bool) []string {
	s = stripComments(s)
	var ids []string
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			_, n := quotedString(s[i:])
			i += n - 1
		case '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				j = len(s) - i
			}
			if id := removeSpace(s[i+1 : i+j]); id != "" {
				ids = append(ids, noNUL(id))
			}
			i += j
		}
	}
	if len(ids) > 0 {
		return ids
	}
	for _, f := range strings.Fields(s) {
		f = strings.Trim(f, "<>")
		if f != "" && (first || strings.Contains(f, "@")) {
			ids = append(ids, noNUL(f))
			if first {
				break
			}
		}
	}
	return ids
}
