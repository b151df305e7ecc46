package mimeparse

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// Limits that keep a hostile message from costing more than a bounded amount
// of memory and stack. Parse never fails when one is hit: the part where it
// happens becomes an opaque leaf.
const (
	// MaxDepth bounds the nesting of multipart/* and message/* parts; deeper
	// containers are kept as application/octet-stream leaves. Parsing
	// recurses once per level, so this also bounds the stack.
	MaxDepth = 50
	// MaxParts bounds the number of parts in one message, enclosed messages
	// included. Once reached, the rest of a multipart body is its epilogue.
	MaxParts = 10000

	// bufSize is the read buffer: the only memory that grows with line
	// length. A delimiter line longer than this is not recognised, which
	// costs nothing real: RFC 2046 5.1.1 limits boundaries to 70 characters.
	bufSize = 32 << 10
	// maxBoundary is more generous than RFC 2046's 70 because some mailers
	// exceed it; anything longer is treated as no boundary at all.
	maxBoundary = 256
	// headerBudget bounds the header bytes kept across all parts of one
	// message, so the cached structure of a hostile message stays small.
	headerBudget = 4 << 20
)

// pos is a position in the message together with what line counting needs.
type pos struct {
	off int64 // byte offset
	lfs int64 // number of LF bytes before off
	nl  bool  // off is 0 or the byte before off is LF
}

func maxPos(a, b pos) pos {
	if b.off > a.off {
		return b
	}
	return a
}

// lines is the number of lines in [a, b): every LF ends one, and a last line
// without LF still counts (RFC 9051 7.5.2 body-fld-lines is the size "in text
// lines", and a body of "hello" is one line).
func lines(a, b pos) int64 {
	n := b.lfs - a.lfs
	if b.off > a.off && !b.nl {
		n++
	}
	return n
}

// frag is a line, or a piece of a line longer than the read buffer.
type frag struct {
	b        []byte // valid until the next call to next
	first    bool   // b begins a line
	complete bool   // b ends its line (with LF, or at the end of input)
}

// lineReader reads a message line by line through a fixed buffer and keeps
// the bookkeeping needed to place part boundaries.
type lineReader struct {
	br  *bufio.Reader
	eof bool

	off  int64 // offset of the next unread byte
	lfs  int64 // LF bytes consumed
	last byte  // last byte consumed
	mid  bool  // the last fragment did not end its line

	lineLen   int64 // bytes of the current line consumed so far
	prevEOL   int   // terminator length of the last complete line: 1 (LF) or 2 (CRLF)
	prevEmpty bool  // the last complete line was only its terminator

	start  pos // where the current line begins
	before pos // where the terminator of the line before the current one begins
}

func (lr *lineReader) next() (frag, bool) {
	if lr.eof {
		return frag{}, false
	}
	b, err := lr.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		// io.EOF, or a read error: either way the message ends here,
		// because Parse must not fail.
		lr.eof = true
	}
	if len(b) == 0 {
		return frag{}, false
	}
	f := frag{b: b, first: !lr.mid}
	if f.first {
		lr.start = pos{lr.off, lr.lfs, true}
		lr.before = lr.start
		if lr.prevEOL > 0 {
			lr.before = pos{lr.off - int64(lr.prevEOL), lr.lfs - 1, lr.prevEmpty}
		}
		lr.lineLen = 0
	}
	prevLast := lr.last
	lr.off += int64(len(b))
	lr.lineLen += int64(len(b))
	lr.last = b[len(b)-1]
	if lr.last == '\n' {
		lr.lfs++
		lr.prevEOL = 1
		if len(b) >= 2 && b[len(b)-2] == '\r' || len(b) == 1 && lr.lineLen >= 2 && prevLast == '\r' {
			lr.prevEOL = 2
		}
		lr.prevEmpty = lr.lineLen == int64(lr.prevEOL)
		lr.mid = false
		f.complete = true
	} else {
		lr.mid = true
		f.complete = lr.eof
	}
	return f, true
}

// skipAll consumes the rest of the input, counting LFs in whole buffers: a
// body outside any multipart needs no line-by-line look.
func (lr *lineReader) skipAll() {
	for !lr.eof {
		if lr.br.Buffered() == 0 {
			if _, err := lr.br.Peek(1); err != nil {
				lr.eof = true
				break
			}
		}
		b, _ := lr.br.Peek(lr.br.Buffered())
		lr.lfs += int64(bytes.Count(b, []byte{'\n'}))
		lr.off += int64(len(b))
		lr.last = b[len(b)-1]
		lr.br.Discard(len(b))
	}
}

func (lr *lineReader) eofPos() pos {
	return pos{lr.off, lr.lfs, lr.off == 0 || lr.last == '\n'}
}

