package smtpd

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Address errors, translated to SMTP replies in session.go.
var (
	errAddrSyntax = errors.New("smtpd: bad address syntax")
	// errAddrRelay marks a local part that routes onward ("user%remote",
	// "host!user", a quoted "user@remote"): the old relay tricks (RFC 5321
	// 3.6.1 and RFC 2505 2.6.1). We never forward them, whatever the domain.
	errAddrRelay = errors.New("smtpd: address routes to another host")
)

// maxPathOctets bounds an address: RFC 5321 4.5.3.1.3 limits a path to 256
// octets including the angle brackets.
const maxPathOctets = 254

// address is a recipient mailbox normalised for lookup.
type address struct {
	local    string // lower case
	rawLocal string // as the client wrote it (unquoted)
	domain   string // lower case, without a trailing dot
	utf8     bool   // has non-ASCII octets: needs SMTPUTF8 (RFC 6531 3.2)
}

func (a address) String() string {
	if a.domain == "" {
		return a.local // the bare postmaster
	}
	return a.local + "@" + a.domain
}

// ours reports whether mail for the address is delivered here rather than
// relayed: it is in one of our domains, or it is the bare "postmaster"
// that RFC 5321 4.1.1.3 allows without a domain (and 4.5.1 says MUST be
// accepted). The store decides who receives postmaster and abuse in our
// domains (storage.Store.Resolve: an administrator unless an alias of that
// name exists).
func (a address) ours(st Store) bool {
	return a.domain == "" || st.IsLocalDomain(a.domain)
}

// remote is the address for delivery elsewhere: the local part keeps its
// case, which only the destination may interpret (RFC 5321 2.4).
func (a address) remote() string { return a.rawLocal + "@" + a.domain }

// parseAddress normalises a forward-path mailbox as go-smtp hands it over:
// any source route ("@a,@b:") is already dropped, as RFC 5321 3.6.1 says a
// server SHOULD do, and a quoted local part is already unquoted. What remains
// is split at the last "@".
//
// Normalisation:
//   - case: the domain is case-insensitive (RFC 5321 2.4). The local part is
//     case-sensitive on the wire, but a mail appliance for people folds it
//     too, as nearly every mail system does: Alice@ and alice@ are one person.
//   - a trailing dot on the domain ("example.test.") is the absolute form of
//     the same DNS name and is dropped, for local and remote domains alike, so
//     the relay decision never depends on it.
//   - control octets anywhere, an empty local part, an empty domain label
//     or an over-long path are syntax errors.
//   - "@", "%" or "!" in the local part is errAddrRelay.
//   - "postmaster" in any case, without a domain, is the one address that
//     needs none (RFC 5321 4.1.1.3); it has an empty domain.
func parseAddress(s string) (address, error) {
	if len(s) > maxPathOctets || !utf8.ValidString(s) {
		return address{}, errAddrSyntax
	}
	if strings.EqualFold(s, "postmaster") {
		return address{local: "postmaster", rawLocal: s}, nil
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return address{}, errAddrSyntax
	}
	local, domain := s[:at], s[at+1:]
	var a address
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return address{}, errAddrSyntax
		}
		if c >= 0x80 {
			a.utf8 = true
		}
	}
	if strings.ContainsAny(local, "@%!") {
		return address{}, errAddrRelay
	}
	domain, err := normaliseDomain(domain)
	if err != nil {
		return address{}, err
	}
	a.local = strings.ToLower(local)
	a.rawLocal = local
	a.domain = domain
	return a, nil
}

// normaliseDomain lower-cases a domain and drops one trailing dot. An
// address literal ("[192.0.2.1]", RFC 5321 4.1.3) is kept as written: it is
// never one of our domains, so it only ever meets the relay refusal.
func normaliseDomain(d string) (string, error) {
	if strings.HasPrefix(d, "[") {
		if len(d) < 3 || !strings.HasSuffix(d, "]") || strings.ContainsAny(d[1:len(d)-1], "[]\\ ") {
			return "", errAddrSyntax
		}
		return strings.ToLower(d), nil
	}
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 253 {
		return "", errAddrSyntax
	}
	d = strings.ToLower(d)
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return "", errAddrSyntax
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			// LDH (RFC 5321 4.1.2 sub-domain) plus UTF-8 U-labels (RFC 6531 3.3).
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c >= 0x80) {
				return "", errAddrSyntax
			}
		}
	}
	return d, nil
}

// checkReversePath validates a MAIL FROM address. We are liberal about the
// sender (RFC 5321 4.1.2 and 7.9: the sender is not ours to judge here; SPF
// and DMARC come later) but it goes into a header, so no control octets.
func checkReversePath(s string) (utf8Needed bool, err error) {
	if s == "" { // the null reverse-path <> of bounces, RFC 5321 4.5.5
		return false, nil
	}
	if len(s) > maxPathOctets || !utf8.ValidString(s) || strings.LastIndexByte(s, '@') <= 0 {
		return false, errAddrSyntax
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false, errAddrSyntax
		}
		if c >= 0x80 {
			utf8Needed = true
		}
	}
	return utf8Needed, nil
}

// formatPath writes an address in angle brackets for a header field
// (Return-Path, the "for" clause of Received). go-smtp has unquoted the
// local part, so one that is not a dot-string is quoted again (RFC 5321
// 4.1.2 Quoted-string). Callers have rejected control octets already; any
// left are replaced so that a header can never be split.
func formatPath(addr string) string {
	if addr == "" {
		return "<>"
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "<" + sanitiseHeaderText(addr) + ">"
	}
	local, domain := addr[:at], addr[at+1:]
	var b strings.Builder
	b.Grow(len(addr) + 4)
	b.WriteByte('<')
	if isDotString(local) {
		b.WriteString(local)
	} else {
		b.WriteByte('"')
		for _, r := range local {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r < 0x20 || r == 0x7f || r == utf8.RuneError:
				b.WriteByte('?')
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte('@')
	b.WriteString(sanitiseHeaderText(domain))
	b.WriteByte('>')
	return b.String()
}

// isDotString reports whether s is an RFC 5321 4.1.2 Dot-string (with the
// UTF-8 atext of RFC 6531 3.3).
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r >= 0x80 && r != utf8.RuneError {
			continue
		}
		if r == '.' || isAtext(byte(r)) {
			continue
		}
		return false
	}
	return true
}

// isAtext is RFC 5322 3.2.3 atext (ASCII part).
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c < 0x80 && strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// sanitiseHeaderText keeps printable text and UTF-8, replacing control
// octets, invalid UTF-8 and the comment delimiters "(", ")" and "\" so the
// result fits inside a header comment without ending or splitting it.
func sanitiseHeaderText(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f || r == utf8.RuneError || r == '(' || r == ')' || r == '\\':
			b.WriteByte('?')
		case r >= 0x80 && r < 0xa0: // C1 controls
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
