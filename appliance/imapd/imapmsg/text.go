package imapmsg

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"postroom/storage"
)

// foldRune maps r to one representative of its case class, so that text
// folded with it compares case-insensitively (RFC 9051 6.4.4: SEARCH string
// matching is case-insensitive). Upper then lower joins classes plain
// lowering misses, e.g. long s (U+017F) and s, final sigma and sigma.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(unicode.ToUpper(r))
}

// fold appends the folded form of s to dst; ß and ẞ become "ss", the one
// fold beyond a rune for a rune. A byte that is not part of
// valid UTF-8 is read as Latin-1, as storage reads such header bytes: old
// mailers send 8-bit text in their local charset without saying so, and
// Latin-1 is most often right and never loses a byte.
func fold(dst []byte, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			r = rune(c)
		}
		if fr := foldRune(r); fr == 'ß' {
			// German sharp s is "ss" in upper case (STRASSE), and
			// that is how people type it into a search box.
			dst = append(dst, "ss"...)
		} else {
			dst = utf8.AppendRune(dst, fr)
		}
		i += n
	}
	return dst
}

func foldString(s string) []byte { return fold(nil, []byte(s)) }

// containsFolded reports whether text, folded, contains needle (folded).
func containsFolded(text string, needle []byte, scratch *[]byte) bool {
	if len(needle) == 0 {
		return true
	}
	*scratch = fold((*scratch)[:0], []byte(text))
	return bytes.Contains(*scratch, needle)
}

// errAllFound stops a scan early: every needle has been seen.
var errAllFound = errors.New("imapmsg: all search strings found")

// matcher looks for several folded needles at once in text written to it
// in pieces, keeping only the tail of the last piece that a match could
// still span, so memory does not grow with the text.
type matcher struct {
	needles [][]byte
	found   []bool
	left    int
	keep    int    // longest needle - 1: what a match may span
	buf     []byte // kept tail + folded new text
	pend    []byte // an incomplete UTF-8 sequence ending the last write
	join    []byte // pend and the next write, joined
}

func newMatcher(needles [][]byte) *matcher {
	m := &matcher{needles: needles, found: make([]bool, len(needles))}
	for _, n := range needles {
		m.keep = max(m.keep, len(n)-1)
	}
	m.reset()
	return m
}

// reset forgets everything found, for the next message.
func (m *matcher) reset() {
	m.left = 0
	for i, n := range m.needles {
		m.found[i] = len(n) == 0
		if !m.found[i] {
			m.left++
		}
	}
	m.buf, m.pend = m.buf[:0], m.pend[:0]
}

func (m *matcher) done() bool { return m.left == 0 }

// Write folds p and looks for the needles not yet found; errAllFound once
// there are none left.
func (m *matcher) Write(p []byte) (int, error) {
	if m.left == 0 {
		return 0, errAllFound
	}
	n := len(p)
	if len(m.pend) > 0 {
		// Decode the sequence split by the last write together with
		// what follows, exactly as if the text had come in one piece.
		m.join = append(append(m.join[:0], m.pend...), p...)
		m.pend = m.pend[:0]
		p = m.join
	}
	// Hold back an incomplete sequence at the end.
	if cut := incompleteTail(p); cut > 0 {
		m.pend = append(m.pend, p[len(p)-cut:]...)
		p = p[:len(p)-cut]
	}
	m.buf = fold(m.buf, p)
	m.search()
	if m.left == 0 {
		return n, errAllFound
	}
	return n, nil
}

// incompleteTail is the length of a UTF-8 sequence that p ends in the
// middle of, or 0.
func incompleteTail(p []byte) int {
	for i := 1; i <= min(len(p), utf8.UTFMax-1); i++ {
		c := p[len(p)-i]
		if c < utf8.RuneSelf {
			return 0
		}
		if utf8.RuneStart(c) {
			if utf8.FullRune(p[len(p)-i:]) {
				return 0
			}
			return i
		}
	}
	return 0
}

func (m *matcher) search() {
	for i, nd := range m.needles {
		if !m.found[i] && len(m.buf) >= len(nd) && bytes.Contains(m.buf, nd) {
			m.found[i] = true
			m.left--
		}
	}
	if k := min(m.keep, len(m.buf)); k < len(m.buf) {
		m.buf = append(m.buf[:0], m.buf[len(m.buf)-k:]...)
	}
}

// boundary ends one piece of text (a header field, a part): no match spans
// two pieces.
func (m *matcher) boundary() {
	if len(m.pend) > 0 {
		m.buf = fold(m.buf, m.pend)
		m.pend = m.pend[:0]
		m.search()
	}
	m.buf = m.buf[:0]
}

// writeString is Write for text that is one piece by itself.
func (m *matcher) writeString(s string) error {
	_, err := m.Write([]byte(s))
	m.boundary()
	return err
}

// textScan feeds the searchable text of a message to matchers, decoded to
// UTF-8 (RFC 9051 6.4.4 BODY and TEXT): the text/* parts with their
// transfer encoding and charset undone, and the header fields of enclosed
// messages, RFC 2047 decoded. Other parts (images, archives, application
// data) are not text and are skipped, as are multipart preambles and
// epilogues.
type textScan struct {
	ctx context.Context
	b   Body
	buf []byte
}

// header feeds p's header fields to m as "Name: decoded value" lines.
func (t *textScan) header(p *storage.Part, m *matcher) error {
	fields, err := storage.ReadHeader(t.b, p)
	if err != nil {
		return err
	}
	for _, f := range fields {
		if f.Name == "" {
			continue
		}
		if err := m.writeString(f.Name + ": " + storage.DecodeHeaderValue(f.Value)); err != nil {
			return err
		}
	}
	return nil
}

// body feeds the text of part p and everything below it to m.
func (t *textScan) body(p *storage.Part, m *matcher) error {
	switch {
	case p.Type == "multipart":
		for _, c := range p.Children {
			if err := t.body(c, m); err != nil {
				return err
			}
		}
	case p.Message != nil:
		if err := t.header(p.Message, m); err != nil {
			return err
		}
		return t.body(p.Message, m)
	case p.Type == "text":
		return t.text(p, m)
	}
	return nil
}

// text feeds one text part, decoded, to m, checking for cancellation
// between buffers.
func (t *textScan) text(p *storage.Part, m *matcher) error {
	s := clampSpan(t.b, span{p.BodyStart, p.End, ""})
	var r io.Reader = io.NewSectionReader(t.b, s.off, s.end-s.off)
	if d, err := decoder(p.Encoding, r); err == nil {
		r = d
	} // else an unknown encoding: the raw text is the best there is
	switch cs := strings.ToLower(p.Params["charset"]); cs {
	case "", "us-ascii", "utf-8", "utf8", "ascii":
	default:
		if d, err := charset.Reader(cs, r); err == nil {
			r = d
		} // else an unknown charset: search the bytes as they are
	}
	defer m.boundary()
	if p.Subtype == "html" {
		return htmlText(ctxWriter{t.ctx, m}, r)
	}
	for {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(t.buf)
		if n > 0 {
			if _, werr := m.Write(t.buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// ctxWriter is a matcher that stops with ctx's error once ctx ends.
type ctxWriter struct {
	ctx context.Context
	m   *matcher
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.m.Write(p)
}
