package mimeparse

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// Fields kept while parsing: the Content-* fields of every part (RFC 2045,
// 2183, 3282, 2557, 1864), and for a message header also the fields of the
// IMAP ENVELOPE (RFC 9051 7.5.2).
const (
	fContentType = iota
	fEncoding
	fDisposition
	fID
	fDescription
	fLanguage
	fLocation
	fMD5
	fDate // first envelope field; those from here on are kept only for messages
	fSubject
	fFrom
	fSender
	fReplyTo
	fTo
	fCc
	fBcc
	fInReplyTo
	fMessageID
	numFields
)

// fieldCap bounds a kept field. Address lists get room for a thousand or two
// recipients, beyond which the envelope lists only the first ones; nothing
// else legitimate comes close to its cap.
func fieldCap(i int) int {
	switch i {
	case fFrom, fSender, fReplyTo, fTo, fCc, fBcc:
		return 32 << 10
	}
	return 8 << 10
}

// fieldIndex maps a field name, in any case, to the field kept for it, or -1.
func fieldIndex(name []byte, isMsg bool) int {
	var buf [32]byte
	if len(name) > len(buf) {
		return -1
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	i := -1
	switch string(buf[:len(name)]) {
	case "content-type":
		i = fContentType
	case "content-transfer-encoding":
		i = fEncoding
	case "content-disposition":
		i = fDisposition
	case "content-id":
		i = fID
	case "content-description":
		i = fDescription
	case "content-language":
		i = fLanguage
	case "content-location":
		i = fLocation
	case "content-md5":
		i = fMD5
	case "date":
		i = fDate
	case "subject":
		i = fSubject
	case "from":
		i = fFrom
	case "sender":
		i = fSender
	case "reply-to":
		i = fReplyTo
	case "to":
		i = fTo
	case "cc":
		i = fCc
	case "bcc":
		i = fBcc
	case "in-reply-to":
		i = fInReplyTo
	case "message-id":
		i = fMessageID
	}
	if i >= fDate && !isMsg {
		return -1
	}
	return i
}

// header holds the kept fields of the header being parsed: raw values after
// the colon, folding line breaks included. It is reused from part to part.
type header struct {
	v    [numFields][]byte
	seen [numFields]bool
}

func (h *header) reset() {
	for i := range h.v {
		h.v[i] = h.v[i][:0]
		h.seen[i] = false
	}
}

// text returns field i unfolded and trimmed, with bytes that are not UTF-8
// read as Latin-1.
func (h *header) text(i int) string {
	return toUTF8(unfoldBytes(bytes.TrimSpace(h.v[i])))
}

// raw returns field i unfolded, for parsers that need its bytes as written.
func (h *header) raw(i int) string {
	return unfoldBytes(bytes.TrimSpace(h.v[i]))
}

// unfoldBytes is unfold for a kept field, copying it once.
func unfoldBytes(b []byte) string {
	if bytes.IndexAny(b, "\r\n") < 0 {
		return string(b)
	}
	var s strings.Builder
	s.Grow(len(b))
	for _, c := range b {
		if c != '\r' && c != '\n' {
			s.WriteByte(c)
		}
	}
	return s.String()
}

// describe fills part's Content-* description from the kept fields; dflt is
// the type the context implies when Content-Type is absent or unusable. It
// returns the raw multipart boundary.
func (p *parser) describe(part *Part, dflt mediaType) (boundary string) {
	h := &p.h
	if h.seen[fContentType] {
		part.Type, part.Subtype, part.Params, boundary = parseContentType(h.raw(fContentType))
	}
	if part.Type == "" {
		// RFC 2045 5.2: a missing or syntactically invalid Content-Type
		// means the default.
		setType(part, dflt)
	}
	if h.seen[fEncoding] {
		part.Encoding = strings.ToLower(stripComments(h.text(fEncoding)))
		part.Encoding = strings.Trim(part.Encoding, "\" \t")
		if part.Encoding == "7bit" {
			part.Encoding = "" // the RFC 2045 6.1 default, stored as such
		}
	}
	if h.seen[fDisposition] {
		part.Disposition, part.DispParams = parseDisposition(h.raw(fDisposition))
	}
	if h.seen[fID] {
		part.ID = h.text(fID)
	}
	if h.seen[fDescription] {
		// Kept as written (unfolded): IMAP sends body-fld-desc raw and
		// the client decodes RFC 2047.
		part.Description = h.text(fDescription)
	}
	if h.seen[fLanguage] {
		// RFC 3282 2: a comma-separated list of language tags.
		for _, t := range strings.Split(stripComments(h.text(fLanguage)), ",") {
			if t = strings.TrimSpace(t); t != "" {
				part.Language = append(part.Language, t)
			}
		}
	}
	if h.seen[fLocation] {
		// RFC 2557 4.4.2: white space in a folded URI is not part of it.
		part.Location = strings.Join(strings.Fields(h.text(fLocation)), "")
	}
	if h.seen[fMD5] {
		part.MD5 = h.text(fMD5)
	}
	return boundary
}

// envelope builds the ENVELOPE of the message whose header was just read.
func (h *header) envelope() *Envelope {
	env := &Envelope{
		Date:      noNUL(h.text(fDate)),
		Subject:   noNUL(DecodeHeaderValue(h.raw(fSubject))),
		From:      parseAddressList(h.text(fFrom)),
		Sender:    parseAddressList(h.text(fSender)),
		ReplyTo:   parseAddressList(h.text(fReplyTo)),
		To:        parseAddressList(h.text(fTo)),
		Cc:        parseAddressList(h.text(fCc)),
		Bcc:       parseAddressList(h.text(fBcc)),
		InReplyTo: parseMsgIDs(h.text(fInReplyTo), false),
	}
	if ids := parseMsgIDs(h.text(fMessageID), true); len(ids) > 0 {
		env.MessageID = ids[0]
	}
	// RFC 9051 7.5.2: an absent or empty Sender or Reply-To is sent as From.
	if len(env.Sender) == 0 {
		env.Sender = append([]Address(nil), env.From...)
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = append([]Address(nil), env.From...)
	}
	return env
}

// noNUL drops NUL bytes, which no IMAP string can carry (RFC 9051 4.3).
func noNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// HeaderField is one field of a header section.
type HeaderField struct {
	// Name as written, without white space before the colon. Empty for a
	// line that is not a field (no colon, or a stray continuation line),
	// kept so that the Raw of all fields is the whole header.
	Name string
	// Value is everything after the colon up to the field's final line
	// break, folding line breaks included. DecodeHeaderValue makes text of it.
	Value string
	// Raw is the field exactly as stored, final line break included.
	Raw string
}

// MaxHeaderRead bounds what ReadHeader reads; a longer header is cut at the
// last line break within it.
const MaxHeaderRead = 1 << 20

// ErrShortRead reports a reader that ended before the part's offsets.
var ErrShortRead = errors.New("mimeparse: message shorter than its structure")

// ReadHeader returns the fields of p's header section, for IMAP
// HEADER.FIELDS and SEARCH HEADER. The blank line ending the header is not a
// field; otherwise the Raw of the fields, concatenated, is the header as
// stored (up to MaxHeaderRead bytes). p must come from Parse of the same bytes.
func ReadHeader(r io.ReaderAt, p *Part) ([]HeaderField, error) {
	n := min(p.BodyStart-p.HeaderStart, MaxHeaderRead)
	if n <= 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	if m, err := r.ReadAt(buf, p.HeaderStart); m < len(buf) {
		if err == nil || err == io.EOF {
			err = ErrShortRead
		}
		return nil, err
	}
	if n == MaxHeaderRead && p.BodyStart-p.HeaderStart > MaxHeaderRead {
		buf = buf[:bytes.LastIndexByte(buf, '\n')+1]
	}
	return splitHeader(string(buf)), nil
}

// splitHeader splits a header section into fields (RFC 5322 2.2).
func splitHeader(s string) []HeaderField {
	var fields []HeaderField
	for len(s) > 0 {
		// A field is its first line and every following line that starts
		// with white space (RFC 5322 2.2.3).
		end := 0
		for {
			i := strings.IndexByte(s[end:], '\n')
			if i < 0 {
				end = len(s)
				break
			}
			end += i + 1
			if end == len(s) || s[end] != ' ' && s[end] != '\t' {
				break
			}
		}
		raw := s[:end]
		s = s[end:]
		if raw == "\r\n" || raw == "\n" {
			break // the blank line that ends the header, as Parse sees it
		}
		line := strings.TrimSuffix(strings.TrimSuffix(raw, "\n"), "\r")
		f := HeaderField{Raw: raw}
		if name, value, ok := strings.Cut(line, ":"); ok && line[0] != ' ' && line[0] != '\t' {
			if name = strings.TrimRight(name, " \t"); name != "" {
				f.Name, f.Value = name, value
			}
		}
		fields = append(fields, f)
	}
	return fields
}

var wordDecoder = mime.WordDecoder{CharsetReader: charsetReader}

// charsetReader decodes the charsets that mime.WordDecoder does not know
// itself, via go-message's tables.
func charsetReader(cs string, in io.Reader) (io.Reader, error) {
	// RFC 2231 5: an encoded word's charset may carry "*language".
	cs, _, _ = strings.Cut(cs, "*")
	switch strings.ToLower(cs) {
	case "utf-8", "us-ascii", "utf8", "ascii":
		return in, nil // toUTF8 replaces what is not UTF-8 afterwards
	}
	return charset.Reader(cs, in)
}

// DecodeHeaderValue turns a raw header field value into text: unfolded
// (RFC 5322 2.2.3), trimmed, encoded words decoded (RFC 2047) and the result
// valid UTF-8. When an encoded word names a charset we cannot decode, the
// value is returned undecoded rather than partly decoded. Raw 8-bit bytes
// that are not UTF-8 (RFC 6532 allows UTF-8 only, but older mailers send
// their local charset) are read as Latin-1, which never loses a byte and is
// most often right.
func DecodeHeaderValue(s string) string {
	s = strings.TrimSpace(unfold(s))
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return toUTF8(s)
}

// unfold removes the line breaks of a folded value (RFC 5322 2.2.3). Every
// line break inside a field value precedes white space, so all go.
func unfold(s string) string {
	if strings.IndexAny(s, "\r\n") < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// toUTF8 returns s with every byte that is not part of valid UTF-8 read as
// Latin-1. The cached structure is JSON, which would otherwise replace such
// bytes with U+FFFD.
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(rune(s[i]))
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
