package wire

import (
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// AString returns an astring (RFC 9051 9): an atom of ASTRING-CHARs, a
// quoted string or a literal. The atom NIL is the string "NIL".
func (n Node) AString() (string, bool) { return n.stringOr(isAStringChar) }

// stringOr returns a string, or an atom whose 7-bit characters all pass
// atomOK (8-bit ones are the caller's to judge, see Mailbox).
func (n Node) stringOr(atomOK func(byte) bool) (string, bool) {
	switch n.Kind {
	case Quoted, Literal:
		return n.Value, !n.Streamed
	case Atom, NIL:
		for i := range len(n.Value) {
			if c := n.Value[i]; c < 0x80 && !atomOK(c) {
				return "", false
			}
		}
		return n.Value, len(n.List) == 0
	}
	return "", false
}

// IsAtom reports an atom (or NIL) that equals name, ignoring case.
func (n Node) IsAtom(name string) bool {
	return (n.Kind == Atom || n.Kind == NIL) && strings.EqualFold(n.Value, name) && len(n.List) == 0
}

// Mailbox returns a mailbox name (an astring); INBOX in any case is
// "INBOX" (RFC 9051 5.1). Decoding modified UTF-7 or checking UTF-8 is
// the caller's, who knows whether UTF8=ACCEPT is on.
func (n Node) Mailbox() (string, error) {
	s, ok := n.AString()
	if !ok {
		return "", Bad("Invalid mailbox name")
	}
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	return s, nil
}

// ListMailbox returns a list-mailbox: an atom that may also hold "%", "*"
// and "]", or a string (RFC 9051 6.3.9).
func (n Node) ListMailbox() (string, bool) {
	return n.stringOr(func(c byte) bool { return isAStringChar(c) || c == '%' || c == '*' })
}

// NString returns an nstring: NIL (ok, nil) or a string.
func (n Node) NString() (s string, isNil, ok bool) {
	switch n.Kind {
	case NIL:
		return "", true, true
	case Quoted, Literal:
		return n.Value, false, !n.Streamed
	}
	return "", false, false
}

// Number returns a number (RFC 9051 9: 32 bits, no sign).
func (n Node) Number() (uint32, bool) {
	v, ok := n.Number64()
	if !ok || v > 1<<32-1 {
		return 0, false
	}
	return uint32(v), true
}

// Number64 returns a number64 (63 bits, RFC 9051 9).
func (n Node) Number64() (uint64, bool) {
	if n.Kind != Atom {
		return 0, false
	}
	return parseDigits(n.Value)
}

func parseDigits(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var v uint64
	for i := range len(s) {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, v < 1<<63
}

// parseNZ parses an nz-number: no leading zero, not zero, 32 bits.
func parseNZ(s string) (uint32, bool) {
	if s == "" || s[0] == '0' {
		return 0, false
	}
	v, ok := parseDigits(s)
	if !ok || v > 1<<32-1 {
		return 0, false
	}
	return uint32(v), true
}

// Flag returns a flag (RFC 9051 9): "\" atom or a keyword atom. System
// flags come back in their usual case ("\seen" is "\Seen").
func (n Node) Flag() (imap.Flag, bool) {
	if n.Kind != Atom && n.Kind != NIL || len(n.List) != 0 {
		return "", false
	}
	s := n.Value
	body := strings.TrimPrefix(s, `\`)
	if body == "" {
		return "", false
	}
	for i := range len(body) {
		if !isAtomChar(body[i]) {
			return "", false
		}
	}
	if body != s {
		for _, f := range systemFlags {
			if strings.EqualFold(s, string(f)) {
				return f, true
			}
		}
	}
	return imap.Flag(s), true
}

var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged,
	imap.FlagDeleted, imap.FlagDraft, FlagRecent}

// FlagRecent is \Recent, for IMAP4rev1 sessions (RFC 3501 2.3.2).
const FlagRecent imap.Flag = `\Recent`

// FlagList parses a flag-list: "(" [flag *(SP flag)] ")".
func FlagList(n Node) ([]imap.Flag, error) {
	if n.Kind != List {
		return nil, Bad("Expected flag list")
	}
	flags := make([]imap.Flag, 0, len(n.List))
	for _, it := range n.List {
		f, ok := it.Flag()
		if !ok {
			return nil, Bad("Invalid flag")
		}
		flags = append(flags, f)
	}
	return flags, nil
}

var months = [...]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

func parseMonth(s string) (time.Month, bool) {
	for i, m := range months {
		if strings.EqualFold(s, m) {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// Date parses a SEARCH date (RFC 9051 9: date-day "-" date-month "-"
// date-year, quoted or not) as midnight UTC of that day.
func (n Node) Date() (time.Time, bool) {
	if n.Kind != Atom && n.Kind != Quoted {
		return time.Time{}, false
	}
	return parseDate(n.Value)
}

func parseDate(s string) (time.Time, bool) {
	d, rest, ok := strings.Cut(s, "-")
	if !ok || len(d) < 1 || len(d) > 2 {
		return time.Time{}, false
	}
	m, y, ok := strings.Cut(rest, "-")
	if !ok || len(y) != 4 {
		return time.Time{}, false
	}
	day, ok1 := parseDigits(d)
	year, ok2 := parseDigits(y)
	mon, ok3 := parseMonth(m)
	if !ok1 || !ok2 || !ok3 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	t := time.Date(int(year), mon, int(day), 0, 0, 0, 0, time.UTC)
	if t.Day() != int(day) {
		return time.Time{}, false // 31-Feb
	}
	return t, true
}

// DateTime parses an APPEND date-time (RFC 9051 9):
// DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE.
// A two-digit day without the padding space is taken too.
func (n Node) DateTime() (time.Time, bool) {
	if n.Kind != Quoted {
		return time.Time{}, false
	}
	return parseDateTime(n.Value)
}

func parseDateTime(s string) (time.Time, bool) {
	s = strings.TrimPrefix(s, " ")
	date, rest, ok := strings.Cut(s, " ")
	if !ok {
		return time.Time{}, false
	}
	day, ok := parseDate(date)
	if !ok || len(rest) != len("hh:mm:ss +zzzz") || rest[2] != ':' || rest[5] != ':' || rest[8] != ' ' {
		return time.Time{}, false
	}
	hh, ok1 := parseDigits(rest[0:2])
	mm, ok2 := parseDigits(rest[3:5])
	ss, ok3 := parseDigits(rest[6:8])
	sign := rest[9]
	zh, ok4 := parseDigits(rest[10:12])
	zm, ok5 := parseDigits(rest[12:14])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || hh > 23 || mm > 59 || ss > 60 || zm > 59 ||
		(sign != '+' && sign != '-') {
		return time.Time{}, false
	}
	off := int(zh*3600 + zm*60)
	if sign == '-' {
		off = -off
	}
	zone := time.FixedZone("", off)
	return time.Date(day.Year(), day.Month(), day.Day(), int(hh), int(mm), int(ss), 0, zone), true
}
