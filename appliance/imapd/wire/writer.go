package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Writer writes responses (RFC 9051 7) into a buffer that goes out at
// Flush: one Flush per command is the write cork, so a FETCH of a
// thousand messages is a few large writes. Items are separated with
// spaces by the Writer; lists and response codes nest. The first write
// error sticks: later calls do nothing and Err and Flush return it.
type Writer struct {
	bw *bufio.Writer
	// UTF8 lets 8-bit UTF-8 text go out as a quoted string, once the
	// client has enabled UTF8=ACCEPT (RFC 9051 7.1.2... RFC 6855 3);
	// otherwise it goes as a literal.
	UTF8 bool

	sep bool // the next item needs a space before it
	err error
}

// NewWriter returns a Writer over w with a buffer of size bytes (at
// least 4 KiB).
func NewWriter(w io.Writer, size int) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, max(size, 4096))}
}

// Reset makes w write to dst afresh: the buffer is emptied, the error
// cleared. A server keeps idle connections' writers in a pool this way.
func (w *Writer) Reset(dst io.Writer) {
	w.bw.Reset(dst)
	w.sep, w.err = false, nil
}

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// Flush sends what is buffered.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// Buffered returns the number of bytes waiting for Flush.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

func (w *Writer) raw(s string) {
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
}

func (w *Writer) rawByte(c byte) {
	if w.err == nil {
		w.err = w.bw.WriteByte(c)
	}
}

func (w *Writer) space() {
	if w.sep {
		w.rawByte(' ')
	}
	w.sep = true
}

// Untagged starts "* ".
func (w *Writer) Untagged() *Writer {
	w.raw("* ")
	w.sep = false
	return w
}

// Tagged starts "tag ".
func (w *Writer) Tagged(tag string) *Writer {
	w.raw(tag)
	w.rawByte(' ')
	w.sep = false
	return w
}

// Continuation writes a whole continuation request "+ text" CRLF.
func (w *Writer) Continuation(text string) {
	w.raw("+ ")
	w.raw(sanitizeText(text))
	w.raw("\r\n")
	w.sep = false
}

// End ends the response line.
func (w *Writer) End() {
	w.raw("\r\n")
	w.sep = false
}

// Atom writes an atom as is: the caller owns its syntax (FETCH item names
// like "BODY[1]<0>" are atoms here).
func (w *Writer) Atom(s string) *Writer {
	w.space()
	w.raw(s)
	return w
}

// NIL writes NIL.
func (w *Writer) NIL() *Writer { return w.Atom("NIL") }

// Number writes a number.
func (w *Writer) Number(v uint64) *Writer {
	w.space()
	if w.err == nil {
		_, w.err = w.bw.Write(strconv.AppendUint(w.bw.AvailableBuffer(), v, 10))
	}
	return w
}

// BeginList writes "(".
func (w *Writer) BeginList() *Writer {
	w.space()
	w.rawByte('(')
	w.sep = false
	return w
}

// Adjacent makes the next item follow without a space, as the parts of a
// multipart BODYSTRUCTURE do (RFC 9051 9, body-type-mpart).
func (w *Writer) Adjacent() *Writer {
	w.sep = false
	return w
}

// EndList writes ")".
func (w *Writer) EndList() *Writer {
	w.rawByte(')')
	w.sep = true
	return w
}

// BeginCode writes " [NAME" of a response code (RFC 9051 7.1).
func (w *Writer) BeginCode(name string) *Writer {
	w.space()
	w.rawByte('[')
	w.raw(name)
	return w
}

// EndCode writes "]".
func (w *Writer) EndCode() *Writer {
	w.rawByte(']')
	w.sep = true
	return w
}

// Text writes human-readable text to the end of the line; CR, LF and
// other controls become spaces, so text from anywhere cannot end the line.
func (w *Writer) Text(s string) *Writer {
	w.space()
	w.raw(sanitizeText(s))
	return w
}