// stop says what ended a part: a delimiter line of an enclosing multipart, or
// the end of input.
type stop struct {
	level int  // index into parser.stack of the delimiter's multipart; -1 at end of input
	close bool // a close delimiter ("--boundary--")
	// at is the end of the body before the delimiter: RFC 2046 5.1.1 makes
	// the line break preceding a delimiter part of the delimiter.
	at pos
}

type parser struct {
	lr     lineReader
	stack  [][]byte // boundaries of the enclosing multiparts, innermost last
	parts  int
	budget int
	h      header
}

// Parse computes the MIME tree and envelope of the message in r[0:size]. It
// never fails and never returns nil: whatever cannot be parsed is described
// as well as possible (RFC 2045 5.2: an unusable Content-Type means
// text/plain; a header without blank line is all header, with an empty body).
// It reads through a fixed-size buffer, so memory does not grow with size.
func Parse(r io.ReaderAt, size int64) (*Part, *Envelope) {
	if size < 0 {
		size = 0
	}
	p := &parser{budget: headerBudget}
	// A message that fits in less than bufSize needs no more buffer than
	// itself: every line of it fits whole.
	p.lr.br = bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(min(bufSize, size+1)))
	part, env, _, _ := p.part(0, defaultText, true)
	return part, env
}

// mediaType is a default Content-Type.
type mediaType struct{ typ, sub, charset string }

var (
	// RFC 2045 5.2 and RFC 2046 4.1.2.
	defaultText = mediaType{"text", "plain", "us-ascii"}
	// RFC 2046 5.1.5: in multipart/digest a part without Content-Type is a message.
	defaultDigest = mediaType{"message", "rfc822", ""}
)

// part parses one part from the current position, header and body. isMsg
// marks the header of a whole message, whose envelope fields are kept. It
// returns the part's end and what stopped it.
func (p *parser) part(depth int, dflt mediaType, isMsg bool) (*Part, *Envelope, pos, stop) {
	p.parts++
	part := &Part{HeaderStart: p.lr.off}
	hstart := pos{p.lr.off, p.lr.lfs, true}
	bs, st, empty := p.header(hstart, isMsg)
	// RFC 2046 5.1.1: a boundary does not end in a space, and delimiter
	// lines are compared without their trailing white space.
	boundary := strings.TrimRight(p.describe(part, dflt), " \t")
	var env *Envelope
	if isMsg {
		env = p.h.envelope()
	}
	part.BodyStart = bs.off
	open := depth < MaxDepth && p.parts < MaxParts

	if empty {
		// The header ran into a delimiter or the end of input, so the
		// body is empty: a multipart without parts is the empty text it
		// then is, an enclosed message an empty message.
		switch {
		case part.Type == "multipart":
			setType(part, defaultText)
		case isEnclosing(part) && open:
			part.Message = &Part{HeaderStart: bs.off, BodyStart: bs.off, End: bs.off}
			setType(part.Message, defaultText)
			part.Envelope = &Envelope{}
			p.parts++
		case isEnclosing(part):
			part.Type, part.Subtype = "application", "octet-stream"
		}
		part.End = bs.off
		return part, env, bs, st
	}

	var end pos
	switch {
	case part.Type == "multipart" && open && validBoundary(boundary):
		end, st = p.multipart(part, boundary, bs, depth)
	case isEnclosing(part) && open && identity(part.Encoding):
		// RFC 2046 5.2.1: the body is a whole message, ended by the same
		// delimiters as this part.
		m, menv, mend, mst := p.part(depth+1, defaultText, true)
		part.Message, part.Envelope = m, menv
		end, st = mend, mst
	default:
		if part.Type == "multipart" || isEnclosing(part) {
			// A container we will not open (too deep, too many parts,
			// no boundary, or an encoded message): its content is opaque.
			if part.Type == "multipart" && !validBoundary(boundary) {
				setType(part, defaultText)
			} else {
				part.Type, part.Subtype = "application", "octet-stream"
			}
		}
		st = p.scan()
		end = maxPos(bs, st.at)
	}
	part.End = end.off
	part.Lines = lines(bs, end)
	return part, env, end, st
}

// multipart parses the body of a multipart part per RFC 2046 5.1.1:
// preamble, parts each introduced by a delimiter line, a close delimiter,
// epilogue. A missing close delimiter ends the last part where an enclosing
// multipart's delimiter or the input ends.
func (p *parser) multipart(part *Part, boundary string, bs pos, depth int) (pos, stop) {
	dflt := defaultText
	if part.Subtype == "digest" {
		dflt = defaultDigest
	}
	p.stack = append(p.stack, []byte(boundary))
	own := len(p.stack) - 1
	end := bs
	st := p.scan() // preamble
	for st.level == own && !st.close && p.parts < MaxParts {
		child, _, cend, cst := p.part(depth+1, dflt, false)
		part.Children = append(part.Children, child)
		end, st = cend, cst
	}
	p.stack = p.stack[:own]
	if st.level == own {
		// Close delimiter (or the part limit): the rest, up to an
		// enclosing delimiter, is epilogue, and so is any further
		// delimiter of ours.
		st = p.scan()
	}
	end = maxPos(end, maxPos(bs, st.at))
	if len(part.Children) == 0 {
		// IMAP (RFC 9051 7.5.2) cannot describe a multipart without
		// parts; with no delimiter found, the body is just text.
		setType(part, defaultText)
	}
	return end, st
}

