package imapd

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 5.1.3): how mailbox names beyond ASCII travel
// to clients that have not enabled UTF8=ACCEPT (RFC 6855).

var utf7Enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errUTF7 = errors.New("invalid modified UTF-7")

// utf7Encode spells a UTF-8 name in modified UTF-7.
func utf7Encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			if c == '&' {
				b.WriteString("&-")
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		j := i
		var units []uint16
		for j < len(s) && (s[j] < 0x20 || s[j] > 0x7e) {
			r, n := utf8.DecodeRuneInString(s[j:])
			j += n
			units = utf16.AppendRune(units, r)
		}
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(utf7Enc.EncodeToString(raw))
		b.WriteByte('-')
		i = j
	}
	return b.String()
}

// utf7Decode reads a modified UTF-7 name into UTF-8, refusing what RFC
// 3501 does not allow (8-bit bytes, bad base64, ASCII spelled encoded).
func utf7Decode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errUTF7
		}
		enc := s[i+1 : i+1+end]
		i += end + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := utf7Enc.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError || (r >= 0x20 && r <= 0x7e) {
				return "", errUTF7
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// mailboxName decodes a mailbox name as the client spells it.
func (c *conn) mailboxName(s string) (string, error) {
	if s == "INBOX" {
		return s, nil
	}
	if c.utf8 {
		if !utf8.ValidString(s) {
			return "", bad("", "Mailbox name is not UTF-8")
		}
		return s, nil
	}
	out, err := utf7Decode(s)
	if err != nil {
		return "", bad("", "Invalid mailbox name (modified UTF-7)")
	}
	return out, nil
}

// writeMailboxName writes a mailbox name as the client reads it: INBOX as
// an atom, the rest as strings, in modified UTF-7 unless UTF8=ACCEPT.
func (c *conn) writeMailboxName(name string) {
	if name == "INBOX" {
		c.w.Atom("INBOX")
		return
	}
	if !c.utf8 {
		name = utf7Encode(name)
	}
	c.w.String(name)
}