func sanitizeText(s string) string {
	for i := range len(s) {
		if c := s[i]; c < ' ' || c == 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < ' ' || b[j] == 0x7f {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return s
}

// Status writes a whole status response: "tag OK [CODE] text" CRLF, tag
// "*" or "" for untagged; code may be "" or hold arguments
// ("UIDNEXT 5").
func (w *Writer) Status(tag string, st Status, code, text string) {
	if tag == "" || tag == "*" {
		w.Untagged()
	} else {
		w.Tagged(tag)
	}
	w.Atom(string(st))
	if code != "" {
		w.BeginCode(code).EndCode()
	}
	if text == "" {
		text = string(st) // resp-text needs text (RFC 9051 9)
	}
	w.Text(text)
	w.End()
}

// Error answers a rejected command (see CommandError).
func (w *Writer) Error(e *CommandError) { w.Status(e.Tag, e.Status, e.Code, e.Text) }

// String writes s as a quoted string when it can be one, else as a
// literal: CR, LF, NUL and 8-bit bytes (unless UTF8 is on and s is valid
// UTF-8) force a literal, as do strings over 4 KiB.
func (w *Writer) String(s string) *Writer {
	if w.quotable(s) {
		w.Quoted(s)
		return w
	}
	w.space()
	w.raw("{")
	w.raw(strconv.Itoa(len(s)))
	w.raw("}\r\n")
	w.literalBytes(s)
	return w
}

func (w *Writer) quotable(s string) bool {
	if len(s) > 4096 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c >= 0x80 {
			return w.UTF8 && utf8.ValidString(s) && noCtl(s[i:])
		}
		if !quoteable[c] {
			return false
		}
	}
	return true
}

func noCtl(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// literalBytes writes a plain literal's content; NUL, which CHAR8 leaves
// out (RFC 9051 4.3), becomes 0x80 so the size stays what was announced.
func (w *Writer) literalBytes(s string) {
	for len(s) > 0 && w.err == nil {
		i := 0
		for i < len(s) && s[i] != 0 {
			i++
		}
		w.raw(s[:i])
		if i < len(s) {
			w.rawByte(0x80)
			i++
		}
		s = s[i:]
	}
}

// Quoted writes s as a quoted string; the caller knows it is quotable.
func (w *Writer) Quoted(s string) *Writer {
	w.space()
	w.rawByte('"')
	start := 0
	for i := range len(s) {
		if c := s[i]; c == '"' || c == '\\' {
			w.raw(s[start:i])
			w.rawByte('\\')
			start = i
		}
	}
	w.raw(s[start:])
	w.rawByte('"')
	return w
}

// NString writes NIL when isNil, else String(s).
func (w *Writer) NString(s string, isNil bool) *Writer {
	if isNil {
		return w.NIL()
	}
	return w.String(s)
}

// AString writes s as an atom when every byte is an ASTRING-CHAR (and s
// is not NIL), else as String(s): mailbox names go out as clients send them.
func (w *Writer) AString(s string) *Writer {
	atom := s != "" && len(s) <= 1024 && !(len(s) == 3 && equalFold([]byte(s), "NIL"))
	for i := 0; atom && i < len(s); i++ {
		atom = isAStringChar(s[i])
	}
	if atom {
		return w.Atom(s)
	}
	return w.String(s)
}

// ErrShortLiteral is returned when a literal's reader ends before the
// size that was announced: the connection is out of step and must close.
var ErrShortLiteral = errors.New("imap wire: literal shorter than announced")

// Literal writes {size} CRLF and size bytes from r, with NULs as 0x80.
func (w *Writer) Literal(size int64, r io.Reader) error {
	return w.literal("{", size, r, false)
}

// Literal8 writes ~{size} CRLF and size bytes from r as they are (RFC
// 3516 4.2: BINARY content may hold NUL).
func (w *Writer) Literal8(size int64, r io.Reader) error {
	return w.literal("~{", size, r, true)
}

func (w *Writer) literal(open string, size int64, r io.Reader, binary bool) error {
	w.space()
	w.raw(open)
	w.raw(strconv.FormatInt(size, 10))
	w.raw("}\r\n")
	if w.err != nil {
		return w.err
	}
	var dst io.Writer = w.bw
	if !binary {
		dst = nulFilter{w.bw}
	}
	// A pooled copy buffer: io.CopyN would allocate one per literal, per
	// message of a FETCH of every body.
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(dst, io.LimitReader(r, size), *buf)
	copyBufs.Put(buf)
	if err == nil && n < size {
		err = io.EOF
	}
	if err != nil {
		if n < size && (errors.Is(err, io.EOF)) {
			err = fmt.Errorf("%w: %d of %d bytes", ErrShortLiteral, n, size)
		}
		// The peer expects more bytes than it will get: the stream is
		// broken for good, so the error sticks.
		if w.err == nil {
			w.err = err
		}
		return err
	}
	return nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

type nulFilter struct{ w *bufio.Writer }

func (f nulFilter) Write(p []byte) (int, error) {
	done := 0
	for {
		i := bytes.IndexByte(p[done:], 0)
		if i < 0 {
			n, err := f.w.Write(p[done:])
			return done + n, err
		}
		if _, err := f.w.Write(p[done : done+i]); err != nil {
			return done, err
		}
		if err := f.w.WriteByte(0x80); err != nil {
			return done + i, err
		}
		done += i + 1
	}
}

// DateTime writes a date-time as a quoted string with date-day-fixed
// (RFC 9051 9): "_6-Dec-2026 17:04:05 +0000", in t's own zone.
func (w *Writer) DateTime(t time.Time) *Writer {
	w.space()
	if w.err == nil {
		out := append(w.bw.AvailableBuffer(), '"')
		out = t.AppendFormat(out, "_2-Jan-2006 15:04:05 -0700")
		out = append(out, '"')
		_, w.err = w.bw.Write(out)
	}
	return w
}

// Flags writes a flag-list.
func (w *Writer) Flags(flags []imap.Flag) *Writer {
	w.BeginList()
	for _, f := range flags {
		w.Atom(string(f))
	}
	return w.EndList()
}

// Node writes n back in wire form: atoms as they are, quoted strings as
// quoted strings, literals as non-synchronising literals. It is how a
// parsed command is written back (tests, traces with secrets removed).
func (w *Writer) Node(n Node) *Writer {
	switch n.Kind {
	case Atom, NIL:
		if len(n.List) > 0 {
			// The header-list goes back inside the brackets.
			i := len(n.Value)
			for j := range len(n.Value) {
				if n.Value[j] == ']' {
					i = j
					break
				}
			}
			w.Atom(n.Value[:i])
			w.BeginList()
			for _, it := range n.List {
				w.Node(it)
			}
			w.EndList()
			w.raw(n.Value[i:])
			return w
		}
		return w.Atom(n.Value)
	case Quoted:
		return w.Quoted(n.Value)
	case Literal:
		w.space()
		if n.Binary {
			w.rawByte('~')
		}
		w.raw("{" + strconv.Itoa(len(n.Value)) + "+}\r\n")
		w.raw(n.Value)
		return w
	case List:
		w.BeginList()
		for _, it := range n.List {
			w.Node(it)
		}
		return w.EndList()
	}
	return w
}

// Command writes cmd back in wire form, ending the line.
func (w *Writer) Command(cmd *Command) {
	w.Tagged(cmd.Tag)
	if cmd.UID {
		w.Atom("UID")
	}
	w.Atom(cmd.Name)
	for _, a := range cmd.Args {
		w.Node(a)
	}
	w.End()
}
