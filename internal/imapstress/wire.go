package imapstress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits on what the tool reads, so that a broken server cannot make it
// allocate without end: a line, and a literal (our messages are far
// smaller, a server sending more is answering something we did not ask).
const (
	maxLine    = 64 << 10
	maxLiteral = 4 << 20
)

// errProtocol marks a response the tool could not parse: the server broke
// the grammar (RFC 9051 9), which is itself one of the failures counted.
var errProtocol = errors.New("imap syntax")

// val is one parsed item of a response: an atom (numbers, NIL and flags
// included), a string (quoted or literal), or a parenthesized list.
type val struct {
	kind byte // 'a' atom, 's' string, 'l' list
	s    string
	list []val
}

func (v val) isNIL() bool { return v.kind == 'a' && strings.EqualFold(v.s, "NIL") }

func (v val) num() (uint32, bool) {
	if v.kind != 'a' {
		return 0, false
	}
	n, err := strconv.ParseUint(v.s, 10, 32)
	return uint32(n), err == nil
}

// response is one server response: untagged ("*"), a continuation ("+"),
// or the tagged completion of a command.
type response struct {
	tag  string // "*", "+" or the command's tag
	raw  []byte // the bytes as read, literals included
	rest []byte // after the tag and its space
}

// conn is a raw IMAP connection: one reader, writes under a lock (the IDLE
// timer writes DONE while the reader waits), and a transcript of the last
// lines both ways for the first-error report.
type conn struct {
	nc      net.Conn
	r       *bufio.Reader
	wmu     sync.Mutex
	tr      *transcript
	timeout time.Duration
}

func newConn(nc net.Conn, tr *transcript, timeout time.Duration) *conn {
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 16<<10), tr: tr, timeout: timeout}
}

func (c *conn) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.tr.add("C: ", s)
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := io.WriteString(c.nc, s)
	return err
}

// waitData waits until the time given for the server to send
// something, reading nothing: true when bytes are waiting.
func (c *conn) waitData(until time.Time) (bool, error) {
	if c.r.Buffered() > 0 {
		return true, nil
	}
	c.nc.SetReadDeadline(until)
	if _, err := c.r.Peek(1); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false, nil // the connection stays usable
		}
		return false, err
	}
	return true, nil
}

// read returns the next response, with its literals.
func (c *conn) read() (*response, error) {
	c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	var buf []byte
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, err
		}
		buf = append(buf, line...)
		n, ok := literalAtEnd(line)
		if !ok {
			break
		}
		if n > maxLiteral || len(buf)+int(n) > maxLiteral+maxLine {
			return nil, fmt.Errorf("%w: literal of %d bytes", errProtocol, n)
		}
		start := len(buf)
		buf = append(buf, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, buf[start:]); err != nil {
			return nil, err
		}
	}
	c.tr.add("S: ", string(buf))
	sp := bytes.IndexByte(buf, ' ')
	if sp <= 0 {
		if len(buf) >= 3 && buf[0] == '+' {
			return &response{tag: "+", raw: buf}, nil
		}
		return nil, fmt.Errorf("%w: %q", errProtocol, trimCRLF(buf))
	}
	return &response{tag: string(buf[:sp]), raw: buf, rest: trimCRLF(buf[sp+1:])}, nil
}

func (c *conn) readLine() ([]byte, error) {
	var line []byte
	for {
		part, err := c.r.ReadSlice('\n')
		line = append(line, part...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
		if len(line) > maxLine {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errProtocol, maxLine)
		}
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line without CRLF: %q", errProtocol, line)
	}
	return line, nil
}

// literalAtEnd reports a line ending in "{n}" (or "~{n}", RFC 3516).
func literalAtEnd(line []byte) (int64, bool) {
	l := trimCRLF(line)
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(l[i+1:len(l)-1]), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func trimCRLF(b []byte) []byte {
	return bytes.TrimSuffix(b, []byte("\r\n"))
}

// parser reads the values of a response (RFC 9051 9: atoms, quoted
// strings, literals, lists, and fetch items with their [section]<origin>).
type parser struct {
	b []byte
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.b) }

