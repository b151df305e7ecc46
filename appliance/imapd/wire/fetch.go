package wire

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Fetch is a parsed FETCH or UID FETCH (RFC 9051 6.4.5, RFC 7162 3.1.4).
type Fetch struct {
	Set     imap.NumSet
	Options imap.FetchOptions
	// RFC822, RFC822.HEADER and RFC822.TEXT (RFC 3501 6.4.5) are answered
	// under their own names: they are kept apart from BodySection.
	// RFC822 sets \Seen like BODY[].
	RFC822, RFC822Header, RFC822Text bool
	// BodyToo asks for BODY besides BODYSTRUCTURE: go-imap's type holds
	// one of them.
	BodyToo bool
	// ChangedSinceSet says CHANGEDSINCE was given (it implies MODSEQ).
	ChangedSinceSet bool
	// Vanished is QRESYNC's VANISHED modifier (RFC 7162 3.2.6).
	Vanished bool
}

// ParseFetch parses FETCH's arguments: sequence-set SP (macro / fetch-att /
// "(" fetch-att *(SP fetch-att) ")") [SP "(" fetch-modifier *(SP ...) ")"].
func ParseFetch(args []Node, uid bool) (*Fetch, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, Bad("FETCH takes a sequence set, items and modifiers")
	}
	set, err := args[0].NumSet(uid)
	if err != nil {
		return nil, err
	}
	f := &Fetch{Set: set}
	items := args[1]
	switch {
	case items.Kind == List:
		if len(items.List) == 0 {
			return nil, Bad("Empty FETCH item list")
		}
		for _, it := range items.List {
			if err := f.item(it); err != nil {
				return nil, err
			}
		}
	case items.IsAtom("ALL"):
		f.Options.Flags, f.Options.InternalDate, f.Options.RFC822Size, f.Options.Envelope = true, true, true, true
	case items.IsAtom("FAST"):
		f.Options.Flags, f.Options.InternalDate, f.Options.RFC822Size = true, true, true
	case items.IsAtom("FULL"):
		f.Options.Flags, f.Options.InternalDate, f.Options.RFC822Size, f.Options.Envelope = true, true, true, true
		f.Options.BodyStructure = &imap.FetchItemBodyStructure{}
	default:
		if err := f.item(items); err != nil {
			return nil, err
		}
	}
	if uid {
		f.Options.UID = true // RFC 9051 6.4.9: UID FETCH always answers UID
	}
	if len(args) == 3 {
		if err := f.modifiers(args[2], uid); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *Fetch) modifiers(n Node, uid bool) error {
	if n.Kind != List || len(n.List) == 0 {
		return Bad("Invalid FETCH modifiers")
	}
	for i := 0; i < len(n.List); i++ {
		m := n.List[i]
		switch {
		case m.IsAtom("CHANGEDSINCE"):
			if i+1 >= len(n.List) {
				return Bad("CHANGEDSINCE needs a mod-sequence")
			}
			i++
			v, ok := n.List[i].Number64()
			if !ok || v == 0 {
				return Bad("Invalid CHANGEDSINCE mod-sequence")
			}
			f.Options.ChangedSince, f.ChangedSinceSet, f.Options.ModSeq = v, true, true
		case m.IsAtom("VANISHED"):
			f.Vanished = true
		default:
			return Bad("Unknown FETCH modifier")
		}
	}
	if f.Vanished && (!uid || !f.ChangedSinceSet) {
		// RFC 7162 3.2.6: only UID FETCH, only with CHANGEDSINCE.
		return Bad("VANISHED needs UID FETCH with CHANGEDSINCE")
	}
	return nil
}

func (f *Fetch) item(n Node) error {
	if n.Kind != Atom {
		return Bad("Invalid FETCH item")
	}
	name := n.Value
	if i := strings.IndexByte(name, '['); i >= 0 {
		return f.section(strings.ToUpper(name[:i]), name[i:], n.List)
	}
	o := &f.Options
	switch strings.ToUpper(name) {
	case "ENVELOPE":
		o.Envelope = true
	case "FLAGS":
		o.Flags = true
	case "INTERNALDATE":
		o.InternalDate = true
	case "RFC822.SIZE":
		o.RFC822Size = true
	case "UID":
		o.UID = true
	case "BODY":
		if o.BodyStructure == nil {
			o.BodyStructure = &imap.FetchItemBodyStructure{}
		} else if o.BodyStructure.Extended {
			f.BodyToo = true
		}
	case "BODYSTRUCTURE":
		if o.BodyStructure != nil && !o.BodyStructure.Extended {
			f.BodyToo = true
		}
		o.BodyStructure = &imap.FetchItemBodyStructure{Extended: true}
	case "MODSEQ":
		o.ModSeq = true
	case "RFC822":
		f.RFC822 = true
	case "RFC822.HEADER":
		f.RFC822Header = true
	case "RFC822.TEXT":
		f.RFC822Text = true
	case "ALL", "FAST", "FULL":
		return Bad("FETCH macro inside a list")
	default:
		return Bad("Unknown FETCH item")
	}
	return nil
}

