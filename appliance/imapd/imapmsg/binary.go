package imapmsg

import (
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// BinarySection returns BINARY[part]<partial> (RFC 3516 4.2, RFC 9051
// 6.4.5): the part's body with its Content-Transfer-Encoding undone, and the
// exact decoded length. Base64 and quoted-printable are decoded once to count
// the octets and again, streaming, when the reader is read, so memory does
// not grow with the part. 7bit, 8bit and binary parts, multiparts and
// enclosed messages come as stored; BINARY[] is the whole message as stored.
// Any other encoding is ErrUnknownCTE (answered NO [UNKNOWN-CTE]). A part
// that does not exist yields an empty section.
func BinarySection(b Body, root *storage.Part, item *imap.FetchItemBinarySection) (io.Reader, int64, error) {
	if root == nil || item == nil {
		return empty()
	}
	s, enc, ok := binaryPart(b, root, item.Part)
	if !ok {
		return empty()
	}
	if identityCTE(enc) {
		r, n := s.reader(b, item.Partial)
		return r, n, nil
	}
	total, err := decodedSize(b, s, enc)
	if err != nil {
		return nil, 0, err
	}
	from, to := cut(total, item.Partial)
	d, err := decoder(enc, io.NewSectionReader(b, s.off, s.end-s.off))
	if err != nil {
		return nil, 0, err
	}
	if _, err := io.CopyN(io.Discard, d, from); err != nil {
		return nil, 0, fmt.Errorf("imapmsg: skip to partial offset: %w", err)
	}
	return &exactReader{r: d, n: to - from}, to - from, nil
}

// BinarySize returns BINARY.SIZE[part] (RFC 3516 4.2): the length
// BINARY[part] would have. It decodes the part once to count.
func BinarySize(b Body, root *storage.Part, part []int) (uint32, error) {
	if root == nil {
		return 0, nil
	}
	s, enc, ok := binaryPart(b, root, part)
	if !ok {
		return 0, nil
	}
	if identityCTE(enc) {
		_, n := s.reader(b, nil)
		return clamp32(n), nil
	}
	n, err := decodedSize(b, s, enc)
	return clamp32(n), err
}

// binaryPart finds the stored range BINARY[path] covers and the encoding to
// undo ("" for none).
func binaryPart(b Body, root *storage.Part, path []int) (span, string, bool) {
	if len(path) == 0 {
		return clampSpan(b, span{0, b.Size(), ""}), "", true
	}
	p := locate(root, path)
	if p == nil {
		return span{}, "", false
	}
	enc := p.Encoding
	if p.Type == "multipart" || p.Message != nil {
		// Containers are not encoded (RFC 2045 6.4); storage does not
		// open an encoded message/global, so this one is as stored.
		enc = ""
	}
	return clampSpan(b, span{p.BodyStart, p.End, ""}), enc, true
}

func clampSpan(b Body, s span) span {
	size := b.Size()
	s.off = min(max(s.off, 0), size)
	s.end = min(max(s.end, s.off), size)
	return s
}

// decodedSize decodes s with enc and counts the octets.
func decodedSize(b Body, s span, enc string) (int64, error) {
	d, err := decoder(enc, io.NewSectionReader(b, s.off, s.end-s.off))
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, d)
	if err != nil {
		return 0, fmt.Errorf("imapmsg: decode %s: %w", enc, err)
	}
	return n, nil
}

// cut applies a partial range <o.n> to a section of total octets.
func cut(total int64, partial *imap.SectionPartial) (from, to int64) {
	from, to = 0, total
	if partial != nil {
		from = min(max(partial.Offset, 0), total)
		if partial.Size >= 0 {
			to = min(from+partial.Size, total)
		}
	}
	return from, to
}

// errShort reports a decoded section that came out shorter the second time:
// the literal already announced cannot be completed.
var errShort = errors.New("imapmsg: section shorter than announced")

// exactReader gives exactly n bytes of r, or an error.
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	k, err := e.r.Read(p)
	e.n -= int64(k)
	if err == io.EOF && e.n > 0 {
		err = errShort
	} else if err == io.EOF {
		err = nil
	}
	return k, err
}