func (p *parser) sp() {
	for p.i < len(p.b) && p.b[p.i] == ' ' {
		p.i++
	}
}

// values parses the rest of the input as a space-separated sequence.
func (p *parser) values() ([]val, error) {
	var out []val
	for {
		p.sp()
		if p.eof() {
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func (p *parser) value() (val, error) {
	if p.eof() {
		return val{}, fmt.Errorf("%w: value expected at end", errProtocol)
	}
	switch c := p.b[p.i]; c {
	case '(':
		p.i++
		var l []val
		for {
			p.sp()
			if p.eof() {
				return val{}, fmt.Errorf("%w: unclosed list", errProtocol)
			}
			if p.b[p.i] == ')' {
				p.i++
				return val{kind: 'l', list: l}, nil
			}
			v, err := p.value()
			if err != nil {
				return val{}, err
			}
			l = append(l, v)
		}
	case '"':
		var s []byte
		for p.i++; p.i < len(p.b); p.i++ {
			switch p.b[p.i] {
			case '\\':
				p.i++
				if p.i < len(p.b) {
					s = append(s, p.b[p.i])
				}
			case '"':
				p.i++
				return val{kind: 's', s: string(s)}, nil
			case '\r', '\n':
				return val{}, fmt.Errorf("%w: line break in a quoted string", errProtocol)
			default:
				s = append(s, p.b[p.i])
			}
		}
		return val{}, fmt.Errorf("%w: unterminated quoted string", errProtocol)
	case '{', '~':
		if c == '~' {
			p.i++
		}
		j := bytes.Index(p.b[p.i:], []byte("}\r\n"))
		if j < 0 || p.b[p.i] != '{' {
			return val{}, fmt.Errorf("%w: bad literal", errProtocol)
		}
		n, err := strconv.Atoi(string(p.b[p.i+1 : p.i+j]))
		start := p.i + j + 3
		if err != nil || n < 0 || start+n > len(p.b) {
			return val{}, fmt.Errorf("%w: bad literal length", errProtocol)
		}
		p.i = start + n
		return val{kind: 's', s: string(p.b[start:p.i])}, nil
	case ')':
		return val{}, fmt.Errorf("%w: unexpected ')'", errProtocol)
	}
	// An atom; a '[' inside one (BODY[HEADER.FIELDS (A B)]<0>, or a
	// response code) runs to its ']' spaces and all.
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '[' {
			j := bytes.IndexByte(p.b[p.i:], ']')
			if j < 0 {
				return val{}, fmt.Errorf("%w: unclosed '['", errProtocol)
			}
			p.i += j + 1
			continue
		}
		if c == ' ' || c == '(' || c == ')' || c == '"' || c == '{' || c == '\r' || c == '\n' {
			break
		}
		p.i++
	}
	if p.i == start {
		return val{}, fmt.Errorf("%w: unexpected %q", errProtocol, p.b[p.i])
	}
	return val{kind: 'a', s: string(p.b[start:p.i])}, nil
}

// statusText splits "OK [CODE args] text" into its parts.
func statusText(b []byte) (status, code, text string) {
	s := string(b)
	status, s, _ = strings.Cut(s, " ")
	if strings.HasPrefix(s, "[") {
		if j := strings.IndexByte(s, ']'); j > 0 {
			code, s = s[1:j], strings.TrimPrefix(s[j+1:], " ")
		}
	}
	return strings.ToUpper(status), code, s
}

// transcript keeps the last lines of a connection, each cut short, so that
// the first error can be shown with what led to it.
type transcript struct {
	mu    sync.Mutex
	lines []string
	next  int
}

const transcriptLines = 60

func (t *transcript) add(dir, s string) {
	s = strings.TrimSuffix(s, "\r\n")
	if len(s) > 300 {
		s = s[:300] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	s = strings.ReplaceAll(s, "\r\n", "\\r\\n")
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) < transcriptLines {
		t.lines = append(t.lines, dir+s)
		return
	}
	t.lines[t.next] = dir + s
	t.next = (t.next + 1) % transcriptLines
}

func (t *transcript) snapshot() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...)
}