// section parses the rest of BODY[...]<...>, BINARY[...]<...> and
// BINARY.SIZE[...] (RFC 9051 6.4.5, RFC 3516).
func (f *Fetch) section(name, rest string, headerList []Node) error {
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return Bad("Missing ]")
	}
	spec, after := rest[1:end], rest[end+1:]
	var partial *imap.SectionPartial
	if after != "" {
		if name == "BINARY.SIZE" {
			return Bad("BINARY.SIZE takes no partial")
		}
		p, ok := parsePartial(after)
		if !ok {
			return Bad("Invalid partial")
		}
		partial = p
	}
	switch name {
	case "BODY", "BODY.PEEK":
		s, err := bodySection(spec, headerList)
		if err != nil {
			return err
		}
		s.Peek, s.Partial = name == "BODY.PEEK", partial
		f.Options.BodySection = append(f.Options.BodySection, s)
		return nil
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		if headerList != nil {
			return Bad("Invalid BINARY section")
		}
		part, err := sectionPart(spec)
		if err != nil || len(part) != strings.Count(spec, ".")+1 && spec != "" {
			return Bad("Invalid BINARY section")
		}
		if name == "BINARY.SIZE" {
			f.Options.BinarySectionSize = append(f.Options.BinarySectionSize, &imap.FetchItemBinarySectionSize{Part: part})
		} else {
			f.Options.BinarySection = append(f.Options.BinarySection,
				&imap.FetchItemBinarySection{Part: part, Peek: name == "BINARY.PEEK", Partial: partial})
		}
		return nil
	}
	return Bad("Unknown FETCH item")
}

// parsePartial parses "<" number "." nz-number ">".
func parsePartial(s string) (*imap.SectionPartial, bool) {
	if len(s) < 5 || s[0] != '<' || s[len(s)-1] != '>' {
		return nil, false
	}
	off, size, ok := strings.Cut(s[1:len(s)-1], ".")
	if !ok {
		return nil, false
	}
	o, ok1 := parseDigits(off)
	n, ok2 := parseNZ(size)
	if !ok1 || !ok2 || o > 1<<32-1 {
		return nil, false
	}
	return &imap.SectionPartial{Offset: int64(o), Size: int64(n)}, true
}

// sectionPart parses the leading "1.2.3" of a section; it stops at the
// first part that is not a number.
func sectionPart(spec string) ([]int, error) {
	var part []int
	for spec != "" {
		p, rest, _ := strings.Cut(spec, ".")
		if p == "" || p[0] < '0' || p[0] > '9' {
			break
		}
		v, ok := parseNZ(p)
		if !ok {
			return nil, Bad("Invalid section part")
		}
		part = append(part, int(v))
		spec = rest
	}
	return part, nil
}

func bodySection(spec string, headerList []Node) (*imap.FetchItemBodySection, error) {
	s := &imap.FetchItemBodySection{}
	part, err := sectionPart(spec)
	if err != nil {
		return nil, Bad("Invalid section")
	}
	s.Part = part
	text := spec
	for range part {
		_, text, _ = strings.Cut(text, ".")
	}
	if len(part) > 0 && strings.Count(spec, ".") < len(part)-1 {
		return nil, Bad("Invalid section")
	}
	switch strings.ToUpper(text) {
	case "":
		if len(part) > 0 && strings.HasSuffix(spec, ".") {
			return nil, Bad("Invalid section")
		}
	case "HEADER":
		s.Specifier = imap.PartSpecifierHeader
	case "TEXT":
		s.Specifier = imap.PartSpecifierText
	case "MIME":
		if len(part) == 0 {
			return nil, Bad("MIME needs a section part")
		}
		s.Specifier = imap.PartSpecifierMIME
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if headerList == nil {
			return nil, Bad("Missing header list")
		}
		s.Specifier = imap.PartSpecifierHeader
		names := make([]string, len(headerList))
		for i, h := range headerList {
			v, ok := h.AString()
			if !ok || !isFieldName(v) {
				return nil, Bad("Invalid header field name")
			}
			names[i] = v
		}
		if strings.HasSuffix(strings.ToUpper(text), ".NOT") {
			s.HeaderFieldsNot = names
		} else {
			s.HeaderFields = names
		}
		return s, nil
	default:
		return nil, Bad("Invalid section")
	}
	if headerList != nil {
		return nil, Bad("Header list without HEADER.FIELDS")
	}
	return s, nil
}

// isFieldName reports a header field name: printable US-ASCII but ":"
// (RFC 5322 2.2).
func isFieldName(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return s != ""
}
