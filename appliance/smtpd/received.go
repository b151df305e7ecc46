package smtpd

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"net/netip"
	"strings"
	"time"
)

// traceInfo is what the trace header fields record about one transaction.
type traceInfo struct {
	helo     string     // EHLO/HELO argument, as the client sent it
	remote   netip.Addr // peer address
	hostname string     // our name
	tls      *tls.ConnectionState
	utf8     bool   // MAIL FROM carried SMTPUTF8
	auth     bool   // the client logged in (submission)
	id       string // transaction id, also in the log
	from     string // reverse-path, "" for <>
	forRcpt  string // the recipient when there is exactly one, else ""
	date     time.Time
}

// traceHeaders returns the header fields prepended to a message delivered
// here: Return-Path, then Received.
//
// RFC 5321 4.4: every SMTP server that accepts a message adds a Received
// field at the top, and the server that makes the final delivery — us, for
// local recipients — also inserts Return-Path carrying the reverse-path, so
// the Return-Path comes first.
func traceHeaders(t traceInfo) string {
	return returnPath(t.from) + received(t)
}

// returnPath is the Return-Path field of the final delivery (RFC 5321 4.4).
func returnPath(from string) string {
	return "Return-Path: " + formatPath(from) + "\r\n"
}

// received returns our Received field (RFC 5321 4.4). Its grammar is
//
//	"Received:" FWS "from" FWS Extended-Domain [CFWS "by" FWS Extended-Domain]
//	  [CFWS "with" FWS Protocol] [CFWS "id" FWS String]
//	  [CFWS "for" FWS ( Path / Mailbox )] [CFWS] ";" FWS date-time
//
// We do no reverse DNS lookup (it costs a round trip for every connection
// and proves nothing), so TCP-info is only the address literal. The "for"
// clause names the recipient only when there is exactly one: with several it
// would disclose Bcc recipients to each other (RFC 5321 7.2). A submission
// records that the client logged in by the protocol name alone (ESMTPA,
// RFC 3848): never the login, never anything of the password.
func received(t traceInfo) string {
	var b strings.Builder
	b.Grow(256)
	lit := addressLiteral(t.remote)
	b.WriteString("Received: from ")
	if isHeloDomain(t.helo) {
		b.WriteString(t.helo)
		b.WriteString(" (")
		b.WriteString(lit)
		b.WriteString(")")
	} else {
		// Not a domain nor an address literal: the grammar has no place
		// for it, so name the peer by its address and keep the claim in a
		// comment (CFWS is allowed before "by").
		b.WriteString(lit)
		b.WriteString(" (")
		b.WriteString(lit)
		b.WriteString(") (HELO ")
		h := sanitiseHeaderText(t.helo)
		if len(h) > 64 {
			h = h[:64]
		}
		if h == "" {
			h = "?"
		}
		b.WriteString(h)
		b.WriteString(")")
	}
	b.WriteString("\r\n")
	if t.tls != nil {
		b.WriteString("\t(using ")
		b.WriteString(tls.VersionName(t.tls.Version))
		b.WriteString(" with cipher ")
		b.WriteString(tls.CipherSuiteName(t.tls.CipherSuite))
		b.WriteString(")\r\n")
	}
	b.WriteString("\tby ")
	b.WriteString(t.hostname)
	b.WriteString(" with ")
	b.WriteString(protocolName(t.tls != nil, t.utf8, t.auth))
	b.WriteString(" id ")
	b.WriteString(t.id)
	if t.forRcpt != "" {
		b.WriteString("\r\n\tfor ")
		b.WriteString(formatPath(t.forRcpt))
	}
	b.WriteString(";\r\n\t")
	b.WriteString(t.date.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}

// protocolName is the "with" value: ESMTP, with S for TLS and A for an
// authenticated client (RFC 3848), and the UTF8SMTP family when the client
// used SMTPUTF8 (RFC 6531 3.7.3).
//
// go-smtp does not tell us whether the client greeted with HELO or EHLO, so
// a HELO client is also recorded as ESMTP rather than SMTP.
func protocolName(tlsOn, utf8, auth bool) string {
	p := "ESMTP"
	if utf8 {
		p = "UTF8SMTP"
	}
	if tlsOn {
		p += "S"
	}
	if auth {
		p += "A"
	}
	return p
}

// addressLiteral formats an IP as an RFC 5321 4.1.3 address literal.
func addressLiteral(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Is4():
		return "[" + ip.String() + "]"
	default:
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
}

// isHeloDomain reports whether a HELO argument is a syntactically valid
// Domain or address-literal (RFC 5321 4.1.2), so that it may stand in the
// Received field as the client's Extended-Domain. It checks syntax only: we
// record what the client said, we do not believe it.
func isHeloDomain(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	if h[0] == '[' {
		if h[len(h)-1] != ']' {
			return false
		}
		inner := h[1 : len(h)-1]
		if v6, ok := strings.CutPrefix(inner, "IPv6:"); ok {
			a, err := netip.ParseAddr(v6)
			return err == nil && a.Is6()
		}
		a, err := netip.ParseAddr(inner)
		return err == nil && a.Is4()
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newTransactionID returns a random id naming one transaction in the
// Received field and in the log, so that a user's forwarded
// headers lead straight to the log line.
func newTransactionID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
