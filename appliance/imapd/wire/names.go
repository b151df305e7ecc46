package wire

import (
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// BodySectionName is the name a FETCH response gives a BODY section (RFC
// 9051 7.5.2): "BODY[1.HEADER.FIELDS (From To)]<0>", without .PEEK and
// with only the partial's origin.
func BodySectionName(s *imap.FetchItemBodySection) string {
	return bodySectionName(s, false)
}

func bodySectionName(s *imap.FetchItemBodySection, command bool) string {
	var b strings.Builder
	b.WriteString("BODY")
	if command && s.Peek {
		b.WriteString(".PEEK")
	}
	b.WriteByte('[')
	writePart(&b, s.Part)
	if s.Specifier != imap.PartSpecifierNone {
		if len(s.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(string(s.Specifier))
		names, not := s.HeaderFields, false
		if len(s.HeaderFieldsNot) > 0 {
			names, not = s.HeaderFieldsNot, true
		}
		if len(names) > 0 {
			b.WriteString(".FIELDS")
			if not {
				b.WriteString(".NOT")
			}
			b.WriteString(" (")
			for i, n := range names {
				if i > 0 {
					b.WriteByte(' ')
				}
				writeHeaderName(&b, n)
			}
			b.WriteByte(')')
		}
	}
	b.WriteByte(']')
	writePartial(&b, s.Partial, command)
	return b.String()
}

// BinarySectionName is the name a FETCH response gives a BINARY section
// (RFC 3516 4.2): "BINARY[1.2]<0>".
func BinarySectionName(s *imap.FetchItemBinarySection) string {
	return binarySectionName(s, false)
}

func binarySectionName(s *imap.FetchItemBinarySection, command bool) string {
	var b strings.Builder
	b.WriteString("BINARY")
	if command && s.Peek {
		b.WriteString(".PEEK")
	}
	b.WriteByte('[')
	writePart(&b, s.Part)
	b.WriteByte(']')
	writePartial(&b, s.Partial, command)
	return b.String()
}

// BinarySizeName is "BINARY.SIZE[part]".
func BinarySizeName(part []int) string {
	var b strings.Builder
	b.WriteString("BINARY.SIZE[")
	writePart(&b, part)
	b.WriteByte(']')
	return b.String()
}

func writePart(b *strings.Builder, part []int) {
	for i, p := range part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(p))
	}
}

func writePartial(b *strings.Builder, p *imap.SectionPartial, command bool) {
	if p == nil {
		return
	}
	b.WriteByte('<')
	b.WriteString(strconv.FormatInt(p.Offset, 10))
	if command {
		b.WriteByte('.')
		b.WriteString(strconv.FormatInt(p.Size, 10))
	}
	b.WriteByte('>')
}

// writeHeaderName writes a field name (printable ASCII without ":", as
// the parser admits) as an atom when it is one, else quoted.
func writeHeaderName(b *strings.Builder, n string) {
	atom := n != "" && !strings.EqualFold(n, "NIL")
	for i := 0; atom && i < len(n); i++ {
		atom = isAtomChar(n[i])
	}
	if atom {
		b.WriteString(n)
		return
	}
	b.WriteByte('"')
	for i := range len(n) {
		if n[i] == '"' || n[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(n[i])
	}
	b.WriteByte('"')
}

// String writes the FETCH arguments back in canonical form: macros
// expanded, one item per request, modifiers last. ParseFetch reads it as
// the same Fetch.
func (f *Fetch) String() string {
	var items []string
	o := &f.Options
	for _, it := range []struct {
		on   bool
		name string
	}{{o.UID, "UID"}, {o.Flags, "FLAGS"}, {o.InternalDate, "INTERNALDATE"}, {o.RFC822Size, "RFC822.SIZE"},
		{o.Envelope, "ENVELOPE"}, {o.ModSeq, "MODSEQ"}, {f.RFC822, "RFC822"},
		{f.RFC822Header, "RFC822.HEADER"}, {f.RFC822Text, "RFC822.TEXT"}} {
		if it.on {
			items = append(items, it.name)
		}
	}
	if o.BodyStructure != nil {
		if o.BodyStructure.Extended {
			items = append(items, "BODYSTRUCTURE")
			if f.BodyToo {
				items = append(items, "BODY")
			}
		} else {
			items = append(items, "BODY")
		}
	}
	for _, s := range o.BodySection {
		items = append(items, bodySectionName(s, true))
	}
	for _, s := range o.BinarySection {
		items = append(items, binarySectionName(s, true))
	}
	for _, s := range o.BinarySectionSize {
		items = append(items, BinarySizeName(s.Part))
	}
	set := "$"
	if !imap.IsSearchRes(f.Set) {
		set = f.Set.String()
	}
	out := set + " (" + strings.Join(items, " ") + ")"
	if f.ChangedSinceSet {
		out += " (CHANGEDSINCE " + strconv.FormatUint(o.ChangedSince, 10)
		if f.Vanished {
			out += " VANISHED"
		}
		out += ")"
	}
	return out
}