// scan consumes lines up to and including the next delimiter line of an
// enclosing multipart, or to the end of input.
func (p *parser) scan() stop {
	if len(p.stack) == 0 {
		p.lr.skipAll()
		return stop{level: -1, at: p.lr.eofPos()}
	}
	for {
		f, ok := p.lr.next()
		if !ok {
			return stop{level: -1, at: p.lr.eofPos()}
		}
		if st, ok := p.delimiter(f); ok {
			return st
		}
	}
}

// delimiter reports whether f is a whole delimiter line of an enclosing
// multipart. RFC 2046 5.1.1: "--" boundary, "--" again for the close
// delimiter, then only linear white space. The innermost boundary is tried
// first; an outer one ends the inner multiparts whose close delimiter is
// missing.
func (p *parser) delimiter(f frag) (stop, bool) {
	b := f.b
	if !f.first || !f.complete || len(b) < 2 || b[0] != '-' || b[1] != '-' {
		return stop{}, false
	}
	b = bytes.TrimRight(b[2:], " \t\r\n")
	for i := len(p.stack) - 1; i >= 0; i-- {
		bd := p.stack[i]
		if !bytes.HasPrefix(b, bd) {
			continue
		}
		rest := b[len(bd):]
		if len(rest) == 0 || len(rest) == 2 && rest[0] == '-' && rest[1] == '-' {
			return stop{level: i, close: len(rest) == 2, at: p.lr.before}, true
		}
	}
	return stop{}, false
}

// header reads a header up to and including its blank line, keeping the
// fields describe and envelope need. empty reports a header that ended
// without blank line, at a delimiter or the end of input; the body is then
// empty and st says what ended it.
func (p *parser) header(start pos, isMsg bool) (bs pos, st stop, empty bool) {
	h := &p.h
	h.reset()
	cur := -1 // field being read, or -1 for one we do not keep
	for {
		f, ok := p.lr.next()
		if !ok {
			eof := p.lr.eofPos()
			return eof, stop{level: -1, at: eof}, true
		}
		b := f.b
		if f.first {
			if f.complete && (len(b) == 1 && b[0] == '\n' || len(b) == 2 && b[0] == '\r' && b[1] == '\n') {
				return pos{p.lr.off, p.lr.lfs, true}, stop{}, false
			}
			if st, ok := p.delimiter(f); ok {
				return maxPos(start, st.at), st, true
			}
			if b[0] == ' ' || b[0] == '\t' {
				// RFC 5322 2.2.3: a line starting with white space
				// continues the previous field.
				p.keep(cur, b)
				continue
			}
			var name []byte
			name, b, ok = splitField(b)
			cur = -1
			if ok {
				cur = fieldIndex(name, isMsg)
				if cur >= 0 && h.seen[cur] {
					cur = -1 // the first occurrence wins
				}
				if cur >= 0 {
					h.seen[cur] = true
				}
			}
		}
		p.keep(cur, b)
	}
}

// keep appends b to kept field i, within the field's cap and the budget.
func (p *parser) keep(i int, b []byte) {
	if i < 0 {
		return
	}
	v := p.h.v[i]
	n := min(len(b), fieldCap(i)-len(v), p.budget)
	if n <= 0 {
		return
	}
	p.h.v[i] = append(v, b[:n]...)
	p.budget -= n
}

// splitField splits "Name: value" at the colon. The obsolete syntax of
// RFC 5322 4.5 allows white space before the colon; it is not part of the name.
func splitField(b []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(b, ':')
	if i <= 0 {
		return nil, nil, false
	}
	name = bytes.TrimRight(b[:i], " \t")
	return name, b[i+1:], len(name) > 0
}

func validBoundary(b string) bool { return len(b) > 0 && len(b) <= maxBoundary }

func isEnclosing(p *Part) bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

// identity reports a Content-Transfer-Encoding that leaves an enclosed
// message readable in place. RFC 2046 5.2.1 allows only these for
// message/rfc822; RFC 6532 3.5 lets message/global be encoded, and such a
// message cannot be described by offsets into the stored bytes.
func identity(enc string) bool {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

func setType(part *Part, mt mediaType) {
	part.Type, part.Subtype = mt.typ, mt.sub
	part.Params = nil
	if mt.charset != "" {
		part.Params = map[string]string{"charset": mt.charset}
	}
}
