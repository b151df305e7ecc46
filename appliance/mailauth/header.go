package mailauth

import (
	"bufio"
	"bytes"
	"io"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-msgauth/authres"
)

// MaxHeader bounds the header section ReadHeader holds in memory. Real
// headers are a few KiB; mailing lists and long Received chains stay far
// below this.
const MaxHeader = 256 << 10

// ReadHeader reads the header section of a message (RFC 5322 2.1): every
// line up to and including the first empty one. It returns those bytes and
// a reader for the rest. A message without an empty line within MaxHeader
// bytes gives ErrNoHeader, with what was read and the rest still returned,
// so that the caller can pass the message on unchanged.
func ReadHeader(r io.Reader) (hdr []byte, rest io.Reader, err error) {
	br := bufio.NewReaderSize(r, 4096)
	var buf bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		buf.Write(line)
		if err == bufio.ErrBufferFull {
			if buf.Len() > MaxHeader {
				return buf.Bytes(), br, ErrNoHeader
			}
			continue
		}
		if err == io.EOF {
			// A message of header fields only, no body.
			return buf.Bytes(), br, nil
		}
		if err != nil {
			return buf.Bytes(), br, err
		}
		if len(line) <= 2 && (string(line) == "\n" || string(line) == "\r\n") && lineStart(buf.Bytes(), len(line)) {
			return buf.Bytes(), br, nil
		}
		if buf.Len() > MaxHeader {
			return buf.Bytes(), br, ErrNoHeader
		}
	}
}

// lineStart reports whether the last n bytes of b begin a line (the line was
// read whole, not the tail of an over-long one).
func lineStart(b []byte, n int) bool {
	i := len(b) - n
	return i == 0 || b[i-1] == '\n'
}

// Field is one header field of a header section.
type Field struct {
	Name  string // as written
	Value string // unfolded, without the name, colon and CRLF
	// Start and End are the field's byte offsets in the header section,
	// folded continuation lines and line break included.
	Start, End int
}

// Fields splits a header section into fields. Lines that are not a field
// (no colon before the first space, RFC 5322 2.2) are skipped.
func Fields(hdr []byte) []Field {
	var out []Field
	i := 0
	for i < len(hdr) {
		start := i
		// One field: its first line and every continuation line (RFC
		// 5322 2.2.3: a line starting with WSP).
		end := nextLine(hdr, i)
		for end < len(hdr) && (hdr[end] == ' ' || hdr[end] == '\t') {
			end = nextLine(hdr, end)
		}
		i = end
		raw := hdr[start:end]
		if len(bytes.TrimRight(raw, "\r\n")) == 0 {
			break // the empty line that ends the section
		}
		colon := bytes.IndexByte(raw, ':')
		if colon <= 0 || bytes.ContainsAny(raw[:colon], " \t\r\n") {
			continue
		}
		v := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(raw[colon+1:]))
		out = append(out, Field{Name: string(raw[:colon]), Value: strings.TrimSpace(v), Start: start, End: end})
	}
	return out
}

func nextLine(b []byte, i int) int {
	j := bytes.IndexByte(b[i:], '\n')
	if j < 0 {
		return len(b)
	}
	return i + j + 1
}

// Addresses parses an address-list header value (From:, Sender:, RFC 5322
// 3.4) into lower-case addr-specs. Invalid UTF-8 (raw Latin-1 in a display
// name, common from old clients) is replaced first so that it cannot make
// the whole field unreadable. ok is false when the value is not an address
// list at all.
func Addresses(value string) (addrs []string, ok bool) {
	if !utf8.ValidString(value) {
		value = strings.ToValidUTF8(value, "?")
	}
	list, err := (&mail.AddressParser{}).ParseList(value)
	if err != nil {
		return nil, false
	}
	for _, a := range list {
		addrs = append(addrs, strings.ToLower(a.Address))
	}
	return addrs, true
}

// fromHeaderDomain returns the RFC5322.From domain for DMARC (RFC 7489
// 6.6.1): the domain of the single From: field. With several From: fields,
// or addresses in different domains, there is no one domain and it returns
// "". A From: that does not parse still has its domain taken from the text
// after the last "@", so that a malformed field cannot dodge the policy.
func fromHeaderDomain(hdr []byte) string {
	var from []Field
	for _, f := range Fields(hdr) {
		if strings.EqualFold(f.Name, "From") {
			from = append(from, f)
		}
	}
	if len(from) != 1 {
		return ""
	}
	addrs, ok := Addresses(from[0].Value)
	if !ok {
		v := from[0].Value
		at := strings.LastIndexByte(v, '@')
		if at < 0 {
			return ""
		}
		d := strings.TrimRight(v[at+1:], "> \t")
		return strings.ToLower(strings.TrimSuffix(d, "."))
	}
	domain := ""
	for _, a := range addrs {
		d := strings.TrimSuffix(a[strings.LastIndexByte(a, '@')+1:], ".")
		if domain != "" && d != domain {
			return ""
		}
		domain = d
	}
	return domain
}

// ClaimsHost reports whether an Authentication-Results value names host as
// its authserv-id (RFC 8601 2.2), case-insensitively. Such a field arriving
// from outside is a forgery or a leftover; RFC 8601 5 says to remove it.
func ClaimsHost(value, host string) bool {
	id := value
	if i := strings.IndexByte(id, ';'); i >= 0 {
		id = id[:i]
	}
	id = stripComments(id)
	if f := strings.Fields(id); len(f) > 0 {
		id = f[0]
	}
	return strings.EqualFold(strings.TrimSuffix(id, "."), strings.TrimSuffix(host, "."))
}

// stripComments removes RFC 5322 comments ("(...)", nested).
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
			b.WriteByte(' ')
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// formatHeader writes our Authentication-Results field (RFC 8601 2.2), one
// method per folded line.
func formatHeader(host string, in Input, vd Verdict) string {
	var results []authres.Result
	spfRes := &authres.SPFResult{Value: authres.ResultValue(vd.SPF)}
	if in.MailFrom != "" {
		spfRes.From = clean(in.MailFrom)
	} else {
		spfRes.Helo = clean(in.HELO)
	}
	if spfRes.Value == "" {
		spfRes.Value = authres.ResultNone
	}
	results = append(results, spfRes)
	if len(vd.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range vd.DKIM {
		r := &authres.DKIMResult{Value: d.Result, Domain: clean(d.Domain)}
		if d.Err != nil && d.Result != authres.ResultPass {
			r.Reason = clean(strings.TrimPrefix(d.Err.Error(), "dkim: "))
		}
		results = append(results, r)
	}
	dm := &authres.DMARCResult{Value: vd.DMARC.Result, From: clean(vd.DMARC.FromDomain)}
	if vd.DMARC.Policy != "" {
		dm.Reason = "p=" + vd.DMARC.Policy
	}
	results = append(results, dm)

	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(host)
	for _, r := range results {
		// authres.Format(identity, one result) gives "; method=value
		// params"; each result goes on a line of its own.
		s := strings.TrimPrefix(authres.Format("", []authres.Result{r}), "; ")
		b.WriteString(";\r\n\t")
		b.WriteString(strings.TrimSpace(s))
	}
	b.WriteString("\r\n")
	return b.String()
}

// clean makes text safe inside a header value: control characters, quotes
// and backslashes (which authres does not escape) become '?'.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}
