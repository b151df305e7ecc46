package imapmsg

import (
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// Section returns the bytes of the BODY[...] section item names in the
// message b whose structure is root, and their exact length, known before
// the first byte is read (RFC 9051 6.4.5):
//
//   - BODY[] is the whole message; BODY[HEADER] its header, blank line
//     included; BODY[TEXT] its body.
//   - Part numbers count the parts of a multipart from 1; a message that is
//     not multipart has one part, 1. Below a message/rfc822 part, numbers
//     count the enclosed message's parts, and HEADER, HEADER.FIELDS (NOT)
//     and TEXT name the enclosed message's header and body.
//   - n.MIME is part n's own header.
//   - HEADER.FIELDS (NOT) keeps (drops) the fields named, in any case, each
//     as stored with its folding, and ends with the blank line.
//   - <o.n> cuts the section to n octets from o.
//
// A part that does not exist, or a specifier that cannot apply to it
// (HEADER of a part that is not a message), yields an empty section, as
// servers commonly answer, not an error. Except for HEADER.FIELDS, which
// reads at most storage.MaxHeaderRead bytes of one header, nothing is read
// before the caller reads the returned reader.
func Section(b Body, root *storage.Part, item *imap.FetchItemBodySection) (io.Reader, int64, error) {
	if root == nil || item == nil {
		return empty()
	}
	p := root
	if len(item.Part) > 0 {
		if p = locate(root, item.Part); p == nil {
			return empty()
		}
	}
	var s span
	switch item.Specifier {
	case imap.PartSpecifierNone:
		if len(item.Part) == 0 {
			s = span{0, b.Size(), ""}
		} else {
			s = span{p.BodyStart, p.End, ""}
		}
	case imap.PartSpecifierMIME:
		if len(item.Part) == 0 {
			// RFC 9051 6.4.5: MIME must be prefixed by a part number;
			// go-imap's parser lets it through.
			return empty()
		}
		var err error
		if s, err = headerSpan(b, p); err != nil {
			return nil, 0, err
		}
	case imap.PartSpecifierHeader, imap.PartSpecifierText:
		msg := p
		if len(item.Part) > 0 {
			if msg = enclosed(p); msg == nil {
				return empty()
			}
		}
		switch {
		case item.Specifier == imap.PartSpecifierText:
			s = span{msg.BodyStart, msg.End, ""}
		case len(item.HeaderFields) > 0 || len(item.HeaderFieldsNot) > 0:
			h, err := headerFields(b, msg, item.HeaderFields, item.HeaderFieldsNot)
			if err != nil {
				return nil, 0, err
			}
			s = span{0, 0, h}
		default:
			var err error
			if s, err = headerSpan(b, msg); err != nil {
				return nil, 0, err
			}
		}
	default:
		return empty()
	}
	r, n := s.reader(b, item.Partial)
	return r, n, nil
}

func empty() (io.Reader, int64, error) { return strings.NewReader(""), 0, nil }

// locate finds the part a non-empty part path names (RFC 9051 6.4.5), or
// nil.
func locate(root *storage.Part, path []int) *storage.Part {
	p := root
	for i, n := range path {
		kids := subparts(p, i == 0)
		if n < 1 || n > len(kids) {
			return nil
		}
		p = kids[n-1]
	}
	return p
}

// subparts are the parts numbered one level below p; top marks the
// top-level part of a message, which, when not multipart, is its own part 1.
func subparts(p *storage.Part, top bool) []*storage.Part {
	switch {
	case p.Type == "multipart" && len(p.Children) > 0:
		return p.Children
	case top:
		return []*storage.Part{p}
	case p.Message != nil:
		return subparts(p.Message, true)
	}
	return nil
}

// enclosed is the top-level part of the message that the message/rfc822 (or
// message/global) part p holds, or nil.
func enclosed(p *storage.Part) *storage.Part {
	if p.Type != "message" {
		return nil
	}
	return p.Message
}

// span is a range [off, end) of the stored message followed by literal
// bytes (a header's missing blank line, or filtered header fields).
type span struct {
	off, end int64
	tail     string
}

// reader returns the span, cut to partial, as a reader and its length. The
// range is clamped to the body, so that the length is what the reader gives
// even when a structure does not match its bytes.
func (s span) reader(b Body, partial *imap.SectionPartial) (io.Reader, int64) {
	s = clampSpan(b, s)
	n := s.end - s.off
	from, to := cut(n+int64(len(s.tail)), partial)
	var rs []io.Reader
	if from < n {
		rs = append(rs, io.NewSectionReader(b, s.off+from, min(to, n)-from))
	}
	if to > n {
		rs = append(rs, strings.NewReader(s.tail[max(from-n, 0):to-n]))
	}
	switch len(rs) {
	case 0:
		return strings.NewReader(""), 0
	case 1:
		return rs[0], to - from
	}
	return io.MultiReader(rs...), to - from
}

// headerSpan is p's header section. RFC 9051 6.4.5 has HEADER and MIME end
// with the blank line; a header cut short by the end of the message or a
// multipart delimiter gets the line breaks it lacks appended.
func headerSpan(b Body, p *storage.Part) (span, error) {
	s := span{p.HeaderStart, p.BodyStart, ""}
	n := min(s.end-s.off, 4)
	var last [4]byte
	if n > 0 {
		if _, err := b.ReadAt(last[:n], s.end-n); err != nil && err != io.EOF {
			return span{}, err
		}
	}
	end := string(last[:max(n, 0)])
	switch {
	case n <= 0:
		s.tail = "\r\n"
	case end == "\n" || end == "\r\n" || strings.HasSuffix(end, "\n\n") || strings.HasSuffix(end, "\n\r\n"):
	case strings.HasSuffix(end, "\n"):
		s.tail = "\r\n"
	default:
		s.tail = "\r\n\r\n"
	}
	return s, nil
}

// headerFields is HEADER.FIELDS (keep non-empty) or HEADER.FIELDS.NOT
// (drop) of p's header: the matching fields as stored, then the blank line.
func headerFields(b Body, p *storage.Part, keep, drop []string) (string, error) {
	fields, err := storage.ReadHeader(b, p)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, f := range fields {
		if f.Name == "" || (len(keep) > 0) != hasName(keep, f.Name) || hasName(drop, f.Name) {
			continue
		}
		out.WriteString(f.Raw)
		if !strings.HasSuffix(f.Raw, "\n") {
			out.WriteString("\r\n")
		}
	}
	out.WriteString("\r\n")
	return out.String(), nil
}

func hasName(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}
